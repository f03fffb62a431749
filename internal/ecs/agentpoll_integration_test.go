package ecs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestPollFromViews: an agent's polls are answered from the placement
// views. A waiting poll wakes when a task is placed on its instance, and
// omitTasks answers the ARNs without the payloads.
func TestPollFromViews(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("poll")}); err != nil {
		t.Fatal(err)
	}
	registerWeb(t, env.Client, "pollweb", 64, 0)
	a := newSimAgent(t, env, "poll", 1024, 1024)
	if got := a.poll(0); len(got) != 0 {
		t.Fatalf("first poll: %d tasks, want 0", len(got))
	}

	type answer struct {
		tasks []ecsapi.GantryAssignedTask
		took  time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		tasks := a.poll(5)
		done <- answer{tasks, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond) // the poll is waiting
	out, err := env.Client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("poll"), TaskDefinition: aws.String("pollweb"), Count: aws.Int32(2)})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("run task: %v %+v", err, out)
	}
	got := <-done
	if got.took > 3*time.Second {
		t.Fatalf("waiting poll answered after %v: the placement did not wake it", got.took)
	}
	// The poll may wake on the first of the two assignments only when they
	// are in separate revisions; they are written in one transaction.
	if len(got.tasks) != 2 {
		t.Fatalf("woken poll: %d tasks, want 2", len(got.tasks))
	}
	if got.tasks[0].TaskDefinition.Family != "pollweb" {
		t.Fatalf("task definition not included: %+v", got.tasks[0].TaskDefinition)
	}

	// Nothing changed: a poll with the revision has no task in full.
	if tasks := a.poll(0); len(tasks) != 0 {
		t.Fatalf("unchanged poll: %d tasks in full, want 0", len(tasks))
	}
	// omitTasks without revision: every ARN, no payload.
	var hb ecsapi.GantryPollTasksResponse
	if err := a.c.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "poll", ContainerInstance: a.arn, OmitTasks: true}, &hb); err != nil {
		t.Fatal(err)
	}
	if len(hb.TaskArns) != 2 || len(hb.Tasks) != 0 || hb.InstanceStatus != "ACTIVE" {
		t.Fatalf("omitTasks answer: %d ARNs, %d tasks, status %q; want 2, 0, ACTIVE", len(hb.TaskArns), len(hb.Tasks), hb.InstanceStatus)
	}

	// StopTask changes the desired status: the waiting poll wakes with it.
	go func() {
		start := time.Now()
		tasks := a.poll(5)
		done <- answer{tasks, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := env.Client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("poll"), Task: out.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	got = <-done
	if got.took > 3*time.Second || len(got.tasks) != 1 || got.tasks[0].Task.DesiredStatus != "STOPPED" {
		t.Fatalf("after StopTask: %d tasks after %v, want the stopped one at once", len(got.tasks), got.took)
	}
}

// TestHeartbeatsDoNotWrite: after an agent's first call, its polls write
// nothing to etcd: nothing under the store's prefix changes (its
// connected key keeps its revision) and the agent stays connected.
func TestHeartbeatsDoNotWrite(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("hb")}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "hb", 1024, 1024)
	a.poll(0)
	st := env.Server.ECS.Store
	before, err := st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		a.poll(0)
	}
	// Whatever else the server did meanwhile (its controller's election,
	// say), nothing of the cluster's agents, instances or tasks was written.
	for _, kind := range []string{"connected", "instances", "tasks"} {
		items, err := st.List(ctx, store.Key(kind, "hb")+"/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.ModRev > before {
				t.Fatalf("50 heartbeats wrote %s (%s)", kind, it.Key)
			}
		}
	}
	if !connected(t, env, "hb", a.arn) {
		t.Fatal("agent not connected after its heartbeats")
	}
}

// TestAgentTakenOverByAnotherServer: an agent that moves from one server to
// another and back stays connected, though the other server, no longer
// hearing from it, removes the connection it recorded.
func TestAgentTakenOverByAnotherServer(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("takeover")}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "takeover", 1024, 1024)
	other := &gantryecs.API{Store: env.Server.ECS.Store, Region: env.Server.ECS.Region,
		Account: env.Server.ECS.Account, Logger: apitest.Logger()}
	startState(t, other)
	in := &ecsapi.GantryPollTasksRequest{Cluster: "takeover", ContainerInstance: a.arn, OmitTasks: true}
	if _, err := other.GantryPollTasks(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Back on the first server only, for longer than the other's TTL.
	deadline := time.Now().Add(gantryecs.AgentTTL + 3*time.Second)
	for time.Now().Before(deadline) {
		a.poll(0)
		time.Sleep(500 * time.Millisecond)
		if !connected(t, env, "takeover", a.arn) {
			t.Fatal("agent disconnected while it polls the first server")
		}
	}
}

// connected reports whether DescribeContainerInstances shows the agent of
// arn connected.
func connected(t *testing.T, env *apitest.Env, cluster, arn string) bool {
	t.Helper()
	out, err := env.Client.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe instance: %v", err)
	}
	return out.ContainerInstances[0].AgentConnected
}

// startState gives s a live state of its own, running until the test ends.
func startState(t *testing.T, s *gantryecs.API) {
	s.State = state.New(s.StateConfig())
	ctx, cancel := context.WithCancel(context.Background())
	s.State.Run(ctx)
	t.Cleanup(func() {
		cancel()
		s.State.Wait()
	})
}

// TestPollAppliesDefaultLogDriverMode: an awslogs container without a
// mode option reaches its agent with the account's defaultLogDriverMode
// (non-blocking, ECS's default since June 2025; blocking once the account
// default says so); a mode the definition gives is kept, and the task
// definition itself is not changed.
func TestPollAppliesDefaultLogDriverMode(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("modes")}); err != nil {
		t.Fatal(err)
	}
	logs := func(opts map[string]string) *types.LogConfiguration {
		opts["awslogs-group"], opts["awslogs-region"] = "/modes", apitest.Region
		return &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: opts}
	}
	if _, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("modes"), ContainerDefinitions: []types.ContainerDefinition{
		{Name: aws.String("unset"), Image: aws.String("busybox"), Memory: aws.Int32(32), LogConfiguration: logs(map[string]string{})},
		{Name: aws.String("blocking"), Image: aws.String("busybox"), Memory: aws.Int32(32), LogConfiguration: logs(map[string]string{"mode": "blocking"})},
		{Name: aws.String("plain"), Image: aws.String("busybox"), Memory: aws.Int32(32)},
	}}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "modes", 1024, 1024, ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.logging-driver.awslogs"},
		ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"}, ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.19"})
	a.poll(0)
	modes := func() map[string]string {
		t.Helper()
		if out, err := env.Client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("modes"), TaskDefinition: aws.String("modes")}); err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run task: %v %+v", err, out)
		}
		tasks := a.poll(5)
		if len(tasks) != 1 {
			t.Fatalf("poll: %d tasks", len(tasks))
		}
		got := map[string]string{}
		for _, c := range tasks[0].TaskDefinition.ContainerDefinitions {
			if c.LogConfiguration != nil {
				got[c.Name] = c.LogConfiguration.Options["mode"]
			} else {
				got[c.Name] = "(no log configuration)"
			}
		}
		return got
	}
	if got := modes(); got["unset"] != "non-blocking" || got["blocking"] != "blocking" || got["plain"] != "(no log configuration)" {
		t.Fatalf("default modes: %v", got)
	}
	if _, err := env.Client.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "defaultLogDriverMode", Value: aws.String("blocking")}); err != nil {
		t.Fatal(err)
	}
	if got := modes(); got["unset"] != "blocking" || got["blocking"] != "blocking" {
		t.Fatalf("modes with the account default blocking: %v", got)
	}
	td, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("modes")})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := td.TaskDefinition.ContainerDefinitions[0].LogConfiguration.Options["mode"]; ok {
		t.Fatalf("the task definition was changed: mode %q", m)
	}
}
