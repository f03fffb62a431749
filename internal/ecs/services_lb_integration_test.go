package ecs_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestCreateServiceLoadBalancerValidation checks a service's loadBalancers
// against real target groups as ECS does: the target group must be
// associated with a load balancer, its target type must fit the task
// definition's network mode, and the container and port must be in the
// task definition; a valid one is kept on the service, and the target
// group cannot be deleted while the service uses it.
func TestCreateServiceLoadBalancerValidation(t *testing.T) {
	env, c, _ := svcEnv(t)
	ctx := context.Background()
	lbc := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	lb, err := lbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	tg := func(name string, tt elbtypes.TargetTypeEnum, listen int32) string {
		out, err := lbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(80), TargetType: tt})
		if err != nil {
			t.Fatal(err)
		}
		arn := out.TargetGroups[0].TargetGroupArn
		if listen > 0 {
			if _, err := lbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
				Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(listen),
				DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: arn}}}); err != nil {
				t.Fatal(err)
			}
		}
		return aws.ToString(arn)
	}
	inst := tg("inst", elbtypes.TargetTypeEnumInstance, freePort(t))
	ip := tg("ip", elbtypes.TargetTypeEnumIp, freePort(t))
	lonely := tg("lonely", elbtypes.TargetTypeEnumInstance, 0)
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("lbweb"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	tdArn := td.TaskDefinition.TaskDefinitionArn
	create := func(name, tgArn, container string, port int32) (*ecs.CreateServiceOutput, error) {
		return c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String(name), TaskDefinition: tdArn,
			DesiredCount: aws.Int32(0), LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(tgArn), ContainerName: aws.String(container), ContainerPort: aws.Int32(port)}}})
	}
	for _, tc := range []struct {
		name, tg, container string
		port                int32
		msg                 string
	}{
		{"no load balancer", lonely, "web", 80, "does not have an associated load balancer"},
		{"ip target group for bridge", ip, "web", 80, "has target type ip, which is incompatible with the bridge network mode"},
		{"unknown container", inst, "nope", 80, "The container nope does not exist in the task definition."},
		{"unknown port", inst, "web", 8080, "The container web did not have a container port 8080 defined."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create("bad", tc.tg, tc.container, tc.port)
			assertECSError(t, err, "InvalidParameterException")
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %q", err, tc.msg)
			}
		})
	}
	out, err := create("good", inst, "web", 80)
	if err != nil {
		t.Fatal(err)
	}
	if lbs := out.Service.LoadBalancers; len(lbs) != 1 || aws.ToString(lbs[0].TargetGroupArn) != inst {
		t.Fatalf("service's loadBalancers %+v", lbs)
	}
	if _, err := lbc.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(inst)}); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Errorf("delete a target group a service uses: %v", err)
	}
	// Changing the load balancers validates the new ones as CreateService
	// does ...
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("good"),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(lonely), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}})
	assertECSError(t, err, "InvalidParameterException")
	// ... and starts a new deployment with them (a rolling one); the old
	// deployment's revision keeps the old ones.
	other := tg("other", elbtypes.TargetTypeEnumInstance, freePort(t))
	up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("good"),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(other), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}})
	if err != nil {
		t.Fatal(err)
	}
	if lbs := up.Service.LoadBalancers; len(lbs) != 1 || aws.ToString(lbs[0].TargetGroupArn) != other || len(up.Service.Deployments) != 2 {
		t.Fatalf("after changing the load balancers: %+v, %d deployments", lbs, len(up.Service.Deployments))
	}
	list, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("svc"), Service: aws.String("good")})
	if err != nil || len(list.ServiceDeployments) != 2 {
		t.Fatalf("service deployments: %v %+v", err, list)
	}
	var revs []string
	for _, d := range list.ServiceDeployments {
		revs = append(revs, aws.ToString(d.TargetServiceRevisionArn))
	}
	got, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: revs})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range got.ServiceRevisions {
		for _, lb := range r.LoadBalancers {
			seen[aws.ToString(lb.TargetGroupArn)] = true
		}
	}
	if !seen[inst] || !seen[other] {
		t.Errorf("revisions' target groups %v", seen)
	}
}

// freePort returns a loopback port free a moment ago.
func freePort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}
