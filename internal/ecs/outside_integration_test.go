package ecs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestOutsideChecks: what an outside check of ECS's task operations found
// (issue 16, item 6): empty and unknown references get ECS's errors, and
// RunTask and StartTask honour or refuse, never ignore, the members that
// do not place a task.
func TestOutsideChecks(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	createProvider(t, c, "mine")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("o"), CapacityProviders: []string{"mine"}}); err != nil {
		t.Fatal(err)
	}
	agent := newSimAgent(t, env, "o", 4096, 4096, ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
		ecsapi.Attribute{Name: "ecs.capability.task-eni"})
	_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("gantry-test/web:1"), Memory: aws.Int32(64)}},
		Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("td")}, {Key: aws.String("tier"), Value: aws.String("td")}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("vpc"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("gantry-test/web:1"), Memory: aws.Int32(64)}}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("DescribeTasks with no tasks", func(t *testing.T) {
		_, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("o"), Tasks: []string{}})
		if apiCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "Tasks cannot be empty") {
			t.Fatalf("want InvalidParameterException, got %v", err)
		}
	})
	t.Run("ListTasks of an unknown service", func(t *testing.T) {
		_, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("o"), ServiceName: aws.String("nope")})
		if apiCode(err) != "ServiceNotFoundException" {
			t.Fatalf("want ServiceNotFoundException, got %v", err)
		}
	})

	refused := []struct {
		name, code, msg string
		in              ecs.RunTaskInput
	}{
		{"capacity provider not of the cluster", "InvalidParameterException", "not associated with the cluster",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("other")}}}},
		{"capacity provider with no weight", "InvalidParameterException", "weight greater than zero",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("mine")}}}},
		{"capacity provider weight", "InvalidParameterException", "weight",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("mine"), Weight: 1001}}}},
		{"launch type and capacity provider", "InvalidParameterException", "launch type and capacity provider",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeEc2, CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("mine")}}}},
		{"network configuration of a bridge task", "InvalidParameterException", "networkMode",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}}},
		{"awsvpc without subnets", "InvalidParameterException", "subnets",
			ecs.RunTaskInput{TaskDefinition: aws.String("vpc"), NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{}}}}},
		{"public IP", "InvalidParameterException", "Assign public IP",
			ecs.RunTaskInput{TaskDefinition: aws.String("vpc"), NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}, AssignPublicIp: types.AssignPublicIpEnabled}}}},
		{"propagate SERVICE", "InvalidParameterException", "SERVICE",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), PropagateTags: types.PropagateTagsService}},
		{"EBS volumes", "InvalidParameterException", "volumeConfigurations",
			ecs.RunTaskInput{TaskDefinition: aws.String("web"), VolumeConfigurations: []types.TaskVolumeConfiguration{{Name: aws.String("data")}}}},
	}
	for _, tt := range refused {
		t.Run("RunTask refuses "+tt.name, func(t *testing.T) {
			in := tt.in
			in.Cluster = aws.String("o")
			_, err := c.RunTask(ctx, &in)
			if apiCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("want %s (%q), got %v", tt.code, tt.msg, err)
			}
		})
	}
	t.Run("StartTask refuses EBS volumes and SERVICE propagation", func(t *testing.T) {
		_, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("web"), ContainerInstances: []string{agent.arn},
			VolumeConfigurations: []types.TaskVolumeConfiguration{{Name: aws.String("data")}}})
		if apiCode(err) != "InvalidParameterException" {
			t.Fatalf("volumes: got %v", err)
		}
		_, err = c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("web"), ContainerInstances: []string{agent.arn},
			PropagateTags: types.PropagateTagsService})
		if apiCode(err) != "InvalidParameterException" {
			t.Fatalf("propagate SERVICE: got %v", err)
		}
	})

	tagsOf := func(t *testing.T, arn string) map[string]string {
		t.Helper()
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("o"), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
		if err != nil || len(d.Tasks) != 1 {
			t.Fatalf("describe: %v", err)
		}
		out := map[string]string{}
		for _, tg := range d.Tasks[0].Tags {
			out[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		return out
	}
	t.Run("RunTask honours propagateTags and enableECSManagedTags", func(t *testing.T) {
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("web"),
			PropagateTags: types.PropagateTagsTaskDefinition, EnableECSManagedTags: true, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("run")}}})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run: %v %+v", err, out)
		}
		got := tagsOf(t, aws.ToString(out.Tasks[0].TaskArn))
		if got["team"] != "run" || got["tier"] != "td" || got["aws:ecs:clusterName"] != "o" || len(got) != 3 {
			t.Fatalf("tags %v", got)
		}
		out, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("web"), PropagateTags: types.PropagateTagsNone})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run: %v %+v", err, out)
		}
		if got := tagsOf(t, aws.ToString(out.Tasks[0].TaskArn)); len(got) != 0 {
			t.Fatalf("tags %v, want none", got)
		}
	})
	t.Run("StartTask honours them too", func(t *testing.T) {
		out, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("web"), ContainerInstances: []string{agent.arn},
			PropagateTags: types.PropagateTagsTaskDefinition, EnableECSManagedTags: true})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("start: %v %+v", err, out)
		}
		got := tagsOf(t, aws.ToString(out.Tasks[0].TaskArn))
		if got["team"] != "td" || got["aws:ecs:clusterName"] != "o" {
			t.Fatalf("tags %v", got)
		}
	})
	t.Run("RunTask takes a valid awsvpc network configuration", func(t *testing.T) {
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("vpc"),
			NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}, SecurityGroups: []string{"sg-1"}}}})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run: %v %s", err, failuresOf(out.Failures))
		}
	})
}

func failuresOf(f []types.Failure) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString(aws.ToString(x.Reason) + " " + aws.ToString(x.Detail) + "; ")
	}
	return b.String()
}
