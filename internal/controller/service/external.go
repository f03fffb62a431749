package service

import (
	"math"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// A service with the EXTERNAL deployment controller has no deployments:
// its task sets (ecsapi.Service.TaskSets, written by CreateTaskSet and the
// other task set operations) say what runs. Each task set that is not
// DRAINING keeps ceil(desiredCount * scale / 100) tasks of its task
// definition, started by its ID; a DRAINING one has its tasks stopped and
// leaves the record once they have. The controller writes back each task
// set's counts and stability (STEADY_STATE when it runs its computed count
// and nothing is pending, starting or stopping, and, for a task set with
// loadBalancers, each of its tasks is healthy in its target groups;
// STABILIZING otherwise).
//
// A task set's loadBalancers work as a service's (targets.go): its RUNNING
// tasks are registered in its target groups, a target that fails its
// health checks after the service's grace period has its task replaced,
// and a task that stops (scale-in, DeleteTaskSet) is DEACTIVATING until
// its targets have drained. The usual arrangement, which an external
// deployment controller drives, is the primary task set in the production
// target group and the new one in a test target group, with the
// controller shifting the listener's weights itself.

// Task set statuses and stability statuses, as ECS spells them.
const (
	controllerExternal   = "EXTERNAL"
	taskSetDraining      = "DRAINING"
	stabilitySteady      = "STEADY_STATE"
	stabilityStabilizing = "STABILIZING"
)

// isExternal reports whether svc uses the EXTERNAL deployment controller.
func isExternal(svc *ecsapi.Service) bool {
	return svc.DeploymentController != nil && svc.DeploymentController.Type == controllerExternal
}

// computedDesired is how many tasks a task set at scale runs for desired:
// desired * scale / 100, rounded up (float noise rounded away first).
func computedDesired(desired int32, sc *ecsapi.Scale) int32 {
	if sc == nil || desired <= 0 {
		return 0
	}
	v := float64(desired) * sc.Value / 100
	return int32(math.Ceil(math.Round(v*1e6) / 1e6))
}

// serviceLoadBalancers are the loadBalancers of svc and then those of its
// task sets (EXTERNAL controller), in order.
func serviceLoadBalancers(svc *ecsapi.Service) []ecsapi.LoadBalancer {
	out := svc.LoadBalancers
	for i := range svc.TaskSets {
		out = append(out[:len(out):len(out)], svc.TaskSets[i].LoadBalancers...)
	}
	return out
}

// taskSetOf returns the task set of svc with id, nil if none.
func taskSetOf(svc *ecsapi.Service, id string) *ecsapi.TaskSet {
	for i := range svc.TaskSets {
		if svc.TaskSets[i].Id == id {
			return &svc.TaskSets[i]
		}
	}
	return nil
}

// external keeps each task set of an EXTERNAL service at its computed
// count: it starts what is missing, stops the excess (newest and least
// settled first, never a protected task), the tasks of DRAINING or deleted
// task sets, and the tasks on DRAINING instances (which are then
// replaced).
func (pl *planner) external(live []*task, tasks []ecsapi.Task) {
	svc := pl.svc
	by := map[string][]*task{}
	for _, t := range live {
		ts := taskSetOf(svc, t.t.StartedBy)
		switch {
		case t.draining:
			pl.stop(t.t, ReasonDraining)
		case ts == nil || ts.Status == taskSetDraining:
			pl.stop(t.t, reasonScaling(t.t.StartedBy))
		default:
			by[ts.Id] = append(by[ts.Id], t)
		}
	}
	for i := range svc.TaskSets {
		ts := &svc.TaskSets[i]
		if ts.Status == taskSetDraining {
			ts.ComputedDesiredCount = 0
			continue
		}
		want := computedDesired(svc.DesiredCount, ts.Scale)
		ts.ComputedDesiredCount = want
		mine := by[ts.Id]
		if need := int(want) - len(mine); need > 0 && !pl.throttled(tasks, ts.Id) {
			pl.p.Start = append(pl.p.Start, Start{Deployment: ts.Id, TaskDefinition: ts.TaskDefinition, Count: need})
		}
		if excess := len(mine) - int(want); excess > 0 {
			for _, t := range scaleInOrder(mine) {
				if excess == 0 {
					break
				}
				if pl.isProtected(t.t) {
					continue
				}
				pl.stop(t.t, reasonScaling(ts.Id))
				excess--
			}
			pl.heldBack += excess
		}
	}
	if pl.heldBack > 0 {
		pl.event("was unable to scale in due to (reason: %d tasks under protection).", pl.heldBack)
	}
}

// accountExternal sets the counts and stability of each task set and the
// service's summed counts, removes DRAINING task sets with no task left,
// and notes a steady state when every task set has reached one.
func (pl *planner) accountExternal(tasks []ecsapi.Task) {
	pl.targetsOfStopping(tasks)
	svc := pl.svc
	type counts struct{ running, pending, live, unready int }
	by := map[string]*counts{}
	total := counts{}
	for i := range tasks {
		t := &tasks[i]
		if t.DesiredStatus == "STOPPED" || pl.stopped[t.TaskArn] {
			continue
		}
		c := by[t.StartedBy]
		if c == nil {
			c = &counts{}
			by[t.StartedBy] = c
		}
		c.live++
		total.live++
		switch {
		case t.LastStatus == "RUNNING":
			c.running++
			total.running++
			if pl.lbUnready[t.TaskArn] {
				c.unready++
			}
		case taskstatus.Rank(t.LastStatus) < taskstatus.Rank(taskstatus.Running):
			c.pending++
			total.pending++
		}
	}
	starting := map[string]bool{}
	for _, st := range pl.p.Start {
		starting[st.Deployment] = true
	}
	now := ecsapi.NewTimestamp(pl.now)
	kept := svc.TaskSets[:0:0]
	steady, known := true, 0
	for _, ts := range svc.TaskSets {
		c := by[ts.Id]
		if c == nil {
			c = &counts{}
		}
		busy := pl.stoppingDep[ts.Id] > 0 || pl.stoppedDep[ts.Id] > 0
		if ts.Status == taskSetDraining && c.live == 0 && !busy {
			continue
		}
		known += c.live
		ts.RunningCount, ts.PendingCount = int32(c.running), int32(c.pending)
		st := stabilityStabilizing
		if ts.RunningCount == ts.ComputedDesiredCount && c.live == c.running && !busy && !starting[ts.Id] && c.unready == 0 {
			st = stabilitySteady
		}
		if c.unready > 0 {
			// Look again soon for the targets' health.
			pl.requeue(pl.now.Add(time.Second))
		}
		if string(ts.StabilityStatus) != st {
			ts.StabilityStatus, ts.StabilityStatusAt, ts.UpdatedAt = ecsapi.StabilityStatus(st), now, now
		}
		steady = steady && st == stabilitySteady
		kept = append(kept, ts)
	}
	svc.TaskSets = kept
	svc.RunningCount, svc.PendingCount = int32(total.running), int32(total.pending)
	if svc.Status == "ACTIVE" && steady && known == total.live && len(pl.p.Stop) == 0 && len(pl.p.Start) == 0 {
		pl.p.Events = append(pl.p.Events, steadyEvent(pl.name))
	}
}
