package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/autoscaling"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestScaleToZeroAndBack scales a service of real tasks to zero and back
// as Application Auto Scaling and ECS allow it: a scalable target with
// MinCapacity 0; from zero, a step scaling policy on an alarm of a metric
// that exists without tasks (the load balancer's HTTPCode_ELB_503_Count:
// a request to a listener with no target) starts a task; to zero, a
// target tracking policy's scale-in (its AlarmLow alarm, invoked as
// CloudWatch invokes it after 15 low periods) stops it.
func TestScaleToZeroAndBack(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, server: func(o *apitest.Options) {
		o.LBDataPlane = true
		o.AlarmEvaluationInterval = 200 * time.Millisecond
		o.Configure = func(cfg *config.Server) { cfg.LBMetricsPeriod = time.Second }
	}})
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	as := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	elb := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds, RetryMaxAttempts: 1})

	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("zero"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String(c.image), Memory: aws.Int32(32), Essential: aws.Bool(true)}}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("zero"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0)})

	// A load balancer whose listener has no target yet: it answers 503.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("zero")})
	if err != nil {
		t.Fatal(err)
	}
	lbArn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tg, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("zero"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(8080), TargetType: elbtypes.TargetTypeEnumIp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lbArn), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(int32(port)), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroups[0].TargetGroupArn}}}); err != nil {
		t.Fatal(err)
	}

	res, ns, dim := aws.String("service/"+c.name+"/zero"), aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	if _, err := as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	wake, err := as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("wake"), ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{
			// ExactCapacity: the alarm invokes the policy again every
			// period while it stays in ALARM; waking sets one task, however
			// often. No cooldown, so target tracking may scale in at once.
			AdjustmentType: aastypes.AdjustmentTypeExactCapacity, Cooldown: aws.Int32(0),
			StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(0), ScalingAdjustment: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	lbDim := lbArn[strings.Index(lbArn, ":loadbalancer/")+len(":loadbalancer/"):]
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("zero-wake"), Namespace: aws.String("AWS/ApplicationELB"),
		MetricName: aws.String("HTTPCode_ELB_503_Count"), Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)}},
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(10), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(0),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		AlarmActions: []string{aws.ToString(wake.PolicyARN)}}); err != nil {
		t.Fatal(err)
	}

	// The first request finds no task: 503, and the alarm wakes the service.
	if code, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || code != 503 {
		t.Fatalf("request with no task: %d, %v", code, err)
	}
	start := time.Now()
	c.waitRunning("zero", 1, 60*time.Second)
	t.Logf("from the first request to a task RUNNING: %v", time.Since(start).Round(100*time.Millisecond))
	acts, err := as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ns, ResourceId: res})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.ScalingActivities) == 0 || aws.ToString(acts.ScalingActivities[0].Cause) != "monitor alarm zero-wake in state ALARM triggered policy wake" ||
		aws.ToString(acts.ScalingActivities[0].Description) != "Setting desired count to 1." {
		t.Fatalf("activities %+v", acts.ScalingActivities)
	}

	// The wake alarm returns to OK once its period without 503s is
	// evaluated (missing data is not breaching).
	testutil.WaitFor(t, 40*time.Second, "the wake alarm OK", func() error {
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"zero-wake"}})
		if err != nil {
			return err
		}
		if s := out.MetricAlarms[0].StateValue; s != cwtypes.StateValueOk {
			return fmt.Errorf("alarm %s", s)
		}
		return nil
	})
	if n := c.svc("zero").DesiredCount; n != 1 {
		t.Fatalf("desired count %d after the alarm's repeated actions, want 1", n)
	}

	// To zero: target tracking on a metric of the application; its low
	// alarm, invoked as CloudWatch does, scales in to the minimum, 0.
	track, err := as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("queue"), ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
			TargetValue: aws.Float64(10), ScaleInCooldown: aws.Int32(0),
			CustomizedMetricSpecification: &aastypes.CustomizedMetricSpecification{Namespace: aws.String("ZeroTest"), MetricName: aws.String("QueueDepthPerTask"),
				Statistic: aastypes.MetricStatisticAverage}}})
	if err != nil {
		t.Fatal(err)
	}
	low := ""
	for _, al := range track.Alarms {
		if strings.Contains(aws.ToString(al.AlarmName), "-AlarmLow-") {
			low = aws.ToString(al.AlarmName)
		}
	}
	if low == "" {
		t.Fatalf("target tracking alarms %+v", track.Alarms)
	}
	if err := c.env.Server.AutoScaling.Invoke(ctx, aws.ToString(track.PolicyARN), cwlink.AlarmEvent{AlarmName: low, State: "ALARM",
		PreviousState: "OK", Timestamp: time.Now(), Value: 0, Threshold: 9}); err != nil {
		t.Fatal(err)
	}
	c.waitRunning("zero", 0, 60*time.Second)
	if s := c.svc("zero"); s.DesiredCount != 0 {
		t.Errorf("desired count %d, want 0", s.DesiredCount)
	}
	testutil.WaitFor(t, 10*time.Second, "the scale-in activity", func() error {
		acts, err := as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ns, ResourceId: res})
		if err != nil {
			return err
		}
		if d := aws.ToString(acts.ScalingActivities[0].Description); d != "Setting desired count to 0." {
			return fmt.Errorf("last activity %q", d)
		}
		return nil
	})
}

// TestScaleFromZeroHoldsTheFirstRequest: a service of real web tasks
// behind an application load balancer, scaled to zero (a scalable target
// of minimum 0), whose target group holds requests
// (gantry.hold_requests.enabled): the first request is held at the
// listener, wakes the service at once (a scaling activity whose cause
// names the target group, no alarm involved), and is answered 200 by the
// new task once it is registered and healthy, not 503.
func TestScaleFromZeroHoldsTheFirstRequest(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	as := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	lb := c.newLB("hold", 0)

	// Gantry's attributes, validated as ELBv2 validates its own.
	if _, err := lb.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(lb.tg),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("gantry.hold_requests.timeout_seconds"), Value: aws.String("0")}}}); err == nil ||
		!strings.Contains(err.Error(), "ValidationError") || !strings.Contains(err.Error(), "must be between 1 and 300") {
		t.Fatalf("hold timeout 0: %v", err)
	}
	attrs, err := lb.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(lb.tg),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("gantry.hold_requests.enabled"), Value: aws.String("true")},
			{Key: aws.String("gantry.hold_requests.timeout_seconds"), Value: aws.String("90")}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range attrs.Attributes {
		got[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if got["gantry.hold_requests.enabled"] != "true" || got["gantry.hold_requests.timeout_seconds"] != "90" {
		t.Fatalf("attributes %v", got)
	}

	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("holdweb"), ContainerDefinitions: []types.ContainerDefinition{
		webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("hold"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(0),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(lb.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}})
	res, ns, dim := aws.String("service/"+c.name+"/hold"), aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	if _, err := as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cl := http.Client{Timeout: 120 * time.Second}
	resp, err := cl.Get(lb.url)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	resp.Body.Close()
	took := time.Since(start)
	t.Logf("first request at zero tasks: %d after %v", resp.StatusCode, took.Round(10*time.Millisecond))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request at zero tasks: %d, want 200 from the woken task", resp.StatusCode)
	}
	if n := c.svc("hold").DesiredCount; n != 1 {
		t.Fatalf("desired count %d after the wake, want 1", n)
	}
	acts, err := as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ns, ResourceId: res})
	if err != nil {
		t.Fatal(err)
	}
	tgDim := lb.tg[strings.Index(lb.tg, ":targetgroup/")+1:]
	if len(acts.ScalingActivities) != 1 || aws.ToString(acts.ScalingActivities[0].Description) != "Setting desired count to 1." ||
		aws.ToString(acts.ScalingActivities[0].Cause) != autoscaling.WakeCause(tgDim) {
		for _, a := range acts.ScalingActivities {
			t.Logf("activity: %s / %s", aws.ToString(a.Description), aws.ToString(a.Cause))
		}
		t.Fatalf("%d scaling activities, want the one wake", len(acts.ScalingActivities))
	}
	// Served from then on without holding.
	if code, err := get(lb.url); err != nil || code != 200 {
		t.Fatalf("second request: %d, %v", code, err)
	}
}
