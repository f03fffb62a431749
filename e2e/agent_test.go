package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

func TestWebTaskReachableThenStopped(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	task := c.run(td)
	arn := aws.ToString(task.TaskArn)
	running := c.waitStatus(arn, "RUNNING", 30*time.Second)
	ct := running.Containers[0]
	if aws.ToString(ct.RuntimeId) == "" || len(ct.NetworkBindings) == 0 || running.StartedAt == nil || running.PullStartedAt == nil {
		t.Fatalf("running task lacks runtime details: %+v", running)
	}
	port := aws.ToInt32(ct.NetworkBindings[0].HostPort)
	if port == 0 || port == 8080 {
		t.Fatalf("want a dynamic host port, got %d", port)
	}
	testutil.WaitFor(t, 10*time.Second, "web answers", func() error {
		code, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		return err
	})
	ci, _ := c.ecs.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(c.name),
		ContainerInstances: []string{aws.ToString(running.ContainerInstanceArn)}})
	if n := ci.ContainerInstances[0].RunningTasksCount; n != 1 {
		t.Fatalf("runningTasksCount %d", n)
	}
	start := time.Now()
	if _, err := c.ecs.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn), Reason: aws.String("test over")}); err != nil {
		t.Fatal(err)
	}
	stopped := c.waitStatus(arn, "STOPPED", 40*time.Second)
	t.Logf("stopped in %v", time.Since(start))
	if stopped.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(stopped.StoppedReason) != "test over" ||
		stopped.StoppedAt == nil || stopped.ExecutionStoppedAt == nil || aws.ToInt32(stopped.Containers[0].ExitCode) != 0 {
		t.Fatalf("stopped task %+v", stopped)
	}
	if _, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Fatal("the web server still answers after the task stopped")
	}
}

func TestEssentialContainerExitStopsTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	side := webContainer("side", c.image)
	side.Essential = aws.Bool(false)
	side.PortMappings = nil
	main := types.ContainerDefinition{Name: aws.String("main"), Image: aws.String(c.image), Memory: aws.Int32(32),
		// Long enough for the side container to handle SIGTERM (as PID 1
		// it ignores the signal until its handler is installed, and a
		// loaded machine can take seconds to get there).
		Command: []string{"sleep", "4s", "3"}}
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("exits"),
		ContainerDefinitions: []types.ContainerDefinition{main, side}})
	arn := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(arn, "STOPPED", 40*time.Second)
	if got.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(got.StoppedReason) != "Essential container in task exited" {
		t.Fatalf("stop code %s reason %q", got.StopCode, aws.ToString(got.StoppedReason))
	}
	codes := map[string]int32{}
	for _, ct := range got.Containers {
		codes[aws.ToString(ct.Name)] = aws.ToInt32(ct.ExitCode)
		if ct.ExitCode == nil {
			t.Fatalf("container %s has no exit code", aws.ToString(ct.Name))
		}
	}
	if codes["main"] != 3 || codes["side"] != 0 {
		t.Fatalf("exit codes %v", codes)
	}
	// A non-essential container may exit alone.
	side2 := side
	side2.Command = []string{"exit", "0"}
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("sidecar-exits"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image), side2}})
	arn = aws.ToString(c.run(td).TaskArn)
	c.waitStatus(arn, "RUNNING", 30*time.Second)
	time.Sleep(2 * time.Second)
	if st := c.describe(arn); aws.ToString(st.LastStatus) != "RUNNING" {
		t.Fatalf("task stopped when a non-essential container exited: %s", aws.ToString(st.StoppedReason))
	}
}

func TestDependsOnOrder(t *testing.T) {
	t.Parallel()
	// The stopped containers are inspected: keep them (the cleanup
	// removes them at the end).
	c := newCluster(t, clusterOptions{cleanupDelay: time.Minute})
	ctx := context.Background()
	initC := types.ContainerDefinition{Name: aws.String("init"), Image: aws.String(c.image), Memory: aws.Int32(32),
		Essential: aws.Bool(false), Command: []string{"sleep", "1500ms", "0"}}
	web := webContainer("web", c.image)
	web.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("init"), Condition: types.ContainerConditionSuccess}}
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ordered"),
		ContainerDefinitions: []types.ContainerDefinition{web, initC}})
	arn := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(arn, "RUNNING", 30*time.Second)
	ids := map[string]string{}
	for _, ct := range got.Containers {
		ids[aws.ToString(ct.Name)] = aws.ToString(ct.RuntimeId)
	}
	initInfo, err := c.docker.ContainerInspect(ctx, ids["init"])
	if err != nil {
		t.Fatal(err)
	}
	webInfo, err := c.docker.ContainerInspect(ctx, ids["web"])
	if err != nil {
		t.Fatal(err)
	}
	finished, _ := time.Parse(time.RFC3339Nano, initInfo.State.FinishedAt)
	started, _ := time.Parse(time.RFC3339Nano, webInfo.State.StartedAt)
	if initInfo.State.ExitCode != 0 || !started.After(finished) {
		t.Fatalf("web started %v, init finished %v (exit %d)", started, finished, initInfo.State.ExitCode)
	}
	// A SUCCESS dependency that fails stops the task before its dependent starts.
	bad := initC
	bad.Command = []string{"exit", "7"}
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ordered-bad"),
		ContainerDefinitions: []types.ContainerDefinition{web, bad}})
	arn = aws.ToString(c.run(td).TaskArn)
	got = c.waitStatus(arn, "STOPPED", 30*time.Second)
	if got.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(got.StoppedReason), "init") {
		t.Fatalf("failed dependency: %s %q", got.StopCode, aws.ToString(got.StoppedReason))
	}

	// Stopping goes in reverse: app (which depends on db and ignores
	// SIGTERM, so it takes its 2s stopTimeout) stops before db does.
	db := webContainer("db", c.image)
	db.PortMappings = nil
	app := webContainer("app", c.image)
	app.PortMappings = nil
	app.Environment = []types.KeyValuePair{{Name: aws.String("IGNORE_SIGTERM"), Value: aws.String("1")}}
	app.StopTimeout = aws.Int32(2)
	app.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("db"), Condition: types.ContainerConditionStart}}
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ordered-stop"), ContainerDefinitions: []types.ContainerDefinition{app, db}})
	arn = aws.ToString(c.run(td).TaskArn)
	got = c.waitStatus(arn, "RUNNING", 30*time.Second)
	ids = map[string]string{}
	for _, ct := range got.Containers {
		ids[aws.ToString(ct.Name)] = aws.ToString(ct.RuntimeId)
	}
	if _, err := c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(arn, "STOPPED", 30*time.Second)
	finishedAt := func(name string) time.Time {
		info, err := c.docker.ContainerInspect(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		at, _ := time.Parse(time.RFC3339Nano, info.State.FinishedAt)
		return at
	}
	if appAt, dbAt := finishedAt("app"), finishedAt("db"); dbAt.Before(appAt) {
		t.Fatalf("db stopped at %v, before app (which depends on it) at %v", dbAt, appAt)
	}
}

func TestFailingHealthCheck(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	web := webContainer("web", c.image)
	web.Environment = []types.KeyValuePair{{Name: aws.String("UNHEALTHY"), Value: aws.String("1")}}
	web.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "/app", "check", "http://127.0.0.1:8080/health"},
		Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1), StartPeriod: aws.Int32(0)}
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("sick"), ContainerDefinitions: []types.ContainerDefinition{web}})
	arn := aws.ToString(c.run(td).TaskArn)
	c.waitStatus(arn, "RUNNING", 30*time.Second)
	testutil.WaitFor(t, 30*time.Second, "task UNHEALTHY", func() error {
		got := c.describe(arn)
		if got.HealthStatus != types.HealthStatusUnhealthy || got.Containers[0].HealthStatus != types.HealthStatusUnhealthy {
			return fmt.Errorf("task %s, container %s", got.HealthStatus, got.Containers[0].HealthStatus)
		}
		return nil
	})
}

func TestMissingImageFailsToStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("nope"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", "gantry-test/does-not-exist:1")}})
	arn := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(arn, "STOPPED", 60*time.Second)
	if got.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(got.StoppedReason), "CannotPullContainerError") {
		t.Fatalf("stop code %s reason %q", got.StopCode, aws.ToString(got.StoppedReason))
	}
	if !strings.HasPrefix(aws.ToString(got.Containers[0].Reason), "CannotPullContainerError") {
		t.Fatalf("container reason %q", aws.ToString(got.Containers[0].Reason))
	}
}

func TestAgentRestartKeepsContainers(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("keep"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	arn := aws.ToString(c.run(td).TaskArn)
	before := c.waitStatus(arn, "RUNNING", 30*time.Second)
	id := aws.ToString(before.Containers[0].RuntimeId)
	info, _ := c.docker.ContainerInspect(ctx, id)
	instance := c.agent.Agent.ContainerInstanceArn()
	if err := c.agent.Close(); err != nil {
		t.Fatal(err)
	}
	c.startAgent(clusterOptions{})
	if got := c.agent.Agent.ContainerInstanceArn(); got != instance {
		t.Fatalf("restarted agent registered as %s, was %s", got, instance)
	}
	list, _ := c.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(c.name)})
	if len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("%d instances after the restart", len(list.ContainerInstanceArns))
	}
	time.Sleep(2 * time.Second)
	after := c.describe(arn)
	info2, err := c.docker.ContainerInspect(ctx, id)
	if err != nil || !info2.State.Running || info2.State.StartedAt != info.State.StartedAt || aws.ToString(after.LastStatus) != "RUNNING" {
		t.Fatalf("after the agent restart: %v running=%v started %s vs %s, task %s", err, info2.State.Running, info2.State.StartedAt, info.State.StartedAt, aws.ToString(after.LastStatus))
	}
	mine := 0
	all, _ := c.docker.ContainerList(ctx, containerListAll())
	for _, ct := range all {
		if ct.Labels["com.amazonaws.ecs.task-arn"] == arn {
			mine++
		}
	}
	if mine != 1 {
		t.Fatalf("%d containers for the task after the restart", mine)
	}
	// The adopted task is still managed: stopping it works.
	c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)})
	c.waitStatus(arn, "STOPPED", 40*time.Second)
}

func TestServerRestartKeepsContainers(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("keep"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	arn := aws.ToString(c.run(td).TaskArn)
	before := c.waitStatus(arn, "RUNNING", 30*time.Second)
	id := aws.ToString(before.Containers[0].RuntimeId)
	info, _ := c.docker.ContainerInspect(ctx, id)
	c.env.Restart(t)
	time.Sleep(time.Second)
	info2, err := c.docker.ContainerInspect(ctx, id)
	if err != nil || !info2.State.Running || info2.State.StartedAt != info.State.StartedAt {
		t.Fatalf("container changed across the server restart: %v", err)
	}
	if got := c.describe(arn); aws.ToString(got.LastStatus) != "RUNNING" {
		t.Fatalf("task %s after the server restart", aws.ToString(got.LastStatus))
	}
	testutil.WaitFor(t, 20*time.Second, "agent reconnected", func() error {
		out, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(c.name),
			ContainerInstances: []string{aws.ToString(before.ContainerInstanceArn)}})
		if err != nil || !out.ContainerInstances[0].AgentConnected {
			return fmt.Errorf("not connected: %v", err)
		}
		return nil
	})
	c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)})
	c.waitStatus(arn, "STOPPED", 40*time.Second)
}

func TestAWSVPCTaskHasItsOwnAddress(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	web := webContainer("web", c.image)
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(8080)}}
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("vpc"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{web}})
	arn := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(arn, "RUNNING", 30*time.Second)
	ip := ""
	for _, a := range got.Attachments {
		if aws.ToString(a.Type) == "ElasticNetworkInterface" {
			for _, d := range a.Details {
				if aws.ToString(d.Name) == "privateIPv4Address" {
					ip = aws.ToString(d.Value)
				}
			}
		}
	}
	if ip == "" {
		t.Fatalf("no ENI attachment: %+v", got.Attachments)
	}
	testutil.WaitFor(t, 10*time.Second, "task answers on its own address", func() error {
		_, err := get("http://" + ip + ":8080/")
		return err
	})
}

func TestContainersOfForgottenTasksAreStopped(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("forgotten"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	arn := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(arn, "RUNNING", 30*time.Second)
	id := aws.ToString(got.Containers[0].RuntimeId)
	if err := c.agent.Close(); err != nil {
		t.Fatal(err)
	}
	// The control plane forgets the task (as after its record expired).
	if _, err := c.env.Server.ECS.Store.Txn(ctx, nil, store.OpDeletePrefix(store.Key("tasks"))); err != nil {
		t.Fatal(err)
	}
	c.startAgent(clusterOptions{})
	testutil.WaitFor(t, 30*time.Second, "orphan stopped", func() error {
		info, err := c.docker.ContainerInspect(ctx, id)
		if err != nil {
			return nil // removed
		}
		if info.State.Running {
			return errors.New("still running")
		}
		return nil
	})
}

func TestAgentWithBadCredentialsIsRefused(t *testing.T) {
	t.Parallel()
	testutil.RequireDocker(t)
	env := apitest.Start(t, apitest.Options{})
	cfg := agent.Config{Server: env.URL, Cluster: "default", DataDir: t.TempDir(), Region: apitest.Region,
		AccessKeyID: apitest.AccessKeyID, SecretAccessKey: "wrong", CPU: 1024, MemoryMiB: 1024}
	_, err := agentapp.StartAgent(context.Background(), cfg, agentapp.AgentOptions{}, apitest.Logger())
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("want the agent refused, got %v", err)
	}
}

// TestStopTaskKillsAfterStopTimeout: a container that ignores SIGTERM is
// killed after its definition's stopTimeout, or, without one, after the
// agent's --container-stop-timeout (here 3s instead of ECS's 30s).
func TestStopTaskKillsAfterStopTimeout(t *testing.T) {
	c := newCluster(t, clusterOptions{stopTimeout: 3 * time.Second})
	web := webContainer("web", c.image)
	web.Environment = []types.KeyValuePair{{Name: aws.String("IGNORE_SIGTERM"), Value: aws.String("1")}}
	web.StopTimeout = aws.Int32(2)
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("stubborn"), ContainerDefinitions: []types.ContainerDefinition{web}})
	arn := aws.ToString(c.run(td).TaskArn)
	c.waitStatus(arn, "RUNNING", 30*time.Second)
	start := time.Now()
	if _, err := c.ecs.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	got := c.waitStatus(arn, "STOPPED", 30*time.Second)
	took := time.Since(start)
	if took < 2*time.Second || took > 8*time.Second || aws.ToInt32(got.Containers[0].ExitCode) != 137 {
		t.Fatalf("stopped after %v with exit code %d; want SIGKILL (137) after the 2s stopTimeout", took, aws.ToInt32(got.Containers[0].ExitCode))
	}
	// No stopTimeout in the definition: the agent's default.
	web.StopTimeout = nil
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("stubborn-default"), ContainerDefinitions: []types.ContainerDefinition{web}})
	arn = aws.ToString(c.run(td).TaskArn)
	c.waitStatus(arn, "RUNNING", 30*time.Second)
	start = time.Now()
	if _, err := c.ecs.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	got = c.waitStatus(arn, "STOPPED", 30*time.Second)
	took = time.Since(start)
	if took < 3*time.Second || took > 10*time.Second || aws.ToInt32(got.Containers[0].ExitCode) != 137 {
		t.Fatalf("stopped after %v with exit code %d; want SIGKILL (137) after the agent's 3s stop timeout", took, aws.ToInt32(got.Containers[0].ExitCode))
	}
}

// TestTwoAgentsShareOneDockerEngine: each agent is its own instance and
// owns only its containers; an agent that stops is seen as disconnected
// within seconds, and its restart leaves the other's tasks alone.
func TestTwoAgentsShareOneDockerEngine(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	second := &cluster{t: t, env: c.env, ecs: c.ecs, docker: c.docker, name: c.name, dataDir: t.TempDir(), image: c.image}
	id2, _ := agent.LoadInstanceID(second.dataDir)
	testutil.CleanupLabelled(t, c.docker, "dev.gantry.instance="+id2)
	second.startAgent(clusterOptions{cleanupDelay: time.Second})
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("pair"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	out, err := c.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(c.name), TaskDefinition: aws.String(td), Count: aws.Int32(2),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"),
			Environment: []types.KeyValuePair{{Name: aws.String("WHO"), Value: aws.String("override")}}}}}})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("run 2 distinct: %v %+v", err, out)
	}
	if aws.ToString(out.Tasks[0].ContainerInstanceArn) == aws.ToString(out.Tasks[1].ContainerInstanceArn) {
		t.Fatal("distinctInstance placed both tasks on one instance")
	}
	var onSecond types.Task
	for _, tk := range out.Tasks {
		got := c.waitStatus(aws.ToString(tk.TaskArn), "RUNNING", 30*time.Second)
		if aws.ToString(got.ContainerInstanceArn) == second.agent.Agent.ContainerInstanceArn() {
			onSecond = got
		}
		// The environment override reached the container.
		info, err := c.docker.ContainerInspect(ctx, aws.ToString(got.Containers[0].RuntimeId))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range info.Config.Env {
			found = found || e == "WHO=override"
		}
		if !found {
			t.Fatalf("override missing from the container's environment: %v", info.Config.Env)
		}
	}
	// Stop the second agent: its instance shows disconnected within seconds,
	// its container keeps running, the first agent's task is untouched.
	if err := second.agent.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.WaitFor(t, 20*time.Second, "agentConnected false", func() error {
		d, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(c.name),
			ContainerInstances: []string{second.agent.Agent.ContainerInstanceArn()}})
		if err != nil || d.ContainerInstances[0].AgentConnected {
			return fmt.Errorf("still connected (%v)", err)
		}
		return nil
	})
	t.Logf("disconnection seen after %v", time.Since(start))
	info, err := c.docker.ContainerInspect(ctx, aws.ToString(onSecond.Containers[0].RuntimeId))
	if err != nil || !info.State.Running {
		t.Fatalf("the stopped agent's container did not keep running: %v", err)
	}
	// With the second agent gone, a stop of its task waits for it; the
	// first agent's task stops and its containers are removed after the
	// cleanup delay.
	for _, tk := range out.Tasks {
		if aws.ToString(tk.TaskArn) == aws.ToString(onSecond.TaskArn) {
			continue
		}
		arn := aws.ToString(tk.TaskArn)
		got := c.describe(arn)
		c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)})
		c.waitStatus(arn, "STOPPED", 30*time.Second)
		testutil.WaitFor(t, 15*time.Second, "stopped task's container removed", func() error {
			if _, err := c.docker.ContainerInspect(ctx, aws.ToString(got.Containers[0].RuntimeId)); err == nil {
				return errors.New("container still there")
			}
			return nil
		})
	}
	if got := c.describe(aws.ToString(onSecond.TaskArn)); aws.ToString(got.LastStatus) != "RUNNING" {
		t.Fatalf("the other agent's task is %s", aws.ToString(got.LastStatus))
	}
}
