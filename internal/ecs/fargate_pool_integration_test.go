package ecs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	gecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestFargatePoolHostCallsActOnTheTaskCluster: a Fargate pool host's
// agent calls with the pool's cluster (its own), naming its tasks by ARN;
// the usage it reports of a FARGATE task lands under the task's cluster and
// service, and the task protection it asks for (the task metadata
// endpoint's) acts on the task in its own cluster.
func TestFargatePoolHostCallsActOnTheTaskCluster(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	rec := &recorder{}
	env.Server.SetMetricsRecorder(rec)
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("fgu")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("fgburn"), Cpu: aws.String("256"), Memory: aws.String("512"), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		ContainerDefinitions:    []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Essential: aws.Bool(true)}},
	}); err != nil {
		t.Fatal(err)
	}
	host := newSimAgent(t, env, gecs.FargatePoolCluster, 4096, 4096, ecsapi.Attribute{Name: gecs.CapacityProviderAttribute, Value: gecs.ProviderFargate},
		ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.network-mode.awsvpc"}, ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
		ecsapi.Attribute{Name: "ecs.capability.task-eni"})
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("fgu"), TaskDefinition: aws.String("fgburn"),
		LaunchType: types.LaunchTypeFargate, Group: aws.String("service:web"),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		for _, f := range out.Failures {
			t.Errorf("failure: %s %s", aws.ToString(f.Reason), aws.ToString(f.Detail))
		}
		t.Fatalf("run task: %d tasks", len(out.Tasks))
	}
	task := aws.ToString(out.Tasks[0].TaskArn)
	if got := host.poll(0); len(got) != 1 {
		t.Fatalf("the pool host polled %d tasks", len(got))
	}
	host.report(task, "RUNNING", "", ecsapi.GantryContainerState{ContainerName: "app", Status: "RUNNING"})
	env.Server.State.Views.SyncNow(ctx)

	at := time.Now()
	var resp ecsapi.GantryPutTaskMetricsResponse
	if err := host.c.Call(ctx, "GantryPutTaskMetrics", &ecsapi.GantryPutTaskMetricsRequest{Cluster: gecs.FargatePoolCluster,
		ContainerInstance: host.arn, Timestamp: ecsapi.NewTimestamp(at), PeriodSeconds: 10,
		Tasks: []ecsapi.GantryTaskMetrics{{Task: task, Family: "fgburn", CpuUsed: 128, MemoryUsedMiB: 128, Containers: 1}}}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 1 {
		t.Fatalf("accepted %d of 1", resp.Accepted)
	}
	env.Server.Usage.Flush(ctx, at.Add(time.Hour))
	d := rec.find("AWS/ECS", "CPUUtilization", "ClusterName", "fgu", "ServiceName", "web")
	if len(d) != 1 || *d[0].StatisticValues.Sum != 50 {
		t.Fatalf("CPUUtilization of fgu/web = %+v, want one datum of 50", d)
	}
	if d := rec.find("AWS/ECS", "CPUUtilization", "ClusterName", gecs.FargatePoolCluster, "ServiceName", "web"); len(d) != 0 {
		t.Fatalf("the usage landed under the pool's cluster: %+v", d)
	}

	var up ecsapi.UpdateTaskProtectionResponse
	if err := host.c.Call(ctx, "UpdateTaskProtection", &ecsapi.UpdateTaskProtectionRequest{Cluster: gecs.FargatePoolCluster,
		ProtectionEnabled: true, Tasks: []string{task}}, &up); err != nil {
		t.Fatal(err)
	}
	if len(up.ProtectedTasks) != 1 || !up.ProtectedTasks[0].ProtectionEnabled || up.ProtectedTasks[0].TaskArn != task {
		t.Fatalf("UpdateTaskProtection from the pool host: %+v", up)
	}
	g, err := c.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String("fgu"), Tasks: []string{task}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.ProtectedTasks) != 1 || !g.ProtectedTasks[0].ProtectionEnabled {
		t.Fatalf("the task's own cluster does not see its protection: %+v", g)
	}
	var get ecsapi.GetTaskProtectionResponse
	if err := host.c.Call(ctx, "GetTaskProtection", &ecsapi.GetTaskProtectionRequest{Cluster: gecs.FargatePoolCluster,
		Tasks: []string{task}}, &get); err != nil {
		t.Fatal(err)
	}
	if len(get.ProtectedTasks) != 1 || !get.ProtectedTasks[0].ProtectionEnabled {
		t.Fatalf("GetTaskProtection from the pool host: %+v", get)
	}
}
