package ecs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestTaskSetOperations: the EXTERNAL deployment controller and the task
// set operations through the AWS SDK, as ECS's API reference has them:
// what CreateService and UpdateService take for an EXTERNAL service, task
// set IDs, ARNs, defaults, statuses, clientToken, tags, the service's view
// of its primary task set, and AWS's error for every bad input. The tasks
// the controller starts for each task set are counted by startedBy.
func TestTaskSetOperations(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	cl := aws.String("ts")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cl}); err != nil {
		t.Fatal(err)
	}
	newSimAgent(t, env, "ts", 4096, 4096)
	registerWeb(t, c, "web", 64, 0)
	registerWeb(t, c, "web2", 64, 0)
	external := &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}

	// CreateService: what an EXTERNAL service refuses.
	badCreate := []struct {
		name string
		in   ecs.CreateServiceInput
		code string
	}{
		{"taskDefinition", ecs.CreateServiceInput{TaskDefinition: aws.String("web")}, "InvalidParameterException"},
		{"launchType", ecs.CreateServiceInput{LaunchType: types.LaunchTypeEc2}, "InvalidParameterException"},
		{"capacity providers", ecs.CreateServiceInput{CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp")}}}, "InvalidParameterException"},
		{"network", ecs.CreateServiceInput{NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"s"}}}}, "InvalidParameterException"},
		{"DAEMON", ecs.CreateServiceInput{SchedulingStrategy: types.SchedulingStrategyDaemon}, "InvalidParameterException"},
		{"circuit breaker", ecs.CreateServiceInput{DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true}}}, "InvalidParameterException"},
		{"alarms", ecs.CreateServiceInput{DeploymentConfiguration: &types.DeploymentConfiguration{Alarms: &types.DeploymentAlarms{Enable: true, AlarmNames: []string{"a"}}}}, "InvalidParameterException"},
		{"CODE_DEPLOY", ecs.CreateServiceInput{DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeCodeDeploy}}, "InvalidParameterException"},
	}
	for _, tt := range badCreate {
		in := tt.in
		in.Cluster, in.ServiceName, in.DesiredCount = cl, aws.String("bad"), aws.Int32(1)
		if in.DeploymentController == nil {
			in.DeploymentController = external
		}
		if _, err := c.CreateService(ctx, &in); apiCode(err) != tt.code {
			t.Errorf("create service, %s: want %s, got %v", tt.name, tt.code, err)
		}
	}
	created, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cl, ServiceName: aws.String("ext"), DesiredCount: aws.Int32(2),
		DeploymentController: external, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := created.Service; s.DeploymentController.Type != types.DeploymentControllerTypeExternal || len(s.Deployments) != 0 || len(s.TaskSets) != 0 ||
		s.TaskDefinition != nil || s.DesiredCount != 2 {
		t.Fatalf("created %+v", s)
	}
	// An ECS service refuses task set operations.
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cl, ServiceName: aws.String("rolling"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}

	ts1, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
		Scale: &types.Scale{Value: 100, Unit: types.ScaleUnitPercent}, ExternalId: aws.String("blue"), ClientToken: aws.String("tok-1"),
		Tags: []types.Tag{{Key: aws.String("color"), Value: aws.String("blue")}}})
	if err != nil {
		t.Fatal(err)
	}
	a := ts1.TaskSet
	id1 := aws.ToString(a.Id)
	if !strings.HasPrefix(id1, "ecs-svc/") || len(id1) != len("ecs-svc/")+19 ||
		aws.ToString(a.TaskSetArn) != "arn:aws:ecs:"+apitest.Region+":"+apitest.Account+":task-set/ts/ext/"+id1 ||
		aws.ToString(a.Status) != "ACTIVE" || a.ComputedDesiredCount != 2 || a.Scale.Value != 100 || a.Scale.Unit != types.ScaleUnitPercent ||
		a.LaunchType != types.LaunchTypeEc2 || aws.ToString(a.ExternalId) != "blue" || a.StabilityStatus != types.StabilityStatusStabilizing ||
		a.StabilityStatusAt == nil || !strings.HasSuffix(aws.ToString(a.TaskDefinition), ":task-definition/web:1") ||
		aws.ToString(a.ServiceArn) != aws.ToString(created.Service.ServiceArn) || a.LoadBalancers == nil || len(a.Tags) != 1 {
		t.Fatalf("task set %+v", a)
	}
	// The same clientToken gets the same task set.
	again, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
		Scale: &types.Scale{Value: 100, Unit: types.ScaleUnitPercent}, ClientToken: aws.String("tok-1")})
	if err != nil || aws.ToString(again.TaskSet.Id) != id1 {
		t.Fatalf("retry with the same clientToken: %v %+v", err, again)
	}
	// No scale: 0 percent, as ECS.
	ts2, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web2")})
	if err != nil {
		t.Fatal(err)
	}
	id2 := aws.ToString(ts2.TaskSet.Id)
	if id2 == id1 || ts2.TaskSet.Scale.Value != 0 || ts2.TaskSet.Scale.Unit != types.ScaleUnitPercent || ts2.TaskSet.ComputedDesiredCount != 0 {
		t.Fatalf("second task set %+v", ts2.TaskSet)
	}
	up, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: ts2.TaskSet.TaskSetArn,
		Scale: &types.Scale{Value: 50, Unit: types.ScaleUnitPercent}})
	if err != nil || up.TaskSet.ComputedDesiredCount != 1 || up.TaskSet.Scale.Value != 50 {
		t.Fatalf("update task set: %v %+v", err, up)
	}

	// The controller starts 2 tasks for the first and 1 for the second,
	// started by each task set's ID.
	waitStartedBy := func(want map[string]int) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, "task set tasks", func() error {
			for id, n := range want {
				l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: cl, StartedBy: aws.String(id), DesiredStatus: types.DesiredStatusRunning})
				if err != nil {
					return err
				}
				if len(l.TaskArns) != n {
					return fmt.Errorf("task set %s has %d tasks, want %d", id, len(l.TaskArns), n)
				}
			}
			return nil
		})
	}
	waitStartedBy(map[string]int{id1: 2, id2: 1})

	// DescribeTaskSets: all of them, named ones with failures, tags on request.
	all, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext")})
	if err != nil || len(all.TaskSets) != 2 || all.TaskSets[0].Tags != nil {
		t.Fatalf("describe all: %v %+v", err, all)
	}
	missing := "ecs-svc/1234567890123456789"
	some, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), TaskSets: []string{id1, missing},
		Include: []types.TaskSetField{types.TaskSetFieldTags}})
	if err != nil || len(some.TaskSets) != 1 || len(some.TaskSets[0].Tags) != 1 || len(some.Failures) != 1 ||
		aws.ToString(some.Failures[0].Reason) != "MISSING" || !strings.HasSuffix(aws.ToString(some.Failures[0].Arn), ":task-set/ts/ext/"+missing) {
		t.Fatalf("describe some: %v %+v", err, some)
	}

	// Task sets are tagged through their ARN too.
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: a.TaskSetArn, Tags: []types.Tag{{Key: aws.String("stage"), Value: aws.String("canary")}}}); err != nil {
		t.Fatalf("tag task set: %v", err)
	}
	if lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: a.TaskSetArn}); err != nil || len(lt.Tags) != 2 {
		t.Fatalf("task set tags: %v %+v", err, lt)
	}
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: a.TaskSetArn, TagKeys: []string{"stage"}}); err != nil {
		t.Fatalf("untag task set: %v", err)
	}
	missingArn := strings.Replace(aws.ToString(a.TaskSetArn), id1, "ecs-svc/1234567890123456789", 1)
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(missingArn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("tag unknown task set: %v", err)
	}

	// Primary: the service shows the primary task set's members.
	prim, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: cl, Service: aws.String("ext"), PrimaryTaskSet: aws.String(id1)})
	if err != nil || aws.ToString(prim.TaskSet.Status) != "PRIMARY" {
		t.Fatalf("primary: %v %+v", err, prim)
	}
	ds, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cl, Services: []string{"ext"}})
	if err != nil || len(ds.Services) != 1 {
		t.Fatal(err)
	}
	if s := ds.Services[0]; len(s.TaskSets) != 2 || !strings.HasSuffix(aws.ToString(s.TaskDefinition), "web:1") || s.LaunchType != types.LaunchTypeEc2 {
		t.Fatalf("service %+v", s)
	}
	if _, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: cl, Service: aws.String("ext"), PrimaryTaskSet: aws.String(id2)}); err != nil {
		t.Fatal(err)
	}
	d2, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), TaskSets: []string{id1, id2}})
	if err != nil || aws.ToString(d2.TaskSets[0].Status) != "ACTIVE" || aws.ToString(d2.TaskSets[1].Status) != "PRIMARY" {
		t.Fatalf("after switching primary: %v %+v", err, d2)
	}

	// UpdateService of an EXTERNAL service: desiredCount yes, task definition no.
	badUpdate := []struct {
		name string
		in   ecs.UpdateServiceInput
	}{
		{"taskDefinition", ecs.UpdateServiceInput{TaskDefinition: aws.String("web")}},
		{"forceNewDeployment", ecs.UpdateServiceInput{ForceNewDeployment: true}},
		{"networkConfiguration", ecs.UpdateServiceInput{NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"s"}}}}},
		{"controller", ecs.UpdateServiceInput{DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeEcs}}},
	}
	for _, tt := range badUpdate {
		in := tt.in
		in.Cluster, in.Service = cl, aws.String("ext")
		if _, err := c.UpdateService(ctx, &in); apiCode(err) != "InvalidParameterException" {
			t.Errorf("update service, %s: got %v", tt.name, err)
		}
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: cl, Service: aws.String("ext"), DesiredCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	waitStartedBy(map[string]int{id1: 4, id2: 2})

	// Bad input for every operation.
	arnOther := "arn:aws:ecs:" + apitest.Region + ":" + apitest.Account + ":task-set/ts/other/" + id1
	bad := []struct {
		name string
		call func() error
		code string
	}{
		{"create: unknown cluster", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("nope"), Service: aws.String("ext"), TaskDefinition: aws.String("web")})
			return err
		}, "ClusterNotFoundException"},
		{"create: unknown service", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("nope"), TaskDefinition: aws.String("web")})
			return err
		}, "ServiceNotFoundException"},
		{"create: ECS service", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("rolling"), TaskDefinition: aws.String("web")})
			return err
		}, "InvalidParameterException"},
		{"create: scale 101", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), Scale: &types.Scale{Value: 101}})
			return err
		}, "InvalidParameterException"},
		{"create: scale -1", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), Scale: &types.Scale{Value: -1}})
			return err
		}, "InvalidParameterException"},
		{"create: scale unit", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), Scale: &types.Scale{Value: 1, Unit: "COUNT"}})
			return err
		}, "InvalidParameterException"},
		{"create: unknown task definition", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("nope")})
			return err
		}, "ClientException"},
		{"create: FARGATE", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeFargate})
			return err
		}, "InvalidParameterException"},
		{"create: capacity provider not in the cluster", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
				CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp"), Weight: 1}}})
			return err
		}, "InvalidParameterException"},
		{"create: launch type and capacity providers", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeEc2,
				CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp"), Weight: 1}}})
			return err
		}, "InvalidParameterException"},
		{"create: load balancers with an unknown target group", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
				LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}})
			return err
		}, "InvalidParameterException"},
		{"create: service registries", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
				ServiceRegistries: []types.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:1:service/srv-1")}}})
			return err
		}, "UnsupportedFeatureException"},
		{"create: awsvpc configuration for a bridge task definition", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
				NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"s"}}}})
			return err
		}, "InvalidParameterException"},
		{"create: clientToken too long", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), ClientToken: aws.String(strings.Repeat("x", 37))})
			return err
		}, "InvalidParameterException"},
		{"create: bad tag", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}, "InvalidParameterException"},
		{"describe: ECS service", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("rolling")})
			return err
		}, "InvalidParameterException"},
		{"describe: unknown service", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("nope")})
			return err
		}, "ServiceNotFoundException"},
		{"describe: bad task set ID", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), TaskSets: []string{"bogus"}})
			return err
		}, "InvalidParameterException"},
		{"describe: ARN of another service", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), TaskSets: []string{arnOther}})
			return err
		}, "InvalidParameterException"},
		{"describe: bad include", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), Include: []types.TaskSetField{"NOPE"}})
			return err
		}, "InvalidParameterException"},
		{"update: unknown task set", func() error {
			_, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(missing), Scale: &types.Scale{Value: 1}})
			return err
		}, "TaskSetNotFoundException"},
		{"update: scale 100.5", func() error {
			_, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id1), Scale: &types.Scale{Value: 100.5}})
			return err
		}, "InvalidParameterException"},
		{"primary: unknown task set", func() error {
			_, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: cl, Service: aws.String("ext"), PrimaryTaskSet: aws.String(missing)})
			return err
		}, "TaskSetNotFoundException"},
		{"primary: ECS service", func() error {
			_, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: cl, Service: aws.String("rolling"), PrimaryTaskSet: aws.String(id1)})
			return err
		}, "InvalidParameterException"},
		{"delete: scaled above 0 without force", func() error {
			_, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id1)})
			return err
		}, "InvalidParameterException"},
		{"delete: unknown task set", func() error {
			_, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(missing), Force: aws.Bool(true)})
			return err
		}, "TaskSetNotFoundException"},
		{"delete: unknown cluster", func() error {
			_, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("nope"), Service: aws.String("ext"), TaskSet: aws.String(id1)})
			return err
		}, "ClusterNotFoundException"},
	}
	for _, tt := range bad {
		if err := tt.call(); apiCode(err) != tt.code {
			t.Errorf("%s: want %s, got %v", tt.name, tt.code, err)
		}
	}

	// Delete with force: DRAINING, its tasks stop, then it is gone.
	del, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id1), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.TaskSet.Status) != "DRAINING" {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if _, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id1), Scale: &types.Scale{Value: 1}}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("update of a DRAINING task set: %v", err)
	}
	waitStartedBy(map[string]int{id1: 0, id2: 2})
	// Scaled to 0 it deletes without force.
	if _, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id2), Scale: &types.Scale{Value: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(id2)}); err != nil {
		t.Fatalf("delete at scale 0: %v", err)
	}
	// The deleted task set's clientToken creates a new one.
	fresh, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"), ClientToken: aws.String("tok-1")})
	if err != nil || aws.ToString(fresh.TaskSet.Id) == id1 {
		t.Fatalf("create after delete with the old token: %v %+v", err, fresh)
	}
}
