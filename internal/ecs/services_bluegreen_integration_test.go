package ecs_test

import (
	"context"
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

// TestCreateServiceBlueGreenValidation checks deploymentConfiguration's
// BLUE_GREEN, LINEAR and CANARY strategies and loadBalancers'
// advancedConfiguration against real listener rules, through the SDK:
// what ECS requires is refused with InvalidParameterException, lifecycle
// hooks get a clear error, and a valid service keeps its configuration
// with ECS's defaults filled in.
func TestCreateServiceBlueGreenValidation(t *testing.T) {
	env, c, _ := svcEnv(t)
	ctx := context.Background()
	lbc := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	lb, err := lbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("bg")})
	if err != nil {
		t.Fatal(err)
	}
	tg := func(name string) string {
		out, err := lbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumInstance})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.TargetGroups[0].TargetGroupArn)
	}
	blue, green, other := tg("blue"), tg("green"), tg("other")
	l, err := lbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(freePort(t)),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(other)}}})
	if err != nil {
		t.Fatal(err)
	}
	rule := func(prio int32, path string, tgs ...string) string {
		var tuples []elbtypes.TargetGroupTuple
		for _, a := range tgs {
			tuples = append(tuples, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(a), Weight: aws.Int32(1)})
		}
		out, err := lbc.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(prio),
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{path}}},
			Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: tuples}}}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Rules[0].RuleArn)
	}
	prod := rule(10, "/*", blue, green)
	test := rule(20, "/test/*", blue, green)
	blueOnly := rule(30, "/blue/*", blue)
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bgweb"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	base := func(name string) *ecs.CreateServiceInput {
		return &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String(name), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			DesiredCount: aws.Int32(0),
			LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(blue), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80),
				AdvancedConfiguration: &types.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(green), ProductionListenerRule: aws.String(prod),
					TestListenerRule: aws.String(test), RoleArn: aws.String("arn:aws:iam::123456789012:role/ecsInfrastructureRole")}}},
			DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(0)}}
	}
	adv := func(in *ecs.CreateServiceInput) *types.AdvancedConfiguration {
		return in.LoadBalancers[0].AdvancedConfiguration
	}
	cases := []struct {
		name string
		mod  func(*ecs.CreateServiceInput)
		msg  string
	}{
		{"unknown strategy", func(in *ecs.CreateServiceInput) { in.DeploymentConfiguration.Strategy = "PURPLE" }, "Invalid deployment strategy PURPLE"},
		{"no advancedConfiguration", func(in *ecs.CreateServiceInput) { in.LoadBalancers[0].AdvancedConfiguration = nil }, "advancedConfiguration must be specified"},
		{"advancedConfiguration with ROLLING", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.Strategy = types.DeploymentStrategyRolling
		},
			"advancedConfiguration is only valid"},
		{"no load balancers", func(in *ecs.CreateServiceInput) { in.LoadBalancers = nil }, "requires loadBalancers"},
		{"no bake time", func(in *ecs.CreateServiceInput) { in.DeploymentConfiguration.BakeTimeInMinutes = nil }, "bakeTimeInMinutes must be specified"},
		{"bake time too long", func(in *ecs.CreateServiceInput) { in.DeploymentConfiguration.BakeTimeInMinutes = aws.Int32(1441) }, "bakeTimeInMinutes must be between 0 and 1440"},
		{"no alternate", func(in *ecs.CreateServiceInput) { adv(in).AlternateTargetGroupArn = nil }, "alternateTargetGroupArn must be specified"},
		{"alternate is the target group", func(in *ecs.CreateServiceInput) { adv(in).AlternateTargetGroupArn = aws.String(blue) }, "must differ"},
		{"unknown alternate", func(in *ecs.CreateServiceInput) {
			adv(in).AlternateTargetGroupArn = aws.String(strings.Replace(green, "green", "nope", 1))
		}, "Unable to find alternate target group"},
		{"no production rule", func(in *ecs.CreateServiceInput) { adv(in).ProductionListenerRule = nil }, "productionListenerRule must be specified"},
		{"unknown production rule", func(in *ecs.CreateServiceInput) {
			adv(in).ProductionListenerRule = aws.String(prod[:len(prod)-4] + "beef")
		}, "Unable to find production listener rule"},
		{"an application load balancer's listener", func(in *ecs.CreateServiceInput) {
			adv(in).ProductionListenerRule = l.Listeners[0].ListenerArn
		}, "Unable to find production listener rule"},
		{"rule not forwarding to both", func(in *ecs.CreateServiceInput) { adv(in).ProductionListenerRule = aws.String(blueOnly) }, "must forward to both"},
		{"test rule not forwarding to both", func(in *ecs.CreateServiceInput) { adv(in).TestListenerRule = aws.String(blueOnly) }, "The test listener rule"},
		{"same test and production rule", func(in *ecs.CreateServiceInput) { adv(in).TestListenerRule = aws.String(prod) }, "must differ"},
		{"linear config with BLUE_GREEN", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.LinearConfiguration = &types.LinearConfiguration{StepPercent: aws.Float64(10)}
		}, "linearConfiguration is only valid"},
		{"linear step too small", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.Strategy = types.DeploymentStrategyLinear
			in.DeploymentConfiguration.LinearConfiguration = &types.LinearConfiguration{StepPercent: aws.Float64(2.5)}
		}, "stepPercent must be a multiple of 0.1 from 3.0 to 100.0"},
		{"canary percent not tenths", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.Strategy = types.DeploymentStrategyCanary
			in.DeploymentConfiguration.CanaryConfiguration = &types.CanaryConfiguration{CanaryPercent: aws.Float64(5.05)}
		}, "canaryPercent must be a multiple of 0.1"},
		{"canary bake too long", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.Strategy = types.DeploymentStrategyCanary
			in.DeploymentConfiguration.CanaryConfiguration = &types.CanaryConfiguration{CanaryPercent: aws.Float64(5), CanaryBakeTimeInMinutes: aws.Int32(2000)}
		}, "canaryBakeTimeInMinutes must be between 0 and 1440"},
		{"lambda lifecycle hook", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration.LifecycleHooks = []types.DeploymentLifecycleHook{{HookTargetArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:check"),
				LifecycleStages: []types.DeploymentLifecycleHookStage{types.DeploymentLifecycleHookStagePostTestTrafficShift}}}
		}, "there is no AWS Lambda to invoke arn:aws:lambda:us-east-1:123456789012:function:check"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base("bad")
			tc.mod(in)
			_, err := c.CreateService(ctx, in)
			assertECSError(t, err, "InvalidParameterException")
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %q", err, tc.msg)
			}
		})
	}
	// Valid ones keep their configuration, with the defaults.
	in := base("bg")
	out, err := c.CreateService(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	dc := out.Service.DeploymentConfiguration
	if dc.Strategy != types.DeploymentStrategyBlueGreen || aws.ToInt32(dc.BakeTimeInMinutes) != 0 {
		t.Errorf("deployment configuration %+v", dc)
	}
	if a := out.Service.LoadBalancers[0].AdvancedConfiguration; a == nil || aws.ToString(a.AlternateTargetGroupArn) != green || aws.ToString(a.ProductionListenerRule) != prod {
		t.Errorf("advanced configuration %+v", a)
	}
	in = base("lin")
	in.DeploymentConfiguration = &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyLinear}
	out, err = c.CreateService(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if lc := out.Service.DeploymentConfiguration.LinearConfiguration; lc == nil || aws.ToFloat64(lc.StepPercent) != 10 || aws.ToInt32(lc.StepBakeTimeInMinutes) != 6 {
		t.Errorf("linear defaults %+v", lc)
	}
	// UpdateService switches the strategy; the canary defaults apply.
	up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("lin"),
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary}})
	if err != nil {
		t.Fatal(err)
	}
	if dc := up.Service.DeploymentConfiguration; dc.LinearConfiguration != nil || dc.CanaryConfiguration == nil ||
		aws.ToFloat64(dc.CanaryConfiguration.CanaryPercent) != 5 || aws.ToInt32(dc.CanaryConfiguration.CanaryBakeTimeInMinutes) != 10 {
		t.Errorf("after switching to CANARY: %+v", dc)
	}
	// ... and refuses BLUE_GREEN for a service without advancedConfiguration.
	plain := base("plain")
	plain.LoadBalancers[0].AdvancedConfiguration = nil
	plain.DeploymentConfiguration = nil
	if _, err := c.CreateService(ctx, plain); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("plain"),
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1)}})
	assertECSError(t, err, "InvalidParameterException")
}
