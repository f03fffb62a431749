package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/lbload"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// bgSetup is a load balancer with a listener whose production rule (path
// /*) forwards to a blue and a green target group (all to blue at first)
// and whose test rule (header X-Test: 1) forwards to both too.
type bgSetup struct {
	elb              *elbv2.Client
	blue, green      string
	prodRule, tstRul string
	url              string
}

func (c *cluster) newBGLB(name string) bgSetup {
	c.t.Helper()
	ctx := context.Background()
	cl := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	lb, err := cl.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name)})
	if err != nil {
		c.t.Fatal(err)
	}
	tg := func(n string) string {
		out, err := cl.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(n), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumInstance, HealthCheckIntervalSeconds: aws.Int32(5),
			HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2),
			HealthCheckPath: aws.String("/health")})
		if err != nil {
			c.t.Fatal(err)
		}
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		if _, err := cl.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
			Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("2")}}}); err != nil {
			c.t.Fatal(err)
		}
		return arn
	}
	s := bgSetup{elb: cl, blue: tg(name + "-blue"), green: tg(name + "-green"), url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	l, err := cl.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})
	if err != nil {
		c.t.Fatal(err)
	}
	both := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(s.blue), Weight: aws.Int32(1)}, {TargetGroupArn: aws.String(s.green), Weight: aws.Int32(0)}}}}}
	r, err := cl.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(10), Actions: both,
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/*"}}}})
	if err != nil {
		c.t.Fatal(err)
	}
	s.prodRule = aws.ToString(r.Rules[0].RuleArn)
	r, err = cl.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(5), Actions: both,
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("http-header"), HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{
			HttpHeaderName: aws.String("X-Test"), Values: []string{"1"}}}}})
	if err != nil {
		c.t.Fatal(err)
	}
	s.tstRul = aws.ToString(r.Rules[0].RuleArn)
	return s
}

// weights answers the production rule's weights by target group, as
// DescribeRules shows them.
func (s bgSetup) weights(t *testing.T) map[string]int32 {
	out, err := s.elb.DescribeRules(context.Background(), &elbv2.DescribeRulesInput{RuleArns: []string{s.prodRule}})
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]int32{}
	for _, a := range out.Rules[0].Actions {
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				w[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
			}
		}
	}
	return w
}

// TestBlueGreenDeploymentLosesNoRequest runs a service of two web tasks
// with the BLUE_GREEN strategy behind a listener rule of the server's data
// plane, with a real agent, under continuous load: a blue/green deployment
// starts green in the alternate target group, shifts the production rule
// to it (DescribeRules shows it), stops blue and swaps the target groups;
// then a CANARY deployment shifts half the traffic and is rolled back
// with StopServiceDeployment, which sends all traffic back to blue before
// green stops. Neither loses a request; the service deployment reports
// its lifecycle stages.
func TestBlueGreenDeploymentLosesNoRequest(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	lb := c.newBGLB("bg")
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("bgweb"), ContainerDefinitions: []types.ContainerDefinition{
		webContainer("web", c.image)}})
	_, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2), HealthCheckGracePeriodSeconds: aws.Int32(30),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(lb.blue), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &types.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(lb.green),
				ProductionListenerRule: aws.String(lb.prodRule), TestListenerRule: aws.String(lb.tstRul)}}},
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(0)}})
	if err != nil {
		t.Fatal(err)
	}
	c.waitCompleted("web", 120*time.Second)
	testutil.WaitFor(t, 30*time.Second, "GET through the production rule", func() error {
		code, err := get(lb.url)
		if err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		return nil
	})

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	type outcome struct {
		res lbload.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := lbload.Run(loadCtx, lbload.Config{URL: lb.url, Rate: 500, Duration: 8 * time.Minute, Workers: 16, Timeout: 5 * time.Second})
		done <- outcome{res, err}
	}()

	// A blue/green deployment under load.
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	stages := map[types.ServiceDeploymentLifecycleStage]bool{}
	testutil.WaitFor(t, 180*time.Second, "the blue/green deployment completed", func() error {
		list, err := c.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(c.name), Service: aws.String("web"), MaxResults: aws.Int32(1)})
		if err == nil && len(list.ServiceDeployments) > 0 {
			d, err := c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)}})
			if err == nil && len(d.ServiceDeployments) > 0 {
				stages[d.ServiceDeployments[0].LifecycleStage] = true
			}
		}
		s := c.svc("web")
		if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments: %v", len(s.Deployments), eventMessages(s, 4))
		}
		return nil
	})
	s := c.svc("web")
	if lbs := s.LoadBalancers; aws.ToString(lbs[0].TargetGroupArn) != lb.green || aws.ToString(lbs[0].AdvancedConfiguration.AlternateTargetGroupArn) != lb.blue {
		t.Errorf("target groups not swapped: %+v", lbs[0])
	}
	if w := lb.weights(t); w[lb.green] == 0 || w[lb.blue] != 0 {
		t.Errorf("production rule weights after the deployment: %v", w)
	}
	if !hasEvent(s, "shifted 100% of production traffic to the green service revision") || !hasEvent(s, "shifted test traffic") {
		t.Errorf("events %v", eventMessages(s, 15))
	}
	t.Logf("lifecycle stages seen: %v", stages)
	if !stages[types.ServiceDeploymentLifecycleStageScaleUp] && !stages[types.ServiceDeploymentLifecycleStageBakeTime] && !stages[types.ServiceDeploymentLifecycleStageCleanUp] {
		t.Errorf("no lifecycle stage seen: %v", stages)
	}

	// A canary deployment, rolled back with half the traffic on green.
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), ForceNewDeployment: true,
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary, BakeTimeInMinutes: aws.Int32(0),
			CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(50), CanaryBakeTimeInMinutes: aws.Int32(10)}}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 180*time.Second, "half the traffic on the canary", func() error {
		if w := lb.weights(t); w[lb.blue] == 0 || w[lb.green] == 0 {
			return fmt.Errorf("weights %v", w)
		}
		return nil
	})
	time.Sleep(5 * time.Second)
	list, err := c.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(c.name), Service: aws.String("web"), MaxResults: aws.Int32(1)})
	if err != nil || len(list.ServiceDeployments) == 0 {
		t.Fatalf("list service deployments: %v", err)
	}
	canaryArn := aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)
	if d, err := c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{canaryArn}}); err != nil ||
		d.ServiceDeployments[0].LifecycleStage != types.ServiceDeploymentLifecycleStageProductionTrafficShift {
		t.Errorf("canary's lifecycle stage: %v %+v", err, d)
	}
	if _, err := c.ecs.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(canaryArn), StopType: types.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 120*time.Second, "the rollback completed", func() error {
		s := c.svc("web")
		if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments: %v", len(s.Deployments), eventMessages(s, 4))
		}
		return nil
	})
	if w := lb.weights(t); w[lb.green] == 0 || w[lb.blue] != 0 {
		t.Errorf("production rule weights after the rollback: %v", w)
	}
	if lbs := c.svc("web").LoadBalancers; aws.ToString(lbs[0].TargetGroupArn) != lb.green {
		t.Errorf("target groups after the rollback: %+v", lbs[0])
	}
	stopLoad()
	out := <-done
	if out.err != nil {
		t.Fatal(out.err)
	}
	r := out.res
	t.Logf("load: %d requests (%d on new connections) at %.0f/s: %d ok, %d connection errors, %d LB 5xx, %d target 5xx, %d other; p50 %v p99 %v; first errors %v",
		r.Requests, r.NewConns, r.Rate, r.OK, r.ConnErrors, r.LB5xx, r.Target5xx, r.Other, r.P50, r.P99, r.FirstErrors)
	if r.Requests < 1000 || r.ConnErrors != 0 || r.LB5xx != 0 || r.Target5xx != 0 || r.Other != 0 {
		t.Fatalf("requests lost during the blue/green deployment and the rollback: %+v", r)
	}
}

// TestUpdateServiceLoadBalancers changes the target group of a running
// service with UpdateService: a rolling deployment registers the new
// tasks in the new target group, where they answer through its listener,
// and the old tasks leave the old one as they stop.
func TestUpdateServiceLoadBalancers(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	first, second := c.newLB("first", 1), c.newLB("second", 1)
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("lbchange"), ContainerDefinitions: []types.ContainerDefinition{
		webContainer("web", c.image)}})
	lbOf := func(tg string) []types.LoadBalancer {
		return []types.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}
	}
	if _, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2), LoadBalancers: lbOf(first.tg)}); err != nil {
		t.Fatal(err)
	}
	c.waitCompleted("web", 120*time.Second)
	if n := first.targetStates(t)["healthy"]; n != 2 {
		t.Fatalf("first target group: %v", first.targetStates(t))
	}
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), LoadBalancers: lbOf(second.tg)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 180*time.Second, "the tasks moved to the second target group", func() error {
		s := c.svc("web")
		if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments: %v", len(s.Deployments), eventMessages(s, 4))
		}
		if a, b := first.targetStates(t), second.targetStates(t); len(a) != 0 || b["healthy"] != 2 || len(b) != 1 {
			return fmt.Errorf("first %v, second %v", a, b)
		}
		return nil
	})
	if code, err := get(second.url); err != nil || code != 200 {
		t.Fatalf("GET through the second listener: %d %v", code, err)
	}
}

// TestBlueGreenNetworkLoadBalancer runs a BLUE_GREEN service behind a
// network load balancer, whose listener (no rules: the listener's ARN is
// the productionListenerRule, as ECS allows for Network Load Balancers)
// forwards to a blue and a green TCP target group by weight: the
// deployment moves the listener's weights to green, swaps the target
// groups, and the listener passes connections through to the new task.
func TestBlueGreenNetworkLoadBalancer(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	ctx := context.Background()
	cl := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	nlb, err := cl.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("nbg"), Type: elbtypes.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatal(err)
	}
	tg := func(n string) string {
		out, err := cl.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(n), Protocol: elbtypes.ProtocolEnumTcp,
			Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumInstance, HealthCheckProtocol: elbtypes.ProtocolEnumTcp,
			HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
			HealthCheckTimeoutSeconds: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		if _, err := cl.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
			Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("1")}}}); err != nil {
			t.Fatal(err)
		}
		return arn
	}
	blue, green := tg("nbg-blue"), tg("nbg-green")
	l, err := cl.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(port),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(blue), Weight: aws.Int32(1)}, {TargetGroupArn: aws.String(green), Weight: aws.Int32(0)}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	listener := aws.ToString(l.Listeners[0].ListenerArn)
	weights := func() map[string]int32 {
		out, err := cl.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listener}})
		if err != nil {
			t.Fatal(err)
		}
		w := map[string]int32{}
		for _, a := range out.Listeners[0].DefaultActions {
			if a.ForwardConfig != nil {
				for _, g := range a.ForwardConfig.TargetGroups {
					w[aws.ToString(g.TargetGroupArn)] = aws.ToInt32(g.Weight)
				}
			}
		}
		return w
	}
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("nbgweb"), ContainerDefinitions: []types.ContainerDefinition{
		webContainer("web", c.image)}})
	if _, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("tcp"),
		TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(blue), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &types.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(green), ProductionListenerRule: aws.String(listener)}}},
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(0)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.waitCompleted("tcp", 120*time.Second)
	t.Logf("service steady after %v", time.Since(start))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	testutil.WaitFor(t, 30*time.Second, "GET through the TCP listener", func() error {
		code, err := get(url)
		if err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		return nil
	})
	t.Logf("answering after %v", time.Since(start))
	first := c.svc("tcp").Deployments[0].Id

	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("tcp"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 120*time.Second, "the blue/green deployment completed", func() error {
		s := c.svc("tcp")
		if len(s.Deployments) != 1 || s.Deployments[0].Id == first || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments: %v", len(s.Deployments), eventMessages(s, 4))
		}
		return nil
	})
	t.Logf("blue/green deployment done after %v", time.Since(start))
	s := c.svc("tcp")
	if lbs := s.LoadBalancers; aws.ToString(lbs[0].TargetGroupArn) != green || aws.ToString(lbs[0].AdvancedConfiguration.AlternateTargetGroupArn) != blue {
		t.Errorf("target groups not swapped: %+v", lbs[0])
	}
	if w := weights(); w[green] == 0 || w[blue] != 0 {
		t.Errorf("listener weights after the deployment: %v", w)
	}
	if !hasEvent(s, "shifted 100% of production traffic to the green service revision") {
		t.Errorf("events %v", eventMessages(s, 10))
	}
	if code, err := get(url); err != nil || code != 200 {
		t.Errorf("GET through the TCP listener after the deployment: %d %v", code, err)
	}
}
