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

// TestAgentWaitsForItsCluster: an agent started before its cluster exists
// keeps trying and joins once the cluster is created, then runs tasks; an
// agent whose cluster is default creates it, as the ECS agent does.
func TestAgentWaitsForItsCluster(t *testing.T) {
	t.Parallel()
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	start := func(cluster string) {
		t.Helper()
		dataDir := t.TempDir()
		id, err := agent.LoadInstanceID(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
		cfg := agent.Config{Server: env.URL, Cluster: cluster, DataDir: dataDir, Region: apitest.Region,
			AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey,
			CPU: 1024, MemoryMiB: 1024, AvailabilityZone: "us-east-1a", InstanceType: "gantry.test", CleanupDelay: time.Second}
		a, err := agentapp.StartAgent(ctx, cfg, agentapp.AgentOptions{}, apitest.Logger())
		if err != nil {
			t.Fatalf("start agent of %s: %v", cluster, err)
		}
		t.Cleanup(func() { a.Close() })
	}
	instances := func(cluster string) (int, error) {
		out, err := env.Client.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil {
			return 0, err
		}
		return len(out.ContainerInstanceArns), nil
	}

	start("late")
	time.Sleep(time.Second)
	if _, err := instances("late"); err == nil {
		t.Fatal("the cluster exists before it was created")
	}
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("late")}); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	testutil.WaitFor(t, 20*time.Second, "agent joined", func() error {
		n, err := instances("late")
		if err != nil || n != 1 {
			return fmt.Errorf("%d instances: %v", n, err)
		}
		return nil
	})
	t.Logf("joined %v after the cluster was created", time.Since(created))
	td, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("late"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String(image), Memory: aws.Int32(32), Command: []string{"sleep", "30s"}}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := env.Client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("late"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run task: %v %+v", err, run)
	}
	testutil.WaitFor(t, 30*time.Second, "task RUNNING", func() error {
		d, err := env.Client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("late"), Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
		if err != nil || len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].LastStatus) != "RUNNING" {
			return fmt.Errorf("not running: %v", err)
		}
		return nil
	})
	if _, err := env.Client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("late"), Task: run.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}

	// The default cluster is created by its first agent.
	start("default")
	testutil.WaitFor(t, 10*time.Second, "default cluster with its agent", func() error {
		n, err := instances("default")
		if err != nil || n != 1 {
			return fmt.Errorf("%d instances: %v", n, err)
		}
		return nil
	})
}
