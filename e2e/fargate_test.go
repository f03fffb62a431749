package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// fargatePool starts n Fargate pool hosts of provider (FARGATE or
// FARGATE_SPOT) on env: real agents, as `gantry agent --capacity-provider
// PROVIDER` starts them, with a spot warning of spotWarning.
func fargatePool(t *testing.T, env *apitest.Env, provider string, n int, spotWarning time.Duration) {
	t.Helper()
	docker := testutil.RequireDocker(t)
	for range n {
		dataDir := t.TempDir()
		id, err := agent.LoadInstanceID(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		// After the harness removes the host's containers (cleanups run
		// last first): the task cgroups of tasks the test left running,
		// which the agent would sweep at its next start.
		t.Cleanup(func() { removeTaskCgroups(id) })
		testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
		cfg := config.DefaultAgent()
		cfg.CapacityProvider = provider
		a, err := agentapp.StartAgent(context.Background(), agent.Config{Server: env.URL, Cluster: cfg.JoinCluster(), DataDir: dataDir,
			Region: apitest.Region, AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey, CPU: 4096, MemoryMiB: 4096,
			AvailabilityZone: "us-east-1a", InstanceType: "gantry.fargate", CleanupDelay: time.Second, CapacityProvider: provider,
			SpotWarning: spotWarning}, agentapp.AgentOptions{}, fargateLogger())
		if err != nil {
			t.Fatalf("start %s pool host: %v", provider, err)
		}
		t.Cleanup(func() { a.Close() })
	}
}

// removeTaskCgroups removes the (empty) task cgroups the runtime made for
// pool host instance on this host, in every hierarchy, and the host's own
// directory of them.
func removeTaskCgroups(instance string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "gantry", instance))
	for _, dir := range dirs {
		tasks, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, task := range tasks {
			if fi, err := os.Stat(task); err == nil && fi.IsDir() {
				for range 20 { // runc may still be removing the containers' own
					if err := syscall.Rmdir(task); err == nil || errors.Is(err, syscall.ENOENT) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		_ = syscall.Rmdir(dir)
	}
}

// fargateLogger is the pool agents' logger: to stderr when FARGATE_DEBUG
// is set.
func fargateLogger() *slog.Logger {
	if os.Getenv("FARGATE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return apitest.Logger()
}

// fargateTaskDef is a Fargate task definition of the test server: awsvpc,
// 256 CPU units and 512 MiB, the container's command cmd (none: serve).
func fargateTaskDef(family, image string, cmd ...string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(image), Essential: aws.Bool(true),
			Command: cmd, PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}}}}
}

// awsvpcConfig is a network configuration for RunTask and CreateService.
var awsvpcConfig = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-e2e"}}}

// TestFargatePoolRunsTasksOfEveryCluster runs FARGATE tasks from two
// clusters on the Fargate pool (real agents started as pool hosts): they
// run, DescribeTasks shows Fargate's members and no container instance,
// the pool's hosts are instances of neither cluster (nor is the pool's
// cluster listed), and a container that allocates more memory than its
// task has is killed by the kernel (OutOfMemoryError).
func TestFargatePoolRunsTasksOfEveryCluster(t *testing.T) {
	t.Parallel()
	image := testutil.TestServerImage(t)
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	fargatePool(t, env, "FARGATE", 1, time.Second)
	clusters := []string{"e2e-fg-a", "e2e-fg-b"}
	for _, name := range clusters {
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "the pool host", func() error {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(config.FargatePoolCluster)})
		if err != nil {
			return err
		}
		if len(l.ContainerInstanceArns) != 1 {
			return fmt.Errorf("%d pool hosts", len(l.ContainerInstanceArns))
		}
		return nil
	})
	td, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("e2e-fg", image))
	if err != nil {
		t.Fatal(err)
	}
	tdARN := td.TaskDefinition.TaskDefinitionArn
	tasks := map[string]string{} // task ARN -> cluster
	for _, name := range clusters {
		run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(name), TaskDefinition: tdARN, LaunchType: types.LaunchTypeFargate,
			PlatformVersion: aws.String("LATEST"), NetworkConfiguration: awsvpcConfig})
		if err != nil {
			t.Fatalf("RunTask in %s: %v", name, err)
		}
		if len(run.Tasks) != 1 {
			t.Fatalf("RunTask in %s: failures %+v", name, run.Failures)
		}
		tasks[aws.ToString(run.Tasks[0].TaskArn)] = name
	}
	for arn, name := range tasks {
		testutil.WaitFor(t, 120*time.Second, "Fargate task RUNNING", func() error {
			d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(name), Tasks: []string{arn}})
			if err != nil {
				return err
			}
			tk := d.Tasks[0]
			if s := aws.ToString(tk.LastStatus); s != "RUNNING" {
				if s == "STOPPED" {
					t.Fatalf("task stopped: %s", aws.ToString(tk.StoppedReason))
				}
				return fmt.Errorf("task is %s", s)
			}
			if tk.LaunchType != types.LaunchTypeFargate || aws.ToString(tk.PlatformVersion) != "1.4.0" || aws.ToString(tk.PlatformFamily) != "Linux" ||
				tk.ContainerInstanceArn != nil || !strings.HasSuffix(aws.ToString(tk.ClusterArn), ":cluster/"+name) {
				t.Fatalf("task: launch type %q, platform %q/%q, instance %q, cluster %q", tk.LaunchType, aws.ToString(tk.PlatformVersion),
					aws.ToString(tk.PlatformFamily), aws.ToString(tk.ContainerInstanceArn), aws.ToString(tk.ClusterArn))
			}
			return nil
		})
	}
	for _, name := range clusters {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.ContainerInstanceArns) != 0 {
			t.Fatalf("cluster %s lists the pool's hosts: %v", name, l.ContainerInstanceArns)
		}
		lt, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(name), LaunchType: types.LaunchTypeFargate})
		if err != nil {
			t.Fatal(err)
		}
		if len(lt.TaskArns) != 1 || tasks[lt.TaskArns[0]] != name {
			t.Fatalf("cluster %s lists tasks %v", name, lt.TaskArns)
		}
	}
	lc, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range lc.ClusterArns {
		if strings.HasSuffix(arn, "/"+config.FargatePoolCluster) {
			t.Fatalf("ListClusters shows the pool's cluster: %v", lc.ClusterArns)
		}
	}
	for arn, name := range tasks {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(name), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}

	// A container that allocates 1 GiB in a task of 512 MiB.
	hog, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("e2e-fg-hog", image, "alloc", "1024"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(clusters[0]), TaskDefinition: hog.TaskDefinition.TaskDefinitionArn,
		LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcConfig})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	testutil.WaitFor(t, 120*time.Second, "the hog killed", func() error {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusters[0]), Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
		if err != nil {
			return err
		}
		tk := d.Tasks[0]
		if aws.ToString(tk.LastStatus) != "STOPPED" {
			return fmt.Errorf("task is %s", aws.ToString(tk.LastStatus))
		}
		if r := aws.ToString(tk.Containers[0].Reason); !strings.HasPrefix(r, "OutOfMemoryError") {
			t.Fatalf("container stopped with reason %q, exit %v; want OutOfMemoryError", r, tk.Containers[0].ExitCode)
		}
		return nil
	})
}

// TestFargateSpotReclamation reclaims a FARGATE_SPOT host that runs a
// service's tasks: they stop with stop code SpotInterruption and ECS's
// reason after SIGTERM, and the service runs its tasks again on the other
// spot host.
func TestFargateSpotReclamation(t *testing.T) {
	t.Parallel()
	image := testutil.TestServerImage(t)
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	fargatePool(t, env, "FARGATE_SPOT", 2, 2*time.Second)
	const cluster = "e2e-spot"
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster),
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}}); err != nil {
		t.Fatal(err)
	}
	pool := aws.String(config.FargatePoolCluster)
	testutil.WaitFor(t, 60*time.Second, "two spot hosts", func() error {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: pool})
		if err != nil {
			return err
		}
		if len(l.ContainerInstanceArns) != 2 {
			return fmt.Errorf("%d pool hosts", len(l.ContainerInstanceArns))
		}
		return nil
	})
	td, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("e2e-spot", image))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("spot"),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(2), NetworkConfiguration: awsvpcConfig,
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	running := func() []types.Task {
		t.Helper()
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String("spot")})
		if err != nil || len(l.TaskArns) == 0 {
			return nil
		}
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: l.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		var out []types.Task
		for _, tk := range d.Tasks {
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				out = append(out, tk)
			}
		}
		return out
	}
	var before []types.Task
	testutil.WaitFor(t, 120*time.Second, "two spot tasks RUNNING", func() error {
		if before = running(); len(before) != 2 {
			return fmt.Errorf("%d tasks running", len(before))
		}
		return nil
	})
	for _, tk := range before {
		if aws.ToString(tk.CapacityProviderName) != "FARGATE_SPOT" || tk.LaunchType != types.LaunchTypeFargate {
			t.Fatalf("task: provider %q launch type %q", aws.ToString(tk.CapacityProviderName), tk.LaunchType)
		}
	}
	// The host that runs tasks of the service is reclaimed.
	l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: pool})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: pool, ContainerInstances: l.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hosts.ContainerInstances, func(a, b types.ContainerInstance) int {
		return int(b.RunningTasksCount - a.RunningTasksCount)
	})
	victim := hosts.ContainerInstances[0]
	if victim.RunningTasksCount == 0 || aws.ToString(victim.CapacityProviderName) != "FARGATE_SPOT" {
		t.Fatalf("spot host %s: %d tasks, provider %q", aws.ToString(victim.ContainerInstanceArn), victim.RunningTasksCount, aws.ToString(victim.CapacityProviderName))
	}
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: pool,
		ContainerInstances: []string{aws.ToString(victim.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 180*time.Second, "interrupted tasks STOPPED with SpotInterruption", func() error {
		arns := make([]string, 0, len(before))
		for _, tk := range before {
			arns = append(arns, aws.ToString(tk.TaskArn))
		}
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
		if err != nil {
			return err
		}
		stopped := 0
		for _, tk := range d.Tasks {
			if tk.StopCode == types.TaskStopCodeSpotInterruption {
				if r := aws.ToString(tk.StoppedReason); r != "Your Spot Task was interrupted." {
					t.Fatalf("stoppedReason %q", r)
				}
				if aws.ToString(tk.LastStatus) != "STOPPED" {
					return fmt.Errorf("interrupted task is %s", aws.ToString(tk.LastStatus))
				}
				stopped++
			}
		}
		if stopped != int(victim.RunningTasksCount) {
			return fmt.Errorf("%d of %d interrupted", stopped, victim.RunningTasksCount)
		}
		return nil
	})
	testutil.WaitFor(t, 180*time.Second, "the service replaced its tasks", func() error {
		now := running()
		if len(now) != 2 {
			return fmt.Errorf("%d tasks running", len(now))
		}
		for _, tk := range now {
			if tk.StopCode != "" || aws.ToString(tk.DesiredStatus) != "RUNNING" {
				return fmt.Errorf("task %s is stopping", aws.ToString(tk.TaskArn))
			}
		}
		return nil
	})
	d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: pool, ContainerInstances: []string{aws.ToString(victim.ContainerInstanceArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if n := d.ContainerInstances[0].RunningTasksCount; n != 0 {
		t.Fatalf("the reclaimed host still runs %d tasks", n)
	}
}

// TestFargateRulesRefused registers task definitions that break each of
// Fargate's rules, and runs tasks that Fargate refuses, through the AWS
// SDK: each gets ECS's error code and message.
func TestFargateRulesRefused(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("e2e-fg-rules")}); err != nil {
		t.Fatal(err)
	}
	const image = "gantry-test/none:latest"
	tdWith := func(change func(*ecs.RegisterTaskDefinitionInput)) *ecs.RegisterTaskDefinitionInput {
		in := fargateTaskDef("e2e-fg-rule", image)
		change(in)
		return in
	}
	wantErr := func(t *testing.T, err error, code, msg string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("got %v, want %s", err, code)
		}
		if ae.ErrorCode() != code || ae.ErrorMessage() != msg {
			t.Fatalf("got %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*ecs.RegisterTaskDefinitionInput)
		msg    string
	}{
		{"bridge network mode", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = types.NetworkModeBridge },
			"Fargate only supports network mode ‘awsvpc’."},
		{"no task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = nil },
			"Fargate requires that 'cpu' be defined at the task level."},
		{"cpu and memory not in the table", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu, in.Memory = aws.String("256"), aws.String("4096") },
			"No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."},
		{"8192 CPU needs 4 GB steps", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu, in.Memory = aws.String("8192"), aws.String("18432") },
			"No Fargate configuration exists for given values: 8192 CPU, 18432 memory. See the Amazon ECS documentation for the valid values."},
		{"host port other than the container port", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(9090)
		}, "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"privileged", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Privileged = aws.Bool(true) },
			"Tasks using the Fargate launch type do not support privileged containers."},
		{"host path volume", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Volumes = []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/var/data")}}}
		}, "Tasks using the Fargate launch type do not support the 'sourcePath' parameter of host volumes."},
		{"GPU", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}}
		}, "Tasks using the Fargate launch type do not support GPU resource requirements."},
		{"ephemeral storage of 20 GiB", func(in *ecs.RegisterTaskDefinitionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{SizeInGiB: 20}
		},
			"The ephemeral storage size must be between 21 and 200 GiB."},
		{"ephemeral storage of 201 GiB", func(in *ecs.RegisterTaskDefinitionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{SizeInGiB: 201}
		},
			"The ephemeral storage size must be between 21 and 200 GiB."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.RegisterTaskDefinition(ctx, tdWith(tc.change))
			wantErr(t, err, "ClientException", tc.msg)
		})
	}

	// At run time: an EC2-only task definition, platform versions.
	ec2, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("e2e-fg-ec2"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64)}}})
	if err != nil {
		t.Fatal(err)
	}
	fg, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("e2e-fg-ok", image))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   ecs.RunTaskInput
		msg  string
	}{
		{"EC2 task definition on FARGATE", ecs.RunTaskInput{TaskDefinition: ec2.TaskDefinition.TaskDefinitionArn, LaunchType: types.LaunchTypeFargate},
			"Task definition does not support launch_type FARGATE."},
		{"EC2 task definition through FARGATE_SPOT", ecs.RunTaskInput{TaskDefinition: ec2.TaskDefinition.TaskDefinitionArn,
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}},
			"The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."},
		{"unknown platform version", ecs.RunTaskInput{TaskDefinition: fg.TaskDefinition.TaskDefinitionArn, LaunchType: types.LaunchTypeFargate,
			PlatformVersion: aws.String("1.3.0")}, "The specified platform version does not exist."},
		{"platform version on EC2", ecs.RunTaskInput{TaskDefinition: ec2.TaskDefinition.TaskDefinitionArn, LaunchType: types.LaunchTypeEc2,
			PlatformVersion: aws.String("LATEST")}, "The platform version must be null when specifying an EC2 launch type."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Cluster = aws.String("e2e-fg-rules")
			_, err := c.RunTask(ctx, &in)
			wantErr(t, err, "InvalidParameterException", tc.msg)
		})
	}
	_, err = c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("e2e-fg-rules"), ServiceName: aws.String("ec2-on-fargate"),
		TaskDefinition: ec2.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1), LaunchType: types.LaunchTypeFargate})
	wantErr(t, err, "InvalidParameterException", "Task definition does not support launch_type FARGATE.")
}
