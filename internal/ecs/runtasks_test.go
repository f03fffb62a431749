package ecs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// arnsOf returns the ARNs of tasks, sorted.
func arnsOf(tasks []ecsapi.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.TaskArn
	}
	slices.Sort(out)
	return out
}

func serviceTasks(t *testing.T, s *API, ctx context.Context, name string) []ecsapi.Task {
	t.Helper()
	return noErr[[]ecsapi.Task](t)(s.ServiceTasks(ctx, "c", name))
}

// TestMemServiceTasksIndex: the tasks RunTask starts with group service:X
// are in X's index at once, follow their record's changes (a stop, an
// agent's report), and leave it when the record is deleted; other tasks
// are not indexed.
func TestMemServiceTasksIndex(t *testing.T) {
	s, ctx := newMemAPI(t)
	memCluster(t, s, ctx, "c", 4096, 4096)
	registerTD(t, s, ctx, "web")
	run := noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web",
		Count: ptr(int32(3)), Group: "service:x", StartedBy: "ecs-svc/1"}))
	noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Count: ptr(int32(2))}))
	noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Group: "service:y"}))
	got := serviceTasks(t, s, ctx, "x")
	if !slices.Equal(arnsOf(got), arnsOf(run.Tasks)) {
		t.Fatalf("service x: %v, want %v", arnsOf(got), arnsOf(run.Tasks))
	}
	for _, tk := range got {
		if tk.StartedBy != "ecs-svc/1" || tk.DesiredStatus != "RUNNING" || tk.LastStatus != "PROVISIONING" || tk.Group != "service:x" ||
			tk.CreatedAt == nil || tk.ContainerInstanceArn == "" || len(tk.Containers) != 1 || tk.Overrides != nil {
			t.Fatalf("indexed task %+v", tk)
		}
	}
	if n := len(serviceTasks(t, s, ctx, "y")); n != 1 {
		t.Fatalf("service y: %d tasks", n)
	}
	if n := len(serviceTasks(t, s, ctx, "web")); n != 0 {
		t.Fatalf("family tasks indexed: %d", n)
	}
	// A stop.
	arn := run.Tasks[0].TaskArn
	noErr[*ecsapi.StopTaskResponse](t)(s.StopTask(ctx, &ecsapi.StopTaskRequest{Cluster: "c", Task: arn, Reason: "r"}))
	find := func(arn string) *ecsapi.Task {
		for _, tk := range serviceTasks(t, s, ctx, "x") {
			if tk.TaskArn == arn {
				return &tk
			}
		}
		return nil
	}
	if tk := find(arn); tk == nil || tk.DesiredStatus != "STOPPED" || tk.StopCode != "ServiceSchedulerInitiated" {
		t.Fatalf("after stop: %+v", tk)
	}
	// An agent's report, written as the store sees it.
	other := run.Tasks[1].TaskArn
	if _, err := store.Mutate(ctx, s.Store, record.TaskKey("c", taskIDOf(other)), func(rec *record.Task, _ bool) error {
		rec.Task.LastStatus, rec.Task.HealthStatus = "RUNNING", "HEALTHY"
		rec.Task.StartedAt = ecsapi.NewTimestamp(s.now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if tk := find(other); tk == nil || tk.LastStatus != "RUNNING" || tk.HealthStatus != "HEALTHY" || tk.StartedAt == nil {
		t.Fatalf("after the report: %+v", tk)
	}
	// The record deleted (a STOPPED task's retention over).
	if _, err := s.Store.Txn(ctx, nil, store.OpDelete(record.TaskKey("c", taskIDOf(arn)))); err != nil {
		t.Fatal(err)
	}
	if tk := find(arn); tk != nil {
		t.Fatalf("deleted task still indexed: %+v", tk)
	}
	if n := len(serviceTasks(t, s, ctx, "x")); n != 2 {
		t.Fatalf("service x after the delete: %d tasks", n)
	}
}

// TestMemServiceTasksTwoServers: two servers on one store read each
// other's service tasks and changes.
func TestMemServiceTasksTwoServers(t *testing.T) {
	a, ctx := newMemAPI(t)
	b := &API{Store: a.Store, Region: a.Region, Account: a.Account, Logger: a.Logger}
	b.State = state.New(b.StateConfig())
	bctx, cancel := context.WithCancel(context.Background())
	b.State.Run(bctx)
	t.Cleanup(func() {
		cancel()
		b.State.Wait()
	})
	memCluster(t, a, ctx, "c", 4096, 4096)
	registerTD(t, a, ctx, "web")
	ra := noErr[RunResult](t)(a.RunTasks(ctx, RunSpec{Cluster: "c", TaskDefinition: "web", Count: 2, Group: "service:x"}))
	rb := noErr[RunResult](t)(b.RunTasks(ctx, RunSpec{Cluster: "c", TaskDefinition: "web", Count: 3, Group: "service:x"}))
	want := slices.Sorted(slices.Values(append(slices.Clone(ra.TaskArns), rb.TaskArns...)))
	for _, s := range []*API{a, b} {
		if got := arnsOf(serviceTasks(t, s, ctx, "x")); !slices.Equal(got, want) {
			t.Fatalf("tasks %v, want %v", got, want)
		}
	}
	noErr[*ecsapi.StopTaskResponse](t)(b.StopTask(ctx, &ecsapi.StopTaskRequest{Cluster: "c", Task: ra.TaskArns[0]}))
	for _, tk := range serviceTasks(t, a, ctx, "x") {
		if tk.TaskArn == ra.TaskArns[0] && tk.DesiredStatus != "STOPPED" {
			t.Fatalf("a reads %s desired %s after b stopped it", tk.TaskArn, tk.DesiredStatus)
		}
	}
	insts := noErr[[]ecsapi.ContainerInstance](t)(b.ClusterInstances(ctx, "c"))
	if len(insts) != 1 || insts[0].PendingTasksCount != 5 || insts[0].Tags != nil {
		t.Fatalf("instances %+v", insts)
	}
}

// TestMemRunTasks: RunTasks places past RunTask's ten and past one
// commit's worth, writes the managed tags with the tasks, refuses managed
// tags from RunTask's callers, and says ErrNoInstances by type, with
// RunTask's text unchanged.
func TestMemRunTasks(t *testing.T) {
	s, ctx := newMemAPI(t)
	s.MaxTxnOps = 21 // ten tasks a commit
	for range 3 {
		memCluster(t, s, ctx, "c", 4096, 4096)
	}
	registerTD(t, s, ctx, "web")
	managed := []ecsapi.Tag{{Key: "aws:ecs:serviceName", Value: "x"}}
	res := noErr[RunResult](t)(s.RunTasks(ctx, RunSpec{Cluster: "c", TaskDefinition: "web", Count: 25, Group: "service:x",
		Tags: []ecsapi.Tag{{Key: "team", Value: "a"}}, ManagedTags: managed}))
	if len(res.TaskArns) != 25 || len(res.Failures) != 0 {
		t.Fatalf("placed %d, failures %+v", len(res.TaskArns), res.Failures)
	}
	d := noErr[*ecsapi.DescribeTasksResponse](t)(s.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: "c", Tasks: res.TaskArns[:1],
		Include: []ecsapi.TaskField{"TAGS"}}))
	if tags := d.Tasks[0].Tags; len(tags) != 2 || tags[1] != managed[0] {
		t.Fatalf("tags %+v", tags)
	}
	if n := len(serviceTasks(t, s, ctx, "x")); n != 25 {
		t.Fatalf("indexed %d", n)
	}
	// Past the capacity: 4096 MiB / 128 = 32 tasks on each of the three
	// instances, 25 placed already.
	res = noErr[RunResult](t)(s.RunTasks(ctx, RunSpec{Cluster: "c", TaskDefinition: "web", Count: 100}))
	if len(res.TaskArns) != 71 || len(res.Failures) == 0 {
		t.Fatalf("over capacity: placed %d, failures %+v", len(res.TaskArns), res.Failures)
	}
	_, err := s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Tags: managed})
	wantCode(t, err, apierror.CodeInvalidParameter)
	noErr[*ecsapi.CreateClusterResponse](t)(s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "empty"}))
	_, err = s.RunTasks(ctx, RunSpec{Cluster: "empty", TaskDefinition: "web", Count: 25})
	if !errors.Is(err, ErrNoInstances) {
		t.Fatalf("RunTasks without instances: %v", err)
	}
	_, err = s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "empty", TaskDefinition: "web"})
	ae, ok := apierror.As(err)
	if !ok || ae.Code != apierror.CodeInvalidParameter || ae.Message != "No Container Instances were found in your cluster." || !errors.Is(err, ErrNoInstances) {
		t.Fatalf("RunTask without instances: %v", err)
	}
}
