package service

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// The tasks of a service with loadBalancers, as the planner sees them
// (ECS's behaviour, in the Amazon ECS Developer Guide's "Use load
// balancing to distribute Amazon ECS service traffic"):
//
//   - a RUNNING task is registered in each target group (instance targets:
//     its container instance and the host port of the container port; ip
//     targets: its own address and the container port);
//   - it counts as healthy, for the deployment and minimumHealthyPercent,
//     only once its target is healthy in every target group;
//   - a target unhealthy after the health check grace period has its task
//     replaced ("Task failed ELB health checks in (target-group ...)"),
//     which the circuit breaker counts;
//   - a task asked to stop (scale-in, deployment, StopTask) is first
//     DEACTIVATING: its targets are deregistered and drain for the target
//     group's deregistration delay, and only then is the task let go
//     (FinishDeactivation) and its containers get SIGTERM.

// Target states as DescribeTargetHealth answers them.
const (
	targetHealthy     = "healthy"
	targetUnhealthy   = "unhealthy"
	targetDraining    = "draining"
	targetUnused      = "unused"
	targetUnavailable = "unavailable"
)

// lastDeactivating is ECS's lastStatus of a task whose targets are being
// deregistered before it stops.
const lastDeactivating = "DEACTIVATING"

// reasonELBPrefix begins the stoppedReason of a task replaced because a
// target of it failed its load balancer's health checks.
const reasonELBPrefix = "Task failed ELB health checks in "

// ReasonELBUnhealthy is the stoppedReason of a task whose target in the
// target group of tgArn failed its health checks after the grace period.
func ReasonELBUnhealthy(tgArn string) string {
	return reasonELBPrefix + "(target-group " + tgArn + ")"
}

// failedHealthChecks reports whether a task was stopped because its
// container or load balancer health checks failed.
func failedHealthChecks(reason string) bool {
	return reason == ReasonUnhealthy || strings.HasPrefix(reason, reasonELBPrefix)
}

// targetOf returns the target a task has in the target group of lb: its
// address and container port when it has one of its own (awsvpc), else
// its instance's target ID and the host port the container port is bound
// to. ok is false when it has none yet (no binding reported).
func (pl *planner) targetOf(t *ecsapi.Task, lb ecsapi.LoadBalancer) (TargetRef, bool) {
	if lb.ContainerPort == nil {
		return TargetRef{}, false
	}
	for _, c := range t.Containers {
		if c.Name != lb.ContainerName {
			continue
		}
		for _, ni := range c.NetworkInterfaces {
			if ni.PrivateIpv4Address != "" {
				return TargetRef{ID: ni.PrivateIpv4Address, Port: *lb.ContainerPort}, true
			}
		}
		inst := pl.insts[t.ContainerInstanceArn]
		if inst == nil || inst.TargetID == "" {
			return TargetRef{}, false
		}
		for _, b := range c.NetworkBindings {
			if b.ContainerPort != nil && *b.ContainerPort == *lb.ContainerPort && b.HostPort != nil && *b.HostPort > 0 {
				return TargetRef{ID: inst.TargetID, Port: *b.HostPort}, true
			}
		}
	}
	return TargetRef{}, false
}

// lbGroups are the service's target groups that were observed, in the
// order of its loadBalancers (and then of its task sets' loadBalancers,
// for the EXTERNAL controller).
func (pl *planner) lbGroups() []ecsapi.LoadBalancer {
	return pl.observedGroups(serviceLoadBalancers(pl.svc))
}

// groupsOf are the observed target groups task t registers in: its task
// set's for a service with the EXTERNAL controller (none when its task set
// is gone), the service's otherwise.
func (pl *planner) groupsOf(t *ecsapi.Task) []ecsapi.LoadBalancer {
	if !isExternal(pl.svc) {
		return pl.lbGroups()
	}
	if ts := taskSetOf(pl.svc, t.StartedBy); ts != nil {
		return pl.observedGroups(ts.LoadBalancers)
	}
	return nil
}

// observedGroups are those of lbs whose target groups were observed.
func (pl *planner) observedGroups(lbs []ecsapi.LoadBalancer) []ecsapi.LoadBalancer {
	var out []ecsapi.LoadBalancer
	for _, lb := range lbs {
		if _, ok := pl.targets[lb.TargetGroupArn]; ok {
			out = append(out, lb)
		}
	}
	return out
}

// registered returns the target of ref in the target group, if any.
func (pl *planner) registered(tg string, ref TargetRef) (Target, bool) {
	t, ok := pl.targets[tg][ref]
	return t, ok
}

// lbHealth judges a RUNNING task of a service with load balancers: whether
// its targets are healthy in every target group, and, when one is
// unhealthy, in which group and why. Targets it lacks are registered.
func (pl *planner) lbHealth(t *ecsapi.Task) (healthy bool, badTG string, bad Target) {
	healthy = true
	for _, lb := range pl.groupsFor(t) {
		ref, ok := pl.targetOf(t, lb)
		if !ok {
			healthy = false
			continue
		}
		tgt, ok := pl.registered(lb.TargetGroupArn, ref)
		if !ok {
			pl.register(lb.TargetGroupArn, ref)
			healthy = false
			continue
		}
		switch tgt.State {
		case targetHealthy, targetUnused, targetUnavailable:
			// Unused (the group has no listener now) and unavailable
			// (health checks off) say nothing against the task.
		case targetUnhealthy:
			healthy = false
			if badTG == "" {
				badTG, bad = lb.TargetGroupArn, tgt
			}
		default:
			healthy = false
		}
	}
	return healthy, badTG, bad
}

func (pl *planner) register(tg string, ref TargetRef) {
	if pl.p.Register == nil {
		pl.p.Register = map[string][]TargetRef{}
	}
	pl.p.Register[tg] = append(pl.p.Register[tg], ref)
}

// unhealthyEvent is ECS's event for a target that failed its health
// checks.
func (pl *planner) unhealthyEvent(t *ecsapi.Task, tg string, tgt Target) {
	why := tgt.Description
	if why == "" {
		why = tgt.Reason
	}
	who := "(task " + taskID(t.TaskArn) + ")"
	if inst := pl.insts[t.ContainerInstanceArn]; inst != nil && inst.TargetID == tgt.ID {
		who = "(instance " + tgt.ID + ")"
	}
	pl.event("%s (port %d) is unhealthy in (target-group %s) due to (reason %s).", who, tgt.Port, tg, why)
}

// targets deregisters the targets of the service's tasks that are going
// down (asked to stop, stopped by this plan, or stopped) and lets the
// DEACTIVATING tasks whose targets have drained stop. It runs after the
// plan's stops are known.
func (pl *planner) targetsOfStopping(tasks []ecsapi.Task) {
	groups := pl.allGroups()
	if len(groups) == 0 {
		// Without load balancers (or their observation) a deactivating
		// task has nothing to wait for.
		for i := range tasks {
			if tasks[i].LastStatus == lastDeactivating {
				pl.p.Finish = append(pl.p.Finish, tasks[i].TaskArn)
			}
		}
		return
	}
	// Targets of tasks that stay must not be touched, even when a stopped
	// task once had the same address and port.
	claimed := map[string]map[TargetRef]bool{}
	var down []*ecsapi.Task
	for i := range tasks {
		t := &tasks[i]
		if t.DesiredStatus == "STOPPED" || t.LastStatus == "STOPPED" || pl.stopped[t.TaskArn] {
			down = append(down, t)
			continue
		}
		for _, lb := range pl.groupsFor(t) {
			if ref, ok := pl.targetOf(t, lb); ok {
				if claimed[lb.TargetGroupArn] == nil {
					claimed[lb.TargetGroupArn] = map[TargetRef]bool{}
				}
				claimed[lb.TargetGroupArn][ref] = true
			}
		}
	}
	// A task going down leaves whichever groups it is in (blue/green:
	// production or alternate).
	groups = pl.allGroups()
	draining := 0
	finished := map[string]int{}
	for _, t := range down {
		deregistered, waiting := false, false
		var until time.Time
		lbs := groups
		if isExternal(pl.svc) {
			// A task set's task leaves its own task set's groups.
			lbs = pl.groupsOf(t)
		}
		for _, lb := range lbs {
			tg := lb.TargetGroupArn
			ref, ok := pl.targetOf(t, lb)
			if !ok || claimed[tg][ref] {
				continue
			}
			tgt, ok := pl.registered(tg, ref)
			if !ok {
				continue
			}
			if tgt.State != targetDraining {
				if pl.p.Deregister == nil {
					pl.p.Deregister = map[string][]TargetRef{}
				}
				pl.p.Deregister[tg] = append(pl.p.Deregister[tg], ref)
				deregistered = true
				continue
			}
			if tgt.DrainingUntil.After(pl.now) {
				waiting = true
				if tgt.DrainingUntil.After(until) {
					until = tgt.DrainingUntil
				}
			}
		}
		deactivating := t.LastStatus == lastDeactivating || (pl.stopped[t.TaskArn] && t.LastStatus == "RUNNING")
		if deregistered && deactivating {
			draining++
		}
		switch {
		case deregistered:
			// Look again once the deregistration shows.
			pl.requeue(pl.now.Add(500 * time.Millisecond))
		case waiting:
			pl.requeue(until.Add(100 * time.Millisecond))
		case t.LastStatus == lastDeactivating:
			pl.p.Finish = append(pl.p.Finish, t.TaskArn)
			for _, lb := range pl.groupsOf(t) {
				if _, ok := pl.targetOf(t, lb); ok {
					finished[lb.TargetGroupArn]++
				}
			}
		}
	}
	if draining > 0 {
		pl.event("has begun draining connections on %d tasks.", draining)
	}
	for _, tg := range sortedKeys(finished) {
		pl.event("deregistered %d targets in (target-group %s)", finished[tg], tg)
	}
	for _, tg := range sortedKeys(pl.p.Register) {
		sort.Slice(pl.p.Register[tg], func(a, b int) bool {
			x, y := pl.p.Register[tg][a], pl.p.Register[tg][b]
			return fmt.Sprint(x.ID, x.Port) < fmt.Sprint(y.ID, y.Port)
		})
		pl.event("registered %d targets in (target-group %s)", len(pl.p.Register[tg]), tg)
	}
}
