package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// simAgent is a container instance without Docker: it registers through the
// API and acknowledges its tasks as the real agent would report them.
type simAgent struct {
	t       *testing.T
	c       *ecsclient.Client
	cluster string
	arn     string
	rev     int64
}

func newSimAgent(t *testing.T, env *apitest.Env, cluster string, cpu, mem int32, attrs ...ecsapi.Attribute) *simAgent {
	t.Helper()
	a := &simAgent{t: t, c: ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey), cluster: cluster}
	var out ecsapi.RegisterContainerInstanceResponse
	err := a.c.Call(context.Background(), "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{
		Cluster: cluster,
		TotalResources: []ecsapi.Resource{
			{Name: "CPU", Type: "INTEGER", IntegerValue: cpu},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
		},
		VersionInfo: &ecsapi.VersionInfo{AgentVersion: "gantry-test"},
		Attributes:  attrs,
	}, &out)
	if err != nil {
		t.Fatalf("register instance: %v", err)
	}
	a.arn = out.ContainerInstance.ContainerInstanceArn
	return a
}

func (a *simAgent) poll(wait int32) []ecsapi.GantryAssignedTask {
	a.t.Helper()
	var out ecsapi.GantryPollTasksResponse
	if err := a.c.Call(context.Background(), "GantryPollTasks", &ecsapi.GantryPollTasksRequest{
		Cluster: a.cluster, ContainerInstance: a.arn, Revision: a.rev, WaitSeconds: wait}, &out); err != nil {
		a.t.Fatalf("poll: %v", err)
	}
	a.rev = out.Revision
	return out.Tasks
}

func (a *simAgent) report(task, status, reason string, containers ...ecsapi.GantryContainerState) {
	a.t.Helper()
	if err := a.c.Call(context.Background(), "GantrySubmitTaskState", &ecsapi.GantrySubmitTaskStateRequest{
		Cluster: a.cluster, Task: task, Status: status, Reason: reason, Containers: containers}, nil); err != nil {
		a.t.Fatalf("report %s %s: %v", task, status, err)
	}
}

func registerWeb(t *testing.T, c *ecs.Client, family string, mem int32, hostPort int32) {
	t.Helper()
	_, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("gantry-test/web:1"), Memory: aws.Int32(mem), Cpu: 128,
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(hostPort)}},
		}},
	})
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestTaskLifecycleWithSimulatedAgent(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	// No instance yet: ECS refuses RunTask outright.
	registerWeb(t, c, "web", 256, 0)
	_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("web")})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("run with no instances: %v", err)
	}
	agent := newSimAgent(t, env, "c1", 1024, 1024)
	if got := agent.poll(0); len(got) != 0 {
		t.Fatalf("new instance has tasks: %v", got)
	}

	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("web"), Count: aws.Int32(3),
		StartedBy: aws.String("tester"), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("web"), Environment: []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// 3 x 256 MiB fit in 1024; a 4th would not.
	if len(run.Tasks) != 3 {
		t.Fatalf("placed %d tasks, failures %+v", len(run.Tasks), run.Failures)
	}
	task := run.Tasks[0]
	if aws.ToString(task.LastStatus) != "PROVISIONING" || aws.ToString(task.DesiredStatus) != "RUNNING" ||
		aws.ToString(task.ContainerInstanceArn) != agent.arn || aws.ToString(task.Group) != "family:web" ||
		task.LaunchType != types.LaunchTypeEc2 || aws.ToString(task.Memory) != "256" {
		t.Fatalf("task = %+v", task)
	}
	more, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("web"), Count: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(more.Tasks) != 1 || len(more.Failures) != 1 || aws.ToString(more.Failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Fatalf("over capacity: tasks %d failures %+v", len(more.Tasks), more.Failures)
	}

	got := agent.poll(0)
	if len(got) != 4 || got[0].TaskDefinition.Family != "web" {
		t.Fatalf("agent sees %d tasks", len(got))
	}
	arn := aws.ToString(task.TaskArn)
	exit0 := int32(0)
	for _, st := range []string{"PENDING", "ACTIVATING", "RUNNING"} {
		agent.report(arn, st, "", ecsapi.GantryContainerState{ContainerName: "web", RuntimeId: "abc", Status: map[bool]string{true: "RUNNING", false: "PENDING"}[st == "RUNNING"],
			NetworkBindings: []ecsapi.NetworkBinding{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(32768), BindIP: "0.0.0.0", Protocol: "tcp"}}})
	}
	desc, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: []string{arn, "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.Tasks[0]
	if aws.ToString(d.LastStatus) != "RUNNING" || d.StartedAt == nil || aws.ToString(d.Containers[0].RuntimeId) != "abc" ||
		aws.ToInt32(d.Containers[0].NetworkBindings[0].HostPort) != 32768 || d.Connectivity != types.ConnectivityConnected {
		t.Fatalf("described %+v", d)
	}
	if len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" {
		t.Fatalf("failures %+v", desc.Failures)
	}
	ci, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c1"), ContainerInstances: []string{agent.arn}})
	if err != nil {
		t.Fatal(err)
	}
	inst := ci.ContainerInstances[0]
	if inst.RunningTasksCount != 1 || inst.PendingTasksCount != 3 || !inst.AgentConnected {
		t.Fatalf("instance counts: running %d pending %d connected %v", inst.RunningTasksCount, inst.PendingTasksCount, inst.AgentConnected)
	}
	for _, r := range inst.RemainingResources {
		if aws.ToString(r.Name) == "MEMORY" && r.IntegerValue != 0 {
			t.Fatalf("remaining memory %d", r.IntegerValue)
		}
	}

	// The agent long-polls; StopTask wakes it.
	done := make(chan []ecsapi.GantryAssignedTask)
	go func() { done <- agent.poll(5) }()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn), Reason: aws.String("because")}); err != nil {
		t.Fatal(err)
	}
	woke := <-done
	if time.Since(start) > 2*time.Second {
		t.Fatalf("poll woke after %v", time.Since(start))
	}
	stopped := false
	for _, at := range woke {
		if at.Task.TaskArn == arn && at.Task.DesiredStatus == "STOPPED" {
			stopped = true
		}
	}
	if !stopped {
		t.Fatal("the agent was not told to stop the task")
	}
	for _, st := range []string{"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"} {
		agent.report(arn, st, "", ecsapi.GantryContainerState{ContainerName: "web", Status: "STOPPED", ExitCode: &exit0})
	}
	desc, _ = c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: []string{arn}})
	d = desc.Tasks[0]
	if aws.ToString(d.LastStatus) != "STOPPED" || aws.ToString(d.StoppedReason) != "because" || d.StopCode != types.TaskStopCodeUserInitiated ||
		d.StoppedAt == nil || aws.ToInt32(d.Containers[0].ExitCode) != 0 {
		t.Fatalf("stopped task %+v", d)
	}
	// The instance has its memory back: one more task fits.
	again, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("web")})
	if err != nil || len(again.Tasks) != 1 {
		t.Fatalf("after stop: %v %+v", err, again)
	}

	// ListTasks filters.
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c1"), StartedBy: aws.String("tester")})
	if err != nil || len(list.TaskArns) != 2 {
		t.Fatalf("startedBy filter: %v %v", err, list)
	}
	list, err = c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c1"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil || len(list.TaskArns) != 1 || list.TaskArns[0] != arn {
		t.Fatalf("stopped filter: %v %v", err, list)
	}
	var all []string
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String("c1"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.TaskArns...)
	}
	if len(all) != 4 {
		t.Fatalf("paged %d running tasks", len(all))
	}
	// An essential container exit reported by the agent stops the task
	// with EssentialContainerExited.
	arn2 := aws.ToString(run.Tasks[1].TaskArn)
	agent.report(arn2, "RUNNING", "")
	exit3 := int32(3)
	agent.report(arn2, "STOPPED", "Essential container in task exited", ecsapi.GantryContainerState{ContainerName: "web", Status: "STOPPED", ExitCode: &exit3})
	desc, _ = c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: []string{arn2}})
	if d := desc.Tasks[0]; d.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToInt32(d.Containers[0].ExitCode) != 3 || aws.ToString(d.DesiredStatus) != "STOPPED" {
		t.Fatalf("essential exit: %+v", d)
	}
}

func TestContainerInstancesAPI(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ci")}); err != nil {
		t.Fatal(err)
	}
	a1 := newSimAgent(t, env, "ci", 2048, 4096, ecsapi.Attribute{Name: "ecs.availability-zone", Value: "zone-a"})
	a2 := newSimAgent(t, env, "ci", 2048, 4096, ecsapi.Attribute{Name: "ecs.availability-zone", Value: "zone-b"})
	list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Filter: aws.String("attribute:ecs.availability-zone == zone-b")})
	if err != nil || len(list.ContainerInstanceArns) != 1 || list.ContainerInstanceArns[0] != a2.arn {
		t.Fatalf("filter: %v %+v", err, list)
	}
	_, err = c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Filter: aws.String("attribute:x ==")})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("bad filter: %v", err)
	}
	// DRAINING: nothing new is placed there.
	up, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("ci"), ContainerInstances: []string{a1.arn}, Status: types.ContainerInstanceStatusDraining})
	if err != nil || aws.ToString(up.ContainerInstances[0].Status) != "DRAINING" {
		t.Fatalf("drain: %v", err)
	}
	registerWeb(t, c, "web", 128, 0)
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: aws.String("web"), Count: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range run.Tasks {
		if aws.ToString(tk.ContainerInstanceArn) != a2.arn {
			t.Fatalf("task placed on the draining instance")
		}
	}
	list, _ = c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Status: types.ContainerInstanceStatusDraining})
	if len(list.ContainerInstanceArns) != 1 || list.ContainerInstanceArns[0] != a1.arn {
		t.Fatalf("status filter %+v", list)
	}
	// Deregistering an instance with tasks needs force.
	_, err = c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("ci"), ContainerInstance: aws.String(a2.arn)})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("deregister without force: %v", err)
	}
	dr, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("ci"), ContainerInstance: aws.String(a2.arn), Force: aws.Bool(true)})
	if err != nil || aws.ToString(dr.ContainerInstance.Status) != "INACTIVE" {
		t.Fatalf("force deregister: %v", err)
	}
	desc, _ := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
	if aws.ToString(desc.Tasks[0].DesiredStatus) != "STOPPED" {
		t.Fatalf("task of a deregistered instance still desired RUNNING")
	}
	// Re-registering with the ARN keeps the same instance.
	var out ecsapi.RegisterContainerInstanceResponse
	err = a1.c.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "ci", ContainerInstanceArn: a1.arn,
		TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 2048}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 4096}}}, &out)
	if err != nil || out.ContainerInstance.ContainerInstanceArn != a1.arn || out.ContainerInstance.Status != "DRAINING" {
		t.Fatalf("re-register: %v %+v", err, out.ContainerInstance)
	}
	ep, err := c.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String("ci")})
	if err != nil || aws.ToString(ep.Endpoint) != env.URL {
		t.Fatalf("poll endpoint %v %v", err, ep)
	}
}

// TestConcurrentRunTaskNeverOvercommits runs many RunTask calls at once on
// a small cluster: the instances never hold more than they have.
func TestConcurrentRunTaskNeverOvercommits(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cc")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		newSimAgent(t, env, "cc", 4096, 1000)
	}
	registerWeb(t, c, "small", 100, 0)
	var mu sync.Mutex
	placed := 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cc"), TaskDefinition: aws.String("small"), Count: aws.Int32(3)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			placed += len(out.Tasks)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if placed != 30 {
		t.Fatalf("placed %d tasks, want exactly 30 (3 instances x 10)", placed)
	}
	list, _ := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("cc")})
	desc, _ := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("cc"), ContainerInstances: list.ContainerInstanceArns})
	for _, ci := range desc.ContainerInstances {
		if ci.PendingTasksCount != 10 {
			t.Errorf("%s holds %d tasks", aws.ToString(ci.ContainerInstanceArn), ci.PendingTasksCount)
		}
		for _, r := range ci.RemainingResources {
			if aws.ToString(r.Name) == "MEMORY" && r.IntegerValue != 0 {
				t.Errorf("remaining memory %d", r.IntegerValue)
			}
		}
	}
	_ = fmt.Sprint()
}

// TestRunTaskRefusesWhatTheRuntimeCannotHonour: a member the Docker driver
// cannot honour is refused with a clear error, never silently dropped.
func TestRunTaskRefusesWhatTheRuntimeCannotHonour(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("u")}); err != nil {
		t.Fatal(err)
	}
	newSimAgent(t, env, "u", 1024, 1024)
	// Overrides the driver cannot apply.
	registerWeb(t, c, "web", 64, 0)
	_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("u"), TaskDefinition: aws.String("web"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"),
			EnvironmentFiles: []types.EnvironmentFile{{Type: types.EnvironmentFileTypeS3, Value: aws.String("arn:aws:s3:::b/k.env")}}}}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" || !strings.Contains(ae.ErrorMessage(), "environmentFiles") {
		t.Fatalf("want InvalidParameterException naming environmentFiles, got %v", err)
	}
}

// TestStartTaskAndStateChangeOperations covers StartTask (on named
// instances) and the ECS agent's SubmitTaskStateChange and
// SubmitContainerStateChange through the SDK.
func TestStartTaskAndStateChangeOperations(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("st")}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "st", 1024, 512)
	registerWeb(t, c, "web", 256, 8080)
	out, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("st"), TaskDefinition: aws.String("web"),
		ContainerInstances: []string{a.arn, a.arn, "0123456789abcdef0123456789abcdef"}, Group: aws.String("g1"), StartedBy: aws.String("me"),
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	// The second start on the same instance clashes on static port 8080;
	// the unknown instance is MISSING.
	if len(out.Tasks) != 1 || len(out.Failures) != 2 {
		t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
	}
	reasons := aws.ToString(out.Failures[0].Reason) + " " + aws.ToString(out.Failures[1].Reason)
	if reasons != "RESOURCE:PORTS MISSING" {
		t.Fatalf("failure reasons %q", reasons)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	if aws.ToString(out.Tasks[0].Group) != "g1" {
		t.Fatalf("group %q", aws.ToString(out.Tasks[0].Group))
	}
	if _, err := c.SubmitContainerStateChange(ctx, &ecs.SubmitContainerStateChangeInput{Cluster: aws.String("st"), Task: aws.String(arn),
		ContainerName: aws.String("web"), RuntimeId: aws.String("rid"), Status: aws.String("RUNNING"),
		NetworkBindings: []types.NetworkBinding{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("st"), Task: aws.String(arn),
		Status: aws.String("RUNNING"), PullStartedAt: aws.Time(time.Now().Add(-time.Second))}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("st"), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	tk := d.Tasks[0]
	if aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(tk.Containers[0].RuntimeId) != "rid" || tk.PullStartedAt == nil ||
		len(tk.Tags) != 1 || aws.ToString(tk.Containers[0].LastStatus) != "RUNNING" {
		t.Fatalf("after state changes: %+v", tk)
	}
	// A status going backwards is ignored; an unknown one refused.
	if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("st"), Task: aws.String(arn), Status: aws.String("PENDING")}); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("st"), Tasks: []string{arn}}); aws.ToString(d.Tasks[0].LastStatus) != "RUNNING" {
		t.Fatal("a late PENDING report moved the task backwards")
	}
	_, err = c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("st"), Task: aws.String(arn), Status: aws.String("DANCING")})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("unknown status: %v", err)
	}
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("st"), Family: aws.String("web"), LaunchType: types.LaunchTypeEc2, ContainerInstance: aws.String(a.arn)})
	if err != nil || len(list.TaskArns) != 1 {
		t.Fatalf("family/launchType/instance filters: %v %+v", err, list)
	}
	list, _ = c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("st"), Family: aws.String("other")})
	if len(list.TaskArns) != 0 {
		t.Fatalf("family filter matched %v", list.TaskArns)
	}
}

// TestRunTaskClientToken: the same RunTask sent again with its clientToken
// returns the same tasks instead of starting more.
func TestRunTaskClientToken(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tok")}); err != nil {
		t.Fatal(err)
	}
	newSimAgent(t, env, "tok", 4096, 4096)
	registerWeb(t, c, "web", 64, 0)
	in := &ecs.RunTaskInput{Cluster: aws.String("tok"), TaskDefinition: aws.String("web"), Count: aws.Int32(3), ClientToken: aws.String("once")}
	first, err := c.RunTask(ctx, in)
	if err != nil || len(first.Tasks) != 3 {
		t.Fatalf("first: %v", err)
	}
	again, err := c.RunTask(ctx, in)
	if err != nil || len(again.Tasks) != 3 {
		t.Fatalf("again: %v", err)
	}
	for i := range first.Tasks {
		if aws.ToString(first.Tasks[i].TaskArn) != aws.ToString(again.Tasks[i].TaskArn) {
			t.Fatalf("the retry started new tasks")
		}
	}
	list, _ := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("tok")})
	if len(list.TaskArns) != 3 {
		t.Fatalf("%d tasks", len(list.TaskArns))
	}
	in.Count = aws.Int32(1)
	if _, err := c.RunTask(ctx, in); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("token reused for another request: %v", err)
	}
}
