package service

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var testCfg = Config{LostInstanceGrace: 30 * time.Second, ThrottleBase: time.Second, ThrottleMax: time.Minute}

const (
	inst1 = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/i1"
	inst2 = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/i2"
	inst3 = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/i3"
)

// svcFixture is a REPLICA service with one COMPLETED deployment d1 of td:1.
func svcFixture(desired int32, mods ...func(*ecsapi.Service)) *ecsapi.Service {
	maxP, minP := int32(200), int32(100)
	s := &ecsapi.Service{
		ServiceName: "web", Status: "ACTIVE", DesiredCount: desired, SchedulingStrategy: "REPLICA",
		TaskDefinition: "td:1",
		DeploymentConfiguration: &ecsapi.DeploymentConfiguration{MaximumPercent: &maxP, MinimumHealthyPercent: &minP,
			DeploymentCircuitBreaker: &ecsapi.DeploymentCircuitBreaker{}},
		Deployments: []ecsapi.Deployment{{Id: "d1", Status: "PRIMARY", TaskDefinition: "td:1", DesiredCount: desired, RolloutState: "COMPLETED"}},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// deploy makes d2 of td:2 the PRIMARY, IN_PROGRESS deployment.
func deploy(s *ecsapi.Service) {
	s.Deployments[0].Status = "ACTIVE"
	s.Deployments = append([]ecsapi.Deployment{{Id: "d2", Status: "PRIMARY", TaskDefinition: "td:2", DesiredCount: s.DesiredCount, RolloutState: "IN_PROGRESS"}}, s.Deployments...)
	s.TaskDefinition = "td:2"
}

func percentsOf(maxP, minP int32) func(*ecsapi.Service) {
	return func(s *ecsapi.Service) {
		s.DeploymentConfiguration.MaximumPercent, s.DeploymentConfiguration.MinimumHealthyPercent = &maxP, &minP
	}
}

func breakerOn(rollback bool) func(*ecsapi.Service) {
	return func(s *ecsapi.Service) {
		s.DeploymentConfiguration.DeploymentCircuitBreaker = &ecsapi.DeploymentCircuitBreaker{Enable: true, Rollback: rollback}
	}
}

var taskSeq int

// tk is a task of deployment dep on inst in status st (RUNNING tasks have
// started), with options.
func tk(dep, inst, st string, opts ...func(*ecsapi.Task)) ecsapi.Task {
	taskSeq++
	t := ecsapi.Task{TaskArn: fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/c/t%03d", taskSeq), StartedBy: dep,
		Group: "service:web", ContainerInstanceArn: inst, LastStatus: st, DesiredStatus: "RUNNING",
		CreatedAt: ecsapi.NewTimestamp(t0.Add(time.Duration(taskSeq) * time.Millisecond)), HealthStatus: "UNKNOWN",
		Containers: []ecsapi.Container{{Name: "web", LastStatus: st}}}
	if st == "RUNNING" {
		t.StartedAt = ecsapi.NewTimestamp(t0.Add(-time.Minute))
	}
	if st == "STOPPED" {
		t.DesiredStatus = "STOPPED"
		t.StoppedAt = ecsapi.NewTimestamp(t0.Add(-time.Second))
	}
	for _, o := range opts {
		o(&t)
	}
	return t
}

// failedToStart: stopped before RUNNING, stoppedAgo before t0.
func failedToStart(ago time.Duration) func(*ecsapi.Task) {
	return func(t *ecsapi.Task) {
		t.StartedAt = nil
		t.StopCode = "TaskFailedToStart"
		t.StoppedAt = ecsapi.NewTimestamp(t0.Add(-ago))
	}
}

// health gives the task a health check with status h.
func health(h string) func(*ecsapi.Task) {
	return func(t *ecsapi.Task) {
		t.HealthStatus = ecsapi.HealthStatus(h)
		t.Containers[0].HealthStatus = ecsapi.HealthStatus(h)
	}
}

func startedAgo(d time.Duration) func(*ecsapi.Task) {
	return func(t *ecsapi.Task) { t.StartedAt = ecsapi.NewTimestamp(t0.Add(-d)) }
}

func stopping(t *ecsapi.Task) { t.DesiredStatus = "STOPPED"; t.StopCode = "ServiceSchedulerInitiated" }

func instances(arns ...string) []Instance {
	var out []Instance
	for i, a := range arns {
		out = append(out, Instance{Arn: a, Status: "ACTIVE", Connected: true, Eligible: true, AvailabilityZone: fmt.Sprintf("az%d", i%2)})
	}
	return out
}

func withInstance(in []Instance, arn string, f func(*Instance)) []Instance {
	for i := range in {
		if in[i].Arn == arn {
			f(&in[i])
		}
	}
	return in
}

func startCount(p Plan, dep string) int {
	n := 0
	for _, s := range p.Start {
		if s.Deployment == dep {
			n += s.Count
		}
	}
	return n
}

func hasPlanEvent(p Plan, sub string) bool {
	for _, e := range p.Events {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

func TestPlan(t *testing.T) {
	running := func(dep, inst string, opts ...func(*ecsapi.Task)) ecsapi.Task {
		return tk(dep, inst, "RUNNING", opts...)
	}
	tests := []struct {
		name  string
		svc   *ecsapi.Service
		tasks []ecsapi.Task
		insts []Instance
		check func(t *testing.T, p Plan)
	}{
		{
			name: "new service starts the desired count",
			svc:  svcFixture(3, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d1") != 3 || len(p.Stop) != 0 || p.Service.Deployments[0].RolloutState != "IN_PROGRESS" {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "all running: completed and steady",
			svc:   svcFixture(2, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2)},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments[0]
				if len(p.Start)+len(p.Stop) != 0 || d.RolloutState != "COMPLETED" || d.RunningCount != 2 || p.Service.RunningCount != 2 || !p.Write {
					t.Fatalf("plan %+v", p)
				}
				if !hasPlanEvent(p, "(deployment d1) deployment completed.") || !hasPlanEvent(p, "has reached a steady state.") {
					t.Fatalf("events %v", p.Events)
				}
			},
		},
		{
			name:  "a stopped task is replaced",
			svc:   svcFixture(3),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), tk("d1", inst1, "STOPPED", func(t *ecsapi.Task) { t.StopCode = "EssentialContainerExited" })},
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d1") != 1 || len(p.Stop) != 0 || hasPlanEvent(p, "steady") {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "scale in stops pending tasks first",
			svc:   svcFixture(2),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), tk("d1", inst1, "PENDING"), running("d1", inst1)},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 2 || len(p.Start) != 0 {
					t.Fatalf("plan %+v", p)
				}
				if p.Stop[0].Running && p.Stop[1].Running {
					t.Fatalf("the pending task was not stopped: %+v", p.Stop)
				}
				if p.Stop[0].Reason != "Scaling activity initiated by (deployment d1)" {
					t.Fatalf("reason %q", p.Stop[0].Reason)
				}
			},
		},
		{
			name:  "rolling 200/100 starts the new count and keeps the old",
			svc:   svcFixture(3, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d1", inst1)},
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d2") != 3 || len(p.Stop) != 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "rolling: new healthy, old go",
			svc:  svcFixture(2, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1, health("HEALTHY")),
				running("d2", inst2, health("HEALTHY"))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 2 || len(p.Start) != 0 || len(p.Service.Deployments) != 2 || p.Service.Deployments[1].DesiredCount != 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "rolling: new not yet healthy, old stay",
			svc:   svcFixture(2, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1, health("UNKNOWN")), running("d2", inst2, health("HEALTHY"))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || len(p.Start) != 0 {
					t.Fatalf("want one old task stopped (3 healthy, 2 needed): %+v", p)
				}
			},
		},
		{
			name:  "rolling 100/50 stops half first",
			svc:   svcFixture(4, percentsOf(100, 50), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d1", inst1), running("d1", inst2)},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 2 || len(p.Start) != 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "rolling 100/100 cannot move",
			svc:   svcFixture(2, percentsOf(100, 100), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2)},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop)+len(p.Start) != 0 || !hasPlanEvent(p, "was unable to stop or start tasks during a deployment") {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "old deployment leaves when its tasks have stopped",
			svc:   svcFixture(1, deploy),
			tasks: []ecsapi.Task{running("d2", inst1), tk("d1", inst1, "STOPPED", stopping)},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments
				if len(d) != 1 || d[0].Id != "d2" || d[0].RolloutState != "COMPLETED" {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
		{
			name:  "old deployment stays while its tasks stop",
			svc:   svcFixture(1, deploy),
			tasks: []ecsapi.Task{running("d2", inst1), running("d1", inst1, stopping)},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments; len(d) != 2 || d[0].RolloutState != "IN_PROGRESS" {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
		{
			name: "circuit breaker rolls back",
			svc:  svcFixture(2, breakerOn(true), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), tk("d2", inst1, "STOPPED", failedToStart(3*time.Second)),
				tk("d2", inst1, "STOPPED", failedToStart(2*time.Second)), tk("d2", inst2, "STOPPED", failedToStart(time.Second))},
			check: func(t *testing.T, p Plan) {
				// The failed deployment has no task left, so it is gone at
				// once, and the old one runs its count: COMPLETED again.
				d := p.Service.Deployments
				if len(d) != 1 || d[0].Id != "d1" || d[0].Status != "PRIMARY" || d[0].RolloutState != "COMPLETED" {
					t.Fatalf("deployments %+v", d)
				}
				if p.Service.TaskDefinition != "td:1" || len(p.Start) != 0 || !hasPlanEvent(p, "(deployment d2) deployment failed: tasks failed to start.") ||
					!hasPlanEvent(p, "rolling back to deployment d1.") {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "circuit breaker rollback keeps the failed deployment while its tasks stop",
			svc:  svcFixture(2, breakerOn(true), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), tk("d2", inst1, "STOPPED", failedToStart(3*time.Second)),
				tk("d2", inst1, "STOPPED", failedToStart(2*time.Second)), tk("d2", inst2, "STOPPED", failedToStart(time.Second)), tk("d2", inst2, "PENDING")},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments
				if len(d) != 2 || d[0].Id != "d1" || d[0].RolloutState != "IN_PROGRESS" || d[1].Status != "ACTIVE" || d[1].RolloutState != "FAILED" || d[1].FailedTasks != 3 {
					t.Fatalf("deployments %+v", d)
				}
				if len(p.Stop) != 1 || len(p.Start) != 0 {
					t.Fatalf("the failed deployment's pending task must stop: %+v", p)
				}
			},
		},
		{
			name:  "circuit breaker without rollback stops launching",
			svc:   svcFixture(1, breakerOn(false), percentsOf(200, 0), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), tk("d2", inst1, "STOPPED", failedToStart(time.Hour)), tk("d2", inst1, "STOPPED", failedToStart(time.Hour)), tk("d2", inst1, "STOPPED", failedToStart(time.Hour))},
			check: func(t *testing.T, p Plan) {
				if p.Service.Deployments[0].RolloutState != "FAILED" || len(p.Start) != 0 || len(p.Stop) != 0 || p.Service.TaskDefinition != "td:2" {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "tasks failing to start are throttled",
			svc:   svcFixture(1, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			tasks: []ecsapi.Task{tk("d1", inst1, "STOPPED", failedToStart(3*time.Second)), tk("d1", inst1, "STOPPED", failedToStart(time.Second))},
			check: func(t *testing.T, p Plan) {
				// Two failures: wait 2s after the last, which was 1s ago.
				if len(p.Start) != 0 || p.RequeueAfter != time.Second || !hasPlanEvent(p, "is unable to consistently start tasks successfully.") {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "throttle ends",
			svc:   svcFixture(1, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			tasks: []ecsapi.Task{tk("d1", inst1, "STOPPED", failedToStart(5*time.Second)), tk("d1", inst1, "STOPPED", failedToStart(3*time.Second))},
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d1") != 1 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "lost instance within the grace: wait",
			svc:   svcFixture(1),
			tasks: []ecsapi.Task{running("d1", inst1)},
			insts: withInstance(instances(inst1, inst2), inst1, func(i *Instance) { i.Connected, i.DisconnectedSince = false, t0.Add(-10*time.Second) }),
			check: func(t *testing.T, p Plan) {
				if len(p.Start)+len(p.Stop) != 0 || p.RequeueAfter != 20*time.Second {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "lost instance past the grace: replace",
			svc:   svcFixture(1),
			tasks: []ecsapi.Task{running("d1", inst1)},
			insts: withInstance(instances(inst1, inst2), inst1, func(i *Instance) { i.Connected, i.DisconnectedSince = false, t0.Add(-31*time.Second) }),
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || p.Stop[0].Reason != ReasonLost || startCount(p, "d1") != 1 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "deregistered instance: replace",
			svc:   svcFixture(1),
			tasks: []ecsapi.Task{running("d1", inst3)},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || startCount(p, "d1") != 1 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "unhealthy after the grace: replaced",
			svc:   svcFixture(1, func(s *ecsapi.Service) { g := int32(30); s.HealthCheckGracePeriodSeconds = &g }),
			tasks: []ecsapi.Task{running("d1", inst1, health("UNHEALTHY"), startedAgo(time.Minute))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || p.Stop[0].Reason != ReasonUnhealthy || startCount(p, "d1") != 1 || !hasPlanEvent(p, "failed container health checks.") {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "unhealthy within the grace: kept",
			svc:   svcFixture(1, func(s *ecsapi.Service) { g := int32(30); s.HealthCheckGracePeriodSeconds = &g }),
			tasks: []ecsapi.Task{running("d1", inst1, health("UNHEALTHY"), startedAgo(10*time.Second))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop)+len(p.Start) != 0 || p.RequeueAfter != 20*time.Second {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "draining instance: replacement first",
			svc:   svcFixture(1),
			tasks: []ecsapi.Task{running("d1", inst1)},
			insts: withInstance(instances(inst1, inst2), inst1, func(i *Instance) { i.Status = "DRAINING" }),
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d1") != 1 || len(p.Stop) != 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "draining instance: then stopped",
			svc:   svcFixture(1),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2)},
			insts: withInstance(instances(inst1, inst2), inst1, func(i *Instance) { i.Status = "DRAINING" }),
			check: func(t *testing.T, p Plan) {
				if len(p.Start) != 0 || len(p.Stop) != 1 || p.Stop[0].Reason != ReasonDraining {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "deleted service: tasks stop, then INACTIVE",
			svc:   svcFixture(0, func(s *ecsapi.Service) { s.Status = "DRAINING" }),
			tasks: []ecsapi.Task{running("d1", inst1)},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || p.Service.Status != "DRAINING" {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "deleted service without tasks: INACTIVE",
			svc:  svcFixture(0, func(s *ecsapi.Service) { s.Status = "DRAINING" }),
			check: func(t *testing.T, p Plan) {
				if p.Service.Status != "INACTIVE" || !p.Write {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "daemon: one task per eligible instance",
			svc: svcFixture(0, func(s *ecsapi.Service) {
				s.SchedulingStrategy = "DAEMON"
				mp, mh := int32(100), int32(0)
				s.DeploymentConfiguration.MaximumPercent, s.DeploymentConfiguration.MinimumHealthyPercent = &mp, &mh
			}),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2)},
			insts: withInstance(withInstance(instances(inst1, inst2, inst3), inst2, func(i *Instance) { i.Status = "DRAINING" }),
				inst1, func(i *Instance) { i.Eligible = true }),
			check: func(t *testing.T, p Plan) {
				if p.Service.DesiredCount != 2 || len(p.Stop) != 1 || len(p.Start) != 1 || p.Start[0].Instance != inst3 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "daemon: new deployment replaces in place",
			svc: svcFixture(0, func(s *ecsapi.Service) {
				s.SchedulingStrategy = "DAEMON"
				mp, mh := int32(100), int32(0)
				s.DeploymentConfiguration.MaximumPercent, s.DeploymentConfiguration.MinimumHealthyPercent = &mp, &mh
			}, deploy),
			tasks: []ecsapi.Task{running("d1", inst1)},
			insts: instances(inst1),
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 1 || len(p.Start) != 0 {
					t.Fatalf("the old task must stop before the new one starts: %+v", p)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			insts := tc.insts
			if insts == nil {
				insts = instances(inst1, inst2)
			}
			before := fmt.Sprintf("%+v", *tc.svc)
			p := plan(testCfg, tc.svc, Observed{Tasks: tc.tasks, Instances: insts}, t0)
			if after := fmt.Sprintf("%+v", *tc.svc); after != before {
				t.Fatal("plan changed its input")
			}
			tc.check(t, p)
		})
	}
}

// TestPlanPercentsProperty: over random services and task sets, a plan never
// takes the live count above maximumPercent (unless it already was) nor the
// healthy count below minimumHealthyPercent (unless it already was).
func TestPlanPercentsProperty(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	statuses := []string{"PENDING", "RUNNING", "RUNNING", "RUNNING"}
	for i := 0; i < 2000; i++ {
		desired := int32(r.Intn(8))
		maxP := int32(100 + r.Intn(101))
		minP := int32(r.Intn(101))
		mods := []func(*ecsapi.Service){percentsOf(maxP, minP)}
		if r.Intn(2) == 0 {
			mods = append(mods, deploy)
		}
		svc := svcFixture(desired, mods...)
		var tasks []ecsapi.Task
		for n := r.Intn(12); n > 0; n-- {
			dep := svc.Deployments[r.Intn(len(svc.Deployments))].Id
			h := "HEALTHY"
			if r.Intn(4) == 0 {
				h = "UNKNOWN"
			}
			tasks = append(tasks, tk(dep, []string{inst1, inst2}[r.Intn(2)], statuses[r.Intn(len(statuses))], health(h)))
		}
		p := plan(testCfg, svc, Observed{Tasks: tasks, Instances: instances(inst1, inst2)}, t0)
		most, fewest := percents(svc, desired)
		stopped := map[string]bool{}
		for _, s := range p.Stop {
			stopped[s.TaskArn] = true
		}
		live, healthyBefore, healthyAfter := 0, 0, 0
		for _, t := range tasks {
			ok := t.LastStatus == "RUNNING" && t.HealthStatus == "HEALTHY"
			if ok {
				healthyBefore++
			}
			if !stopped[t.TaskArn] {
				live++
				if ok {
					healthyAfter++
				}
			}
		}
		starts := startCount(p, svc.Deployments[0].Id)
		if live+starts > max(most, len(tasks)) {
			t.Fatalf("case %d: %d live + %d started > max %d (desired %d, %d%%): %+v", i, live, starts, most, desired, maxP, p)
		}
		scaleIn := len(svc.Deployments) == 1
		if !scaleIn && healthyAfter < min(fewest, healthyBefore) {
			t.Fatalf("case %d: healthy %d -> %d below min %d: %+v", i, healthyBefore, healthyAfter, fewest, p)
		}
	}
}

func TestAddEvents(t *testing.T) {
	ids := 0
	newID := func() string { ids++; return fmt.Sprint(ids) }
	steady := steadyEvent("web")
	evs, n := addEvents(nil, []string{"a", steady}, t0, 100, newID)
	if n != 2 || len(evs) != 2 || evs[0].Message != steady {
		t.Fatalf("newest first: %+v", evs)
	}
	if got, n := addEvents(evs, []string{steady}, t0, 100, newID); len(got) != 2 || n != 0 {
		t.Fatal("a steady state right after another was repeated")
	}
	evs, n = addEvents(evs, []string{"unable", "unable"}, t0, 100, newID)
	if len(evs) != 3 || n != 1 {
		t.Fatalf("a message shown since the last steady state was repeated: %+v", evs)
	}
	if got, _ := addEvents(evs, []string{"unable"}, t0.Add(7*time.Hour), 100, newID); len(got) != 4 {
		t.Fatal("a message older than six hours was not repeated")
	}
	if got, n := addEvents(evs, []string{"x", "y", "z"}, t0, 4, newID); len(got) != 4 || got[0].Message != "z" || n != 3 {
		t.Fatalf("bound: %+v", got)
	}
}

func TestThreshold(t *testing.T) {
	for _, c := range []struct{ desired, want int32 }{{0, 3}, {1, 3}, {6, 3}, {7, 4}, {10, 5}, {1000, 200}} {
		if got := threshold(c.desired); got != c.want {
			t.Errorf("threshold(%d) = %d, want %d", c.desired, got, c.want)
		}
	}
}

// crashedAfter: the task reached RUNNING and its essential container
// exited ran after it started, stoppedAgo before t0.
func crashedAfter(ran, stoppedAgo time.Duration) func(*ecsapi.Task) {
	return func(t *ecsapi.Task) {
		stop := t0.Add(-stoppedAgo)
		t.StartedAt = ecsapi.NewTimestamp(stop.Add(-ran))
		t.StoppedAt = ecsapi.NewTimestamp(stop)
		t.ExecutionStoppedAt = ecsapi.NewTimestamp(stop)
		t.StopCode = "EssentialContainerExited"
	}
}

func TestPlanMinHealthyTime(t *testing.T) {
	cfg := testCfg
	cfg.MinHealthyTime = 10 * time.Second
	running := func(dep, inst string, opts ...func(*ecsapi.Task)) ecsapi.Task {
		return tk(dep, inst, "RUNNING", opts...)
	}
	crashed := func(dep string, ran time.Duration) ecsapi.Task {
		return tk(dep, inst1, "STOPPED", crashedAfter(ran, time.Second))
	}
	tests := []struct {
		name  string
		cfg   Config
		svc   *ecsapi.Service
		tasks []ecsapi.Task
		check func(t *testing.T, p Plan)
	}{
		{
			name:  "new tasks running less than the minimum: not completed, old tasks stay, look again then",
			cfg:   cfg,
			svc:   svcFixture(2, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1, startedAgo(4*time.Second)), running("d2", inst2, startedAgo(6*time.Second))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 0 || p.Service.Deployments[0].RolloutState != "IN_PROGRESS" {
					t.Fatalf("plan %+v", p)
				}
				if p.RequeueAfter != 4*time.Second {
					t.Fatalf("requeue after %v, want 4s (when the older new task has run 10s)", p.RequeueAfter)
				}
			},
		},
		{
			name:  "new tasks past the minimum: old tasks go",
			cfg:   cfg,
			svc:   svcFixture(2, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1, startedAgo(11*time.Second)), running("d2", inst2, startedAgo(12*time.Second))},
			check: func(t *testing.T, p Plan) {
				if len(p.Stop) != 2 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "a lone new task completes only after the minimum",
			cfg:   cfg,
			svc:   svcFixture(1, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			tasks: []ecsapi.Task{running("d1", inst1, startedAgo(3*time.Second))},
			check: func(t *testing.T, p Plan) {
				if p.Service.Deployments[0].RolloutState != "IN_PROGRESS" || hasPlanEvent(p, "steady") || p.RequeueAfter != 7*time.Second {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name:  "healthy after the minimum but UNKNOWN health: not completed",
			cfg:   cfg,
			svc:   svcFixture(1, func(s *ecsapi.Service) { s.Deployments[0].RolloutState = "IN_PROGRESS" }),
			tasks: []ecsapi.Task{running("d1", inst1, startedAgo(30*time.Second), health("UNKNOWN"))},
			check: func(t *testing.T, p Plan) {
				if p.Service.Deployments[0].RolloutState != "IN_PROGRESS" {
					t.Fatalf("plan %+v", p)
				}
			},
		},
		{
			name: "tasks that crash seconds after starting trip the breaker, which rolls back",
			cfg:  cfg,
			svc:  svcFixture(2, breakerOn(true), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2),
				crashed("d2", 4*time.Second), crashed("d2", 4*time.Second), crashed("d2", 4*time.Second)},
			check: func(t *testing.T, p Plan) {
				// d2 has no task left and leaves at once; d1's tasks have
				// run for a minute, so the rollback completes.
				d := p.Service.Deployments
				if len(d) != 1 || d[0].Id != "d1" || d[0].Status != "PRIMARY" || d[0].RolloutState != "COMPLETED" || p.Service.TaskDefinition != "td:1" {
					t.Fatalf("deployments %+v", d)
				}
				if !hasPlanEvent(p, "(deployment d2) deployment failed: tasks stopped before the minimum healthy time.") ||
					!hasPlanEvent(p, "rolling back to deployment d1") {
					t.Fatalf("events %v", p.Events)
				}
				if len(p.Stop)+len(p.Start) != 0 {
					t.Fatalf("d1's tasks kept running: nothing to stop or start: %+v", p)
				}
			},
		},
		{
			name: "without a minimum healthy time the same crashes count for nothing (ECS's breaker)",
			cfg:  testCfg,
			svc:  svcFixture(2, breakerOn(true), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2),
				crashed("d2", 4*time.Second), crashed("d2", 4*time.Second), crashed("d2", 4*time.Second)},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments; d[0].Id != "d2" || d[0].RolloutState != "IN_PROGRESS" || d[0].FailedTasks != 0 {
					t.Fatalf("deployments %+v", d)
				}
			},
		},
		{
			name: "crashes after a task proved itself still count (stage 2)",
			cfg:  cfg,
			svc:  svcFixture(3, breakerOn(false), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1, startedAgo(time.Minute)),
				crashed("d2", 2*time.Second), crashed("d2", 3*time.Second), crashed("d2", 5*time.Second)},
			check: func(t *testing.T, p Plan) {
				d := p.Service.Deployments[0]
				if d.Id != "d2" || d.RolloutState != "FAILED" || d.FailedTasks != 3 {
					t.Fatalf("deployment %+v", d)
				}
			},
		},
		{
			name:  "a task that ran past the minimum and then exited is not a failure",
			cfg:   cfg,
			svc:   svcFixture(2, breakerOn(true), deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2), crashed("d2", 20*time.Second), crashed("d2", 30*time.Second), crashed("d2", time.Minute)},
			check: func(t *testing.T, p Plan) {
				if d := p.Service.Deployments[0]; d.Id != "d2" || d.RolloutState != "IN_PROGRESS" || d.FailedTasks != 0 {
					t.Fatalf("deployment %+v", d)
				}
			},
		},
		{
			name: "crash loops are throttled",
			cfg:  cfg,
			svc:  svcFixture(2, deploy),
			tasks: []ecsapi.Task{running("d1", inst1), running("d1", inst2),
				tk("d2", inst1, "STOPPED", crashedAfter(4*time.Second, 0)), tk("d2", inst1, "STOPPED", crashedAfter(4*time.Second, 0))},
			check: func(t *testing.T, p Plan) {
				if startCount(p, "d2") != 0 || p.RequeueAfter <= 0 {
					t.Fatalf("plan %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(tt.cfg, tt.svc, Observed{Tasks: tt.tasks, Instances: instances(inst1, inst2, inst3)}, t0)
			tt.check(t, p)
		})
	}
}

func TestPlanTaskProtection(t *testing.T) {
	running := func(dep, inst string, opts ...func(*ecsapi.Task)) ecsapi.Task {
		return tk(dep, inst, "RUNNING", opts...)
	}
	t.Run("scale-in stops unprotected tasks only", func(t *testing.T) {
		tasks := []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d1", inst1), running("d1", inst2)}
		prot := map[string]time.Time{tasks[0].TaskArn: t0.Add(time.Hour), tasks[2].TaskArn: t0.Add(30 * time.Minute),
			tasks[1].TaskArn: t0.Add(-time.Second)} // expired
		p := plan(testCfg, svcFixture(1), Observed{Tasks: tasks, Instances: instances(inst1, inst2), Protected: prot}, t0)
		stopped := map[string]bool{}
		for _, s := range p.Stop {
			stopped[s.TaskArn] = true
		}
		if len(p.Stop) != 2 || !stopped[tasks[1].TaskArn] || !stopped[tasks[3].TaskArn] {
			t.Fatalf("want the two unprotected tasks stopped, got %+v", p.Stop)
		}
		if !hasPlanEvent(p, "was unable to scale in due to (reason: 1 tasks under protection).") {
			t.Fatalf("events %v", p.Events)
		}
		if p.RequeueAfter != 30*time.Minute {
			t.Fatalf("requeue after %v, want when the first protection ends", p.RequeueAfter)
		}
	})
	t.Run("a deployment waits for a protected old task", func(t *testing.T) {
		tasks := []ecsapi.Task{running("d1", inst1), running("d1", inst2), running("d2", inst1), running("d2", inst2)}
		prot := map[string]time.Time{tasks[0].TaskArn: t0.Add(time.Hour)}
		p := plan(testCfg, svcFixture(2, deploy), Observed{Tasks: tasks, Instances: instances(inst1, inst2), Protected: prot}, t0)
		if len(p.Stop) != 1 || p.Stop[0].TaskArn != tasks[1].TaskArn {
			t.Fatalf("want only the unprotected old task stopped: %+v", p.Stop)
		}
		if d := p.Service.Deployments; len(d) != 2 || d[0].RolloutState != "IN_PROGRESS" {
			t.Fatalf("the deployment must wait: %+v", d)
		}
		// Once protection ends the old task goes and the deployment completes.
		tasks[1].DesiredStatus, tasks[1].LastStatus = "STOPPED", "STOPPED"
		p = plan(testCfg, svcFixture(2, deploy), Observed{Tasks: tasks, Instances: instances(inst1, inst2), Protected: prot}, t0.Add(2*time.Hour))
		if len(p.Stop) != 1 || p.Stop[0].TaskArn != tasks[0].TaskArn {
			t.Fatalf("want the formerly protected task stopped: %+v", p.Stop)
		}
	})
}
