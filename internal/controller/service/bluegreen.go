package service

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Blue/green, linear and canary deployments (deploymentConfiguration
// strategy BLUE_GREEN, LINEAR, CANARY), as the Amazon ECS Developer Guide
// describes them. Each of the service's loadBalancers has an
// advancedConfiguration: an alternate target group and a production
// listener rule (optionally a test listener rule) that forwards to both.
//
// Between deployments, the service's tasks are registered in the target
// groups of its loadBalancers (production), which get all the traffic of
// the rules. A new deployment (green) beside the one before it (blue):
//
//	SCALE_UP                 green starts at the full desired count in
//	                         the alternate target groups (maximumPercent
//	                         does not apply), blue keeps serving;
//	TEST_TRAFFIC_SHIFT       once every green task is healthy in its
//	                         target groups, the test rules (if any) send
//	                         everything to the alternate groups;
//	PRODUCTION_TRAFFIC_SHIFT the production rules' weights move to the
//	                         alternate groups: BLUE_GREEN 100% at once;
//	                         LINEAR stepPercent more every
//	                         stepBakeTimeInMinutes; CANARY canaryPercent,
//	                         then the rest after canaryBakeTimeInMinutes;
//	BAKE_TIME                blue is kept bakeTimeInMinutes;
//	CLEAN_UP                 the target group pairs swap in the service's
//	                         loadBalancers (green's groups are production
//	                         now) and blue's tasks drain and stop; the
//	                         deployment completes when they have.
//
// A rollback (circuit breaker, deployment alarms, StopServiceDeployment)
// makes blue PRIMARY again: the rules send everything back to blue's
// (production) groups, and only once the load balancers have had
// RuleSettle to apply that are green's tasks drained and stopped.
//
// The stage, the share of production traffic green has and when the
// stage began are kept in the PRIMARY deployment's rolloutStateReason
// ("ECS deployment ID in progress: STAGE P% since TIME."), so they are
// written with the service record in the same guarded write and a new
// leader carries on where the last one stopped.

// Lifecycle stages of a traffic-shifting deployment (ECS's
// ServiceDeploymentLifecycleStage values).
const (
	StageScaleUp         = "SCALE_UP"
	StageTestTraffic     = "TEST_TRAFFIC_SHIFT"
	StageProductionShift = "PRODUCTION_TRAFFIC_SHIFT"
	StageBakeTime        = "BAKE_TIME"
	StageCleanUp         = "CLEAN_UP"
)

// RuleSettle is how long after the controller changed a rule's weights it
// waits before it counts on the data plane having applied them (it does
// within a second): only then does it stop the tasks that lost their
// traffic.
const RuleSettle = 2 * time.Second

// bgPoll is how often a traffic-shifting deployment waiting on target
// health is looked at.
const bgPoll = time.Second

// bgState is where a traffic-shifting deployment is.
type bgState struct {
	Stage string
	// Percent is the share of production traffic green has.
	Percent float64
	Since   time.Time
}

var bgReasonRE = regexp.MustCompile(`^ECS deployment (\S+) in progress: ([A-Z_]+) ([0-9.]+)% since (\S+)\.$`)

// parseBGState reads the state a rolloutStateReason holds; ok is false
// when it holds none.
func parseBGState(reason string) (bgState, bool) {
	m := bgReasonRE.FindStringSubmatch(reason)
	if m == nil {
		return bgState{}, false
	}
	p, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return bgState{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[4])
	if err != nil {
		return bgState{}, false
	}
	return bgState{Stage: m[2], Percent: p, Since: at}, true
}

// reason is the rolloutStateReason of deployment id in state s.
func (s bgState) reason(id string) string {
	return fmt.Sprintf("ECS deployment %s in progress: %s %s%% since %s.", id, s.Stage,
		strconv.FormatFloat(s.Percent, 'f', -1, 64), s.Since.UTC().Format(time.RFC3339Nano))
}

// rollingBack reports whether reason is that of a deployment rolled back
// to (circuit breaker, alarms, StopServiceDeployment).
func rollingBack(reason string) bool {
	return strings.Contains(reason, ": rolling back to deploymentId ")
}

// shiftsTraffic reports whether svc deploys by moving listener rule
// traffic between target group pairs.
func shiftsTraffic(svc *ecsapi.Service) bool {
	dc := svc.DeploymentConfiguration
	if dc == nil || len(svc.LoadBalancers) == 0 {
		return false
	}
	switch dc.Strategy {
	case "BLUE_GREEN", "LINEAR", "CANARY":
	default:
		return false
	}
	for _, lb := range svc.LoadBalancers {
		if ac := lb.AdvancedConfiguration; ac == nil || ac.AlternateTargetGroupArn == "" || ac.ProductionListenerRule == "" {
			return false
		}
	}
	return true
}

// shifting reports whether the PRIMARY deployment is a traffic-shifting
// deployment under way beside an older one, before its clean-up: its
// tasks live in the alternate target groups.
func (pl *planner) shifting() bool {
	svc := pl.svc
	if !pl.bgOn || len(svc.Deployments) < 2 {
		return false
	}
	d := &svc.Deployments[0]
	if d.RolloutState == "COMPLETED" || rollingBack(d.RolloutStateReason) {
		return false
	}
	st, ok := parseBGState(d.RolloutStateReason)
	return !ok || st.Stage != StageCleanUp
}

// cleaningUp reports whether the PRIMARY deployment is in CLEAN_UP: it
// can no longer fail (blue is going).
func (pl *planner) cleaningUp() bool {
	if !pl.bgOn || len(pl.svc.Deployments) == 0 {
		return false
	}
	st, ok := parseBGState(pl.svc.Deployments[0].RolloutStateReason)
	return ok && st.Stage == StageCleanUp
}

// inAlternate reports whether the targets of t belong in the alternate
// target groups: it is green of a deployment under way, or of a green
// deployment that is no longer PRIMARY and never completed (rolled back,
// or replaced by a newer one).
func (pl *planner) inAlternate(t *ecsapi.Task) bool {
	if !pl.bgOn || len(pl.svc.Deployments) == 0 {
		return false
	}
	primary := &pl.svc.Deployments[0]
	if t.StartedBy == primary.Id {
		return pl.shifting()
	}
	for _, d := range pl.svc.Deployments[1:] {
		if d.Id == t.StartedBy {
			// One replaced in its clean-up had its groups swapped to
			// production already.
			st, ok := parseBGState(d.RolloutStateReason)
			return d.RolloutState != "COMPLETED" && (!ok || st.Stage != StageCleanUp)
		}
	}
	return false
}

// lbKey identifies a target group and container port pair.
func lbKey(lb ecsapi.LoadBalancer) string {
	port := int32(0)
	if lb.ContainerPort != nil {
		port = *lb.ContainerPort
	}
	return fmt.Sprint(lb.TargetGroupArn, "|", lb.ContainerName, "|", port)
}

// alternateOf is lb with its alternate target group in place of its own.
func alternateOf(lb ecsapi.LoadBalancer) ecsapi.LoadBalancer {
	out := lb
	out.TargetGroupArn = lb.AdvancedConfiguration.AlternateTargetGroupArn
	return out
}

// groupsFor are the observed target groups a live task's targets belong
// in.
func (pl *planner) groupsFor(t *ecsapi.Task) []ecsapi.LoadBalancer {
	if isExternal(pl.svc) {
		// A task set's own groups (task sets do not shift traffic).
		return pl.groupsOf(t)
	}
	if lbs, ok := pl.depLBs[t.StartedBy]; ok && !pl.inAlternate(t) {
		return pl.observedGroups(lbs)
	}
	if !pl.inAlternate(t) {
		return pl.lbGroups()
	}
	var out []ecsapi.LoadBalancer
	for _, lb := range pl.svc.LoadBalancers {
		alt := alternateOf(lb)
		if _, ok := pl.targets[alt.TargetGroupArn]; ok {
			out = append(out, alt)
		}
	}
	return out
}

// allGroups are every observed target group of the service, production
// and alternate: a task going down leaves whichever it is in.
func (pl *planner) allGroups() []ecsapi.LoadBalancer {
	out := pl.lbGroups()
	seen := map[string]bool{}
	for _, lb := range out {
		seen[lbKey(lb)] = true
	}
	for _, id := range sortedKeys(pl.depLBs) {
		for _, lb := range pl.observedGroups(pl.depLBs[id]) {
			if !seen[lbKey(lb)] {
				seen[lbKey(lb)] = true
				out = append(out, lb)
			}
		}
	}
	if !pl.bgOn {
		return out
	}
	for _, lb := range pl.svc.LoadBalancers {
		alt := alternateOf(lb)
		if _, ok := pl.targets[alt.TargetGroupArn]; ok {
			out = append(out, alt)
		}
	}
	return out
}

// weightsFor are a rule's weights that send pct percent of its traffic to
// green's target group and the rest to blue's, in thousandths (ELBv2
// weights go to 999: all of it is weight 1 against 0).
func weightsFor(blue, green string, pct float64) map[string]int32 {
	g := int32(math.Round(pct * 10))
	b := 1000 - g
	switch {
	case g <= 0:
		return map[string]int32{blue: 1, green: 0}
	case b <= 0:
		return map[string]int32{blue: 0, green: 1}
	}
	return map[string]int32{blue: b, green: g}
}

// sameWeights reports whether observed weights give the same shares as
// want.
func sameWeights(obs, want map[string]int32) bool {
	var so, sw int64
	for tg := range want {
		so += int64(obs[tg])
		sw += int64(want[tg])
	}
	if so == 0 {
		return false
	}
	for tg, w := range want {
		if int64(obs[tg])*sw != int64(w)*so {
			return false
		}
	}
	return true
}

// wantRules sets the weights the service's rules should have now and
// reports whether they have them and have had them for RuleSettle. green
// is green's share of production traffic; test says whether test rules
// send everything to green.
func (pl *planner) wantRules(green float64, test bool) bool {
	settled := true
	for _, lb := range pl.svc.LoadBalancers {
		ac := lb.AdvancedConfiguration
		blue, alt := lb.TargetGroupArn, ac.AlternateTargetGroupArn
		want := map[string]map[string]int32{ac.ProductionListenerRule: weightsFor(blue, alt, green)}
		if ac.TestListenerRule != "" {
			tp := 0.0
			if test {
				tp = 100
			}
			want[ac.TestListenerRule] = weightsFor(blue, alt, tp)
		}
		for rule, w := range want {
			obs, ok := pl.rules[rule]
			if !ok {
				// Not observed (deleted, or no ELB): nothing to wait for.
				continue
			}
			if sameWeights(obs, w) {
				continue
			}
			settled = false
			if pl.p.Weights == nil {
				pl.p.Weights = map[string]map[string]int32{}
			}
			if pl.p.Weights[rule] == nil {
				pl.p.Weights[rule] = map[string]int32{}
			}
			for tg, v := range w {
				pl.p.Weights[rule][tg] = v
			}
		}
	}
	if !settled {
		pl.requeue(pl.now.Add(RuleSettle))
		return false
	}
	if end := pl.rulesChanged.Add(RuleSettle); pl.now.Before(end) {
		pl.requeue(end)
		return false
	}
	return true
}

// steadyRules keeps every rule on the production target groups, outside a
// deployment under way (steady, rolling back, failed, cleaning up), and
// reports whether they are settled there.
func (pl *planner) steadyRules() bool {
	if !pl.bgOn {
		return true
	}
	return pl.wantRules(0, false)
}

func (pl *planner) setStage(d *ecsapi.Deployment, st bgState) {
	d.RolloutStateReason = st.reason(d.Id)
	d.UpdatedAt = ecsapi.NewTimestamp(pl.now)
	pl.requeue(pl.now)
}

// firstStep and nextStep are green's shares of production traffic in the
// first step and the one after pct.
func firstStep(dc *ecsapi.DeploymentConfiguration) float64 {
	switch dc.Strategy {
	case "LINEAR":
		if lc := dc.LinearConfiguration; lc != nil && lc.StepPercent > 0 {
			return math.Min(lc.StepPercent, 100)
		}
		return 10
	case "CANARY":
		if cc := dc.CanaryConfiguration; cc != nil && cc.CanaryPercent > 0 {
			return math.Min(cc.CanaryPercent, 100)
		}
		return 5
	}
	return 100
}

func nextStep(dc *ecsapi.DeploymentConfiguration, pct float64) float64 {
	if dc.Strategy == "LINEAR" {
		return math.Min(100, math.Round((pct+firstStep(dc))*10)/10)
	}
	return 100
}

// stepBake is how long a step at pct is held before the next.
func stepBake(dc *ecsapi.DeploymentConfiguration) time.Duration {
	switch dc.Strategy {
	case "LINEAR":
		if lc := dc.LinearConfiguration; lc != nil {
			return time.Duration(lc.StepBakeTimeInMinutes) * time.Minute
		}
	case "CANARY":
		if cc := dc.CanaryConfiguration; cc != nil {
			return time.Duration(cc.CanaryBakeTimeInMinutes) * time.Minute
		}
	}
	return 0
}

func bakeTime(dc *ecsapi.DeploymentConfiguration) time.Duration {
	if dc.BakeTimeInMinutes == nil {
		return 0
	}
	return time.Duration(*dc.BakeTimeInMinutes) * time.Minute
}

// blueGreen runs a traffic-shifting deployment under way (pl.shifting):
// green scales up in the alternate target groups beside blue, then the
// rules move traffic to it stage by stage, then blue is kept for the bake
// time and stopped.
func (pl *planner) blueGreen(live []*task, tasks []ecsapi.Task) {
	svc := pl.svc
	d := &svc.Deployments[0]
	dc := svc.DeploymentConfiguration
	desired := int(svc.DesiredCount)
	st, ok := parseBGState(d.RolloutStateReason)
	if d.RolloutState == "FAILED" {
		// Failed without rollback: traffic stays on (or goes back to)
		// blue, nothing more is started or stopped.
		pl.steadyRules()
		return
	}
	if !ok {
		st = bgState{Stage: StageScaleUp, Since: pl.now}
		pl.setStage(d, st)
		pl.event("(deployment %s) started scaling up the green service revision in the alternate target groups.", d.Id)
	}
	var green, blue, stale []*task
	healthy := 0
	for _, t := range live {
		switch {
		case t.t.StartedBy == d.Id:
			green = append(green, t)
			if t.healthy {
				healthy++
			}
		case pl.inAlternate(t.t):
			stale = append(stale, t)
		default:
			blue = append(blue, t)
		}
	}
	// Green runs at the full desired count; failed tasks are replaced.
	if need := desired - len(green); need > 0 && !pl.throttled(tasks, d.Id) {
		pl.p.Start = append(pl.p.Start, Start{Deployment: d.Id, TaskDefinition: d.TaskDefinition, Count: need})
	}
	if excess := len(green) - desired; excess > 0 {
		for _, t := range scaleInOrder(green)[:excess] {
			pl.stop(t.t, reasonScaling(d.Id))
		}
	}
	// Blue, which production traffic still (partly) goes to until the
	// clean-up, is kept at the desired count too: a blue task that dies
	// mid-shift is replaced in blue's revision, as ECS's scheduler keeps
	// both revisions at their counts.
	if bd := pl.blueDeployment(); bd != nil {
		if need := desired - len(blue); need > 0 && !pl.throttled(tasks, bd.Id) {
			pl.p.Start = append(pl.p.Start, Start{Deployment: bd.Id, TaskDefinition: bd.TaskDefinition, Count: need})
		} else if excess := len(blue) - desired; excess > 0 {
			for _, t := range scaleInOrder(blue)[:excess] {
				pl.stop(t.t, reasonScaling(bd.Id))
			}
		}
	}
	pct, test := 0.0, false
	switch st.Stage {
	case StageTestTraffic:
		test = true
	case StageProductionShift:
		pct, test = st.Percent, true
	case StageBakeTime:
		pct, test = 100, true
	}
	settled := pl.wantRules(pct, test)
	if settled && pct == 0 {
		// Green of an older deployment that never completed lost its
		// traffic: it goes.
		for _, t := range stale {
			pl.stop(t.t, reasonScaling(d.Id))
		}
	}
	ready := len(green) == desired && healthy == desired
	switch st.Stage {
	case StageScaleUp:
		if !ready || !settled {
			pl.requeue(pl.now.Add(bgPoll))
			return
		}
		if pl.hasTestRules() {
			pl.setStage(d, bgState{Stage: StageTestTraffic, Since: pl.now})
			pl.event("(deployment %s) shifted test traffic to the green service revision.", d.Id)
			return
		}
		pl.startProduction(d, dc)
	case StageTestTraffic:
		if settled {
			pl.startProduction(d, dc)
		}
	case StageProductionShift:
		if !settled {
			return
		}
		if end := st.Since.Add(stepBake(dc)); st.Percent < 100 && pl.now.Before(end) {
			pl.requeue(end)
			return
		}
		if st.Percent >= 100 {
			pl.setStage(d, bgState{Stage: StageBakeTime, Percent: 100, Since: pl.now})
			pl.event("(deployment %s) shifted all production traffic to the green service revision; bake time of %d minutes started.", d.Id, int(bakeTime(dc)/time.Minute))
			return
		}
		next := nextStep(dc, st.Percent)
		pl.setStage(d, bgState{Stage: StageProductionShift, Percent: next, Since: pl.now})
		pl.event("(deployment %s) shifted %s%% of production traffic to the green service revision.", d.Id, strconv.FormatFloat(next, 'f', -1, 64))
	case StageBakeTime:
		if !settled {
			return
		}
		if end := st.Since.Add(bakeTime(dc)); pl.now.Before(end) {
			pl.requeue(end)
			return
		}
		// Green's target groups become production.
		for i := range svc.LoadBalancers {
			lb := &svc.LoadBalancers[i]
			ac := *lb.AdvancedConfiguration
			lb.TargetGroupArn, ac.AlternateTargetGroupArn = ac.AlternateTargetGroupArn, lb.TargetGroupArn
			lb.AdvancedConfiguration = &ac
		}
		pl.setStage(d, bgState{Stage: StageCleanUp, Percent: 100, Since: pl.now})
		pl.event("(deployment %s) bake time ended: scaling down the blue service revision.", d.Id)
		for _, t := range blue {
			pl.stop(t.t, reasonScaling(d.Id))
		}
		for _, t := range stale {
			pl.stop(t.t, reasonScaling(d.Id))
		}
	}
}

// blueDeployment is the deployment whose tasks serve production traffic
// beside a traffic-shifting deployment under way: the newest older one
// whose tasks live in the production target groups (not an unfinished
// green); nil if there is none.
func (pl *planner) blueDeployment() *ecsapi.Deployment {
	for i := 1; i < len(pl.svc.Deployments); i++ {
		d := &pl.svc.Deployments[i]
		if !pl.inAlternate(&ecsapi.Task{StartedBy: d.Id}) {
			return d
		}
	}
	return nil
}

// cleanUp stops what is left of blue while the PRIMARY deployment is in
// CLEAN_UP, and keeps green at the desired count.
func (pl *planner) cleanUp(live []*task, tasks []ecsapi.Task) {
	d := &pl.svc.Deployments[0]
	pl.steadyRules()
	green := 0
	for _, t := range live {
		if t.t.StartedBy == d.Id {
			green++
			continue
		}
		pl.stop(t.t, reasonScaling(d.Id))
	}
	if need := int(pl.svc.DesiredCount) - green; need > 0 && !pl.throttled(tasks, d.Id) {
		pl.p.Start = append(pl.p.Start, Start{Deployment: d.Id, TaskDefinition: d.TaskDefinition, Count: need})
	}
}

func (pl *planner) hasTestRules() bool {
	for _, lb := range pl.svc.LoadBalancers {
		if lb.AdvancedConfiguration.TestListenerRule != "" {
			return true
		}
	}
	return false
}

func (pl *planner) startProduction(d *ecsapi.Deployment, dc *ecsapi.DeploymentConfiguration) {
	first := firstStep(dc)
	pl.setStage(d, bgState{Stage: StageProductionShift, Percent: first, Since: pl.now})
	pl.event("(deployment %s) shifted %s%% of production traffic to the green service revision.", d.Id, strconv.FormatFloat(first, 'f', -1, 64))
}
