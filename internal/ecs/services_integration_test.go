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

// svcEnv is a server with cluster "svc" and task definition family "web".
func svcEnv(t *testing.T) (*apitest.Env, *ecs.Client, string) {
	t.Helper()
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("svc")}); err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64)}},
		Tags:                 []types.Tag{{Key: aws.String("from"), Value: aws.String("taskdef")}}})
	if err != nil {
		t.Fatal(err)
	}
	return env, c, aws.ToString(td.TaskDefinition.TaskDefinitionArn)
}

func TestCreateServiceShape(t *testing.T) {
	_, c, td := svcEnv(t)
	ctx := context.Background()
	out, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		HealthCheckGracePeriodSeconds: aws.Int32(15), PropagateTags: types.PropagateTagsTaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Service
	want := "arn:aws:ecs:us-east-1:123456789012:service/svc/web"
	if aws.ToString(s.ServiceArn) != want || aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 2 || aws.ToString(s.TaskDefinition) != td ||
		s.LaunchType != types.LaunchTypeEc2 || s.SchedulingStrategy != types.SchedulingStrategyReplica || s.CreatedAt == nil ||
		aws.ToString(s.CreatedBy) != "arn:aws:iam::123456789012:user/tester" || s.DeploymentController.Type != types.DeploymentControllerTypeEcs ||
		aws.ToInt32(s.HealthCheckGracePeriodSeconds) != 15 || s.PropagateTags != types.PropagateTagsTaskDefinition || len(s.Tags) != 1 {
		t.Fatalf("service %+v", s)
	}
	dc := s.DeploymentConfiguration
	if aws.ToInt32(dc.MaximumPercent) != 200 || aws.ToInt32(dc.MinimumHealthyPercent) != 100 || dc.DeploymentCircuitBreaker == nil {
		t.Fatalf("deployment configuration %+v", dc)
	}
	if len(s.Deployments) != 1 {
		t.Fatalf("deployments %+v", s.Deployments)
	}
	d := s.Deployments[0]
	if !strings.HasPrefix(aws.ToString(d.Id), "ecs-svc/") || aws.ToString(d.Status) != "PRIMARY" || d.DesiredCount != 2 ||
		d.RolloutState != types.DeploymentRolloutStateInProgress || aws.ToString(d.RolloutStateReason) != "ECS deployment "+aws.ToString(d.Id)+" in progress." {
		t.Fatalf("deployment %+v", d)
	}
	// Same name again: not idempotent.
	_, err = c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)})
	assertECSError(t, err, "InvalidParameterException")
	// A retry with the clientToken of the creating call gets the service.
	tok := &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("tok"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0), ClientToken: aws.String("req-1")}
	first, err := c.CreateService(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateService(ctx, tok)
	if err != nil || aws.ToString(again.Service.Deployments[0].Id) != aws.ToString(first.Service.Deployments[0].Id) {
		t.Fatalf("retry with the same clientToken: %v", err)
	}
	tok.ClientToken = aws.String("req-2")
	_, err = c.CreateService(ctx, tok)
	assertECSError(t, err, "InvalidParameterException")
	// Describe: tags only with include TAGS; unknown names are failures.
	desc, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"web", "nope", want}})
	if err != nil || len(desc.Services) != 2 || len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" ||
		aws.ToString(desc.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:service/svc/nope" || desc.Services[0].Tags != nil {
		t.Fatalf("describe %v %+v", err, desc)
	}
	desc, err = c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"web"}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil || len(desc.Services[0].Tags) != 1 {
		t.Fatalf("describe with tags %v %+v", err, desc)
	}
	// The controller notes that there is nowhere to place the tasks.
	testutil.WaitFor(t, 10*time.Second, "unable-to-place event", func() error {
		d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"web"}})
		if err != nil {
			return err
		}
		for _, e := range d.Services[0].Events {
			if strings.Contains(aws.ToString(e.Message), "(service web) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster.") {
				return nil
			}
		}
		return fmt.Errorf("events %+v", d.Services[0].Events)
	})
	// Tag through TagResource; the service keeps its other members.
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(want), Tags: []types.Tag{{Key: aws.String("k2"), Value: aws.String("v2")}}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(want)})
	if err != nil || len(lt.Tags) != 2 {
		t.Fatalf("tags %v %+v", err, lt)
	}
}

func TestCreateServiceValidation(t *testing.T) {
	_, c, _ := svcEnv(t)
	ctx := context.Background()
	base := func() *ecs.CreateServiceInput {
		return &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("v"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}
	}
	cases := []struct {
		name string
		mod  func(*ecs.CreateServiceInput)
		code string
	}{
		{"bad name", func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("a b") }, "InvalidParameterException"},
		{"no task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = nil }, "InvalidParameterException"},
		{"unknown task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("nope") }, "ClientException"},
		{"no desired count", func(in *ecs.CreateServiceInput) { in.DesiredCount = nil }, "InvalidParameterException"},
		{"negative desired count", func(in *ecs.CreateServiceInput) { in.DesiredCount = aws.Int32(-1) }, "InvalidParameterException"},
		{"fargate", func(in *ecs.CreateServiceInput) { in.LaunchType = types.LaunchTypeFargate }, "InvalidParameterException"},
		{"load balancer with a malformed target group ARN", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("x"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}
		}, "InvalidParameterException"},
		{"load balancer with an unknown target group", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/0123456789abcdef"),
				ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}
		}, "InvalidParameterException"},
		{"classic load balancer", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{LoadBalancerName: aws.String("old"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}
		}, "InvalidParameterException"},
		{"six load balancers", func(in *ecs.CreateServiceInput) {
			for i := range 6 {
				in.LoadBalancers = append(in.LoadBalancers, types.LoadBalancer{TargetGroupArn: aws.String(fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t%d/0123456789abcdef", i)),
					ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)})
			}
		}, "InvalidParameterException"},
		{"load balancer without a container port", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"), ContainerName: aws.String("web")}}
		}, "InvalidParameterException"},
		{"code deploy", func(in *ecs.CreateServiceInput) {
			in.DeploymentController = &types.DeploymentController{Type: types.DeploymentControllerTypeCodeDeploy}
		}, "InvalidParameterException"},
		{"min healthy above 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(150)}
		}, "InvalidParameterException"},
		{"max below 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}
		}, "InvalidParameterException"},
		{"daemon with strategy", func(in *ecs.CreateServiceInput) {
			in.SchedulingStrategy, in.DesiredCount = types.SchedulingStrategyDaemon, nil
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}
		}, "InvalidParameterException"},
		{"bad constraint", func(in *ecs.CreateServiceInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}
		}, "InvalidParameterException"},
		{"awsvpc config for bridge", func(in *ecs.CreateServiceInput) {
			in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"s"}}}
		}, "InvalidParameterException"},
		{"reserved tag", func(in *ecs.CreateServiceInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}
		}, "InvalidParameterException"},
		{"unknown cluster", func(in *ecs.CreateServiceInput) { in.Cluster = aws.String("nope") }, "ClusterNotFoundException"},
		// Issue 16, item 9: Cloud Map and Service Connect stay refused.
		{"service registries", func(in *ecs.CreateServiceInput) {
			in.ServiceRegistries = []types.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1")}}
		}, "UnsupportedFeatureException"},
		{"service connect", func(in *ecs.CreateServiceInput) {
			in.ServiceConnectConfiguration = &types.ServiceConnectConfiguration{Enabled: true, Namespace: aws.String("ns")}
		}, "UnsupportedFeatureException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.mod(in)
			_, err := c.CreateService(ctx, in)
			assertECSError(t, err, tc.code)
		})
	}
}

func TestUpdateAndDeleteService(t *testing.T) {
	_, c, td1 := svcEnv(t)
	ctx := context.Background()
	td2out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx:2"), Memory: aws.Int32(64)}}})
	if err != nil {
		t.Fatal(err)
	}
	td2 := aws.ToString(td2out.TaskDefinition.TaskDefinitionArn)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("u"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	// A new count is no new deployment.
	up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("u"), DesiredCount: aws.Int32(3)})
	if err != nil || up.Service.DesiredCount != 3 || len(up.Service.Deployments) != 1 || up.Service.Deployments[0].DesiredCount != 3 {
		t.Fatalf("update count %v %+v", err, up)
	}
	// A new task definition is.
	up, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("u"), TaskDefinition: aws.String(td2),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50)}})
	if err != nil || len(up.Service.Deployments) < 2 || aws.ToString(up.Service.Deployments[0].TaskDefinition) != td2 ||
		aws.ToString(up.Service.Deployments[0].Status) != "PRIMARY" || aws.ToString(up.Service.Deployments[1].Status) != "ACTIVE" ||
		aws.ToInt32(up.Service.DeploymentConfiguration.MinimumHealthyPercent) != 50 || aws.ToInt32(up.Service.DeploymentConfiguration.MaximumPercent) != 200 {
		t.Fatalf("update task definition %v %+v", err, up)
	}
	// forceNewDeployment too.
	up, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("u"), ForceNewDeployment: true})
	if err != nil || aws.ToString(up.Service.Deployments[0].Status) != "PRIMARY" || len(up.Service.Deployments) < 2 {
		t.Fatalf("force new deployment %v %+v", err, up)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
	assertECSError(t, err, "ServiceNotFoundException")
	// Delete: refused while scaled up, unless forced.
	_, err = c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("u")})
	assertECSError(t, err, "InvalidParameterException")
	del, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("u"), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.Service.Status) != "DRAINING" || del.Service.DesiredCount != 0 {
		t.Fatalf("delete %v %+v", err, del)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("u"), DesiredCount: aws.Int32(1)})
	assertECSError(t, err, "ServiceNotActiveException")
	// With no tasks, the controller makes it INACTIVE; the name is free.
	testutil.WaitFor(t, 10*time.Second, "INACTIVE", func() error {
		d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"u"}})
		if err != nil {
			return err
		}
		if st := aws.ToString(d.Services[0].Status); st != "INACTIVE" {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("u"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}

func TestListServices(t *testing.T) {
	_, c, _ := svcEnv(t)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		in := &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String(fmt.Sprintf("s%02d", i)), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}
		if i%3 == 0 {
			in.SchedulingStrategy, in.DesiredCount = types.SchedulingStrategyDaemon, nil
		}
		if _, err := c.CreateService(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// Default page of 10, then the rest.
	p1, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc")})
	if err != nil || len(p1.ServiceArns) != 10 || p1.NextToken == nil {
		t.Fatalf("page 1 %v %+v", err, p1)
	}
	p2, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), NextToken: p1.NextToken})
	if err != nil || len(p2.ServiceArns) != 2 || p2.NextToken != nil {
		t.Fatalf("page 2 %v %+v", err, p2)
	}
	d, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), SchedulingStrategy: types.SchedulingStrategyDaemon, MaxResults: aws.Int32(100)})
	if err != nil || len(d.ServiceArns) != 4 {
		t.Fatalf("daemon services %v %+v", err, d)
	}
	e, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), LaunchType: types.LaunchTypeExternal})
	if err != nil || len(e.ServiceArns) != 0 {
		t.Fatalf("external services %v %+v", err, e)
	}
	_, err = c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), MaxResults: aws.Int32(101)})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.ListServicesByNamespace(ctx, &ecs.ListServicesByNamespaceInput{Namespace: aws.String("ns")})
	assertECSError(t, err, "NamespaceNotFoundException")
	// A cluster with services cannot be deleted.
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("svc")})
	assertECSError(t, err, "ClusterContainsServicesException")
}
