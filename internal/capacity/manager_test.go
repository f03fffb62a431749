package capacity

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
)

// fakeECS is managed scaling's view of one cluster and provider.
type fakeECS struct {
	provider ecsapi.CapacityProvider
	insts    []ecs.ProviderInstance
	waiting  []ecs.WaitingTask
	drained  []string
	deregd   []string
}

func (f *fakeECS) ScalingTargets(context.Context) ([]ecs.ScalingTarget, error) {
	return []ecs.ScalingTarget{{Cluster: "c", Provider: f.provider}}, nil
}
func (f *fakeECS) ProviderInstances(context.Context, string, string) ([]ecs.ProviderInstance, error) {
	return slices.Clone(f.insts), nil
}
func (f *fakeECS) WaitingTasks(context.Context, string) ([]ecs.WaitingTask, error) {
	return f.waiting, nil
}
func (f *fakeECS) PlaceWaiting(context.Context, string) (int, error) { return 0, nil }
func (f *fakeECS) SetDraining(_ context.Context, _, arn string) error {
	f.drained = append(f.drained, arn)
	for i := range f.insts {
		if f.insts[i].Instance.ContainerInstanceArn == arn {
			f.insts[i].Instance.Status = "DRAINING"
		}
	}
	return nil
}
func (f *fakeECS) Deregister(_ context.Context, _, arn string) error {
	f.deregd = append(f.deregd, arn)
	f.insts = slices.DeleteFunc(f.insts, func(in ecs.ProviderInstance) bool { return in.Instance.ContainerInstanceArn == arn })
	return nil
}

type fakeProvisioner struct{ reqs []Request }

func (p *fakeProvisioner) Scale(_ context.Context, r Request) error {
	p.reqs = append(p.reqs, r)
	return nil
}

type fakeRecorder struct{ data []cloudwatchapi.MetricDatum }

func (r *fakeRecorder) Record(_ context.Context, ns string, d []cloudwatchapi.MetricDatum) error {
	if ns == Namespace {
		r.data = append(r.data, d...)
	}
	return nil
}

func provider(protect string) ecsapi.CapacityProvider {
	i32 := func(v int32) *int32 { return &v }
	return ecsapi.CapacityProvider{Name: "p", Status: "ACTIVE", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{
		ManagedScaling: &ecsapi.ManagedScaling{Status: "ENABLED", TargetCapacity: i32(100), MinimumScalingStepSize: i32(1),
			MaximumScalingStepSize: i32(10), InstanceWarmupPeriod: i32(60)},
		ManagedTerminationProtection: ecsapi.ManagedTerminationProtection(protect), ManagedDraining: "ENABLED"}}
}

func inst(arn string, tasks int, remaining ecs.Resources) ecs.ProviderInstance {
	return ecs.ProviderInstance{Instance: ecsapi.ContainerInstance{ContainerInstanceArn: arn, Status: "ACTIVE"},
		Registered: ecs.Resources{CPU: 1024, Memory: 1024}, Remaining: remaining, Tasks: tasks, Connected: true}
}

func TestManagerScalesOutForWaitingTasksOnce(t *testing.T) {
	f := &fakeECS{provider: provider("ENABLED"), waiting: []ecs.WaitingTask{
		{CapacityProvider: "p", Demand: demand(512, 256)}, {CapacityProvider: "p", Demand: demand(512, 256)}, {CapacityProvider: "p", Demand: demand(512, 256)}}}
	pr := &fakeProvisioner{}
	rec := &fakeRecorder{}
	now := time.Unix(1000, 0)
	m := &Manager{ECS: f, Provisioner: pr, Metrics: rec, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	if err := m.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	// No instance: the minimum step.
	if len(pr.reqs) != 1 || pr.reqs[0].DesiredCount != 1 {
		t.Fatalf("requests %+v, want one of 1 instance", pr.reqs)
	}
	if len(rec.data) != 1 || *rec.data[0].Value != 200 || rec.data[0].Dimensions[0].Value != "p" || rec.data[0].Dimensions[1].Value != "c" {
		t.Fatalf("metric %+v, want 200 with CapacityProviderName p, ClusterName c", rec.data)
	}
	// During the warm-up the same action is not asked again.
	now = now.Add(10 * time.Second)
	if err := m.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(pr.reqs) != 1 {
		t.Fatalf("asked again during warm-up: %+v", pr.reqs)
	}
}

func demand(cpu, mem int64) scheduler.Demand { return scheduler.Demand{CPU: cpu, Memory: mem} }

func TestManagerScaleInDrainsOnlyIdleInstances(t *testing.T) {
	f := &fakeECS{provider: provider("ENABLED"), insts: []ecs.ProviderInstance{
		inst("a", 1, ecs.Resources{CPU: 512, Memory: 768}), inst("b", 0, ecs.Resources{CPU: 1024, Memory: 1024}),
		inst("c", 2, ecs.Resources{CPU: 0, Memory: 512})}}
	pr := &fakeProvisioner{}
	now := time.Unix(1000, 0)
	m := &Manager{ECS: f, Provisioner: pr, Logger: slog.New(slog.DiscardHandler), ScaleInAfter: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	if err := m.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.drained) != 0 {
		t.Fatalf("drained %v before the reservation stayed low for ScaleInAfter", f.drained)
	}
	now = now.Add(2 * time.Minute)
	if err := m.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.drained, []string{"b"}) {
		t.Fatalf("drained %v, want only the idle b (termination protection)", f.drained)
	}
	if err := m.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.deregd, []string{"b"}) || len(pr.reqs) != 1 || pr.reqs[0].DesiredCount != 2 ||
		len(pr.reqs[0].InstancesToRemove) != 1 || pr.reqs[0].InstancesToRemove[0].ContainerInstanceArn != "b" {
		t.Fatalf("deregistered %v, requests %+v; want b removed, 2 desired", f.deregd, pr.reqs)
	}
}

func TestPickVictims(t *testing.T) {
	in := []ecs.ProviderInstance{inst("a", 2, ecs.Resources{}), inst("b", 0, ecs.Resources{}), inst("c", 1, ecs.Resources{})}
	names := func(v []ecs.ProviderInstance) []string {
		var out []string
		for _, x := range v {
			out = append(out, x.Instance.ContainerInstanceArn)
		}
		return out
	}
	if got := names(pickVictims(in, 2, true)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("protected: %v, want [b]", got)
	}
	if got := names(pickVictims(in, 2, false)); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("unprotected: %v, want [b c]", got)
	}
}

// TestNewLeaderFinishesDraining: a leader that did not drain an instance
// itself (the one before it did, then lost its term) removes it once idle
// when it carries managed scaling's mark, and never removes an instance an
// operator set DRAINING.
func TestNewLeaderFinishesDraining(t *testing.T) {
	mark := ecsapi.Attribute{Name: DrainingAttribute, Value: "true"}
	drained := inst("d", 0, ecs.Resources{CPU: 1024, Memory: 1024})
	drained.Instance.Status = "DRAINING"
	drained.Instance.Attributes = append(drained.Instance.Attributes, mark)
	operators := inst("o", 0, ecs.Resources{CPU: 1024, Memory: 1024})
	operators.Instance.Status = "DRAINING"
	f := &fakeECS{provider: provider("ENABLED"), insts: []ecs.ProviderInstance{
		inst("a", 1, ecs.Resources{CPU: 512, Memory: 768}), drained, operators}}
	pr := &fakeProvisioner{}
	m := &Manager{ECS: f, Provisioner: pr, Logger: slog.New(slog.DiscardHandler), ScaleInAfter: time.Hour}
	if err := m.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.deregd, []string{"d"}) || len(pr.reqs) != 1 || len(pr.reqs[0].InstancesToRemove) != 1 ||
		pr.reqs[0].InstancesToRemove[0].ContainerInstanceArn != "d" {
		t.Fatalf("deregistered %v, requests %+v; want only d, the instance managed scaling drained", f.deregd, pr.reqs)
	}
}
