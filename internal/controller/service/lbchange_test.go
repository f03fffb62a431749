package service

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestPlanChangedLoadBalancers: after UpdateService changed the service's
// loadBalancers, the new deployment's tasks register in the new target
// group only, the old deployment's tasks stay in (and are deregistered
// from) the old one.
func TestPlanChangedLoadBalancers(t *testing.T) {
	const newTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/new/0123456789abcdef"
	oldLBs := []ecsapi.LoadBalancer{{TargetGroupArn: tgArn, ContainerName: "web", ContainerPort: new(int32(8080))}}
	svc := svcFixture(1, deploy, func(s *ecsapi.Service) {
		s.LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: newTG, ContainerName: "web", ContainerPort: new(int32(8080))}}
	})
	oldTask := tk("d1", inst1, "RUNNING", bound(1001))
	newTask := tk("d2", inst2, "RUNNING", bound(2001))
	obs := Observed{Tasks: []ecsapi.Task{oldTask, newTask}, Instances: lbInstances(),
		Targets:       map[string][]Target{tgArn: {target("i-1", 1001, "healthy")}, newTG: {}},
		DeploymentLBs: map[string][]ecsapi.LoadBalancer{"d1": oldLBs}}
	p := plan(testCfg, svc, obs, t0)
	if got := p.Register[newTG]; len(got) != 1 || got[0] != (TargetRef{ID: "i-2", Port: 2001}) {
		t.Fatalf("register %+v", p.Register)
	}
	if len(p.Register[tgArn]) != 0 || len(p.Stop) != 0 {
		t.Fatalf("register %+v, stop %+v", p.Register, p.Stop)
	}
	// Once the new target is healthy the old task goes, and leaves the
	// old target group.
	obs.Targets[newTG] = []Target{target("i-2", 2001, "healthy")}
	p = plan(testCfg, svc, obs, t0)
	if len(p.Stop) != 1 || p.Stop[0].TaskArn != oldTask.TaskArn {
		t.Fatalf("stop %+v", p.Stop)
	}
	if got := p.Deregister[tgArn]; len(got) != 1 || got[0] != (TargetRef{ID: "i-1", Port: 1001}) || len(p.Deregister[newTG]) != 0 {
		t.Fatalf("deregister %+v", p.Deregister)
	}
	// Without the old deployment's loadBalancers (the old behaviour), the
	// old task would be registered in the new group.
	obs.DeploymentLBs = nil
	obs.Targets = map[string][]Target{newTG: {target("i-2", 2001, "initial")}}
	p = plan(testCfg, svc, obs, t0)
	if len(p.Register[newTG]) != 1 || p.Register[newTG][0].Port != 1001 {
		t.Errorf("without revisions: register %+v", p.Register)
	}
}
