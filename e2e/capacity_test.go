package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestCapacityProviderStrategyWithAgents runs tasks through capacity
// providers on real agents (`gantry agent --capacity-provider NAME`):
// RunTask of 10 tasks with base 2 on A and weights 1:3 on A:B lands 4 on
// A's agent and 6 on B's, all RUNNING in Docker; then a service with no
// launch type or strategy runs on the cluster's default strategy (1:1),
// two tasks on each provider, and DescribeServices shows the strategy.
func TestCapacityProviderStrategyWithAgents(t *testing.T) {
	t.Parallel()
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	const cluster = "e2e-cp"
	for _, p := range []string{"e2e-cp-a", "e2e-cp-b"} {
		if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String(p),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(
				"arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:8e1f0b39-0000-4000-8000-000000000000:autoScalingGroupName/" + p)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster), CapacityProviders: []string{"e2e-cp-a", "e2e-cp-b"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("e2e-cp-a"), Weight: 1}, {CapacityProvider: aws.String("e2e-cp-b"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	instanceOf := map[string]string{} // provider -> container instance ARN
	for _, p := range []string{"e2e-cp-a", "e2e-cp-b"} {
		dataDir := t.TempDir()
		id, err := agent.LoadInstanceID(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
		a, err := agentapp.StartAgent(ctx, agent.Config{Server: env.URL, Cluster: cluster, DataDir: dataDir, Region: apitest.Region,
			AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey, CPU: 2048, MemoryMiB: 2048,
			AvailabilityZone: "us-east-1a", InstanceType: "gantry.test", CleanupDelay: time.Second, CapacityProvider: p},
			agentapp.AgentOptions{}, apitest.Logger())
		if err != nil {
			t.Fatalf("start agent of %s: %v", p, err)
		}
		t.Cleanup(func() { a.Close() })
	}
	testutil.WaitFor(t, 30*time.Second, "two instances", func() error {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil {
			return err
		}
		if len(l.ContainerInstanceArns) != 2 {
			return fmt.Errorf("%d instances", len(l.ContainerInstanceArns))
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: l.ContainerInstanceArns})
		if err != nil {
			return err
		}
		for _, ci := range d.ContainerInstances {
			instanceOf[aws.ToString(ci.CapacityProviderName)] = aws.ToString(ci.ContainerInstanceArn)
		}
		return nil
	})
	if instanceOf["e2e-cp-a"] == "" || instanceOf["e2e-cp-b"] == "" {
		t.Fatalf("instances by provider: %v", instanceOf)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("e2e-cp"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(image), Memory: aws.Int32(32), Cpu: 16, Essential: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	tdARN := td.TaskDefinition.TaskDefinitionArn

	// checkTasks waits until tasks are all RUNNING and returns how many
	// each provider has, each on its provider's instance.
	checkTasks := func(arns []string) map[string]int {
		t.Helper()
		var got map[string]int
		testutil.WaitFor(t, 90*time.Second, "tasks RUNNING", func() error {
			d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
			if err != nil {
				return err
			}
			got = map[string]int{}
			for _, tk := range d.Tasks {
				p := aws.ToString(tk.CapacityProviderName)
				if aws.ToString(tk.ContainerInstanceArn) != instanceOf[p] {
					t.Fatalf("task of %q on %s", p, aws.ToString(tk.ContainerInstanceArn))
				}
				if aws.ToString(tk.LastStatus) != "RUNNING" {
					return fmt.Errorf("task %s is %s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus))
				}
				got[p]++
			}
			return nil
		})
		return got
	}

	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: tdARN, Count: aws.Int32(10),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("e2e-cp-a"), Base: 2, Weight: 1}, {CapacityProvider: aws.String("e2e-cp-b"), Weight: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Tasks) != 10 {
		t.Fatalf("%d tasks started, failures %+v", len(run.Tasks), run.Failures)
	}
	var arns []string
	for _, tk := range run.Tasks {
		arns = append(arns, aws.ToString(tk.TaskArn))
	}
	if got := checkTasks(arns); got["e2e-cp-a"] != 4 || got["e2e-cp-b"] != 6 {
		t.Fatalf("RunTask placed %v, want 4 on A and 6 on B", got)
	}
	for _, arn := range arns {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}

	// A service on the cluster's default strategy.
	svc, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("cp-web"),
		TaskDefinition: tdARN, DesiredCount: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if s := svc.Service; s.LaunchType != "" || len(s.CapacityProviderStrategy) != 2 || len(s.Deployments) != 1 || len(s.Deployments[0].CapacityProviderStrategy) != 2 {
		t.Fatalf("service: launch type %q, strategy %+v", s.LaunchType, s.CapacityProviderStrategy)
	}
	var svcTasks []string
	testutil.WaitFor(t, 60*time.Second, "four service tasks", func() error {
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String("cp-web")})
		if err != nil {
			return err
		}
		if len(l.TaskArns) != 4 {
			return fmt.Errorf("%d tasks", len(l.TaskArns))
		}
		svcTasks = l.TaskArns
		return nil
	})
	if got := checkTasks(svcTasks); got["e2e-cp-a"] != 2 || got["e2e-cp-b"] != 2 {
		t.Fatalf("service placed %v, want 2 and 2", got)
	}
	if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String("cp-web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}
