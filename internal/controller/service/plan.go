package service

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// Stop reasons the controller gives tasks (their stoppedReason).
const (
	// ReasonUnhealthy is the stoppedReason of a task stopped because its
	// health checks failed after the grace period.
	ReasonUnhealthy = "Task failed container health checks"
	// ReasonLost is the stoppedReason of a task whose instance's agent was
	// disconnected longer than the grace, or whose instance is gone.
	ReasonLost = "Task replaced: its container instance's agent was disconnected or the instance was deregistered"
	// ReasonDraining is the stoppedReason of a task stopped because its
	// container instance is DRAINING.
	ReasonDraining = "Task stopped because its container instance is DRAINING"
)

// reasonScaling is ECS's stoppedReason for tasks a deployment stops.
func reasonScaling(deploymentID string) string {
	return "Scaling activity initiated by (deployment " + deploymentID + ")"
}

// Instance is a container instance of the service's cluster as plan sees
// it.
type Instance struct {
	Arn    string
	Status string
	// Connected is whether its agent is connected now; DisconnectedSince is
	// when the controller first saw it disconnected (zero when connected).
	Connected         bool
	DisconnectedSince time.Time
	// Eligible is whether it meets the service's placement constraints
	// (DAEMON services only run on eligible instances).
	Eligible         bool
	AvailabilityZone string
	// TargetID is its ID as an instance target of a target group (its
	// ec2InstanceId, else its container instance ID).
	TargetID string
	// PrePull is whether its agent pre-pulls images when asked
	// (PrePullAttribute).
	PrePull bool
}

// Observed is what the controller saw of a service's world.
type Observed struct {
	// Tasks are the service's tasks, of every status, STOPPED ones too
	// (ECS keeps them about an hour).
	Tasks []ecsapi.Task
	// Instances are the cluster's container instances that are not
	// INACTIVE.
	Instances []Instance
	// AlarmStates are the states (OK, ALARM, INSUFFICIENT_DATA) of the
	// alarms of the service's deploymentConfiguration.alarms that exist.
	AlarmStates map[string]string
	// Protected says when the scale-in protection of a task (by ARN)
	// expires: until then neither scale-in nor a deployment stops it.
	Protected map[string]time.Time
	// Targets are the registered targets of each target group of the
	// service's loadBalancers that could be read, by target group ARN.
	Targets map[string][]Target
	// PrePull is the service's image pre-pull; nil when the server does
	// not pre-pull.
	PrePull *PrePullObserved
	// Rules are the forward weights (by target group ARN) of the listener
	// rules of the service's advancedConfiguration that could be read, by
	// rule ARN; nil when the service does not shift traffic or the server
	// cannot (blue/green deployments then run as rolling ones).
	Rules map[string]map[string]int32
	// DeploymentLBs are the loadBalancers of the deployments (by ID) whose
	// tasks were registered with other loadBalancers than the service's
	// (UpdateService changed them since).
	DeploymentLBs map[string][]ecsapi.LoadBalancer
	// RulesChanged is when this controller last changed the weights of
	// the service's rules (zero if it does not remember doing so).
	RulesChanged time.Time
}

// Config is the controller's policy.
type Config struct {
	// LostInstanceGrace is how long an agent may be disconnected before its
	// instance's tasks are replaced elsewhere.
	LostInstanceGrace time.Duration
	// ThrottleBase and ThrottleMax bound the delay between starts of a
	// deployment whose tasks keep failing to start: base after the first
	// failure, doubling with each, at most max.
	ThrottleBase, ThrottleMax time.Duration
	// MinHealthyTime is how long a task must stay RUNNING (and HEALTHY,
	// when a container health check reports on it) before it counts as
	// healthy: a deployment completes, and old tasks make room for new
	// ones, only once the new ones have. A task of the deployment that
	// stops by itself sooner counts as failed for the circuit breaker (as
	// a task that failed to start does). Zero counts a task healthy as
	// soon as it runs (ECS's own behaviour).
	MinHealthyTime time.Duration
	// PrePullTimeout is how long a rolling update waits at most, from its
	// deployment's creation, for its images to be pulled on the instances
	// that may run its tasks before it starts them (prepull.go). Zero
	// turns pre-pull off.
	PrePullTimeout time.Duration
}

// Start is tasks to start.
type Start struct {
	Deployment     string
	TaskDefinition string
	Count          int
	// Instance is the container instance to start it on (DAEMON); empty
	// lets placement choose (REPLICA).
	Instance string
}

// Stop is a task to stop.
type Stop struct {
	TaskArn string
	Reason  string
	// Running is whether the task had reached RUNNING (for the event).
	Running bool
}

// Plan is what a reconcile does: the service record to write (deployments,
// counts, status), tasks to stop, then tasks to start, and the events that
// explain it, oldest first. RequeueAfter asks for another look when a timer
// (grace period, throttle) ends.
type Plan struct {
	Service      ecsapi.Service
	Write        bool
	Stop         []Stop
	Start        []Start
	Events       []string
	RequeueAfter time.Duration
	// Register and Deregister are targets to register in and deregister
	// from each target group (by ARN); Finish are the DEACTIVATING tasks
	// whose targets have drained, to let stop.
	Register, Deregister map[string][]TargetRef
	Finish               []string
	// WritePrePull says to store PrePull as the service's pre-pull
	// request (nil: delete it), before the stops and starts.
	WritePrePull bool
	PrePull      *PrePullRequest
	// Weights are the forward weights to set, by listener rule ARN and
	// target group ARN (blue/green, linear and canary deployments), after
	// the service record is written and before the stops.
	Weights map[string]map[string]int32
}

// task is a live task classified.
type task struct {
	t        *ecsapi.Task
	running  bool
	healthy  bool
	draining bool
	az       string
	instance string
}

// planner holds one plan's working state.
type planner struct {
	cfg   Config
	now   time.Time
	svc   *ecsapi.Service
	name  string
	p     *Plan
	insts map[string]*Instance
	// stopping counts tasks asked to stop but not yet STOPPED, by
	// deployment, and by instance.
	stoppingDep  map[string]int
	stoppingInst map[string]int
	stopped      map[string]bool
	stoppedDep   map[string]int
	// healthFailed counts tasks stopped for failed health checks, by
	// deployment.
	healthFailed map[string]int
	// protected is when each protected task's protection expires.
	protected map[string]time.Time
	// heldBack counts the tasks scale-in or a deployment would have
	// stopped but for their protection.
	heldBack int
	// targets are the observed targets of the service's target groups.
	targets map[string]map[TargetRef]Target
	// lbUnready are the RUNNING tasks whose targets are not (yet) all
	// healthy: they do not count as healthy.
	lbUnready map[string]bool
	// deactivating counts the tasks whose targets are draining before
	// they stop.
	deactivating int
	// bgOn is whether the service deploys by shifting traffic between
	// target group pairs (bluegreen.go); rules are its rules' observed
	// weights, changed at rulesChanged.
	bgOn         bool
	rules        map[string]map[string]int32
	rulesChanged time.Time
	// depLBs are the loadBalancers of deployments whose tasks are in
	// other target groups than the service's.
	depLBs map[string][]ecsapi.LoadBalancer
}

// plan decides the next step for desired, a service record, given what was
// observed at now. It is pure: it reads nothing else and changes nothing.
func plan(cfg Config, desired *ecsapi.Service, obs Observed, now time.Time) Plan {
	var svc ecsapi.Service
	b, _ := json.Marshal(desired)
	_ = json.Unmarshal(b, &svc)
	p := &Plan{}
	pl := &planner{cfg: cfg, now: now, svc: &svc, name: svc.ServiceName, p: p, insts: map[string]*Instance{},
		stoppingDep: map[string]int{}, stoppingInst: map[string]int{}, stopped: map[string]bool{}, stoppedDep: map[string]int{}, healthFailed: map[string]int{},
		protected: obs.Protected, targets: map[string]map[TargetRef]Target{}, lbUnready: map[string]bool{},
		bgOn: shiftsTraffic(&svc) && obs.Rules != nil, rules: obs.Rules, rulesChanged: obs.RulesChanged, depLBs: obs.DeploymentLBs}
	for tg, ts := range obs.Targets {
		m := make(map[TargetRef]Target, len(ts))
		for _, t := range ts {
			m[t.TargetRef] = t
		}
		pl.targets[tg] = m
	}
	for i := range obs.Instances {
		pl.insts[obs.Instances[i].Arn] = &obs.Instances[i]
	}
	if isExternal(&svc) {
		live := pl.classify(obs.Tasks)
		if svc.Status == "DRAINING" {
			pl.drain(live)
		} else {
			pl.external(pl.unstopped(live), obs.Tasks)
		}
		pl.accountExternal(obs.Tasks)
		p.Service = svc
		after, _ := json.Marshal(&svc)
		p.Write = string(after) != string(b)
		return *p
	}
	if len(svc.Deployments) == 0 {
		// Not a record CreateService wrote: nothing to reconcile.
		p.Service = svc
		return *p
	}
	live := pl.classify(obs.Tasks)
	switch {
	case svc.Status == "DRAINING":
		pl.drain(live)
	case string(svc.SchedulingStrategy) == "DAEMON":
		pl.breaker(obs.Tasks)
		pl.deploymentAlarms(obs.AlarmStates)
		live = pl.unstopped(live)
		if !pl.prePull(obs.PrePull, deploymentTasks(obs.Tasks, svc.Deployments[0].Id)) {
			pl.daemon(live, obs.Tasks)
		}
	default:
		if !pl.cleaningUp() {
			pl.breaker(obs.Tasks)
			pl.deploymentAlarms(obs.AlarmStates)
		}
		live = pl.unstopped(live)
		switch {
		case pl.shifting():
			pl.blueGreen(live, obs.Tasks)
		case pl.cleaningUp():
			pl.cleanUp(live, obs.Tasks)
		case !pl.steadyRules():
			// Traffic goes back to the production target groups (a
			// rollback) before anything there stops.
		case !pl.prePull(obs.PrePull, deploymentTasks(obs.Tasks, svc.Deployments[0].Id)):
			pl.replica(live, obs.Tasks)
		}
	}
	if svc.Status == "DRAINING" {
		if obs.PrePull != nil && obs.PrePull.Request != nil {
			pl.putPrePull(nil)
		}
	}
	pl.standingPrePull(obs.PrePull)
	pl.targetsOfStopping(obs.Tasks)
	pl.account(obs.Tasks)
	p.Service = svc
	after, _ := json.Marshal(&svc)
	p.Write = string(after) != string(b)
	return *p
}

// requeue asks for another look at t at the latest.
func (pl *planner) requeue(at time.Time) {
	d := at.Sub(pl.now)
	if d <= 0 {
		d = time.Millisecond
	}
	if pl.p.RequeueAfter == 0 || d < pl.p.RequeueAfter {
		pl.p.RequeueAfter = d
	}
}

func (pl *planner) event(format string, args ...any) {
	pl.p.Events = append(pl.p.Events, fmt.Sprintf("(service "+pl.name+") "+format, args...))
}

func (pl *planner) stop(t *ecsapi.Task, reason string) {
	if pl.stopped[t.TaskArn] {
		return
	}
	pl.stopped[t.TaskArn] = true
	pl.stoppedDep[t.StartedBy]++
	pl.p.Stop = append(pl.p.Stop, Stop{TaskArn: t.TaskArn, Reason: reason, Running: t.LastStatus == "RUNNING"})
}

// isProtected reports whether t's scale-in protection holds now, and asks
// for a look when it ends.
func (pl *planner) isProtected(t *ecsapi.Task) bool {
	until, ok := pl.protected[t.TaskArn]
	if !ok || !pl.now.Before(until) {
		return false
	}
	pl.requeue(until)
	return true
}

// unstopped is live without the tasks this plan stops.
func (pl *planner) unstopped(live []*task) []*task {
	var out []*task
	for _, t := range live {
		if !pl.stopped[t.t.TaskArn] {
			out = append(out, t)
		}
	}
	return out
}

func hasHealthCheck(t *ecsapi.Task) bool {
	for _, c := range t.Containers {
		if c.HealthStatus != "" {
			return true
		}
	}
	return false
}

func (pl *planner) grace() time.Duration {
	if g := pl.svc.HealthCheckGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 0
}

// classify sorts the tasks: stopping ones are counted, lost and unhealthy
// ones are stopped, and the live rest is returned.
func (pl *planner) classify(tasks []ecsapi.Task) []*task {
	var live []*task
	for i := range tasks {
		t := &tasks[i]
		inst := pl.insts[t.ContainerInstanceArn]
		lost := false
		if t.ContainerInstanceArn != "" {
			switch {
			case inst == nil:
				lost = true
			case !inst.Connected && !inst.DisconnectedSince.IsZero():
				if end := inst.DisconnectedSince.Add(pl.cfg.LostInstanceGrace); !pl.now.Before(end) {
					lost = true
				} else if t.DesiredStatus != "STOPPED" {
					pl.requeue(end)
				}
			}
		}
		if t.DesiredStatus == "STOPPED" {
			if t.LastStatus != "STOPPED" && !lost {
				pl.stoppingDep[t.StartedBy]++
				pl.stoppingInst[t.ContainerInstanceArn]++
			}
			if failedHealthChecks(t.StoppedReason) {
				pl.healthFailed[t.StartedBy]++
			}
			if t.LastStatus == lastDeactivating {
				pl.deactivating++
			}
			continue
		}
		if lost {
			pl.stop(t, ReasonLost)
			pl.event("(task %s) was on a container instance whose agent is disconnected or gone: it is being replaced.", taskID(t.TaskArn))
			continue
		}
		lt := &task{t: t, running: t.LastStatus == "RUNNING", instance: t.ContainerInstanceArn}
		if inst != nil {
			lt.draining = inst.Status == "DRAINING"
			lt.az = inst.AvailabilityZone
		}
		if lt.running {
			if !hasHealthCheck(t) || t.HealthStatus == "HEALTHY" {
				lt.healthy = pl.settledRunning(t)
			} else if t.HealthStatus == "UNHEALTHY" {
				end := pl.now
				if t.StartedAt != nil {
					end = t.StartedAt.Time.Add(pl.grace())
				}
				if !pl.now.Before(end) {
					pl.stop(t, ReasonUnhealthy)
					pl.healthFailed[t.StartedBy]++
					pl.event("(task %s) failed container health checks.", taskID(t.TaskArn))
					continue
				}
				pl.requeue(end)
			}
			if len(pl.groupsFor(t)) > 0 {
				ok, tg, bad := pl.lbHealth(t)
				if !ok {
					lt.healthy = false
					pl.lbUnready[t.TaskArn] = true
				}
				if tg != "" {
					end := pl.now
					if t.StartedAt != nil {
						end = t.StartedAt.Time.Add(pl.grace())
					}
					if !pl.now.Before(end) {
						pl.unhealthyEvent(t, tg, bad)
						pl.stop(t, ReasonELBUnhealthy(tg))
						pl.healthFailed[t.StartedBy]++
						continue
					}
					pl.requeue(end)
				}
			}
		}
		live = append(live, lt)
	}
	return live
}

// drain stops every task of a DRAINING service and makes it INACTIVE once
// they are all stopping or stopped.
func (pl *planner) drain(live []*task) {
	for _, t := range live {
		id := primaryID(pl.svc)
		if id == "" {
			// A task set's task (EXTERNAL controller).
			id = t.t.StartedBy
		}
		pl.stop(t.t, reasonScaling(id))
	}
	if len(live) == 0 && pl.deactivating == 0 {
		pl.svc.Status = "INACTIVE"
	}
}

func primaryID(svc *ecsapi.Service) string {
	if len(svc.Deployments) == 0 {
		return ""
	}
	return svc.Deployments[0].Id
}

// threshold is the circuit breaker's failure threshold: half the desired
// count, at least 3 and at most 200.
func threshold(desired int32) int32 {
	n := int32(math.Ceil(float64(desired) * 0.5))
	return min(max(n, 3), 200)
}

// settledRunning reports whether the RUNNING task t has been running for
// the minimum healthy time, and if not, asks for a look when it will have.
func (pl *planner) settledRunning(t *ecsapi.Task) bool {
	if pl.cfg.MinHealthyTime <= 0 {
		return true
	}
	if t.StartedAt == nil {
		return false
	}
	end := t.StartedAt.Time.Add(pl.cfg.MinHealthyTime)
	if pl.now.Before(end) {
		pl.requeue(end)
		return false
	}
	return true
}

// stoppedBy reports whether t was stopped by the scheduler or a user (not
// by itself).
func stoppedBy(t *ecsapi.Task) bool {
	return t.StopCode == "ServiceSchedulerInitiated" || t.StopCode == "UserInitiated"
}

// outcome judges a task for the circuit breaker: failed when it stopped by
// itself before it had run for minHealthy (never reaching RUNNING
// included), proven when it ran at least that long (and, when still
// running with a health check, is HEALTHY). A task that is neither is
// still starting or proving itself, or was stopped by the scheduler or a
// user before it proved itself.
func outcome(t *ecsapi.Task, minHealthy time.Duration, now time.Time) (failed, proven bool) {
	down := t.LastStatus == "STOPPED" || t.DesiredStatus == "STOPPED"
	if t.StartedAt == nil {
		return down && !stoppedBy(t), false
	}
	end := now
	if down {
		for _, at := range []*ecsapi.Timestamp{t.ExecutionStoppedAt, t.StoppingAt, t.StoppedAt} {
			if at != nil {
				end = at.Time
				break
			}
		}
	}
	ranFor := end.Sub(t.StartedAt.Time)
	if down && !stoppedBy(t) && ranFor < minHealthy {
		return true, false
	}
	if ranFor < minHealthy {
		return false, false
	}
	if !down && hasHealthCheck(t) && t.HealthStatus != "HEALTHY" {
		return false, false
	}
	return false, true
}

// stopTime is when t stopped or began to stop (zero if unknown).
func stopTime(t *ecsapi.Task) time.Time {
	for _, at := range []*ecsapi.Timestamp{t.StoppedAt, t.StoppingAt, t.ExecutionStoppedAt} {
		if at != nil {
			return at.Time
		}
	}
	return time.Time{}
}

// startFailures counts, newest first, the consecutive tasks of deployment
// id that failed (stopped by themselves before reaching RUNNING, or before
// running for minHealthy) until one that proved itself, and returns when
// the newest of them stopped.
func startFailures(tasks []ecsapi.Task, id string, minHealthy time.Duration, now time.Time) (int, time.Time) {
	var mine []*ecsapi.Task
	for i := range tasks {
		t := &tasks[i]
		if t.StartedBy == id {
			mine = append(mine, t)
		}
	}
	sort.Slice(mine, func(a, b int) bool { return created(mine[a]).After(created(mine[b])) })
	n := 0
	var last time.Time
	for _, t := range mine {
		failed, proven := outcome(t, minHealthy, now)
		if proven || (minHealthy <= 0 && t.StartedAt != nil) {
			break
		}
		if !failed {
			continue
		}
		n++
		if at := stopTime(t); at.After(last) {
			last = at
		}
	}
	return n, last
}

// earlyExits counts the tasks of deployment id that reached RUNNING and
// stopped by themselves before running for minHealthy.
func earlyExits(tasks []ecsapi.Task, id string, minHealthy time.Duration, now time.Time) int {
	n := 0
	for i := range tasks {
		t := &tasks[i]
		if t.StartedBy != id || t.StartedAt == nil {
			continue
		}
		if failed, _ := outcome(t, minHealthy, now); failed {
			n++
		}
	}
	return n
}

func created(t *ecsapi.Task) time.Time {
	if t.CreatedAt == nil {
		return time.Time{}
	}
	return t.CreatedAt.Time
}

// proved reports whether a task of deployment id ever proved itself: it
// reached RUNNING and, with a minimum healthy time, stayed so that long.
func proved(tasks []ecsapi.Task, id string, minHealthy time.Duration, now time.Time) bool {
	for i := range tasks {
		t := &tasks[i]
		if t.StartedBy != id || t.StartedAt == nil {
			continue
		}
		if minHealthy <= 0 {
			return true
		}
		if _, ok := outcome(t, minHealthy, now); ok {
			return true
		}
	}
	return false
}

// breaker runs the deployment circuit breaker on the PRIMARY deployment:
// stage 1 counts tasks that failed to start (or, with a minimum healthy
// time, stopped by themselves before running that long) until one proves
// itself, then stage 2 counts tasks stopped for failed health checks and
// tasks that stopped by themselves before the minimum healthy time (ECS's
// own breaker counts neither kind in stage 2, so a revision that crashes
// seconds after starting would complete and cycle tasks forever). At the
// threshold
// the deployment is FAILED and, with rollback, the last COMPLETED
// deployment becomes PRIMARY again.
func (pl *planner) breaker(tasks []ecsapi.Task) {
	svc := pl.svc
	d := &svc.Deployments[0]
	if d.RolloutState != "IN_PROGRESS" {
		return
	}
	var failed int
	stage := "tasks failed to start"
	minHealthy := pl.cfg.MinHealthyTime
	if proved(tasks, d.Id, minHealthy, pl.now) {
		exits := earlyExits(tasks, d.Id, minHealthy, pl.now)
		failed = pl.healthFailed[d.Id] + exits
		stage = "tasks failed health checks"
		if exits > pl.healthFailed[d.Id] {
			stage = "tasks stopped before the minimum healthy time"
		}
	} else {
		failed, _ = startFailures(tasks, d.Id, minHealthy, pl.now)
		if early := earlyExits(tasks, d.Id, minHealthy, pl.now); early > 0 && early >= failed {
			stage = "tasks stopped before the minimum healthy time"
		}
		if n := pl.healthFailed[d.Id]; n > 0 && len(pl.lbGroups()) > 0 {
			// Behind a load balancer a task proves itself only once its
			// targets are healthy: those that never were count too.
			failed += n
			stage = "tasks failed health checks"
		}
	}
	d.FailedTasks = int32(failed)
	cb := svc.DeploymentConfiguration
	if cb == nil || cb.DeploymentCircuitBreaker == nil || !cb.DeploymentCircuitBreaker.Enable {
		return
	}
	if int32(failed) < threshold(svc.DesiredCount) {
		return
	}
	pl.failDeployment("ECS deployment circuit breaker", stage)
}

// rollBack makes the last COMPLETED deployment PRIMARY again after the
// PRIMARY one failed (by whom: the circuit breaker or the alarms).
func (pl *planner) rollBack(by string) {
	svc := pl.svc
	for i := 1; i < len(svc.Deployments); i++ {
		back := svc.Deployments[i]
		if back.RolloutState != "COMPLETED" {
			continue
		}
		failedDep := svc.Deployments[0]
		failedDep.Status = "ACTIVE"
		rest := append([]ecsapi.Deployment{failedDep}, svc.Deployments[1:i]...)
		rest = append(rest, svc.Deployments[i+1:]...)
		back.Status = "PRIMARY"
		back.RolloutState = "IN_PROGRESS"
		back.RolloutStateReason = by + ": rolling back to deploymentId " + back.Id + "."
		back.DesiredCount = svc.DesiredCount
		back.UpdatedAt = ecsapi.NewTimestamp(pl.now)
		svc.Deployments = append([]ecsapi.Deployment{back}, rest...)
		svc.TaskDefinition = back.TaskDefinition
		pl.event("(deployment %s) rolling back to deployment %s.", failedDep.Id, back.Id)
		return
	}
}

// AlarmPoll is how often an IN_PROGRESS deployment with
// deploymentConfiguration.alarms has its alarms looked at.
const AlarmPoll = 5 * time.Second

// deploymentAlarms fails the PRIMARY deployment while it is IN_PROGRESS
// when one of the service's deploymentConfiguration.alarms is in ALARM,
// and rolls back to the last COMPLETED deployment when the configuration
// says rollback, as ECS does. states are the alarms' current states.
func (pl *planner) deploymentAlarms(states map[string]string) {
	svc := pl.svc
	d := &svc.Deployments[0]
	dc := svc.DeploymentConfiguration
	if d.RolloutState != "IN_PROGRESS" || dc == nil || dc.Alarms == nil || !dc.Alarms.Enable || len(dc.Alarms.AlarmNames) == 0 {
		return
	}
	var firing []string
	for _, name := range dc.Alarms.AlarmNames {
		if states[name] == "ALARM" {
			firing = append(firing, name)
		}
	}
	if len(firing) == 0 {
		pl.requeue(pl.now.Add(AlarmPoll))
		return
	}
	d.RolloutState = "FAILED"
	d.RolloutStateReason = "ECS deployment alarms: alarm(s) " + strings.Join(firing, ", ") + " in ALARM state."
	d.UpdatedAt = ecsapi.NewTimestamp(pl.now)
	pl.event("(deployment %s) deployment failed: alarm detected.", d.Id)
	if dc.Alarms.Rollback {
		pl.rollBack("ECS deployment alarms")
	}
}

// throttled reports whether starts of deployment id must wait because its
// tasks keep failing to start, and asks for a look when the wait ends.
func (pl *planner) throttled(tasks []ecsapi.Task, id string) bool {
	n, last := startFailures(tasks, id, pl.cfg.MinHealthyTime, pl.now)
	if n == 0 {
		return false
	}
	until := last.Add(controller.Backoff(pl.cfg.ThrottleBase, pl.cfg.ThrottleMax, n-1))
	if !pl.now.Before(until) {
		return false
	}
	pl.requeue(until)
	if n >= 2 {
		pl.event("is unable to consistently start tasks successfully.")
	}
	return true
}

// percents returns the most tasks that may be live and the fewest that
// must stay healthy for desired tasks.
func percents(svc *ecsapi.Service, desired int32) (int, int) {
	maxP, minP := int32(200), int32(100)
	if dc := svc.DeploymentConfiguration; dc != nil {
		if dc.MaximumPercent != nil {
			maxP = *dc.MaximumPercent
		}
		if dc.MinimumHealthyPercent != nil {
			minP = *dc.MinimumHealthyPercent
		}
	}
	most := int(math.Floor(float64(desired) * float64(maxP) / 100))
	fewest := int(math.Ceil(float64(desired) * float64(minP) / 100))
	return most, fewest
}

// replica keeps desiredCount tasks of the PRIMARY deployment: it starts new
// ones while the live total stays within maximumPercent, and stops old ones
// (other deployments, DRAINING instances) while the healthy total stays at
// or above minimumHealthyPercent.
func (pl *planner) replica(live []*task, tasks []ecsapi.Task) {
	svc := pl.svc
	primary := &svc.Deployments[0]
	desired := int(svc.DesiredCount)
	most, fewest := percents(svc, svc.DesiredCount)
	var fresh, old []*task
	healthy := 0
	for _, t := range live {
		if t.healthy {
			healthy++
		}
		if t.t.StartedBy == primary.Id && !t.draining {
			fresh = append(fresh, t)
		} else {
			old = append(old, t)
		}
	}
	// Starts.
	started := 0
	if need, room := desired-len(fresh), most-len(live); need > 0 && room > 0 && primary.RolloutState != "FAILED" {
		if !pl.throttled(tasks, primary.Id) {
			started = min(need, room)
			pl.p.Start = append(pl.p.Start, Start{Deployment: primary.Id, TaskDefinition: primary.TaskDefinition, Count: started})
		}
	}
	// Old tasks go: those not running or unhealthy at once, running ones
	// (healthy, or still waiting for their first health check) while enough
	// healthy tasks stay.
	sort.SliceStable(old, func(a, b int) bool { return expendable(old[a]) && !expendable(old[b]) })
	budget := healthy - fewest
	stoppedOld := 0
	if primary.RolloutState == "FAILED" {
		// A failed deployment launches nothing, so nothing is replaced.
		old = nil
	}
	for _, t := range old {
		reason := reasonScaling(primary.Id)
		if t.draining {
			reason = ReasonDraining
		}
		if !t.draining && pl.isProtected(t.t) {
			// The deployment waits for it.
			pl.heldBack++
			continue
		}
		switch {
		case expendable(t):
			pl.stop(t.t, reason)
		case budget > 0:
			pl.stop(t.t, reason)
			budget--
		default:
			continue
		}
		stoppedOld++
	}
	// Too many of the current deployment: scale in.
	if excess := len(fresh) - desired; excess > 0 {
		for _, t := range scaleInOrder(fresh) {
			if excess == 0 {
				break
			}
			if pl.isProtected(t.t) {
				continue
			}
			pl.stop(t.t, reasonScaling(primary.Id))
			excess--
		}
		// What protection kept beyond the desired count.
		pl.heldBack += excess
	}
	if pl.heldBack > 0 {
		pl.event("was unable to scale in due to (reason: %d tasks under protection).", pl.heldBack)
	}
	if started == 0 && stoppedOld == 0 && len(old) > 0 && len(fresh) < desired && pl.stoppingDep[primary.Id] == 0 && primary.RolloutState != "FAILED" {
		pending := false
		for _, t := range live {
			pending = pending || !t.running
		}
		if !pending && len(live) >= most {
			pl.event("was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
		}
	}
}

// expendable reports whether stopping t costs no capacity: it is not yet
// running, or its health checks fail.
func expendable(t *task) bool { return !t.running || t.t.HealthStatus == "UNHEALTHY" }

// scaleInOrder sorts tasks in the order a scale-in stops them: not yet
// running, then unhealthy, then from the Availability Zone and then the
// instance with the most of them, newest first.
func scaleInOrder(ts []*task) []*task {
	byAZ, byInst := map[string]int{}, map[string]int{}
	for _, t := range ts {
		byAZ[t.az]++
		byInst[t.instance]++
	}
	out := append([]*task(nil), ts...)
	sort.SliceStable(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.running != y.running {
			return !x.running
		}
		if x.healthy != y.healthy {
			return !x.healthy
		}
		if byAZ[x.az] != byAZ[y.az] {
			return byAZ[x.az] > byAZ[y.az]
		}
		if byInst[x.instance] != byInst[y.instance] {
			return byInst[x.instance] > byInst[y.instance]
		}
		return created(x.t).After(created(y.t))
	})
	return out
}

// daemon keeps one task of the PRIMARY deployment on every ACTIVE
// container instance that meets the constraints and has a connected agent
// (or one disconnected for less than the grace), and none elsewhere. On an
// instance with a task of an older deployment, the old task stops first
// (while minimumHealthyPercent allows) and the new one starts once it has
// stopped.
func (pl *planner) daemon(live []*task, tasks []ecsapi.Task) {
	svc := pl.svc
	primary := &svc.Deployments[0]
	var eligible []*Instance
	for _, arn := range sortedKeys(pl.insts) {
		in := pl.insts[arn]
		withinGrace := in.Connected || pl.now.Before(in.DisconnectedSince.Add(pl.cfg.LostInstanceGrace))
		if in.Status == "ACTIVE" && in.Eligible && withinGrace {
			eligible = append(eligible, in)
		}
	}
	svc.DesiredCount = int32(len(eligible))
	primary.DesiredCount = svc.DesiredCount
	_, fewest := percents(svc, svc.DesiredCount)
	on := map[string][]*task{}
	healthy := 0
	for _, t := range live {
		on[t.instance] = append(on[t.instance], t)
		if t.healthy {
			healthy++
		}
	}
	isEligible := map[string]bool{}
	for _, in := range eligible {
		isEligible[in.Arn] = true
	}
	for _, t := range live {
		if !isEligible[t.instance] {
			reason := reasonScaling(primary.Id)
			if t.draining {
				reason = ReasonDraining
			}
			pl.stop(t.t, reason)
			if t.healthy {
				healthy--
			}
		}
	}
	budget := healthy - fewest
	throttled, checked := false, false
	for _, in := range eligible {
		var fresh, old []*task
		for _, t := range on[in.Arn] {
			if t.t.StartedBy == primary.Id {
				fresh = append(fresh, t)
			} else {
				old = append(old, t)
			}
		}
		for _, t := range scaleInOrder(fresh)[min(1, len(fresh)):] {
			pl.stop(t.t, reasonScaling(primary.Id))
		}
		for _, t := range old {
			if len(fresh) == 0 && primary.RolloutState == "FAILED" {
				break
			}
			if len(fresh) > 0 || expendable(t) || budget > 0 {
				if !expendable(t) && len(fresh) == 0 {
					budget--
				}
				pl.stop(t.t, reasonScaling(primary.Id))
			}
		}
		if len(fresh) > 0 || len(old) > 0 || pl.stoppingInst[in.Arn] > 0 || !in.Connected || primary.RolloutState == "FAILED" {
			continue
		}
		if !checked {
			throttled, checked = pl.throttled(tasks, primary.Id), true
		}
		if throttled {
			continue
		}
		pl.p.Start = append(pl.p.Start, Start{Deployment: primary.Id, TaskDefinition: primary.TaskDefinition, Count: 1, Instance: in.Arn})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// account sets the counts of the deployments and the service, removes old
// deployments with no task left, marks the PRIMARY one COMPLETED when it
// runs the desired count alone, and notes a steady state.
func (pl *planner) account(tasks []ecsapi.Task) {
	svc := pl.svc
	if len(svc.Deployments) == 0 {
		return
	}
	type counts struct{ running, pending, live, healthy int }
	by := map[string]*counts{}
	for i := range svc.Deployments {
		by[svc.Deployments[i].Id] = &counts{}
	}
	total := counts{}
	for i := range tasks {
		t := &tasks[i]
		if t.DesiredStatus == "STOPPED" || pl.stopped[t.TaskArn] {
			continue
		}
		c := by[t.StartedBy]
		if c == nil {
			c = &counts{}
		}
		c.live++
		switch {
		case t.LastStatus == "RUNNING":
			c.running++
			total.running++
			if (!hasHealthCheck(t) || t.HealthStatus == "HEALTHY") && !pl.lbUnready[t.TaskArn] && pl.settledRunning(t) {
				c.healthy++
			}
		case taskstatus.Rank(t.LastStatus) < taskstatus.Rank(taskstatus.Running):
			c.pending++
			total.pending++
		}
	}
	now := ecsapi.NewTimestamp(pl.now)
	kept := svc.Deployments[:0:0]
	for i, d := range svc.Deployments {
		c := by[d.Id]
		if i > 0 && c.live == 0 && pl.stoppingDep[d.Id] == 0 && pl.stoppedDep[d.Id] == 0 {
			continue
		}
		if i > 0 {
			d.DesiredCount = int32(c.live)
		}
		if d.RunningCount != int32(c.running) || d.PendingCount != int32(c.pending) {
			d.RunningCount, d.PendingCount = int32(c.running), int32(c.pending)
			d.UpdatedAt = now
		}
		kept = append(kept, d)
	}
	svc.Deployments = kept
	svc.RunningCount, svc.PendingCount = int32(total.running), int32(total.pending)
	if svc.Status != "ACTIVE" {
		return
	}
	primary := &svc.Deployments[0]
	c := by[primary.Id]
	settled := len(svc.Deployments) == 1 && c.live == int(svc.DesiredCount) && c.healthy == c.live && c.pending == 0 &&
		len(pl.p.Start) == 0 && len(pl.p.Stop) == 0 && pl.stoppingDep[primary.Id] == 0 && pl.stoppedDep[primary.Id] == 0
	if settled && primary.RolloutState == "IN_PROGRESS" {
		primary.RolloutState = "COMPLETED"
		primary.RolloutStateReason = "ECS deployment " + primary.Id + " completed."
		primary.UpdatedAt = now
		pl.event("(deployment %s) deployment completed.", primary.Id)
	}
	if settled && int(svc.RunningCount) == int(svc.DesiredCount) {
		pl.p.Events = append(pl.p.Events, steadyEvent(pl.name))
	}
}

func steadyEvent(name string) string { return "(service " + name + ") has reached a steady state." }

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// addEvents puts msgs (oldest first) in front of events (newest first),
// keeping at most limit, and says how many it added. As ECS does, a
// message already shown since the last steady state and within six hours
// is not repeated, nor is a steady state right after another.
func addEvents(events []ecsapi.ServiceEvent, msgs []string, now time.Time, limit int, newID func() string) ([]ecsapi.ServiceEvent, int) {
	added := 0
	for _, m := range msgs {
		if dupEvent(events, m, now) {
			continue
		}
		ev := ecsapi.ServiceEvent{Id: newID(), CreatedAt: ecsapi.NewTimestamp(now), Message: m}
		events = append([]ecsapi.ServiceEvent{ev}, events...)
		added++
	}
	if len(events) > limit {
		events = events[:limit]
	}
	return events, added
}

func dupEvent(events []ecsapi.ServiceEvent, m string, now time.Time) bool {
	steady := strings.HasSuffix(m, ") has reached a steady state.")
	for i, ev := range events {
		if steady {
			return i == 0 && ev.Message == m
		}
		if strings.HasSuffix(ev.Message, ") has reached a steady state.") {
			return false
		}
		if ev.CreatedAt != nil && now.Sub(ev.CreatedAt.Time) > 6*time.Hour {
			return false
		}
		if ev.Message == m {
			return true
		}
	}
	return false
}

// deploymentTasks counts the tasks of deployment id, of every status.
func deploymentTasks(tasks []ecsapi.Task, id string) int {
	n := 0
	for i := range tasks {
		if tasks[i].StartedBy == id {
			n++
		}
	}
	return n
}
