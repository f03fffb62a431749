package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/store"
)

// reconcileEnv is ops on a real etcd with a cluster "c", one registered
// instance and a task definition "web", and a controller that is not
// running (tests call Reconcile themselves).
func reconcileEnv(t *testing.T) (*ecs.API, *Controller, context.Context) {
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
	o := &ecs.API{Store: store.New(cli), Region: "us-east-1", Account: "123456789012", Logger: logger}
	ctx = caller.WithCaller(ctx, caller.Caller{Principal: "arn:aws:iam::123456789012:user/t"})
	if _, err := o.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{Cluster: "c",
		TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}}}); err != nil {
		t.Fatal(err)
	}
	mem := int32(64)
	if _, err := o.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web", Image: "img", Memory: &mem}}}); err != nil {
		t.Fatal(err)
	}
	return o, New(o, cli, Options{}, logger), ctx
}

func serviceTaskList(t *testing.T, o *ecs.API, ctx context.Context, name string) []ecsapi.Task {
	t.Helper()
	l, err := o.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: "c", ServiceName: name})
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
	return d.Tasks
}

// TestReconcileOnce: one Reconcile of a new service starts its tasks with
// the service's marks and records the event; a second one starts nothing.
func TestReconcileOnce(t *testing.T) {
	o, c, ctx := reconcileEnv(t)
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

// TestReconcileConflict: a write of the service between the read and the
// controller's write makes Reconcile fail with a conflict, to be retried.
func TestReconcileConflict(t *testing.T) {
	o, c, ctx := reconcileEnv(t)
	desired := int32(1)
	if _, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired}); err != nil {
		t.Fatal(err)
	}
	svc, rev, err := o.ServiceRecord(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	one := int32(3)
	if _, err := o.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: "c", Service: "s", DesiredCount: &one}); err != nil {
		t.Fatal(err)
	}
	p := plan(c.opts.Config, svc, Observed{}, time.Now())
	p.Write = true
	if err := c.apply(ctx, "c", svc, rev, p); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("apply on a stale revision: %v", err)
	}
}

// TestReconcileRefusedStart: when RunTask refuses the service's tasks (here
// its task definition was deregistered), the service says why and the key
// is retried with backoff.
func TestReconcileRefusedStart(t *testing.T) {
	o, c, ctx := reconcileEnv(t)
	desired := int32(1)
	created, err := o.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "s", TaskDefinition: "web", DesiredCount: &desired})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.DeregisterTaskDefinition(ctx, &ecsapi.DeregisterTaskDefinitionRequest{TaskDefinition: created.Service.TaskDefinition}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx, "c/s"); !errors.Is(err, errUnplaced) {
		t.Fatalf("reconcile: %v, want a retry", err)
	}
	svc, _, _ := o.ServiceRecord(ctx, "c", "s")
	if len(svc.Events) != 1 || !strings.HasPrefix(svc.Events[0].Message, "(service s) was unable to start tasks: ") {
		t.Fatalf("events %+v", svc.Events)
	}
}
