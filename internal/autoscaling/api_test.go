package autoscaling

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/store"
)

func TestRegisterScalableTargetRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := func(ns, res, dim string, lo, hi *int32) error {
		_, err := e.api.RegisterScalableTarget(ctx, &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: autoscalingapi.ServiceNamespace(ns),
			ResourceId: res, ScalableDimension: autoscalingapi.ScalableDimension(dim), MinCapacity: lo, MaxCapacity: hi})
		return err
	}
	i := func(n int32) *int32 { return &n }
	for _, tc := range []struct {
		name, ns, res, dim string
		lo, hi             *int32
		code, msg          string
	}{
		{"unknown namespace", "ecz", "service/default/web", DimensionDesired, i(1), i(2), CodeValidation, "enum value set"},
		{"other namespace", "dynamodb", "table/t", "dynamodb:table:ReadCapacityUnits", i(1), i(2), CodeValidation, "Unsupported service namespace"},
		{"unknown dimension", "ecs", "service/default/web", "ecs:service:Count", i(1), i(2), CodeValidation, "enum value set"},
		{"bad resource id", "ecs", "default/web", DimensionDesired, i(1), i(2), CodeValidation, "resource ID"},
		{"service that does not exist", "ecs", "service/default/nope", DimensionDesired, i(1), i(2), CodeValidation, "ECS service doesn't exist: service/default/nope"},
		{"new target without max", "ecs", "service/default/web", DimensionDesired, i(1), nil, CodeValidation, "required"},
		{"min over max", "ecs", "service/default/web", DimensionDesired, i(3), i(2), CodeValidation, "Minimum capacity cannot be greater than maximum capacity"},
		{"negative", "ecs", "service/default/web", DimensionDesired, i(-1), i(2), CodeValidation, "greater than or equal to 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reg(tc.ns, tc.res, tc.dim, tc.lo, tc.hi)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q, want it to say %q", err, tc.msg)
			}
		})
	}
	arn := e.register(t, "service/default/web", 1, 5)
	if !strings.HasPrefix(arn, "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/") {
		t.Errorf("ARN %s", arn)
	}
	// An update may give min or max alone, checked against the other.
	if err := reg("ecs", "service/default/web", DimensionDesired, i(6), nil); err == nil {
		t.Fatal("min 6 over the registered max 5 accepted")
	}
	suspendIn := true
	if _, err := e.api.RegisterScalableTarget(ctx, &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, MinCapacity: i(3), SuspendedState: &autoscalingapi.SuspendedState{DynamicScalingInSuspended: &suspendIn}}); err != nil {
		t.Fatal(err)
	}
	out := ok[*autoscalingapi.DescribeScalableTargetsResponse](t)(e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs"}))
	if len(out.ScalableTargets) != 1 {
		t.Fatalf("targets %+v", out.ScalableTargets)
	}
	st := out.ScalableTargets[0]
	if *st.MinCapacity != 3 || *st.MaxCapacity != 5 || st.ScalableTargetARN != arn || !*st.SuspendedState.DynamicScalingInSuspended ||
		*st.SuspendedState.DynamicScalingOutSuspended || !strings.HasSuffix(st.RoleARN, "/AWSServiceRoleForApplicationAutoScaling_ECSService") {
		t.Errorf("target %+v", st)
	}
	// The desired count (2) was below the new minimum: it is raised.
	if n := e.svcs.get("default/web"); n != 3 {
		t.Errorf("desired count %d, want 3", n)
	}
	acts := e.activities(t, "service/default/web")
	if len(acts) != 1 || acts[0].Description != "Setting desired count to 3." || acts[0].Cause != "minimum capacity was set to 3" || acts[0].StatusCode != "Successful" {
		t.Errorf("activities %s", fmtActs(acts))
	}
}

func TestDescribeScalableTargetsPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 7 {
		e.svcs.set(fmt.Sprintf("c/s%d", i), 1)
		e.register(t, fmt.Sprintf("service/c/s%d", i), 1, 3)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		out, err := e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs", MaxResults: new(int32(3)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range out.ScalableTargets {
			got = append(got, st.ResourceId)
		}
		if token = out.NextToken; token == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
	}
	if len(got) != 7 || got[0] != "service/c/s0" || got[6] != "service/c/s6" {
		t.Errorf("targets %v", got)
	}
	out := ok[*autoscalingapi.DescribeScalableTargetsResponse](t)(e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{
		ServiceNamespace: "ecs", ResourceIds: []string{"service/c/s4", "service/c/s1", "service/c/none"}}))
	if len(out.ScalableTargets) != 2 || out.ScalableTargets[0].ResourceId != "service/c/s1" {
		t.Errorf("filtered %+v", out.ScalableTargets)
	}
	out = ok[*autoscalingapi.DescribeScalableTargetsResponse](t)(e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "dynamodb"}))
	if len(out.ScalableTargets) != 0 {
		t.Errorf("dynamodb targets %+v", out.ScalableTargets)
	}
	_, err := e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs", NextToken: "!!"})
	wantCode(t, err, CodeInvalidNextToken)
	_, err = e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs", ScalableDimension: DimensionDesired})
	wantCode(t, err, CodeValidation)
	_, err = e.api.DescribeScalingActivities(ctx, &autoscalingapi.DescribeScalingActivitiesRequest{ServiceNamespace: "ecs", ScalableDimension: DimensionDesired})
	wantCode(t, err, CodeValidation)
	_, err = e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs", MaxResults: new(int32(51))})
	wantCode(t, err, CodeValidation)
}

func TestTargetTrackingOwnsItsAlarms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 10)
	out, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "cpu50", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(50.0),
			PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricCPU}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.PolicyARN, "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:") ||
		!strings.HasSuffix(out.PolicyARN, ":resource/ecs/service/default/web:policyName/cpu50") {
		t.Errorf("policy ARN %s", out.PolicyARN)
	}
	if len(out.Alarms) != 2 {
		t.Fatalf("alarms %+v", out.Alarms)
	}
	high, low := out.Alarms[0], out.Alarms[1]
	if !strings.HasPrefix(high.AlarmName, "TargetTracking-service/default/web-AlarmHigh-") || !strings.HasPrefix(low.AlarmName, "TargetTracking-service/default/web-AlarmLow-") ||
		high.AlarmARN != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"+high.AlarmName {
		t.Errorf("alarms %+v", out.Alarms)
	}
	h, _ := e.alarms.get(high.AlarmName)
	l, _ := e.alarms.get(low.AlarmName)
	if h.Namespace != "AWS/ECS" || h.MetricName != "CPUUtilization" || h.Statistic != "Average" || *h.Period != DefaultAlarmPeriod ||
		*h.EvaluationPeriods != 3 || *h.DatapointsToAlarm != 3 || h.ComparisonOperator != "GreaterThanThreshold" || *h.Threshold != 50 ||
		len(h.AlarmActions) != 1 || h.AlarmActions[0] != out.PolicyARN || len(h.Dimensions) != 2 || h.Dimensions[0].Value != "default" || h.Dimensions[1].Value != "web" {
		t.Errorf("high alarm %+v", h)
	}
	if l.ComparisonOperator != "LessThanThreshold" || *l.Threshold != 45 || *l.EvaluationPeriods != 15 || *l.DatapointsToAlarm != 15 {
		t.Errorf("low alarm %+v", l)
	}
	// An update keeps the ARN and the alarm names; disabling scale-in
	// deletes the low alarm.
	out2, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "cpu50", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(60.0), DisableScaleIn: new(true),
			PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricCPU}}})
	if err != nil {
		t.Fatal(err)
	}
	if out2.PolicyARN != out.PolicyARN || len(out2.Alarms) != 1 || out2.Alarms[0] != high {
		t.Errorf("updated %+v", out2)
	}
	if names := e.alarms.names(); len(names) != 1 || names[0] != high.AlarmName {
		t.Errorf("alarms after the update %v", names)
	}
	// ALBRequestCountPerTarget reads the target group from its label.
	alb, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "req", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(1000.0),
			PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricRequests,
				ResourceLabel: "app/my-alb/778d41231b141a0f/targetgroup/my-tg/943f017f100becff"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Its target is per minute: over the 10-second period the alarm
	// scales the sum to a minute's.
	a, _ := e.alarms.get(alb.Alarms[0].AlarmName)
	if len(a.Metrics) != 2 || a.Period != nil || *a.Threshold != 1000 {
		t.Fatalf("ALB alarm %+v", a)
	}
	m := a.Metrics[0].MetricStat
	if m.Metric.Namespace != "AWS/ApplicationELB" || m.Metric.MetricName != "RequestCountPerTarget" || m.Stat != "Sum" || *m.Period != DefaultAlarmPeriod ||
		len(m.Metric.Dimensions) != 1 || m.Metric.Dimensions[0].Name != "TargetGroup" || m.Metric.Dimensions[0].Value != "targetgroup/my-tg/943f017f100becff" ||
		*a.Metrics[0].ReturnData || a.Metrics[1].Expression != "m1 * 6" || !*a.Metrics[1].ReturnData {
		t.Errorf("ALB alarm %+v, %+v", m, a.Metrics[1])
	}
	// With AWS's period of 60 seconds it is a metric alarm, as AWS's.
	e.api.AlarmPeriod = 60
	alb60, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "req60", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(1000.0), DisableScaleIn: new(true),
			PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricRequests,
				ResourceLabel: "app/my-alb/778d41231b141a0f/targetgroup/my-tg/943f017f100becff"}}})
	e.api.AlarmPeriod = 0
	if err != nil {
		t.Fatal(err)
	}
	a, _ = e.alarms.get(alb60.Alarms[0].AlarmName)
	if a.Namespace != "AWS/ApplicationELB" || a.MetricName != "RequestCountPerTarget" || a.Statistic != "Sum" || *a.Period != 60 ||
		len(a.Dimensions) != 1 || a.Dimensions[0].Name != "TargetGroup" || a.Dimensions[0].Value != "targetgroup/my-tg/943f017f100becff" {
		t.Errorf("ALB alarm (60 s) %+v", a)
	}
	if _, err := e.api.DeleteScalingPolicy(ctx, &autoscalingapi.DeleteScalingPolicyRequest{PolicyName: "req60", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired}); err != nil {
		t.Fatal(err)
	}
	// Deleting a policy deletes its alarms; deregistering the target
	// deletes the rest.
	if _, err := e.api.DeleteScalingPolicy(ctx, &autoscalingapi.DeleteScalingPolicyRequest{PolicyName: "cpu50", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired}); err != nil {
		t.Fatal(err)
	}
	if names := e.alarms.names(); len(names) != 2 || strings.Contains(names[0]+names[1], high.AlarmName) {
		t.Errorf("alarms after the delete %v", names)
	}
	_, err = e.api.DeleteScalingPolicy(ctx, &autoscalingapi.DeleteScalingPolicyRequest{PolicyName: "cpu50", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired})
	wantCode(t, err, CodeObjectNotFound)
	if _, err := e.api.DeregisterScalableTarget(ctx, &autoscalingapi.DeregisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired}); err != nil {
		t.Fatal(err)
	}
	if names := e.alarms.names(); len(names) != 0 {
		t.Errorf("alarms after deregistering %v", names)
	}
	pols := ok[*autoscalingapi.DescribeScalingPoliciesResponse](t)(e.api.DescribeScalingPolicies(ctx, &autoscalingapi.DescribeScalingPoliciesRequest{ServiceNamespace: "ecs"}))
	if len(pols.ScalingPolicies) != 0 {
		t.Errorf("policies after deregistering %+v", pols.ScalingPolicies)
	}
	_, err = e.api.DeregisterScalableTarget(ctx, &autoscalingapi.DeregisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired})
	wantCode(t, err, CodeObjectNotFound)
}

func TestPutScalingPolicyValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 10)
	inf := math.Inf(1)
	stepCfg := func(typ autoscalingapi.AdjustmentType, steps ...autoscalingapi.StepAdjustment) *autoscalingapi.StepScalingPolicyConfiguration {
		return &autoscalingapi.StepScalingPolicyConfiguration{AdjustmentType: typ, StepAdjustments: steps}
	}
	tt := func(p *autoscalingapi.PredefinedMetricSpecification, c *autoscalingapi.CustomizedMetricSpecification) *autoscalingapi.TargetTrackingScalingPolicyConfiguration {
		return &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(50.0), PredefinedMetricSpecification: p, CustomizedMetricSpecification: c}
	}
	for _, tc := range []struct {
		name string
		req  autoscalingapi.PutScalingPolicyRequest
		code string
	}{
		{"unregistered target", autoscalingapi.PutScalingPolicyRequest{ResourceId: "service/default/api", StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(0, inf, 1))}, CodeObjectNotFound},
		{"no configuration", autoscalingapi.PutScalingPolicyRequest{}, CodeValidation},
		{"no adjustment type", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("", step(0, inf, 1))}, CodeValidation},
		{"no steps", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity")}, CodeValidation},
		{"gap", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(0, 10, 1), step(20, inf, 2))}, CodeValidation},
		{"overlap", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(0, 10, 1), step(5, inf, 2))}, CodeValidation},
		{"two unbounded above", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(0, inf, 1), step(10, inf, 2))}, CodeValidation},
		{"upper under lower", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(10, 5, 1))}, CodeValidation},
		{"magnitude without percent", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: &autoscalingapi.StepScalingPolicyConfiguration{
			AdjustmentType: "ChangeInCapacity", MinAdjustmentMagnitude: new(int32(2)), StepAdjustments: []autoscalingapi.StepAdjustment{step(0, inf, 1)}}}, CodeValidation},
		{"both configurations", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: stepCfg("ChangeInCapacity", step(0, inf, 1)),
			TargetTrackingScalingPolicyConfiguration: tt(&autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricCPU}, nil)}, CodeValidation},
		{"predictive", autoscalingapi.PutScalingPolicyRequest{PolicyType: "PredictiveScaling"}, CodeValidation},
		{"unknown type", autoscalingapi.PutScalingPolicyRequest{PolicyType: "Magic"}, CodeValidation},
		{"no metric", autoscalingapi.PutScalingPolicyRequest{PolicyType: "TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration: tt(nil, nil)}, CodeValidation},
		{"another service's metric", autoscalingapi.PutScalingPolicyRequest{PolicyType: "TargetTrackingScaling",
			TargetTrackingScalingPolicyConfiguration: tt(&autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: "DynamoDBReadCapacityUtilization"}, nil)}, CodeValidation},
		{"ALB without label", autoscalingapi.PutScalingPolicyRequest{PolicyType: "TargetTrackingScaling",
			TargetTrackingScalingPolicyConfiguration: tt(&autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricRequests}, nil)}, CodeValidation},
		{"customized without statistic", autoscalingapi.PutScalingPolicyRequest{PolicyType: "TargetTrackingScaling",
			TargetTrackingScalingPolicyConfiguration: tt(nil, &autoscalingapi.CustomizedMetricSpecification{MetricName: "Q", Namespace: "App"})}, CodeValidation},
		{"no target value", autoscalingapi.PutScalingPolicyRequest{PolicyType: "TargetTrackingScaling",
			TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricCPU}}}, CodeValidation},
		{"negative cooldown", autoscalingapi.PutScalingPolicyRequest{StepScalingPolicyConfiguration: &autoscalingapi.StepScalingPolicyConfiguration{
			AdjustmentType: "ChangeInCapacity", Cooldown: new(int32(-1)), StepAdjustments: []autoscalingapi.StepAdjustment{step(0, inf, 1)}}}, CodeValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.PolicyName, req.ServiceNamespace, req.ScalableDimension = "p", "ecs", DimensionDesired
			if req.ResourceId == "" {
				req.ResourceId = "service/default/web"
			}
			_, err := e.api.PutScalingPolicy(ctx, &req)
			wantCode(t, err, tc.code)
		})
	}
	if n := len(e.alarms.names()); n != 0 {
		t.Errorf("%d alarms left by refused policies", n)
	}
	// A customized metric with metric math becomes a metric-math alarm.
	out, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "math", ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration: tt(nil, &autoscalingapi.CustomizedMetricSpecification{
			Metrics: []autoscalingapi.TargetTrackingMetricDataQuery{
				{Id: "m1", ReturnData: new(false), MetricStat: &autoscalingapi.TargetTrackingMetricStat{Stat: "Sum", Metric: &autoscalingapi.TargetTrackingMetric{Namespace: "App", MetricName: "Backlog"}}},
				{Id: "e1", Expression: "m1 / 2", Label: "per task"}}})})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.alarms.get(out.Alarms[0].AlarmName)
	if len(a.Metrics) != 2 || a.Period != nil || *a.Metrics[0].MetricStat.Period != DefaultAlarmPeriod || a.Metrics[1].Expression != "m1 / 2" {
		t.Errorf("metric math alarm %+v", a)
	}
}

func TestInvokeStepPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 6)
	inf := math.Inf(1)
	arn := e.stepPolicy(t, "service/default/web", "out", "ChangeInCapacity", 60, step(0, 20, 1), step(20, inf, 3))
	if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 75, 70)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 3 {
		t.Fatalf("desired %d, want 3", n)
	}
	acts := e.activities(t, "service/default/web")
	if len(acts) != 1 || acts[0].Description != "Setting desired count to 3." ||
		acts[0].Cause != "monitor alarm cpu-high in state ALARM triggered policy out" || acts[0].StatusCode != "Successful" ||
		acts[0].StatusMessage != "Successfully set desired count to 3. Change successfully fulfilled by ecs." {
		t.Fatalf("activities %s", fmtActs(acts))
	}
	// In the cooldown the same breach does nothing; a larger one counts
	// from the count before the first scale-out (2 + 3), clamped to 6.
	e.clock.Advance(10 * time.Second)
	if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 75, 70)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 3 {
		t.Fatalf("desired %d in the cooldown, want 3", n)
	}
	if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 95, 70)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 5 {
		t.Fatalf("desired %d, want 5", n)
	}
	e.clock.Advance(2 * time.Minute)
	if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 95, 70)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 6 {
		t.Fatalf("desired %d, want the max 6", n)
	}
	if acts := e.activities(t, "service/default/web"); len(acts) != 3 || acts[0].Description != "Setting desired count to 6." {
		t.Errorf("activities, newest first: %s", fmtActs(acts))
	}
	// At the maximum: a not scaled activity, recorded once however often
	// CloudWatch invokes the policy, listed only when asked for.
	for range 3 {
		e.clock.Advance(2 * time.Minute)
		if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 95, 70)); err != nil {
			t.Fatal(err)
		}
	}
	if acts := e.activities(t, "service/default/web"); len(acts) != 3 {
		t.Errorf("activities without the not scaled ones: %s", fmtActs(acts))
	}
	all := ok[*autoscalingapi.DescribeScalingActivitiesResponse](t)(e.api.DescribeScalingActivities(ctx, &autoscalingapi.DescribeScalingActivitiesRequest{
		ServiceNamespace: "ecs", ResourceId: "service/default/web", IncludeNotScaledActivities: new(true)})).ScalingActivities
	if len(all) != 4 || len(all[0].NotScaledReasons) != 1 {
		t.Fatalf("activities with the not scaled ones: %s", fmtActs(all))
	}
	ns := all[0]
	if r := ns.NotScaledReasons[0]; r.Code != "AlreadyAtMaxCapacity" || *r.MaxCapacity != 6 || *r.CurrentCapacity != 6 ||
		ns.StatusCode != "Failed" || ns.StatusMessage != "Failed to set desired count to 9" || ns.Cause != "monitor alarm cpu-high in state ALARM triggered policy out" {
		t.Errorf("not scaled activity %+v %+v", ns, ns.NotScaledReasons[0])
	}
	// Scale-out suspended: nothing.
	e.svcs.set("default/web", 2)
	e.clock.Advance(2 * time.Minute)
	if _, err := e.api.RegisterScalableTarget(ctx, &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, SuspendedState: &autoscalingapi.SuspendedState{DynamicScalingOutSuspended: new(true)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.api.Invoke(ctx, arn, alarm("cpu-high", 95, 70)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 2 {
		t.Errorf("desired %d while suspended, want 2", n)
	}
	// Unknown policies are ObjectNotFoundException.
	wantCode(t, e.api.Invoke(ctx, strings.Replace(arn, "policyName/out", "policyName/gone", 1), alarm("a", 1, 0)), CodeObjectNotFound)
	wantCode(t, e.api.Invoke(ctx, "arn:aws:sns:us-east-1:123456789012:topic", alarm("a", 1, 0)), CodeObjectNotFound)
}

// TestInvokeNeverLosesAnUpdate invokes a +1 policy with no cooldown from
// two API instances (two servers: separate locks) at once: every
// invocation adds one task.
func TestInvokeNeverLosesAnUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 100)
	arn := e.stepPolicy(t, "service/default/web", "plus1", "ChangeInCapacity", 0, step(0, math.Inf(1), 1))
	other := &API{Store: e.api.Store, Services: e.svcs, Alarms: e.alarms, Region: "us-east-1", Account: "123456789012", Now: e.clock.Now}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		api := e.api
		if i%2 == 1 {
			api = other
		}
		wg.Go(func() { errs <- api.Invoke(ctx, arn, alarm("high", 80, 70)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.svcs.get("default/web"); n != 42 {
		t.Errorf("desired count %d after 40 invocations from 2, want 42", n)
	}
	if acts := e.activities(t, "service/default/web"); len(acts) != 40 {
		t.Errorf("%d activities, want 40", len(acts))
	}
}

func TestInvokeTargetTracking(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 10)
	out, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: "cpu50", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(50.0),
			ScaleOutCooldown: new(int32(30)), ScaleInCooldown: new(int32(60)),
			PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: metricCPU}}})
	if err != nil {
		t.Fatal(err)
	}
	high, low := out.Alarms[0].AlarmName, out.Alarms[1].AlarmName
	if err := e.api.Invoke(ctx, out.PolicyARN, alarm(high, 90, 50)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 4 {
		t.Fatalf("desired %d, want ceil(2*90/50) = 4", n)
	}
	// Within the scale-out cooldown the metric still reflects 2 tasks.
	e.clock.Advance(10 * time.Second)
	if err := e.api.Invoke(ctx, out.PolicyARN, alarm(high, 90, 50)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 4 {
		t.Fatalf("desired %d in the cooldown, want 4", n)
	}
	// The low alarm scales in only after the scale-out cooldown.
	if err := e.api.Invoke(ctx, out.PolicyARN, alarm(low, 20, 45)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 4 {
		t.Fatalf("desired %d, scaled in during the scale-out cooldown", n)
	}
	e.clock.Advance(30 * time.Second)
	if err := e.api.Invoke(ctx, out.PolicyARN, alarm(low, 20, 45)); err != nil {
		t.Fatal(err)
	}
	if n := e.svcs.get("default/web"); n != 3 {
		t.Fatalf("desired %d, want 3", n)
	}
	acts := e.activities(t, "service/default/web")
	if len(acts) != 2 || acts[0].Cause != fmt.Sprintf("monitor alarm %s in state ALARM triggered policy cpu50", low) {
		t.Errorf("activities %s", fmtActs(acts))
	}
}

func TestScheduledActions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 4)
	put := func(name, sched string, lo, hi *int32) error {
		_, err := e.api.PutScheduledAction(ctx, &autoscalingapi.PutScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
			ScalableDimension: DimensionDesired, ScheduledActionName: name, Schedule: sched,
			ScalableTargetAction: &autoscalingapi.ScalableTargetAction{MinCapacity: lo, MaxCapacity: hi}})
		return err
	}
	i := func(n int32) *int32 { return &n }
	wantCode(t, put("bad", "cron(0 10 * * * *)", i(1), nil), CodeValidation)
	wantCode(t, put("bad", "rate(5 weeks)", i(1), nil), CodeValidation)
	wantCode(t, put("bad", "rate(5 minutes)", nil, nil), CodeValidation)
	wantCode(t, put("bad", "rate(5 minutes)", i(5), i(3)), CodeValidation)
	wantCode(t, put("bad", "", i(1), nil), CodeValidation)
	_, err := e.api.PutScheduledAction(ctx, &autoscalingapi.PutScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, ScheduledActionName: "tz", Schedule: "rate(1 day)", Timezone: "Mars/Olympus",
		ScalableTargetAction: &autoscalingapi.ScalableTargetAction{MinCapacity: i(1)}})
	wantCode(t, err, CodeValidation)
	_, err = e.api.PutScheduledAction(ctx, &autoscalingapi.PutScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/api",
		ScalableDimension: DimensionDesired, ScheduledActionName: "x", Schedule: "rate(1 day)", ScalableTargetAction: &autoscalingapi.ScalableTargetAction{MinCapacity: i(1)}})
	wantCode(t, err, CodeObjectNotFound)

	// Morning: at least 3 tasks at 09:05; evening: at most 1 from 18:00
	// New York time.
	if err := put("morning", "at(2026-03-02T09:05:00)", i(3), i(8)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.PutScheduledAction(ctx, &autoscalingapi.PutScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, ScheduledActionName: "evening", Schedule: "cron(0 18 * * ? *)", Timezone: "America/New_York",
		ScalableTargetAction: &autoscalingapi.ScalableTargetAction{MinCapacity: i(0), MaxCapacity: i(1)}}); err != nil {
		t.Fatal(err)
	}
	acts := ok[*autoscalingapi.DescribeScheduledActionsResponse](t)(e.api.DescribeScheduledActions(ctx, &autoscalingapi.DescribeScheduledActionsRequest{ServiceNamespace: "ecs"}))
	if len(acts.ScheduledActions) != 2 || acts.ScheduledActions[0].ScheduledActionName != "evening" || acts.ScheduledActions[1].ScheduledActionName != "morning" ||
		!strings.HasSuffix(acts.ScheduledActions[1].ScheduledActionARN, ":resource/ecs/service/default/web:scheduledActionName/morning") {
		t.Fatalf("scheduled actions %+v", acts.ScheduledActions)
	}
	run := func() {
		t.Helper()
		if err := e.api.runScheduled(ctx, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := e.svcs.get("default/web"); n != 2 {
		t.Fatalf("desired %d before 09:05", n)
	}
	e.clock.Advance(5 * time.Minute)
	run()
	run() // once only
	if n := e.svcs.get("default/web"); n != 3 {
		t.Fatalf("desired %d after the morning action, want its minimum 3", n)
	}
	st := ok[*autoscalingapi.DescribeScalableTargetsResponse](t)(e.api.DescribeScalableTargets(ctx, &autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs"})).ScalableTargets[0]
	if *st.MinCapacity != 3 || *st.MaxCapacity != 8 {
		t.Errorf("bounds %d-%d, want 3-8", *st.MinCapacity, *st.MaxCapacity)
	}
	history := e.activities(t, "service/default/web")
	if len(history) != 2 || history[1].Description != "Setting min capacity to 3 and max capacity to 8" ||
		history[1].Cause != "scheduled action name morning was triggered" || history[0].Description != "Setting desired count to 3." ||
		history[0].Cause != "scheduled action name morning was triggered" {
		t.Fatalf("activities %s", fmtActs(history))
	}
	// 18:00 in New York is 23:00 UTC.
	e.clock.Advance(13*time.Hour + 54*time.Minute)
	run()
	if n := e.svcs.get("default/web"); n != 3 {
		t.Fatalf("desired %d before 18:00 New York", n)
	}
	e.clock.Advance(2 * time.Minute)
	run()
	if n := e.svcs.get("default/web"); n != 1 {
		t.Fatalf("desired %d after the evening action, want its maximum 1", n)
	}
	// Suspended scheduled scaling: the next evening does nothing.
	if _, err := e.api.RegisterScalableTarget(ctx, &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, MaxCapacity: i(5), SuspendedState: &autoscalingapi.SuspendedState{ScheduledScalingSuspended: new(true)}}); err != nil {
		t.Fatal(err)
	}
	e.svcs.set("default/web", 4)
	e.clock.Advance(24 * time.Hour)
	run()
	if n := e.svcs.get("default/web"); n != 4 {
		t.Errorf("desired %d with scheduled scaling suspended", n)
	}
	if _, err := e.api.DeleteScheduledAction(ctx, &autoscalingapi.DeleteScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, ScheduledActionName: "evening"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.api.DeleteScheduledAction(ctx, &autoscalingapi.DeleteScheduledActionRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, ScheduledActionName: "evening"})
	wantCode(t, err, CodeObjectNotFound)
}

func TestRateWithStartAndEnd(t *testing.T) {
	x := actionRecord{Action: autoscalingapi.ScheduledAction{Schedule: "rate(10 minutes)", CreationTime: awstime.NewTimestamp(t0),
		StartTime: awstime.NewTimestamp(t0.Add(time.Hour)), EndTime: awstime.NewTimestamp(t0.Add(90 * time.Minute))}}
	if _, ok := x.due(t0.Add(59 * time.Minute)); ok {
		t.Error("due before its start time")
	}
	when, ok := x.due(t0.Add(65 * time.Minute))
	if !ok || !when.Equal(t0.Add(time.Hour)) {
		t.Errorf("due %v %v, want the start time", when, ok)
	}
	x.LastRun = when
	when, ok = x.due(t0.Add(95 * time.Minute))
	if !ok || !when.Equal(t0.Add(90*time.Minute)) {
		t.Errorf("due %v %v, want the last occurrence before the end time (missed ones run once)", when, ok)
	}
	x.LastRun = when
	if when, ok := x.due(t0.Add(5 * time.Hour)); ok {
		t.Errorf("due at %v after its end time", when)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lo, hi := int32(1), int32(3)
	out, err := e.api.RegisterScalableTarget(ctx, &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: DimensionDesired, MinCapacity: &lo, MaxCapacity: &hi, Tags: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ScalableTargetARN
	if _, err := e.api.TagResource(ctx, &autoscalingapi.TagResourceRequest{ResourceARN: arn, Tags: map[string]string{"env": "prod", "team": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.UntagResource(ctx, &autoscalingapi.UntagResourceRequest{ResourceARN: arn, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags := ok[*autoscalingapi.ListTagsForResourceResponse](t)(e.api.ListTagsForResource(ctx, &autoscalingapi.ListTagsForResourceRequest{ResourceARN: arn})).Tags
	if len(tags) != 1 || tags["team"] != "b" {
		t.Errorf("tags %v", tags)
	}
	_, err = e.api.TagResource(ctx, &autoscalingapi.TagResourceRequest{ResourceARN: arn, Tags: map[string]string{"aws:x": "y"}})
	wantCode(t, err, CodeValidation)
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	_, err = e.api.TagResource(ctx, &autoscalingapi.TagResourceRequest{ResourceARN: arn, Tags: many})
	wantCode(t, err, CodeTooManyTags)
	_, err = e.api.ListTagsForResource(ctx, &autoscalingapi.ListTagsForResourceRequest{ResourceARN: "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0123"})
	wantCode(t, err, CodeResourceNotFound)
	_, err = e.api.ListTagsForResource(ctx, &autoscalingapi.ListTagsForResourceRequest{ResourceARN: "not-an-arn"})
	wantCode(t, err, CodeValidation)
	// Deregistered: the ARN is gone with it.
	if _, err := e.api.DeregisterScalableTarget(ctx, &autoscalingapi.DeregisterScalableTargetRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web", ScalableDimension: DimensionDesired}); err != nil {
		t.Fatal(err)
	}
	_, err = e.api.ListTagsForResource(ctx, &autoscalingapi.ListTagsForResourceRequest{ResourceARN: arn})
	wantCode(t, err, CodeResourceNotFound)
}

func TestActivitiesArePruned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, "service/default/web", 1, 10)
	arn := e.stepPolicy(t, "service/default/web", "plus1", "ChangeInCapacity", 0, step(0, math.Inf(1), 1))
	for range 3 {
		if err := e.api.Invoke(ctx, arn, alarm("high", 80, 70)); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(7 * 24 * time.Hour)
	}
	e.clock.Advance(ActivityRetention - 15*24*time.Hour) // the first is now older than six weeks
	if err := e.api.pruneActivities(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := e.api.Store.Count(ctx, activitiesPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d activities after pruning, want 2", n)
	}
	if acts := e.activities(t, ""); len(acts) != 2 || acts[0].Description != "Setting desired count to 5." {
		t.Errorf("activities %s", fmtActs(acts))
	}
	_ = store.ErrNotFound
}

// TestConcurrentPutsLoseNothing puts policies, scheduled actions and tags
// of one target at once: every one is kept.
func TestConcurrentPutsLoseNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	arn := e.register(t, "service/default/web", 1, 10)
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 20 {
		wg.Go(func() {
			_, err := e.api.PutScalingPolicy(ctx, &autoscalingapi.PutScalingPolicyRequest{PolicyName: fmt.Sprintf("p%02d", i), ServiceNamespace: "ecs",
				ResourceId: "service/default/web", ScalableDimension: DimensionDesired, StepScalingPolicyConfiguration: &autoscalingapi.StepScalingPolicyConfiguration{
					AdjustmentType: "ChangeInCapacity", StepAdjustments: []autoscalingapi.StepAdjustment{step(0, math.Inf(1), 1)}}})
			errs <- err
		})
		wg.Go(func() {
			_, err := e.api.PutScheduledAction(ctx, &autoscalingapi.PutScheduledActionRequest{ScheduledActionName: fmt.Sprintf("a%02d", i), ServiceNamespace: "ecs",
				ResourceId: "service/default/web", ScalableDimension: DimensionDesired, Schedule: "rate(1 day)",
				ScalableTargetAction: &autoscalingapi.ScalableTargetAction{MinCapacity: new(int32(1))}})
			errs <- err
		})
		wg.Go(func() {
			_, err := e.api.TagResource(ctx, &autoscalingapi.TagResourceRequest{ResourceARN: arn, Tags: map[string]string{fmt.Sprintf("t%02d", i): "v"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, _, err := e.api.getTarget(ctx, "service/default/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Policies) != 20 || len(rec.Actions) != 20 || len(rec.Tags) != 20 {
		t.Errorf("%d policies, %d actions, %d tags; want 20 of each", len(rec.Policies), len(rec.Actions), len(rec.Tags))
	}
	// Policies page ten at a time, in name order.
	var names []string
	token := ""
	for {
		out := ok[*autoscalingapi.DescribeScalingPoliciesResponse](t)(e.api.DescribeScalingPolicies(ctx, &autoscalingapi.DescribeScalingPoliciesRequest{ServiceNamespace: "ecs", NextToken: token}))
		for _, p := range out.ScalingPolicies {
			names = append(names, p.PolicyName)
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if len(names) != 20 || names[0] != "p00" || names[19] != "p19" {
		t.Errorf("policies %v", names)
	}
}

type brokenServices struct{}

func (brokenServices) DesiredCount(context.Context, string, string) (int32, error) {
	return 0, fmt.Errorf("ecs is down")
}

func (brokenServices) SetDesiredCount(context.Context, string, string, int32, int32) error {
	return fmt.Errorf("ecs is down")
}

func TestUnexpectedErrorsAreInternalServiceException(t *testing.T) {
	e := newEnv(t)
	e.api.Services = brokenServices{}
	lo, hi := int32(1), int32(2)
	_, err := e.api.RegisterScalableTarget(context.Background(), &autoscalingapi.RegisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: DimensionDesired, MinCapacity: &lo, MaxCapacity: &hi})
	wantCode(t, err, "InternalServiceException")
	if strings.Contains(err.Error(), "ecs is down") {
		t.Errorf("the cause leaks to the client: %v", err)
	}
}
