package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/caller"
	servicectl "github.com/gantry-dev/gantry/internal/controller/service"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// serviceEnv is ops on a real etcd with a cluster "c", instances of
// instances registered (1024 CPU, 4096 MiB each) and a task definition
// "web" (64 MiB), and a service controller over the adapter that is not
// running (tests call Reconcile themselves).
func serviceEnv(t *testing.T, instances int) (*ecs.API, *servicectl.Controller, servicectl.Deps, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	etcd, err := etcdembed.Start(ctx, t.TempDir(), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	o := runningAPI(t, ctx, store.New(cli), logger)
	ctx = caller.WithCaller(ctx, caller.Caller{Principal: "arn:aws:iam::123456789012:user/t"})
	if _, err := o.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "c"}); err != nil {
		t.Fatal(err)
	}
	for range instances {
		if _, err := o.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{Cluster: "c",
			TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 4096}}}); err != nil {
			t.Fatal(err)
		}
	}
	mem := int32(64)
	if _, err := o.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web", Image: "img", Memory: &mem}}}); err != nil {
		t.Fatal(err)
	}
	deps := newServiceDeps(o, o.Store, time.Second, logger)
	return o, servicectl.New(deps, servicectl.Options{}, logger), deps, ctx
}

// runningAPI returns the ECS operations on st with their live state
// running until the test ends or ctx is cancelled.
func runningAPI(t *testing.T, ctx context.Context, st *store.Store, logger *slog.Logger) *ecs.API {
	t.Helper()
	o := &ecs.API{Store: st, Region: "us-east-1", Account: "123456789012", Logger: logger}
	o.State = state.New(o.StateConfig())
	sctx, cancel := context.WithCancel(ctx)
	o.State.Run(sctx)
	t.Cleanup(func() {
		cancel()
		o.State.Wait()
	})
	return o
}

func serviceTaskList(t *testing.T, o *ecs.API, ctx context.Context, name string) []ecsapi.Task {
	t.Helper()
	// The tasks of group service:NAME, whether or not a service of that
	// name exists (ListTasks' serviceName needs one).
	l, err := o.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: "c", MaxResults: new(int32(100))})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.TaskArns) == 0 {
		return nil
	}
	d, err := o.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: "c", Tasks: l.TaskArns, Include: []ecsapi.TaskField{"TAGS"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []ecsapi.Task
	for _, tk := range d.Tasks {
		if tk.Group == "service:"+name {
			out = append(out, tk)
		}
	}
	return out
}

// TestServiceReconcileOnce: one Reconcile of a new service starts its
// tasks with the service's marks and records the event; a second one
// starts nothing.
func TestServiceReconcileOnce(t *testing.T) {
	o, c, _, ctx := serviceEnv(t, 1)
	desired := int32(2)
	created, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired,
		EnableECSManagedTags: true, PropagateTags: "SERVICE", Tags: []ecsapi.Tag{{Key: "team", Value: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	dep := created.Service.Deployments[0].Id
	if err := c.Reconcile(ctx, "c/s"); err != nil {
		t.Fatal(err)
	}
	tasks := serviceTaskList(t, o, ctx, "s")
	if len(tasks) != 2 {
		t.Fatalf("%d tasks after one reconcile", len(tasks))
	}
	for _, tk := range tasks {
		tags := map[string]string{}
		for _, tg := range tk.Tags {
			tags[tg.Key] = tg.Value
		}
		if tk.StartedBy != dep || tk.Group != "service:s" || tags["team"] != "x" || tags["aws:ecs:serviceName"] != "s" || tags["aws:ecs:clusterName"] != "c" {
			t.Fatalf("task %s: startedBy %q group %q tags %v", tk.TaskArn, tk.StartedBy, tk.Group, tags)
		}
	}
	svc, _, err := o.ServiceRecord(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Events) != 1 || !strings.HasPrefix(svc.Events[0].Message, "(service s) has started 2 tasks: (task ") {
		t.Fatalf("events %+v", svc.Events)
	}
	// Again: the tasks are pending; nothing more to start.
	if err := c.Reconcile(ctx, "c/s"); err != nil {
		t.Fatal(err)
	}
	if n := len(serviceTaskList(t, o, ctx, "s")); n != 2 {
		t.Fatalf("%d tasks after a second reconcile", n)
	}
	svc, _, _ = o.ServiceRecord(ctx, "c", "s")
	if svc.PendingCount != 2 || svc.Deployments[0].PendingCount != 2 || len(svc.Events) != 1 {
		t.Fatalf("service after the second reconcile: pending %d, %+v, events %d", svc.PendingCount, svc.Deployments[0], len(svc.Events))
	}
	// A deleted service's key reconciles to nothing.
	if err := c.Reconcile(ctx, "c/nope"); err != nil {
		t.Fatal(err)
	}
}

// TestServiceReconcileScaleOutPastTen: 25 missing tasks start in one
// reconcile, past RunTask's limit of ten a call.
func TestServiceReconcileScaleOutPastTen(t *testing.T) {
	o, c, _, ctx := serviceEnv(t, 3)
	desired := int32(25)
	if _, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx, "c/s"); err != nil {
		t.Fatal(err)
	}
	if n := len(serviceTaskList(t, o, ctx, "s")); n != 25 {
		t.Fatalf("%d tasks after one reconcile, want 25", n)
	}
}

// TestServiceDepsWriteConflict: a write of the service record on a stale
// revision is ErrConflict (and still store.ErrConflict).
func TestServiceDepsWriteConflict(t *testing.T) {
	o, _, deps, ctx := serviceEnv(t, 1)
	desired := int32(1)
	if _, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired}); err != nil {
		t.Fatal(err)
	}
	svc, rev, err := deps.Records.Service(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	if _, err := o.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: "c", Service: "s", DesiredCount: &three}); err != nil {
		t.Fatal(err)
	}
	_, err = deps.Records.WriteService(ctx, "c", svc, rev, nil)
	if !errors.Is(err, servicectl.ErrConflict) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write on a stale revision: %v", err)
	}
	if _, _, err := deps.Records.Service(ctx, "c", "nope"); !errors.Is(err, servicectl.ErrNotFound) {
		t.Fatalf("read of a missing service: %v", err)
	}
	if err := deps.Runner.StopTask(ctx, "c", "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef", "r"); !errors.Is(err, servicectl.ErrNotFound) {
		t.Fatalf("stop of a missing task: %v", err)
	}
}

// TestServiceReconcileRefusedStart: when RunTask refuses the service's
// tasks (here its task definition is gone: a deregistered one would still
// run, as in ECS), the service says why and the key is retried with
// backoff.
func TestServiceReconcileRefusedStart(t *testing.T) {
	o, c, _, ctx := serviceEnv(t, 1)
	desired := int32(1)
	if _, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired}); err != nil {
		t.Fatal(err)
	}
	resp, err := o.Store.Txn(ctx, nil, store.OpDelete(record.TaskDefKey("web", 1)))
	if err != nil {
		t.Fatal(err)
	}
	o.State.TaskDefs.Sync(ctx, resp.Revision)
	if err := c.Reconcile(ctx, "c/s"); err == nil {
		t.Fatal("reconcile: nil, want a retry")
	}
	svc, _, _ := o.ServiceRecord(ctx, "c", "s")
	if len(svc.Events) != 1 || !strings.HasPrefix(svc.Events[0].Message, "(service s) was unable to start tasks: ") {
		t.Fatalf("events %+v", svc.Events)
	}
}

// TestServiceReconcileNoInstances: in a cluster without container
// instances the adapter answers ErrNoInstances and the service gets ECS's
// event for it.
func TestServiceReconcileNoInstances(t *testing.T) {
	o, c, deps, ctx := serviceEnv(t, 0)
	desired := int32(2)
	created, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired})
	if err != nil {
		t.Fatal(err)
	}
	_, err = deps.Runner.RunTasks(ctx, servicectl.TaskSpec{Cluster: "c", TaskDefinition: created.Service.TaskDefinition, Group: "service:s"}, 2)
	if !errors.Is(err, servicectl.ErrNoInstances) {
		t.Fatalf("run tasks without instances: %v", err)
	}
	if err := c.Reconcile(ctx, "c/s"); err == nil {
		t.Fatal("reconcile: nil, want a retry")
	}
	svc, _, _ := o.ServiceRecord(ctx, "c", "s")
	const want = "(service s) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster."
	if len(svc.Events) != 1 || !strings.HasPrefix(svc.Events[0].Message, want) {
		t.Fatalf("events %+v", svc.Events)
	}
}

// TestServiceLeaderCrashTakeover: two controllers share an etcd; when the
// leader's connection dies without resigning (a crash), the other leads
// within about the lease TTL, and a write guarded by the old leadership
// fails.
func TestServiceLeaderCrashTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd, err := etcdembed.Start(context.Background(), t.TempDir(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	newDeps := func() (servicectl.Deps, *clientv3.Client, *ecs.API) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		o := runningAPI(t, ctx, store.New(cli), logger)
		return newServiceDeps(o, o.Store, 2*time.Second, logger), cli, o
	}
	d1, cli1, _ := newDeps()
	d2, cli2, o2 := newDeps()
	defer cli2.Close()
	// The stale leadership is one the first server won itself.
	stale, err := d1.Elector.Campaign(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	c2 := servicectl.New(d2, servicectl.Options{}, logger)
	done2 := make(chan struct{})
	go func() { defer close(done2); c2.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	if c2.Leading() {
		t.Fatal("two leaders")
	}
	// Crash: the connection goes, nothing resigns.
	crashed := time.Now()
	cli1.Close()
	testutil.WaitFor(t, 10*time.Second, "second leads", func() error {
		if !c2.Leading() {
			return fmt.Errorf("not leading after %v", time.Since(crashed))
		}
		return nil
	})
	took := time.Since(crashed)
	t.Logf("takeover %v after the crash (lease TTL 2s)", took)
	if took > 5*time.Second {
		t.Fatalf("takeover took %v", took)
	}
	// The deposed leader's guard no longer holds.
	svc := &ecsapi.Service{ServiceName: "s", Status: "ACTIVE"}
	rev, err := o2.Store.Create(ctx, store.Key("services", "c", "s"), svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Records.WriteService(ctx, "c", svc, rev, stale); !errors.Is(err, servicectl.ErrConflict) {
		t.Fatalf("write under the old leadership: %v, want a conflict", err)
	}
	// A term won now guards writes that succeed.
	d3, cli3, _ := newDeps()
	defer cli3.Close()
	cancel()
	<-done2
	lead, err := d3.Elector.Campaign(context.Background(), "third")
	if err != nil {
		t.Fatal(err)
	}
	defer lead.Resign(context.Background())
	if _, err := d3.Records.WriteService(context.Background(), "c", svc, rev, lead); err != nil {
		t.Fatalf("write under the new leadership: %v", err)
	}
}

// TestServiceDepsRunTasksOneCall: one RunTasks call places 25 tasks (past
// RunTask's ten), writes the managed tags with them, and the observer
// reads them back at once from the live state, with the instances; in a
// cluster without instances the error is ErrNoInstances by type.
func TestServiceDepsRunTasksOneCall(t *testing.T) {
	o, _, deps, ctx := serviceEnv(t, 3)
	managed := []ecsapi.Tag{{Key: "aws:ecs:serviceName", Value: "s"}, {Key: "aws:ecs:clusterName", Value: "c"}}
	pl, err := deps.Runner.RunTasks(ctx, servicectl.TaskSpec{Cluster: "c", TaskDefinition: "web", StartedBy: "ecs-svc/1", Group: "service:s",
		ManagedTags: managed}, 25)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.TaskArns) != 25 || len(pl.Failures) != 0 {
		t.Fatalf("placed %d tasks, failures %+v", len(pl.TaskArns), pl.Failures)
	}
	for _, tk := range serviceTaskList(t, o, ctx, "s") {
		if len(tk.Tags) != 2 || tk.StartedBy != "ecs-svc/1" {
			t.Fatalf("task %s: tags %+v startedBy %q", tk.TaskArn, tk.Tags, tk.StartedBy)
		}
	}
	tasks, err := deps.Observer.ServiceTasks(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 25 {
		t.Fatalf("observer: %d tasks, want 25", len(tasks))
	}
	insts, err := deps.Observer.Instances(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, ci := range insts {
		pending += int(ci.PendingTasksCount)
	}
	if len(insts) != 3 || pending != 25 {
		t.Fatalf("observer: %d instances holding %d pending tasks", len(insts), pending)
	}
	// A stop shows at once too.
	if err := deps.Runner.StopTask(ctx, "c", pl.TaskArns[0], "scale in"); err != nil {
		t.Fatal(err)
	}
	tasks, _ = deps.Observer.ServiceTasks(ctx, "c", "s")
	for _, tk := range tasks {
		if tk.TaskArn == pl.TaskArns[0] && tk.DesiredStatus != "STOPPED" {
			t.Fatalf("stopped task reads desired %s", tk.DesiredStatus)
		}
	}
	// No instances: ErrNoInstances by type, ecs's sentinel kept in the chain.
	if _, err := o.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "empty"}); err != nil {
		t.Fatal(err)
	}
	_, err = deps.Runner.RunTasks(ctx, servicectl.TaskSpec{Cluster: "empty", TaskDefinition: "web", Group: "service:s"}, 25)
	var refused *servicectl.RefusedError
	if !errors.Is(err, servicectl.ErrNoInstances) || !errors.Is(err, ecs.ErrNoInstances) || errors.As(err, &refused) {
		t.Fatalf("run tasks without instances: %v", err)
	}
}
