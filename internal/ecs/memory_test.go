package ecs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// The tests of this file run the operations on the in-memory store, with
// the live state running on it: they need no etcd and run under -short.

// newMemAPI returns the operations on a fresh in-memory store, and a
// context carrying a caller.
func newMemAPI(t *testing.T) (*API, context.Context) {
	t.Helper()
	st := store.NewMemory(nil)
	s := &API{Store: st, Region: "us-east-1", Account: "123456789012", Logger: slog.New(slog.DiscardHandler)}
	s.State = state.New(s.StateConfig())
	ctx, cancel := context.WithCancel(context.Background())
	s.State.Run(ctx)
	t.Cleanup(func() {
		cancel()
		s.State.Wait()
		st.Close()
	})
	return s, caller.WithCaller(t.Context(), caller.Caller{Principal: "arn:aws:iam::123456789012:user/tester"})
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !apierror.IsCode(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func noErr[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestMemClusters(t *testing.T) {
	s, ctx := newMemAPI(t)
	for _, name := range []string{"a", "b", "c"} {
		out := noErr[*ecsapi.CreateClusterResponse](t)(s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: name}))
		if out.Cluster.Status != "ACTIVE" || out.Cluster.ClusterArn != "arn:aws:ecs:us-east-1:123456789012:cluster/"+name {
			t.Fatalf("created %+v", out.Cluster)
		}
	}
	d := noErr[*ecsapi.DescribeClustersResponse](t)(s.DescribeClusters(ctx, &ecsapi.DescribeClustersRequest{Clusters: []string{"a", "nope"}}))
	if len(d.Clusters) != 1 || d.Clusters[0].ClusterName != "a" || len(d.Failures) != 1 || d.Failures[0].Reason != "MISSING" {
		t.Fatalf("describe: %+v", d)
	}
	// Paging: one a page.
	var names []string
	token := ""
	for {
		l := noErr[*ecsapi.ListClustersResponse](t)(s.ListClusters(ctx, &ecsapi.ListClustersRequest{MaxResults: ptr(int32(1)), NextToken: token}))
		if len(l.ClusterArns) > 1 {
			t.Fatalf("page of %d", len(l.ClusterArns))
		}
		names = append(names, l.ClusterArns...)
		if token = l.NextToken; token == "" {
			break
		}
	}
	if len(names) != 3 {
		t.Fatalf("listed %v", names)
	}
	del := noErr[*ecsapi.DeleteClusterResponse](t)(s.DeleteCluster(ctx, &ecsapi.DeleteClusterRequest{Cluster: "b"}))
	if del.Cluster.Status != "INACTIVE" {
		t.Fatalf("deleted: %+v", del.Cluster)
	}
	// An INACTIVE cluster takes nothing new.
	_, err := s.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{Cluster: "b"})
	wantCode(t, err, apierror.CodeInvalidParameter)
}

func registerTD(t *testing.T, s *API, ctx context.Context, family string) *ecsapi.TaskDefinition {
	t.Helper()
	out := noErr[*ecsapi.RegisterTaskDefinitionResponse](t)(s.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
		Family: family,
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web", Image: "nginx", Memory: ptr(int32(128)), Cpu: 128,
			Essential: ptr(true)}},
	}))
	return out.TaskDefinition
}

func TestMemTaskDefinitions(t *testing.T) {
	s, ctx := newMemAPI(t)
	if td := registerTD(t, s, ctx, "web"); td.Revision != 1 || td.Status != "ACTIVE" {
		t.Fatalf("first revision: %+v", td)
	}
	if td := registerTD(t, s, ctx, "web"); td.Revision != 2 {
		t.Fatalf("second revision: %d", td.Revision)
	}
	registerTD(t, s, ctx, "worker")
	d := noErr[*ecsapi.DescribeTaskDefinitionResponse](t)(s.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: "web"}))
	if d.TaskDefinition.Revision != 2 {
		t.Fatalf("latest: %d", d.TaskDefinition.Revision)
	}
	dr := noErr[*ecsapi.DeregisterTaskDefinitionResponse](t)(s.DeregisterTaskDefinition(ctx, &ecsapi.DeregisterTaskDefinitionRequest{TaskDefinition: "web:2"}))
	if dr.TaskDefinition.Status != "INACTIVE" {
		t.Fatalf("deregistered: %+v", dr.TaskDefinition.Status)
	}
	d = noErr[*ecsapi.DescribeTaskDefinitionResponse](t)(s.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: "web"}))
	if d.TaskDefinition.Revision != 1 {
		t.Fatalf("latest ACTIVE after deregistering 2: %d", d.TaskDefinition.Revision)
	}
	fams := noErr[*ecsapi.ListTaskDefinitionFamiliesResponse](t)(s.ListTaskDefinitionFamilies(ctx, &ecsapi.ListTaskDefinitionFamiliesRequest{}))
	if !slices.Equal(fams.Families, []string{"web", "worker"}) {
		t.Fatalf("families %v", fams.Families)
	}
	l := noErr[*ecsapi.ListTaskDefinitionsResponse](t)(s.ListTaskDefinitions(ctx, &ecsapi.ListTaskDefinitionsRequest{FamilyPrefix: "web", MaxResults: ptr(int32(1))}))
	if len(l.TaskDefinitionArns) != 1 || l.NextToken != "" {
		t.Fatalf("ACTIVE revisions of web: %+v", l)
	}
	del := noErr[*ecsapi.DeleteTaskDefinitionsResponse](t)(s.DeleteTaskDefinitions(ctx, &ecsapi.DeleteTaskDefinitionsRequest{TaskDefinitions: []string{"web:2"}}))
	if len(del.TaskDefinitions) != 1 || len(del.Failures) != 0 {
		t.Fatalf("delete: %+v", del)
	}
	_, err := s.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: "web:2"})
	wantCode(t, err, apierror.CodeClient)
}

// memCluster creates cluster name with one registered instance of cpu and
// mem, and returns the instance's ARN.
func memCluster(t *testing.T, s *API, ctx context.Context, name string, cpu, mem int32) string {
	t.Helper()
	noErr[*ecsapi.CreateClusterResponse](t)(s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: name}))
	out := noErr[*ecsapi.RegisterContainerInstanceResponse](t)(s.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{
		Cluster: name,
		TotalResources: []ecsapi.Resource{
			{Name: "CPU", Type: "INTEGER", IntegerValue: cpu},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
		},
		VersionInfo: &ecsapi.VersionInfo{AgentVersion: "gantry-test"},
	}))
	return out.ContainerInstance.ContainerInstanceArn
}

func TestMemTasks(t *testing.T) {
	s, ctx := newMemAPI(t)
	inst := memCluster(t, s, ctx, "c", 1024, 1024)
	registerTD(t, s, ctx, "web")
	run := noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Count: ptr(int32(3)), ClientToken: "tok"}))
	if len(run.Tasks) != 3 || len(run.Failures) != 0 {
		t.Fatalf("run: %d tasks, failures %+v", len(run.Tasks), run.Failures)
	}
	var arns []string
	for _, tk := range run.Tasks {
		if tk.ContainerInstanceArn != inst || tk.LastStatus != "PROVISIONING" && tk.LastStatus != "PENDING" || tk.DesiredStatus != "RUNNING" {
			t.Fatalf("task %+v", tk)
		}
		arns = append(arns, tk.TaskArn)
	}
	// The same request again (same client token) answers the same tasks.
	again := noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Count: ptr(int32(3)), ClientToken: "tok"}))
	var againArns []string
	for _, tk := range again.Tasks {
		againArns = append(againArns, tk.TaskArn)
	}
	if !slices.Equal(arns, againArns) {
		t.Fatalf("replay: %v, want %v", againArns, arns)
	}
	// No room for 10 more tasks of 128 MiB on 1024 MiB with 3 placed.
	more := noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Count: ptr(int32(10))}))
	if len(more.Tasks) != 5 || len(more.Failures) == 0 {
		t.Fatalf("over capacity: %d tasks, %d failures", len(more.Tasks), len(more.Failures))
	}
	d := noErr[*ecsapi.DescribeTasksResponse](t)(s.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: "c", Tasks: append(arns[:1:1], "missing")}))
	if len(d.Tasks) != 1 || d.Tasks[0].TaskArn != arns[0] || len(d.Failures) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	stop := noErr[*ecsapi.StopTaskResponse](t)(s.StopTask(ctx, &ecsapi.StopTaskRequest{Cluster: "c", Task: arns[0], Reason: "test"}))
	if stop.Task.DesiredStatus != "STOPPED" || stop.Task.StoppedReason != "test" {
		t.Fatalf("stop: %+v", stop.Task)
	}
	l := noErr[*ecsapi.ListTasksResponse](t)(s.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: "c"}))
	if len(l.TaskArns) != 7 || slices.Contains(l.TaskArns, arns[0]) {
		t.Fatalf("RUNNING-desired tasks: %d", len(l.TaskArns))
	}
	l = noErr[*ecsapi.ListTasksResponse](t)(s.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: "c", DesiredStatus: "STOPPED"}))
	if !slices.Equal(l.TaskArns, arns[:1]) {
		t.Fatalf("STOPPED-desired tasks: %v", l.TaskArns)
	}
	// Paging through the tasks, 2 a page.
	var all []string
	token := ""
	for {
		p := noErr[*ecsapi.ListTasksResponse](t)(s.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: "c", MaxResults: ptr(int32(2)), NextToken: token}))
		all = append(all, p.TaskArns...)
		if token = p.NextToken; token == "" {
			break
		}
	}
	if len(all) != 7 {
		t.Fatalf("paged %d tasks", len(all))
	}
	ci := noErr[*ecsapi.DescribeContainerInstancesResponse](t)(s.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{Cluster: "c", ContainerInstances: []string{inst}}))
	if len(ci.ContainerInstances) != 1 || ci.ContainerInstances[0].PendingTasksCount+ci.ContainerInstances[0].RunningTasksCount != 8 {
		t.Fatalf("instance accounting: %+v", ci.ContainerInstances)
	}
}

func TestMemServices(t *testing.T) {
	s, ctx := newMemAPI(t)
	memCluster(t, s, ctx, "c", 1024, 1024)
	registerTD(t, s, ctx, "web")
	cr := noErr[*ecsapi.CreateServiceResponse](t)(s.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "svc",
		TaskDefinition: "web", DesiredCount: ptr(int32(2))}))
	if cr.Service.Status != "ACTIVE" || cr.Service.DesiredCount != 2 || len(cr.Service.Deployments) != 1 {
		t.Fatalf("created %+v", cr.Service)
	}
	_, err := s.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "svc", TaskDefinition: "web", DesiredCount: ptr(int32(2))})
	wantCode(t, err, apierror.CodeInvalidParameter)
	up := noErr[*ecsapi.UpdateServiceResponse](t)(s.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: "c", Service: "svc", DesiredCount: ptr(int32(0))}))
	if up.Service.DesiredCount != 0 {
		t.Fatalf("updated %+v", up.Service)
	}
	d := noErr[*ecsapi.DescribeServicesResponse](t)(s.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Cluster: "c", Services: []string{"svc", "nope"}}))
	if len(d.Services) != 1 || d.Services[0].DesiredCount != 0 || len(d.Failures) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	del := noErr[*ecsapi.DeleteServiceResponse](t)(s.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Cluster: "c", Service: "svc"}))
	if del.Service.Status != "DRAINING" && del.Service.Status != "INACTIVE" {
		t.Fatalf("deleted: %s", del.Service.Status)
	}
	_, err = s.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: "c", Service: "svc", DesiredCount: ptr(int32(1))})
	wantCode(t, err, apierror.CodeServiceNotActive)
}

func TestMemTags(t *testing.T) {
	s, ctx := newMemAPI(t)
	arn := noErr[*ecsapi.CreateClusterResponse](t)(s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "c",
		Tags: []ecsapi.Tag{{Key: "a", Value: "1"}}})).Cluster.ClusterArn
	noErr[*ecsapi.TagResourceResponse](t)(s.TagResource(ctx, &ecsapi.TagResourceRequest{ResourceArn: arn, Tags: []ecsapi.Tag{{Key: "b", Value: "2"}}}))
	noErr[*ecsapi.UntagResourceResponse](t)(s.UntagResource(ctx, &ecsapi.UntagResourceRequest{ResourceArn: arn, TagKeys: []string{"a"}}))
	l := noErr[*ecsapi.ListTagsForResourceResponse](t)(s.ListTagsForResource(ctx, &ecsapi.ListTagsForResourceRequest{ResourceArn: arn}))
	if len(l.Tags) != 1 || l.Tags[0] != (ecsapi.Tag{Key: "b", Value: "2"}) {
		t.Fatalf("tags %+v", l.Tags)
	}
	_, err := s.TagResource(ctx, &ecsapi.TagResourceRequest{ResourceArn: s.ClusterARN("nope"), Tags: []ecsapi.Tag{{Key: "b", Value: "2"}}})
	wantCode(t, err, apierror.CodeClusterNotFound)
}

func TestMemAccountSettings(t *testing.T) {
	s, ctx := newMemAPI(t)
	noErr[*ecsapi.PutAccountSettingResponse](t)(s.PutAccountSetting(ctx, &ecsapi.PutAccountSettingRequest{Name: "containerInsights", Value: "enabled"}))
	l := noErr[*ecsapi.ListAccountSettingsResponse](t)(s.ListAccountSettings(ctx, &ecsapi.ListAccountSettingsRequest{Name: "containerInsights"}))
	if len(l.Settings) != 1 || l.Settings[0].Value != "enabled" || l.Settings[0].PrincipalArn != "arn:aws:iam::123456789012:user/tester" {
		t.Fatalf("settings %+v", l.Settings)
	}
}

func TestMemWatchServiceChanges(t *testing.T) {
	s, ctx := newMemAPI(t)
	memCluster(t, s, ctx, "c", 1024, 1024)
	registerTD(t, s, ctx, "web")
	noErr[*ecsapi.CreateServiceResponse](t)(s.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "svc",
		TaskDefinition: "web", DesiredCount: ptr(int32(1))}))
	refs := make(chan ServiceRef, 100)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.WatchServiceChanges(wctx, func(r ServiceRef) { refs <- r }) }()
	next := func() ServiceRef {
		t.Helper()
		select {
		case r := <-refs:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no service change")
		}
		return ServiceRef{}
	}
	// The list first: the service.
	if r := next(); r != (ServiceRef{Cluster: "c", Name: "svc"}) {
		t.Fatalf("listed %+v", r)
	}
	// Then the changes: its record, and a task of its group.
	noErr[*ecsapi.UpdateServiceResponse](t)(s.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: "c", Service: "svc", DesiredCount: ptr(int32(2))}))
	if r := next(); r != (ServiceRef{Cluster: "c", Name: "svc"}) {
		t.Fatalf("changed %+v", r)
	}
	noErr[*ecsapi.RunTaskResponse](t)(s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Group: "service:svc"}))
	for r := next(); r.Name != "svc"; r = next() {
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchServiceChanges returned %v", err)
	}
}

// TestMemTwoServersFillACluster: two servers (each its own live state) on
// one in-memory store fill a cluster to the last task; their placements
// conflict and are retried, none over-commits an instance.
func TestMemTwoServersFillACluster(t *testing.T) {
	a, ctx := newMemAPI(t)
	b := &API{Store: a.Store, Region: a.Region, Account: a.Account, Logger: a.Logger}
	b.State = state.New(b.StateConfig())
	bctx, cancel := context.WithCancel(context.Background())
	b.State.Run(bctx)
	t.Cleanup(func() {
		cancel()
		b.State.Wait()
	})
	noErr[*ecsapi.CreateClusterResponse](t)(a.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "c"}))
	for range 20 {
		noErr[*ecsapi.RegisterContainerInstanceResponse](t)(b.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{
			Cluster: "c", TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 4096}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 2000}}}))
	}
	noErr[*ecsapi.RegisterTaskDefinitionResponse](t)(a.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "m",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", Image: "b", Memory: ptr(int32(100))}}}))
	var mu sync.Mutex
	placed := 0
	var wg sync.WaitGroup
	for w := range 8 {
		s := []*API{a, b}[w%2]
		wg.Go(func() {
			for range 6 {
				out, err := s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "m", Count: ptr(int32(10))})
				for apierror.IsCode(err, apierror.CodeThrottling) {
					// As the SDKs do: placements that conflicted with the
					// other server's are asked again.
					out, err = s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "m", Count: ptr(int32(10))})
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				placed += len(out.Tasks)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if placed != 400 {
		t.Fatalf("placed %d, want 400 (the capacity)", placed)
	}
	l := noErr[*ecsapi.ListContainerInstancesResponse](t)(a.ListContainerInstances(ctx, &ecsapi.ListContainerInstancesRequest{Cluster: "c"}))
	d := noErr[*ecsapi.DescribeContainerInstancesResponse](t)(a.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{Cluster: "c", ContainerInstances: l.ContainerInstanceArns}))
	total := 0
	for _, ci := range d.ContainerInstances {
		total += int(ci.PendingTasksCount)
		if ci.PendingTasksCount > 20 {
			t.Errorf("instance %s over-committed: %d", ci.ContainerInstanceArn, ci.PendingTasksCount)
		}
	}
	if total != 400 {
		t.Fatalf("instances hold %d tasks, want 400", total)
	}
}
