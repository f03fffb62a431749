package service

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

const (
	altArn   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/0123456789abcdef"
	prodRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/2/prod"
	testRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/3/test"
)

// shifting makes the service deploy with strategy, behind tgArn with
// altArn as its alternate, the production and test rules.
func shiftingLB(strategy string, bake int32, mods ...func(*ecsapi.DeploymentConfiguration)) func(*ecsapi.Service) {
	return func(s *ecsapi.Service) {
		s.LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: tgArn, ContainerName: "web", ContainerPort: new(int32(8080)),
			AdvancedConfiguration: &ecsapi.AdvancedConfiguration{AlternateTargetGroupArn: altArn, ProductionListenerRule: prodRule, TestListenerRule: testRule}}}
		s.DeploymentConfiguration.Strategy = ecsapi.DeploymentStrategy(strategy)
		s.DeploymentConfiguration.BakeTimeInMinutes = new(bake)
		for _, m := range mods {
			m(s.DeploymentConfiguration)
		}
	}
}

// bgWorld is a small simulation of a cluster, its target groups and
// rules, that applies the plans of one service.
type bgWorld struct {
	t        *testing.T
	svc      *ecsapi.Service
	tasks    []ecsapi.Task
	targets  map[string][]Target
	rules    map[string]map[string]int32
	changed  time.Time
	now      time.Time
	port     int32
	unhealth map[string]bool // task definitions whose targets are unhealthy
	// lastPositive is when each target group last had production weight.
	lastPositive map[string]time.Time
	stages       []string
	events       []string
}

func newBGWorld(t *testing.T, svc *ecsapi.Service) *bgWorld {
	w := &bgWorld{t: t, svc: svc, targets: map[string][]Target{tgArn: {}, altArn: {}}, now: t0, port: 30000,
		rules:    map[string]map[string]int32{prodRule: {tgArn: 1, altArn: 0}, testRule: {tgArn: 1, altArn: 0}},
		unhealth: map[string]bool{}, lastPositive: map[string]time.Time{}}
	return w
}

func (w *bgWorld) run(dep, td string, n int) {
	for i := 0; i < n; i++ {
		w.port++
		tsk := tk(dep, inst1, "RUNNING", bound(w.port))
		tsk.TaskDefinitionArn = td
		tsk.StartedAt = ecsapi.NewTimestamp(w.now)
		w.tasks = append(w.tasks, tsk)
	}
}

func (w *bgWorld) weight(tg string) int32 { return w.rules[prodRule][tg] }

// step plans once and applies the plan; it checks that no task stops
// while its target group had production traffic within RuleSettle.
func (w *bgWorld) step() Plan {
	w.t.Helper()
	for tg, wt := range w.rules[prodRule] {
		if wt > 0 {
			w.lastPositive[tg] = w.now
		}
	}
	p := plan(testCfg, w.svc, Observed{Tasks: w.tasks, Instances: lbInstances(), Targets: w.targets, Rules: w.rules, RulesChanged: w.changed}, w.now)
	if p.Write {
		w.svc = &p.Service
	}
	if st, ok := parseBGState(w.svc.Deployments[0].RolloutStateReason); ok {
		label := fmt.Sprintf("%s %g", st.Stage, st.Percent)
		if len(w.stages) == 0 || w.stages[len(w.stages)-1] != label {
			w.stages = append(w.stages, label)
		}
	}
	w.events = append(w.events, p.Events...)
	for rule, ws := range p.Weights {
		for tg, v := range ws {
			w.rules[rule][tg] = v
		}
		w.changed = w.now
	}
	for _, st := range p.Stop {
		for i := range w.tasks {
			t := &w.tasks[i]
			if t.TaskArn != st.TaskArn {
				continue
			}
			ref := TargetRef{ID: "i-1", Port: *t.Containers[0].NetworkBindings[0].HostPort}
			for tg, ts := range w.targets {
				for _, x := range ts {
					if x.TargetRef == ref && x.State == targetHealthy && w.now.Sub(w.lastPositive[tg]) < RuleSettle && !strings.Contains(st.Reason, "ELB") {
						w.t.Fatalf("at %v task %s of %s stopped while target group %s had production traffic %v ago", w.now.Sub(t0), taskID(t.TaskArn), t.StartedBy, tg, w.now.Sub(w.lastPositive[tg]))
					}
				}
			}
			t.DesiredStatus, t.LastStatus, t.StopCode, t.StoppedReason = "STOPPED", "STOPPED", "ServiceSchedulerInitiated", st.Reason
			t.StoppedAt = ecsapi.NewTimestamp(w.now)
		}
	}
	for tg, refs := range p.Deregister {
		var kept []Target
		for _, x := range w.targets[tg] {
			drop := false
			for _, r := range refs {
				drop = drop || r == x.TargetRef
			}
			if !drop {
				kept = append(kept, x)
			}
		}
		w.targets[tg] = kept
	}
	for tg, refs := range p.Register {
		for _, r := range refs {
			state := targetHealthy
			for _, t := range w.tasks {
				if len(t.Containers[0].NetworkBindings) > 0 && *t.Containers[0].NetworkBindings[0].HostPort == r.Port && w.unhealth[t.TaskDefinitionArn] {
					state = targetUnhealthy
				}
			}
			w.targets[tg] = append(w.targets[tg], Target{TargetRef: r, State: state})
		}
	}
	for _, s := range p.Start {
		w.run(s.Deployment, s.TaskDefinition, s.Count)
	}
	adv := 500 * time.Millisecond
	if p.RequeueAfter > adv {
		adv = p.RequeueAfter
	}
	w.now = w.now.Add(adv)
	return p
}

// until steps until done reports true, at most n times.
func (w *bgWorld) until(n int, done func() bool) {
	w.t.Helper()
	for i := 0; i < n; i++ {
		if done() {
			return
		}
		w.step()
	}
	w.t.Fatalf("not done after %d steps; stages %v; deployments %+v; rules %v", n, w.stages, w.svc.Deployments, w.rules)
}

func (w *bgWorld) live(dep string) int {
	n := 0
	for _, t := range w.tasks {
		if t.StartedBy == dep && t.DesiredStatus != "STOPPED" {
			n++
		}
	}
	return n
}

// deployed returns a world with a service of 2 tasks of d1 behind tgArn
// and a new deployment d2.
func deployed(t *testing.T, mods ...func(*ecsapi.Service)) *bgWorld {
	svc := svcFixture(2, mods...)
	w := newBGWorld(t, svc)
	w.run("d1", "td:1", 2)
	// Steady: d1 registers in the production target group.
	w.until(10, func() bool { return len(w.targets[tgArn]) == 2 && w.svc.Deployments[0].RolloutState == "COMPLETED" })
	deploy(w.svc)
	return w
}

func TestBlueGreenStages(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*ecsapi.Service)
		stages []string
		// minTime is how long the deployment takes at least.
		minTime time.Duration
	}{
		{"blue/green shifts all at once after test traffic", shiftingLB("BLUE_GREEN", 2),
			[]string{"SCALE_UP 0", "TEST_TRAFFIC_SHIFT 0", "PRODUCTION_TRAFFIC_SHIFT 100", "BAKE_TIME 100", "CLEAN_UP 100"}, 2 * time.Minute},
		{"linear shifts stepPercent every stepBakeTimeInMinutes", shiftingLB("LINEAR", 0, func(dc *ecsapi.DeploymentConfiguration) {
			dc.LinearConfiguration = &ecsapi.LinearConfiguration{StepPercent: 40, StepBakeTimeInMinutes: 1}
		}), []string{"SCALE_UP 0", "TEST_TRAFFIC_SHIFT 0", "PRODUCTION_TRAFFIC_SHIFT 40", "PRODUCTION_TRAFFIC_SHIFT 80", "PRODUCTION_TRAFFIC_SHIFT 100", "BAKE_TIME 100", "CLEAN_UP 100"}, 2 * time.Minute},
		{"canary shifts canaryPercent, then the rest", shiftingLB("CANARY", 0, func(dc *ecsapi.DeploymentConfiguration) {
			dc.CanaryConfiguration = &ecsapi.CanaryConfiguration{CanaryPercent: 10, CanaryBakeTimeInMinutes: 3}
		}), []string{"SCALE_UP 0", "TEST_TRAFFIC_SHIFT 0", "PRODUCTION_TRAFFIC_SHIFT 10", "PRODUCTION_TRAFFIC_SHIFT 100", "BAKE_TIME 100", "CLEAN_UP 100"}, 3 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := deployed(t, tc.mod)
			start := w.now
			sawCanary := false
			w.until(200, func() bool {
				if w.weight(altArn) > 0 && w.weight(tgArn) > 0 {
					sawCanary = true
					if w.live("d1") != 2 || w.live("d2") != 2 {
						t.Fatalf("blue %d and green %d tasks while traffic is split", w.live("d1"), w.live("d2"))
					}
				}
				return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].RolloutState == "COMPLETED"
			})
			if fmt.Sprint(w.stages) != fmt.Sprint(tc.stages) {
				t.Errorf("stages %v, want %v", w.stages, tc.stages)
			}
			if took := w.now.Sub(start); took < tc.minTime {
				t.Errorf("deployment took %v, less than %v", took, tc.minTime)
			}
			if sawCanary != (tc.name[0] != 'b') {
				t.Errorf("split traffic seen: %v", sawCanary)
			}
			if d := w.svc.Deployments[0]; d.Id != "d2" || w.live("d1") != 0 || w.live("d2") != 2 {
				t.Errorf("deployments %+v, blue %d green %d", w.svc.Deployments, w.live("d1"), w.live("d2"))
			}
			// Green's target group is production now, with everything.
			if lb := w.svc.LoadBalancers[0]; lb.TargetGroupArn != altArn || lb.AdvancedConfiguration.AlternateTargetGroupArn != tgArn {
				t.Errorf("load balancers not swapped: %+v", lb)
			}
			if w.weight(altArn) == 0 || w.weight(tgArn) != 0 || w.rules[testRule][tgArn] != 0 {
				t.Errorf("rules %v", w.rules)
			}
			if len(w.targets[tgArn]) != 0 || len(w.targets[altArn]) != 2 {
				t.Errorf("targets %v", w.targets)
			}
			// The next deployment goes the other way.
			deploy3(w.svc)
			w.until(200, func() bool { return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].RolloutState == "COMPLETED" })
			if lb := w.svc.LoadBalancers[0]; lb.TargetGroupArn != tgArn || len(w.targets[tgArn]) != 2 || len(w.targets[altArn]) != 0 || w.weight(tgArn) == 0 || w.weight(altArn) != 0 {
				t.Errorf("after a second deployment: lb %+v targets %v rules %v", lb, w.targets, w.rules)
			}
		})
	}
}

// deploy3 makes d3 of td:3 the PRIMARY, IN_PROGRESS deployment.
func deploy3(s *ecsapi.Service) {
	s.Deployments[0].Status = "ACTIVE"
	s.Deployments = append([]ecsapi.Deployment{{Id: "d3", Status: "PRIMARY", TaskDefinition: "td:3", DesiredCount: s.DesiredCount,
		RolloutState: "IN_PROGRESS", RolloutStateReason: "ECS deployment d3 in progress."}}, s.Deployments...)
	s.TaskDefinition = "td:3"
}

func TestBlueGreenRollback(t *testing.T) {
	t.Run("a rollback mid-shift sends traffic back before green stops", func(t *testing.T) {
		w := deployed(t, shiftingLB("CANARY", 0, func(dc *ecsapi.DeploymentConfiguration) {
			dc.CanaryConfiguration = &ecsapi.CanaryConfiguration{CanaryPercent: 50, CanaryBakeTimeInMinutes: 10}
		}))
		w.until(100, func() bool { return w.weight(altArn) > 0 })
		w.step()
		// StopServiceDeployment ROLLBACK, as internal/ecs writes it.
		s := w.svc
		failed, back := s.Deployments[0], s.Deployments[1]
		failed.Status, failed.RolloutState, failed.RolloutStateReason = "ACTIVE", "FAILED", "Service deployment stopped by user request (rollback)."
		back.Status, back.RolloutState, back.RolloutStateReason = "PRIMARY", "IN_PROGRESS", "ECS deployment circuit breaker: rolling back to deploymentId d1."
		s.Deployments = []ecsapi.Deployment{back, failed}
		p := w.step()
		if p.Weights[prodRule][altArn] != 0 || p.Weights[prodRule][tgArn] == 0 || len(p.Stop) != 0 {
			t.Fatalf("rollback plan: weights %v, stops %v", p.Weights, p.Stop)
		}
		w.until(100, func() bool { return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].RolloutState == "COMPLETED" })
		if d := w.svc.Deployments[0]; d.Id != "d1" || w.live("d2") != 0 || w.live("d1") != 2 || len(w.targets[altArn]) != 0 || len(w.targets[tgArn]) != 2 {
			t.Errorf("after rollback: %+v, targets %v", w.svc.Deployments, w.targets)
		}
		if lb := w.svc.LoadBalancers[0]; lb.TargetGroupArn != tgArn || w.weight(altArn) != 0 {
			t.Errorf("lb %+v rules %v", lb, w.rules)
		}
	})
	t.Run("the circuit breaker rolls back a green revision that fails its health checks", func(t *testing.T) {
		w := deployed(t, shiftingLB("BLUE_GREEN", 0), breakerOn(true))
		w.unhealth["td:2"] = true
		w.until(200, func() bool { return w.svc.Deployments[0].Id == "d1" && len(w.svc.Deployments) == 1 })
		if w.weight(altArn) != 0 || w.live("d2") != 0 || w.live("d1") != 2 {
			t.Errorf("rules %v, green %d, blue %d", w.rules, w.live("d2"), w.live("d1"))
		}
		for _, st := range w.stages {
			if !strings.HasPrefix(st, "SCALE_UP") {
				t.Errorf("stage %s reached by an unhealthy green revision", st)
			}
		}
	})
}

func TestBlueGreenReplacedMidway(t *testing.T) {
	// A new deployment while green bakes with all the traffic: traffic
	// goes back to blue, the unfinished green goes once it has none, and
	// the newest deployment runs from the start.
	w := deployed(t, shiftingLB("BLUE_GREEN", 10))
	w.until(100, func() bool {
		st, _ := parseBGState(w.svc.Deployments[0].RolloutStateReason)
		return st.Stage == StageBakeTime && w.weight(altArn) > 0
	})
	deploy3(w.svc)
	w.step()
	if w.weight(altArn) != 0 || w.weight(tgArn) == 0 {
		t.Fatalf("traffic not back on blue: %v", w.rules)
	}
	if w.live("d2") != 2 {
		t.Fatalf("unfinished green stopped before its traffic settled: %d left", w.live("d2"))
	}
	w.until(300, func() bool { return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].RolloutState == "COMPLETED" })
	if w.svc.Deployments[0].Id != "d3" || w.live("d1") != 0 || w.live("d2") != 0 || w.live("d3") != 2 {
		t.Errorf("deployments %+v; live d1 %d d2 %d d3 %d", w.svc.Deployments, w.live("d1"), w.live("d2"), w.live("d3"))
	}
	if lb := w.svc.LoadBalancers[0]; lb.TargetGroupArn != altArn || len(w.targets[altArn]) != 2 || len(w.targets[tgArn]) != 0 {
		t.Errorf("lb %+v targets %v", lb, w.targets)
	}
}

func TestBGStateReason(t *testing.T) {
	st := bgState{Stage: StageProductionShift, Percent: 12.5, Since: t0}
	got, ok := parseBGState(st.reason("ecs-svc/123"))
	if !ok || got.Stage != st.Stage || got.Percent != 12.5 || !got.Since.Equal(t0) {
		t.Fatalf("round trip: %+v %v (%s)", got, ok, st.reason("ecs-svc/123"))
	}
	if _, ok := parseBGState("ECS deployment ecs-svc/1 in progress."); ok {
		t.Error("plain reason parsed")
	}
	for _, tc := range []struct {
		pct        float64
		blue, gren int32
	}{{0, 1, 0}, {100, 0, 1}, {0.1, 999, 1}, {40, 600, 400}} {
		w := weightsFor("b", "g", tc.pct)
		if w["b"] != tc.blue || w["g"] != tc.gren {
			t.Errorf("weightsFor %g = %v", tc.pct, w)
		}
	}
}

func TestBlueGreenReplacesLostBlueTasks(t *testing.T) {
	for _, stage := range []string{StageScaleUp, StageProductionShift, StageBakeTime} {
		t.Run(stage, func(t *testing.T) {
			w := deployed(t, shiftingLB("CANARY", 10, func(dc *ecsapi.DeploymentConfiguration) {
				dc.CanaryConfiguration = &ecsapi.CanaryConfiguration{CanaryPercent: 50, CanaryBakeTimeInMinutes: 10}
			}))
			w.until(200, func() bool {
				st, _ := parseBGState(w.svc.Deployments[0].RolloutStateReason)
				return st.Stage == stage
			})
			// A blue task dies by itself (its container exited).
			for i := range w.tasks {
				if tk := &w.tasks[i]; tk.StartedBy == "d1" && tk.DesiredStatus != "STOPPED" {
					tk.DesiredStatus, tk.LastStatus, tk.StopCode = "STOPPED", "STOPPED", "EssentialContainerExited"
					tk.StoppedAt = ecsapi.NewTimestamp(w.now)
					tk.StartedAt = ecsapi.NewTimestamp(w.now.Add(-time.Hour))
					break
				}
			}
			p := w.step()
			var started []Start
			for _, s := range p.Start {
				if s.Deployment == "d1" {
					started = append(started, s)
				}
			}
			if len(started) != 1 || started[0].Count != 1 || started[0].TaskDefinition != "td:1" {
				t.Fatalf("plan starts %+v, want one task of blue (d1, td:1)", p.Start)
			}
			if w.live("d1") != 2 || w.live("d2") != 2 {
				t.Fatalf("blue %d green %d, want 2 and 2", w.live("d1"), w.live("d2"))
			}
			// The replacement registers in blue's (production) group.
			w.step()
			if n := len(w.targets[tgArn]); n != 2 {
				t.Errorf("production group has %d targets, want 2: %v", n, w.targets)
			}
			// The deployment goes on to its end.
			w.until(300, func() bool { return len(w.svc.Deployments) == 1 && w.svc.Deployments[0].RolloutState == "COMPLETED" })
			if w.svc.Deployments[0].Id != "d2" || w.live("d1") != 0 || w.live("d2") != 2 {
				t.Errorf("deployments %+v; blue %d green %d", w.svc.Deployments, w.live("d1"), w.live("d2"))
			}
		})
	}
}
