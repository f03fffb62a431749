package ecs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestTasksWaitInProvisioning: with no instance at all, RunTask through a
// provider with managed scaling ENABLED answers its tasks waiting in
// PROVISIONING on no instance (no failures), while a provider without
// managed scaling answers ECS's "No Container Instances" error; StopTask
// of a waiting task stops it at once; the waiting tasks are listed as
// desired RUNNING; managed scaling (with no provisioner) publishes
// CapacityProviderReservation 200 (tasks waiting, no instance) in
// AWS/ECS/ManagedScaling.
func TestTasksWaitInProvisioning(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	env := apitest.Start(t, apitest.Options{Configure: func(c *config.Server) { c.ManagedScalingInterval = 200 * time.Millisecond }})
	c := env.Client
	ctx := context.Background()
	if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("managed"),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("managed")),
			ManagedScaling: &types.ManagedScaling{Status: types.ManagedScalingStatusEnabled}}}); err != nil {
		t.Fatal(err)
	}
	createProvider(t, c, "unmanaged")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prov"), CapacityProviders: []string{"managed", "unmanaged"}}); err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("prov"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)}}})
	if err != nil {
		t.Fatal(err)
	}
	tdArn := td.TaskDefinition.TaskDefinitionArn
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prov"), TaskDefinition: tdArn,
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("unmanaged"), Weight: 1}}})
	if err == nil {
		t.Fatal("RunTask on a provider without managed scaling and no instance succeeded")
	}
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prov"), TaskDefinition: tdArn, Count: aws.Int32(2),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("managed"), Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 2 || len(out.Failures) != 0 {
		t.Fatalf("RunTask: %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	for _, tk := range out.Tasks {
		if aws.ToString(tk.LastStatus) != "PROVISIONING" || aws.ToString(tk.DesiredStatus) != "RUNNING" ||
			aws.ToString(tk.ContainerInstanceArn) != "" || aws.ToString(tk.CapacityProviderName) != "managed" {
			t.Fatalf("task: %s/%s on %q of %q", aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus),
				aws.ToString(tk.ContainerInstanceArn), aws.ToString(tk.CapacityProviderName))
		}
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prov"), Task: out.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prov"), Tasks: []string{aws.ToString(out.Tasks[0].TaskArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].LastStatus) != "STOPPED" || d.Tasks[0].StoppedAt == nil {
		t.Fatalf("stopped waiting task: %+v", d.Tasks)
	}
	l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prov"), DesiredStatus: types.DesiredStatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.TaskArns) != 1 || l.TaskArns[0] != aws.ToString(out.Tasks[1].TaskArn) {
		t.Fatalf("running tasks %v, want the waiting one", l.TaskArns)
	}
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	testutil.WaitFor(t, 20*time.Second, "CapacityProviderReservation 200", func() error {
		now := time.Now()
		m, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/ECS/ManagedScaling"),
			MetricName: aws.String("CapacityProviderReservation"), StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)),
			Period: aws.Int32(60), Statistics: []cwtypes.Statistic{cwtypes.StatisticMaximum},
			Dimensions: []cwtypes.Dimension{{Name: aws.String("CapacityProviderName"), Value: aws.String("managed")}, {Name: aws.String("ClusterName"), Value: aws.String("prov")}}})
		if err != nil {
			return err
		}
		for _, dp := range m.Datapoints {
			if aws.ToFloat64(dp.Maximum) == 200 {
				return nil
			}
		}
		return fmt.Errorf("datapoints %+v", m.Datapoints)
	})
}

// TestWaitingTaskKeepsRunTaskPlacement: a task that waits in PROVISIONING
// is placed by the placement constraints RunTask was given when capacity
// arrives: an instance that breaks them is passed over, one that meets
// them takes the task, at once: the registration of a provider's instance
// wakes managed scaling (its interval here is an hour).
func TestWaitingTaskKeepsRunTaskPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	env := apitest.Start(t, apitest.Options{Configure: func(c *config.Server) { c.ManagedScalingInterval = time.Hour }})
	c := env.Client
	ctx := context.Background()
	if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("managed-c"),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("managed-c")),
			ManagedScaling: &types.ManagedScaling{Status: types.ManagedScalingStatusEnabled}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("provc"), CapacityProviders: []string{"managed-c"}}); err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("provc"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("provc"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("managed-c"), Weight: 1}},
		PlacementConstraints:     []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:rack == b")}}})
	if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "PROVISIONING" {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	instance := func() string {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("provc"), Tasks: []string{arn}})
		if err != nil || len(d.Tasks) != 1 {
			t.Fatalf("describe: %v %+v", err, d)
		}
		return aws.ToString(d.Tasks[0].ContainerInstanceArn)
	}
	provider := ecsapi.Attribute{Name: gantryecs.CapacityProviderAttribute, Value: "managed-c"}
	newSimAgent(t, env, "provc", 4096, 4096, provider, ecsapi.Attribute{Name: "rack", Value: "a"})
	time.Sleep(time.Second) // the pass its registration woke
	if got := instance(); got != "" {
		t.Fatalf("the waiting task was placed on %s, an instance its memberOf constraint rules out", got)
	}
	b := newSimAgent(t, env, "provc", 4096, 4096, provider, ecsapi.Attribute{Name: "rack", Value: "b"})
	testutil.WaitFor(t, 10*time.Second, "the waiting task placed on rack b", func() error {
		if got := instance(); got != b.arn {
			return fmt.Errorf("on %q", got)
		}
		return nil
	})
}
