package service

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func alarmsOn(rollback bool, names ...string) func(*ecsapi.Service) {
	return func(s *ecsapi.Service) {
		s.DeploymentConfiguration.Alarms = &ecsapi.DeploymentAlarms{AlarmNames: names, Enable: true, Rollback: rollback}
	}
}

func TestDeploymentAlarms(t *testing.T) {
	running := func(dep, inst string) ecsapi.Task { return tk(dep, inst, "RUNNING") }
	tasks := []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1)}
	insts := instances(inst1, inst2)
	tests := []struct {
		name   string
		svc    *ecsapi.Service
		states map[string]string
		check  func(t *testing.T, p Plan)
	}{
		{
			name: "an alarm in ALARM rolls the deployment back", svc: svcFixture(2, alarmsOn(true, "cpu-high", "errors"), deploy),
			states: map[string]string{"cpu-high": "OK", "errors": "ALARM"},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments
				if len(d) != 2 || d[0].Id != "d1" || d[0].Status != "PRIMARY" || d[0].RolloutStateReason != "ECS deployment alarms: rolling back to deploymentId d1." ||
					d[1].Id != "d2" || d[1].RolloutState != "FAILED" || d[1].RolloutStateReason != "ECS deployment alarms: alarm(s) errors in ALARM state." {
					t.Fatalf("deployments %+v", d)
				}
				if p.Service.TaskDefinition != "td:1" || !hasPlanEvent(p, "(deployment d2) deployment failed: alarm detected.") ||
					!hasPlanEvent(p, "rolling back to deployment d1.") || len(p.Start) != 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "without rollback the deployment only fails", svc: svcFixture(2, alarmsOn(false, "errors"), deploy),
			states: map[string]string{"errors": "ALARM"},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments
				if d[0].Id != "d2" || d[0].RolloutState != "FAILED" || p.Service.TaskDefinition != "td:2" {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
		{
			name: "alarms OK or missing: the deployment goes on and is looked at again", svc: svcFixture(2, alarmsOn(true, "errors", "gone"), deploy),
			states: map[string]string{"errors": "INSUFFICIENT_DATA"},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments; d[0].Id != "d2" || d[0].RolloutState != "IN_PROGRESS" || p.RequeueAfter <= 0 || p.RequeueAfter > AlarmPoll {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "disabled alarms are ignored", svc: svcFixture(2, alarmsOn(true, "errors"), deploy, func(s *ecsapi.Service) { s.DeploymentConfiguration.Alarms.Enable = false }),
			states: map[string]string{"errors": "ALARM"},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments; d[0].Id != "d2" || d[0].RolloutState != "IN_PROGRESS" {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
		{
			name: "a COMPLETED deployment is not rolled back", svc: svcFixture(2, alarmsOn(true, "errors")),
			states: map[string]string{"errors": "ALARM"},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments; len(d) != 1 || d[0].RolloutState != "COMPLETED" {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, plan(testCfg, tc.svc, Observed{Tasks: tasks, Instances: insts, AlarmStates: tc.states}, t0.Add(time.Second)))
		})
	}
}

// alarmStates is an in-memory cwlink.AlarmStates.
type alarmStates map[string]string

func (a alarmStates) AlarmStates(_ context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if s, ok := a[n]; ok {
			out[n] = s
		}
	}
	return out, nil
}

// TestReconcileDeploymentAlarm: Reconcile reads the alarms of an
// IN_PROGRESS deployment and writes the rollback.
func TestReconcileDeploymentAlarm(t *testing.T) {
	w := newFakeWorld()
	w.put("c", svcFixture(1, alarmsOn(true, "errors"), deploy))
	w.insts["c"] = ecsInstances(inst1)
	w.tasks["c/web"] = []ecsapi.Task{tk("d1", inst1, "RUNNING")}
	deps := w.deps(&fakeElector{})
	deps.Alarms = alarmStates{"errors": "ALARM"}
	c := New(deps, Options{Config: testCfg, Now: func() time.Time { return t0 }}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := c.Reconcile(context.Background(), "c/web"); err != nil {
		t.Fatal(err)
	}
	svc, _, err := w.Service(context.Background(), "c", "web")
	if err != nil {
		t.Fatal(err)
	}
	// d2 had no task: it is gone at once, and d1 runs its count again.
	if svc.TaskDefinition != "td:1" || len(svc.Deployments) != 1 || svc.Deployments[0].Id != "d1" || svc.Deployments[0].RolloutState != "COMPLETED" {
		t.Fatalf("service %+v", svc.Deployments)
	}
	if !slices.Contains(w.events, "(service web) (deployment d2) deployment failed: alarm detected.") {
		t.Fatalf("events %q", w.events)
	}
}
