package service

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

const tgArn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"

// behindLB gives the service a load balancer on container web, port 8080.
func behindLB(s *ecsapi.Service) {
	s.LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: tgArn, ContainerName: "web", ContainerPort: new(int32(8080))}}
}

// bound publishes the task's container port 8080 on host port p.
func bound(p int32) func(*ecsapi.Task) {
	return func(t *ecsapi.Task) {
		t.Containers[0].NetworkBindings = []ecsapi.NetworkBinding{{ContainerPort: new(int32(8080)), HostPort: new(p), Protocol: "tcp"}}
	}
}

func lbInstances() []Instance {
	in := instances(inst1, inst2)
	in[0].TargetID, in[1].TargetID = "i-1", "i-2"
	return in
}

func target(id string, port int32, state string) Target {
	return Target{TargetRef: TargetRef{ID: id, Port: port}, State: state}
}

func TestPlanLoadBalancerTargets(t *testing.T) {
	t.Run("a RUNNING task is registered and is not healthy until its target is", func(t *testing.T) {
		svc := svcFixture(1, behindLB)
		svc.Deployments[0].RolloutState = "IN_PROGRESS"
		tasks := []ecsapi.Task{tk("d1", inst1, "RUNNING", bound(32768))}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {}}}, t0)
		if got := p.Register[tgArn]; len(got) != 1 || got[0] != (TargetRef{ID: "i-1", Port: 32768}) {
			t.Fatalf("register %+v", p.Register)
		}
		if p.Service.Deployments[0].RolloutState != "IN_PROGRESS" {
			t.Errorf("deployment completed before the target was healthy")
		}
		if !hasMsg(p.Events, "registered 1 targets in (target-group "+tgArn+")") {
			t.Errorf("events %v", p.Events)
		}
		// Once healthy, the deployment completes and nothing is registered.
		p = plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {target("i-1", 32768, "healthy")}}}, t0)
		if len(p.Register) != 0 || p.Service.Deployments[0].RolloutState != "COMPLETED" {
			t.Errorf("register %+v, rollout %s", p.Register, p.Service.Deployments[0].RolloutState)
		}
	})
	t.Run("an awsvpc task is an ip target on the container port", func(t *testing.T) {
		svc := svcFixture(1, behindLB)
		tasks := []ecsapi.Task{tk("d1", inst1, "RUNNING", func(t *ecsapi.Task) {
			t.Containers[0].NetworkInterfaces = []ecsapi.NetworkInterface{{PrivateIpv4Address: "172.20.0.5"}}
		})}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {}}}, t0)
		if got := p.Register[tgArn]; len(got) != 1 || got[0] != (TargetRef{ID: "172.20.0.5", Port: 8080}) {
			t.Fatalf("register %+v", p.Register)
		}
	})
	t.Run("old tasks stop only while enough targets are healthy", func(t *testing.T) {
		svc := svcFixture(2, behindLB, deploy)
		tasks := []ecsapi.Task{tk("d1", inst1, "RUNNING", bound(1001)), tk("d1", inst2, "RUNNING", bound(1002)),
			tk("d2", inst1, "RUNNING", bound(2001)), tk("d2", inst2, "RUNNING", bound(2002))}
		targets := []Target{target("i-1", 1001, "healthy"), target("i-2", 1002, "healthy"), target("i-1", 2001, "initial"), target("i-2", 2002, "initial")}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: targets}}, t0)
		if len(p.Stop) != 0 {
			t.Fatalf("stopped %+v while the new targets are initial", p.Stop)
		}
		targets[2].State = "healthy"
		p = plan(testCfg, svc, Observed{Tasks: tasks, Instances: lbInstances(), Targets: map[string][]Target{tgArn: targets}}, t0)
		if len(p.Stop) != 1 {
			t.Fatalf("stopped %+v with one new target healthy", p.Stop)
		}
		// The stopped task's target is deregistered at once, in the same
		// plan: it drains before the task is let go.
		if got := p.Deregister[tgArn]; len(got) != 1 || got[0].ID != "i-1" && got[0].ID != "i-2" {
			t.Fatalf("deregister %+v", p.Deregister)
		}
		if !hasMsg(p.Events, "has begun draining connections on 1 tasks.") {
			t.Errorf("events %v", p.Events)
		}
	})
	t.Run("a DEACTIVATING task is let go once its target has drained", func(t *testing.T) {
		svc := svcFixture(1, behindLB)
		going := tk("d1", inst1, "DEACTIVATING", bound(1001), func(t *ecsapi.Task) {
			t.DesiredStatus, t.StartedAt, t.StoppedReason = "STOPPED", ecsapi.NewTimestamp(t0.Add(-time.Minute)), "Scaling activity initiated by (deployment d1)"
		})
		staying := tk("d1", inst2, "RUNNING", bound(1002))
		draining := target("i-1", 1001, "draining")
		draining.DrainingUntil = t0.Add(3 * time.Second)
		obs := Observed{Tasks: []ecsapi.Task{going, staying}, Instances: lbInstances(),
			Targets: map[string][]Target{tgArn: {draining, target("i-2", 1002, "healthy")}}}
		p := plan(testCfg, svc, obs, t0)
		if len(p.Finish) != 0 || len(p.Deregister) != 0 {
			t.Fatalf("finish %v deregister %v while draining", p.Finish, p.Deregister)
		}
		if p.RequeueAfter <= 0 || p.RequeueAfter > 4*time.Second {
			t.Errorf("requeue after %v, want at the drain's end", p.RequeueAfter)
		}
		p = plan(testCfg, svc, obs, t0.Add(4*time.Second))
		if len(p.Finish) != 1 || p.Finish[0] != going.TaskArn {
			t.Fatalf("finish %v after the drain", p.Finish)
		}
		if !hasMsg(p.Events, "deregistered 1 targets in (target-group "+tgArn+")") {
			t.Errorf("events %v", p.Events)
		}
		// Gone from the group (reaped): let go too.
		obs.Targets[tgArn] = obs.Targets[tgArn][1:]
		if p := plan(testCfg, svc, obs, t0); len(p.Finish) != 1 {
			t.Fatalf("finish %v with the target gone", p.Finish)
		}
	})
	t.Run("a stopped task never deregisters a target a live task now has", func(t *testing.T) {
		svc := svcFixture(1, behindLB)
		old := tk("d1", inst1, "STOPPED", bound(1001))
		now := tk("d1", inst1, "RUNNING", bound(1001))
		p := plan(testCfg, svc, Observed{Tasks: []ecsapi.Task{old, now}, Instances: lbInstances(),
			Targets: map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}}}, t0)
		if len(p.Deregister) != 0 {
			t.Fatalf("deregister %+v", p.Deregister)
		}
	})
	t.Run("an unhealthy target after the grace period replaces its task", func(t *testing.T) {
		grace := int32(30)
		svc := svcFixture(1, behindLB, func(s *ecsapi.Service) { s.HealthCheckGracePeriodSeconds = &grace })
		sick := tk("d1", inst1, "RUNNING", bound(1001)) // started a minute ago
		bad := target("i-1", 1001, "unhealthy")
		bad.Description = "Health checks failed with these codes: [503]"
		p := plan(testCfg, svc, Observed{Tasks: []ecsapi.Task{sick}, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {bad}}}, t0)
		if len(p.Stop) != 1 || p.Stop[0].Reason != "Task failed ELB health checks in (target-group "+tgArn+")" {
			t.Fatalf("stop %+v", p.Stop)
		}
		if !hasMsg(p.Events, "(instance i-1) (port 1001) is unhealthy in (target-group "+tgArn+") due to (reason Health checks failed with these codes: [503]).") {
			t.Errorf("events %v", p.Events)
		}
		// Within the grace period it is left alone.
		young := tk("d1", inst1, "RUNNING", bound(1001), func(t *ecsapi.Task) { t.StartedAt = ecsapi.NewTimestamp(t0.Add(-10 * time.Second)) })
		p = plan(testCfg, svc, Observed{Tasks: []ecsapi.Task{young}, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {bad}}}, t0)
		if len(p.Stop) != 0 || p.RequeueAfter <= 0 {
			t.Fatalf("stop %+v requeue %v within the grace period", p.Stop, p.RequeueAfter)
		}
	})
	t.Run("tasks that never become healthy trip the circuit breaker", func(t *testing.T) {
		svc := svcFixture(2, behindLB, deploy, breakerOn(true))
		var tasks []ecsapi.Task
		for range 3 {
			tasks = append(tasks, tk("d2", inst1, "STOPPED", func(t *ecsapi.Task) {
				t.StartedAt = ecsapi.NewTimestamp(t0.Add(-time.Minute))
				t.StoppedReason, t.StopCode = ReasonELBUnhealthy(tgArn), "ServiceSchedulerInitiated"
			}))
		}
		tasks = append(tasks, tk("d1", inst1, "RUNNING", bound(1001)), tk("d1", inst2, "RUNNING", bound(1002)))
		cfg := testCfg
		cfg.MinHealthyTime = 10 * time.Second
		p := plan(cfg, svc, Observed{Tasks: tasks, Instances: lbInstances(),
			Targets: map[string][]Target{tgArn: {target("i-1", 1001, "healthy"), target("i-2", 1002, "healthy")}}}, t0)
		if p.Service.Deployments[0].Id != "d1" || p.Service.Deployments[0].Status != "PRIMARY" {
			t.Fatalf("deployments %+v: no rollback", p.Service.Deployments)
		}
	})
	t.Run("a DRAINING service stays until its tasks have drained", func(t *testing.T) {
		svc := svcFixture(1, behindLB, func(s *ecsapi.Service) { s.Status = "DRAINING" })
		going := tk("d1", inst1, "DEACTIVATING", bound(1001), func(t *ecsapi.Task) { t.DesiredStatus = "STOPPED" })
		draining := target("i-1", 1001, "draining")
		draining.DrainingUntil = t0.Add(time.Second)
		p := plan(testCfg, svc, Observed{Tasks: []ecsapi.Task{going}, Instances: lbInstances(), Targets: map[string][]Target{tgArn: {draining}}}, t0)
		if p.Service.Status != "DRAINING" {
			t.Fatalf("service %s while a task drains", p.Service.Status)
		}
	})
}

func hasMsg(events []string, sub string) bool {
	for _, e := range events {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}
