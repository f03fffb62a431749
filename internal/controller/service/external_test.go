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

const tgTest = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/test/fedcba9876543210"

// taskSetLBs puts task set s1 in target group tgArn and s2 in tgTest, on
// container web, port 8080, as an external controller's blue and green.
func taskSetLBs(svc *ecsapi.Service) {
	svc.TaskSets[0].LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: tgArn, ContainerName: "web", ContainerPort: new(int32(8080))}}
	svc.TaskSets[1].LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: tgTest, ContainerName: "web", ContainerPort: new(int32(8080))}}
}

func TestPlanExternalLoadBalancers(t *testing.T) {
	t.Run("each task set's tasks go into its own target group and it is steady once they are healthy", func(t *testing.T) {
		svc := externalFixture(2, 50, 50)
		taskSetLBs(svc)
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING", bound(1001)), tk("s2", inst2, "RUNNING", bound(2001))}
		obs := Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {}, tgTest: {}}}
		p := plan(testCfg, svc, obs, t0)
		if got := p.Register[tgArn]; len(got) != 1 || got[0] != (TargetRef{ID: "i-1", Port: 1001}) {
			t.Fatalf("register in the production group %+v", p.Register)
		}
		if got := p.Register[tgTest]; len(got) != 1 || got[0] != (TargetRef{ID: "i-2", Port: 2001}) {
			t.Fatalf("register in the test group %+v", p.Register)
		}
		for _, ts := range p.Service.TaskSets {
			if ts.StabilityStatus != "STABILIZING" || ts.RunningCount != 1 {
				t.Fatalf("task set %s is %s with %d running before its target is healthy", ts.Id, ts.StabilityStatus, ts.RunningCount)
			}
		}
		if p.RequeueAfter <= 0 || p.RequeueAfter > 2*time.Second || hasPlanEvent(p, "steady state") {
			t.Errorf("requeue after %v, events %v", p.RequeueAfter, p.Events)
		}
		// s1's target is healthy, s2's still initial.
		obs.Targets = map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}, tgTest: {target("i-2", 2001, "initial")}}
		p = plan(testCfg, svc, obs, t0)
		if len(p.Register) != 0 {
			t.Fatalf("registered again %+v", p.Register)
		}
		if ts := p.Service.TaskSets; ts[0].StabilityStatus != "STEADY_STATE" || ts[1].StabilityStatus != "STABILIZING" {
			t.Fatalf("task sets %+v", ts)
		}
		obs.Targets[tgTest] = []Target{target("i-2", 2001, "healthy")}
		p = plan(testCfg, svc, obs, t0)
		if ts := p.Service.TaskSets; ts[0].StabilityStatus != "STEADY_STATE" || ts[1].StabilityStatus != "STEADY_STATE" || !hasPlanEvent(p, "has reached a steady state.") {
			t.Fatalf("task sets %+v events %v", ts, p.Events)
		}
	})
	t.Run("a task set without load balancers registers nothing", func(t *testing.T) {
		svc := externalFixture(2, 50, 50)
		taskSetLBs(svc)
		svc.TaskSets[1].LoadBalancers = nil
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING", bound(1001)), tk("s2", inst2, "RUNNING", bound(2001))}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}}}, t0)
		if len(p.Register) != 0 || p.Service.TaskSets[1].StabilityStatus != "STEADY_STATE" {
			t.Fatalf("register %+v, task sets %+v", p.Register, p.Service.TaskSets)
		}
	})
	t.Run("an unhealthy target after the grace period has its task replaced", func(t *testing.T) {
		svc := externalFixture(2, 50, 50)
		taskSetLBs(svc)
		bad := tk("s2", inst2, "RUNNING", bound(2001), func(t *ecsapi.Task) { t.StartedAt = ecsapi.NewTimestamp(t0.Add(-time.Minute)) })
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING", bound(1001)), bad}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(),
			Targets: map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}, tgTest: {target("i-2", 2001, "unhealthy")}}}, t0)
		if len(p.Stop) != 1 || p.Stop[0].TaskArn != bad.TaskArn || p.Stop[0].Reason != ReasonELBUnhealthy(tgTest) {
			t.Fatalf("stops %+v", p.Stop)
		}
		if startCount(p, "s2") != 1 {
			t.Fatalf("starts %+v", p.Start)
		}
		if got := p.Deregister[tgTest]; len(got) != 1 {
			t.Fatalf("deregister %+v", p.Deregister)
		}
	})
	t.Run("a deleted task set's tasks drain from its target group before they stop", func(t *testing.T) {
		svc := externalFixture(2, 50, 50)
		taskSetLBs(svc)
		svc.TaskSets[1].Status = "DRAINING"
		green := tk("s2", inst2, "RUNNING", bound(2001))
		tasks := []ecsapi.Task{tk("s1", inst1, "RUNNING", bound(1001)), green}
		obs := Observed{Tasks: tasks, Instances: lbInstances(),
			Targets: map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}, tgTest: {target("i-2", 2001, "healthy")}}}
		p := plan(testCfg, svc, obs, t0)
		if len(p.Stop) != 1 || p.Stop[0].TaskArn != green.TaskArn {
			t.Fatalf("stops %+v", p.Stop)
		}
		if got := p.Deregister[tgTest]; len(got) != 1 || got[0] != (TargetRef{ID: "i-2", Port: 2001}) || len(p.Deregister[tgArn]) != 0 {
			t.Fatalf("deregister %+v", p.Deregister)
		}
		if !hasPlanEvent(p, "has begun draining connections on 1 tasks.") {
			t.Errorf("events %v", p.Events)
		}
		// StopTask made it DEACTIVATING; its target drains for 3s.
		tasks[1].DesiredStatus, tasks[1].LastStatus = "STOPPED", "DEACTIVATING"
		draining := target("i-2", 2001, "draining")
		draining.DrainingUntil = t0.Add(3 * time.Second)
		obs.Targets[tgTest] = []Target{draining}
		p = plan(testCfg, svc, obs, t0.Add(time.Second))
		if len(p.Finish) != 0 || len(p.Service.TaskSets) != 2 {
			t.Fatalf("finish %v, task sets %d while draining", p.Finish, len(p.Service.TaskSets))
		}
		p = plan(testCfg, svc, obs, t0.Add(4*time.Second))
		if len(p.Finish) != 1 || p.Finish[0] != green.TaskArn || !hasPlanEvent(p, "deregistered 1 targets in (target-group "+tgTest+")") {
			t.Fatalf("finish %v events %v", p.Finish, p.Events)
		}
		// Stopped: the task set leaves the record.
		tasks[1].LastStatus = "STOPPED"
		obs.Targets[tgTest] = nil
		p = plan(testCfg, svc, obs, t0.Add(5*time.Second))
		if len(p.Service.TaskSets) != 1 {
			t.Fatalf("task sets %+v", p.Service.TaskSets)
		}
	})
}
