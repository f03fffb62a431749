package service

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// externalFixture is an EXTERNAL service of desired tasks with task sets
// s1 (td:1) and s2 (td:2) at the scales given.
func externalFixture(desired int32, scale1, scale2 float64) *ecsapi.Service {
	return &ecsapi.Service{
		ServiceName: "web", Status: "ACTIVE", DesiredCount: desired, SchedulingStrategy: "REPLICA",
		DeploymentController: &ecsapi.DeploymentController{Type: "EXTERNAL"},
		Deployments:          []ecsapi.Deployment{},
		TaskSets: []ecsapi.TaskSet{
			{Id: "s1", Status: "PRIMARY", TaskDefinition: "td:1", Scale: &ecsapi.Scale{Value: scale1, Unit: "PERCENT"}, LaunchType: "EC2"},
			{Id: "s2", Status: "ACTIVE", TaskDefinition: "td:2", Scale: &ecsapi.Scale{Value: scale2, Unit: "PERCENT"}, LaunchType: "EC2"},
		},
	}
}

func TestComputedDesired(t *testing.T) {
	for _, c := range []struct {
		desired int32
		scale   float64
		want    int32
	}{{2, 100, 2}, {2, 50, 1}, {3, 50, 2}, {4, 50, 2}, {6, 50, 3}, {30, 10, 3}, {10, 33.3, 4}, {0, 100, 0}, {5, 0, 0}, {1, 0.1, 1}} {
		if got := computedDesired(c.desired, &ecsapi.Scale{Value: c.scale}); got != c.want {
			t.Errorf("computedDesired(%d, %v) = %d, want %d", c.desired, c.scale, got, c.want)
		}
	}
}

func TestPlanExternal(t *testing.T) {
	insts := instances(inst1, inst2)
	t.Run("each task set starts its computed count", func(t *testing.T) {
		p := plan(testCfg, externalFixture(4, 100, 50), Observed{Instances: insts}, t0)
		if startCount(p, "s1") != 4 || startCount(p, "s2") != 2 || len(p.Stop) != 0 {
			t.Fatalf("starts %+v stops %+v", p.Start, p.Stop)
		}
		for _, ts := range p.Service.TaskSets {
			if ts.StabilityStatus != "STABILIZING" {
				t.Fatalf("task set %s: %s", ts.Id, ts.StabilityStatus)
			}
		}
		if ts := p.Service.TaskSets; ts[0].ComputedDesiredCount != 4 || ts[1].ComputedDesiredCount != 2 {
			t.Fatalf("computed counts %+v", ts)
		}
	})
	t.Run("at its count a task set is steady and the service sums the counts", func(t *testing.T) {
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s1", inst2, "RUNNING"), tk("s2", inst1, "RUNNING")}
		p := plan(testCfg, externalFixture(2, 100, 50), Observed{Tasks: tasks, Instances: insts}, t0)
		if len(p.Start) != 0 || len(p.Stop) != 0 {
			t.Fatalf("starts %+v stops %+v", p.Start, p.Stop)
		}
		ts := p.Service.TaskSets
		if ts[0].RunningCount != 2 || ts[1].RunningCount != 1 || ts[0].StabilityStatus != "STEADY_STATE" || ts[1].StabilityStatus != "STEADY_STATE" ||
			ts[0].StabilityStatusAt == nil || p.Service.RunningCount != 3 {
			t.Fatalf("task sets %+v, service running %d", ts, p.Service.RunningCount)
		}
		if !hasPlanEvent(p, "has reached a steady state.") {
			t.Fatalf("events %v", p.Events)
		}
	})
	t.Run("a pending task keeps a task set stabilizing", func(t *testing.T) {
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s1", inst2, "PENDING"), tk("s2", inst1, "RUNNING")}
		p := plan(testCfg, externalFixture(2, 100, 50), Observed{Tasks: tasks, Instances: insts}, t0)
		ts := p.Service.TaskSets
		if ts[0].StabilityStatus != "STABILIZING" || ts[0].PendingCount != 1 || ts[1].StabilityStatus != "STEADY_STATE" || p.Service.PendingCount != 1 {
			t.Fatalf("task sets %+v", ts)
		}
		if hasPlanEvent(p, "steady state") {
			t.Fatalf("no steady state yet: %v", p.Events)
		}
	})
	t.Run("scale-in stops the excess of one task set only", func(t *testing.T) {
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s1", inst2, "RUNNING"), tk("s1", inst1, "RUNNING"), tk("s2", inst1, "RUNNING")}
		p := plan(testCfg, externalFixture(2, 100, 50), Observed{Tasks: tasks, Instances: insts}, t0)
		if len(p.Stop) != 1 || len(p.Start) != 0 {
			t.Fatalf("starts %+v stops %+v", p.Start, p.Stop)
		}
		for _, tk := range tasks {
			if tk.TaskArn == p.Stop[0].TaskArn && tk.StartedBy != "s1" {
				t.Fatalf("stopped a task of %s", tk.StartedBy)
			}
		}
		if p.Stop[0].Reason != "Scaling activity initiated by (deployment s1)" {
			t.Fatalf("reason %q", p.Stop[0].Reason)
		}
	})
	t.Run("a DRAINING task set has its tasks stopped, then leaves", func(t *testing.T) {
		svc := externalFixture(2, 100, 50)
		svc.TaskSets[1].Status = "DRAINING"
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s1", inst2, "RUNNING"), tk("s2", inst1, "RUNNING"), tk("gone", inst2, "RUNNING")}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: insts}, t0)
		if len(p.Stop) != 2 || len(p.Start) != 0 {
			t.Fatalf("stops %+v starts %+v", p.Stop, p.Start)
		}
		if len(p.Service.TaskSets) != 2 {
			t.Fatalf("the draining task set must stay while its task stops: %+v", p.Service.TaskSets)
		}
		tasks[2].DesiredStatus, tasks[2].LastStatus = "STOPPED", "STOPPED"
		tasks[3].DesiredStatus, tasks[3].LastStatus = "STOPPED", "STOPPED"
		p = plan(testCfg, svc, Observed{Tasks: tasks, Instances: insts}, t0.Add(time.Second))
		if len(p.Service.TaskSets) != 1 || p.Service.TaskSets[0].Id != "s1" || !p.Write {
			t.Fatalf("task sets %+v", p.Service.TaskSets)
		}
	})
	t.Run("a protected task survives a task set's scale-in", func(t *testing.T) {
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s1", inst2, "RUNNING"), tk("s2", inst1, "RUNNING")}
		prot := map[string]time.Time{tasks[0].TaskArn: t0.Add(time.Hour), tasks[1].TaskArn: t0.Add(time.Hour)}
		p := plan(testCfg, externalFixture(1, 100, 50), Observed{Tasks: tasks, Instances: insts, Protected: prot}, t0)
		if len(p.Stop) != 0 || !hasPlanEvent(p, "(reason: 1 tasks under protection)") {
			t.Fatalf("stops %+v events %v", p.Stop, p.Events)
		}
	})
	t.Run("deleting the service stops every task set's tasks", func(t *testing.T) {
		svc := externalFixture(0, 100, 50)
		svc.Status = "DRAINING"
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING"), tk("s2", inst1, "RUNNING")}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: insts}, t0)
		if len(p.Stop) != 2 || len(p.Start) != 0 || p.Stop[1].Reason != "Scaling activity initiated by (deployment s2)" {
			t.Fatalf("stops %+v", p.Stop)
		}
	})
}
