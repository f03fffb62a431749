package autoscaling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// MaxPoliciesPerTarget is AWS's quota of scaling policies per scalable
// target.
const MaxPoliciesPerTarget = 50

// The predefined metrics of ECS targets.
const (
	metricCPU      = "ECSServiceAverageCPUUtilization"
	metricMemory   = "ECSServiceAverageMemoryUtilization"
	metricRequests = "ALBRequestCountPerTarget"
)

// PutScalingPolicy creates or updates a step scaling or target tracking
// policy of a registered target. A target tracking policy creates (and
// owns) its alarms, TargetTracking-<resource id>-AlarmHigh-<uuid> and,
// unless scale-in is disabled, -AlarmLow-<uuid>; an update keeps the
// policy's ARN and its alarms' names.
func (a *API) PutScalingPolicy(ctx context.Context, in *autoscalingapi.PutScalingPolicyRequest) (_ *autoscalingapi.PutScalingPolicyResponse, rerr error) {
	defer a.fault(&rerr)
	svc, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	if err != nil {
		return nil, err
	}
	if err := checkName("policyName", in.PolicyName); err != nil {
		return nil, err
	}
	typ := in.PolicyType
	if typ == "" {
		typ = "StepScaling"
	}
	if !slices.Contains(typ.Values(), typ) {
		return nil, enumError("policyType", typ, typ.Values())
	}
	switch typ {
	case "StepScaling":
		if in.StepScalingPolicyConfiguration == nil {
			return nil, validation("StepScalingPolicyConfiguration is required for a policy of type StepScaling")
		}
		if in.TargetTrackingScalingPolicyConfiguration != nil || in.PredictiveScalingPolicyConfiguration != nil {
			return nil, validation("Only StepScalingPolicyConfiguration may be given for a policy of type StepScaling")
		}
		if err := checkStep(in.StepScalingPolicyConfiguration); err != nil {
			return nil, err
		}
	case "TargetTrackingScaling":
		if in.TargetTrackingScalingPolicyConfiguration == nil {
			return nil, validation("TargetTrackingScalingPolicyConfiguration is required for a policy of type TargetTrackingScaling")
		}
		if in.StepScalingPolicyConfiguration != nil || in.PredictiveScalingPolicyConfiguration != nil {
			return nil, validation("Only TargetTrackingScalingPolicyConfiguration may be given for a policy of type TargetTrackingScaling")
		}
		if err := checkTracking(in.TargetTrackingScalingPolicyConfiguration); err != nil {
			return nil, err
		}
		if a.Alarms == nil {
			return nil, apierror.New(CodeFailedResourceAcces, "CloudWatch is not available to create the alarms of a target tracking policy")
		}
	default:
		return nil, validation("Policy type %s is not supported by Gantry: use StepScaling or TargetTrackingScaling", typ)
	}
	rec, _, err := a.getTarget(ctx, in.ResourceId)
	if err != nil {
		if isNotFound(err) {
			return nil, noTarget(in.ResourceId)
		}
		return nil, err
	}
	// The policy as it will be stored: an existing one keeps its ARN,
	// creation time and alarm names.
	pol := autoscalingapi.ScalingPolicy{
		PolicyName: in.PolicyName, ServiceNamespace: NamespaceECS, ResourceId: in.ResourceId, ScalableDimension: DimensionDesired,
		PolicyType: typ, StepScalingPolicyConfiguration: in.StepScalingPolicyConfiguration,
		TargetTrackingScalingPolicyConfiguration: in.TargetTrackingScalingPolicyConfiguration,
		PolicyARN:                                a.policyARN(newUUID(), in.ResourceId, in.PolicyName), CreationTime: awstime.NewTimestamp(a.now()),
	}
	var old []autoscalingapi.Alarm
	if i := rec.policy(in.PolicyName); i >= 0 {
		prev := rec.Policies[i]
		pol.PolicyARN, pol.CreationTime, old = prev.PolicyARN, prev.CreationTime, prev.Alarms
	} else if len(rec.Policies) >= MaxPoliciesPerTarget {
		return nil, apierror.New(CodeLimitExceeded, "Unable to create a new scaling policy for %s: the limit of %d scaling policies per scalable target is reached", in.ResourceId, MaxPoliciesPerTarget)
	}
	if typ == "TargetTrackingScaling" {
		alarms, err := a.putTrackingAlarms(ctx, svc, &pol, old)
		if err != nil {
			return nil, err
		}
		pol.Alarms = alarms
	}
	var stale []autoscalingapi.Alarm
	for _, al := range old {
		if !slices.Contains(pol.Alarms, al) {
			stale = append(stale, al)
		}
	}
	if _, err := a.mutateTarget(ctx, in.ResourceId, func(r *targetRecord) error {
		if i := r.policy(in.PolicyName); i >= 0 {
			r.Policies[i] = pol
			return nil
		}
		if len(r.Policies) >= MaxPoliciesPerTarget {
			return apierror.New(CodeLimitExceeded, "Unable to create a new scaling policy for %s: the limit of %d scaling policies per scalable target is reached", in.ResourceId, MaxPoliciesPerTarget)
		}
		r.Policies = append(r.Policies, pol)
		return nil
	}); err != nil {
		if len(old) == 0 {
			a.deleteAlarms(ctx, pol.Alarms) // the policy was not created: neither are its alarms
		}
		return nil, err
	}
	a.deleteAlarms(ctx, stale)
	return &autoscalingapi.PutScalingPolicyResponse{PolicyARN: pol.PolicyARN, Alarms: pol.Alarms}, nil
}

// checkStep checks a step scaling configuration as AWS does: an
// adjustment type, at least one step, intervals that neither overlap nor
// leave gaps (at most one unbounded below and one above), a minimum
// adjustment magnitude only for PercentChangeInCapacity.
func checkStep(c *autoscalingapi.StepScalingPolicyConfiguration) error {
	if c.AdjustmentType == "" {
		return validation("AdjustmentType is required for a step scaling policy")
	}
	if !slices.Contains(c.AdjustmentType.Values(), c.AdjustmentType) {
		return enumError("stepScalingPolicyConfiguration.adjustmentType", c.AdjustmentType, c.AdjustmentType.Values())
	}
	if c.MetricAggregationType != "" && !slices.Contains(c.MetricAggregationType.Values(), c.MetricAggregationType) {
		return enumError("stepScalingPolicyConfiguration.metricAggregationType", c.MetricAggregationType, c.MetricAggregationType.Values())
	}
	if c.Cooldown != nil && *c.Cooldown < 0 {
		return validation("1 validation error detected: Value '%d' at 'stepScalingPolicyConfiguration.cooldown' failed to satisfy constraint: Member must have value greater than or equal to 0", *c.Cooldown)
	}
	if c.MinAdjustmentMagnitude != nil {
		if c.AdjustmentType != "PercentChangeInCapacity" {
			return validation("MinAdjustmentMagnitude is only supported with the PercentChangeInCapacity adjustment type")
		}
		if *c.MinAdjustmentMagnitude < 1 {
			return validation("MinAdjustmentMagnitude must be at least 1")
		}
	}
	if len(c.StepAdjustments) == 0 {
		return validation("At least one step adjustment is required for a step scaling policy")
	}
	type interval struct{ lo, hi float64 }
	var ivs []interval
	for _, s := range c.StepAdjustments {
		if s.ScalingAdjustment == nil {
			return validation("ScalingAdjustment is required in each step adjustment")
		}
		if c.AdjustmentType == "ExactCapacity" && *s.ScalingAdjustment < 0 {
			return validation("The scaling adjustment of an ExactCapacity step must be at least 0")
		}
		iv := interval{math.Inf(-1), math.Inf(1)}
		if s.MetricIntervalLowerBound != nil {
			iv.lo = *s.MetricIntervalLowerBound
		}
		if s.MetricIntervalUpperBound != nil {
			iv.hi = *s.MetricIntervalUpperBound
		}
		if math.IsNaN(iv.lo) || math.IsNaN(iv.hi) || iv.lo >= iv.hi {
			return validation("The upper bound of a step adjustment's interval must be greater than its lower bound")
		}
		ivs = append(ivs, iv)
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	for i := 1; i < len(ivs); i++ {
		if ivs[i-1].hi != ivs[i].lo {
			return validation("Step adjustments must not overlap or have gaps between their intervals")
		}
	}
	return nil
}

// checkTracking checks a target tracking configuration: a target value,
// exactly one metric, a predefined metric of ECS (with a resource label
// for ALBRequestCountPerTarget), or a customized metric.
func checkTracking(c *autoscalingapi.TargetTrackingScalingPolicyConfiguration) error {
	if c.TargetValue == nil {
		return validation("TargetValue is required for a target tracking policy")
	}
	if v := *c.TargetValue; math.IsNaN(v) || v < 8.515920e-109 || v > 6.174046e+108 {
		return validation("1 validation error detected: Value '%g' at 'targetTrackingScalingPolicyConfiguration.targetValue' failed to satisfy constraint: Member must be between 8.515920e-109 and 6.174046e+108", v)
	}
	for _, cd := range []struct {
		name string
		v    *int32
	}{{"scaleOutCooldown", c.ScaleOutCooldown}, {"scaleInCooldown", c.ScaleInCooldown}} {
		if cd.v != nil && *cd.v < 0 {
			return validation("1 validation error detected: Value '%d' at 'targetTrackingScalingPolicyConfiguration.%s' failed to satisfy constraint: Member must have value greater than or equal to 0", *cd.v, cd.name)
		}
	}
	p, cm := c.PredefinedMetricSpecification, c.CustomizedMetricSpecification
	if (p == nil) == (cm == nil) {
		return validation("Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified")
	}
	if p != nil {
		t := p.PredefinedMetricType
		if !slices.Contains(t.Values(), t) {
			return enumError("targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType", t, t.Values())
		}
		switch t {
		case metricCPU, metricMemory:
			if p.ResourceLabel != "" {
				return validation("ResourceLabel is only allowed with the predefined metric type ALBRequestCountPerTarget")
			}
		case metricRequests:
			if _, ok := targetGroupOfLabel(p.ResourceLabel); !ok {
				return validation("Invalid ResourceLabel '%s' for ALBRequestCountPerTarget: expected app/<load balancer name>/<load balancer id>/targetgroup/<target group name>/<target group id>", p.ResourceLabel)
			}
		default:
			return validation("Unsupported predefined metric type %s for service namespace ecs", t)
		}
		return nil
	}
	if len(cm.Metrics) > 0 {
		if cm.MetricName != "" || cm.Namespace != "" || len(cm.Dimensions) > 0 || cm.Statistic != "" || cm.Unit != "" {
			return validation("Metrics cannot be combined with MetricName, Namespace, Dimensions, Statistic or Unit in a customized metric specification")
		}
		returned := 0
		for _, q := range cm.Metrics {
			if err := checkLength("metrics.member.id", q.Id, 1, 255); err != nil {
				return err
			}
			if (q.Expression == "") == (q.MetricStat == nil) {
				return validation("Each metric query must have exactly one of Expression and MetricStat")
			}
			if q.MetricStat != nil && (q.MetricStat.Metric == nil || q.MetricStat.Metric.MetricName == "" || q.MetricStat.Metric.Namespace == "" || q.MetricStat.Stat == "") {
				return validation("A MetricStat needs a Metric with a MetricName and a Namespace, and a Stat")
			}
			if q.ReturnData == nil || *q.ReturnData {
				returned++
			}
		}
		if returned != 1 {
			return validation("Exactly one metric query of a customized metric specification must return data")
		}
		return nil
	}
	if cm.MetricName == "" || cm.Namespace == "" || cm.Statistic == "" {
		return validation("A customized metric specification needs MetricName, Namespace and Statistic (or Metrics)")
	}
	if !slices.Contains(cm.Statistic.Values(), cm.Statistic) {
		return enumError("targetTrackingScalingPolicyConfiguration.customizedMetricSpecification.statistic", cm.Statistic, cm.Statistic.Values())
	}
	return nil
}

// targetGroupOfLabel returns the TargetGroup dimension
// (targetgroup/<name>/<id>) of an ALBRequestCountPerTarget resource label.
func targetGroupOfLabel(label string) (string, bool) {
	parts := strings.Split(label, "/")
	if len(parts) != 6 || parts[0] != "app" || parts[3] != "targetgroup" || slices.Contains(parts, "") || len(label) > 1023 {
		return "", false
	}
	return strings.Join(parts[3:], "/"), true
}

// putTrackingAlarms creates or updates a target tracking policy's alarms,
// reusing the names of old ones.
func (a *API) putTrackingAlarms(ctx context.Context, svc service, pol *autoscalingapi.ScalingPolicy, old []autoscalingapi.Alarm) ([]autoscalingapi.Alarm, error) {
	c := pol.TargetTrackingScalingPolicyConfiguration
	name := func(kind string) string {
		for _, al := range old {
			if strings.Contains(al.AlarmName, "-"+kind+"-") {
				return al.AlarmName
			}
		}
		return fmt.Sprintf("TargetTracking-%s-%s-%s", pol.ResourceId, kind, newUUID())
	}
	base := cloudwatchapi.PutMetricAlarmInput{
		AlarmDescription: fmt.Sprintf("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy %s.", pol.PolicyARN),
		AlarmActions:     []string{pol.PolicyARN},
		ActionsEnabled:   new(true),
	}
	period := a.alarmPeriod()
	switch {
	case c.PredefinedMetricSpecification != nil:
		p := c.PredefinedMetricSpecification
		switch p.PredefinedMetricType {
		case metricCPU, metricMemory:
			// No unit: an alarm with one ignores datapoints stored without it.
			base.Namespace, base.MetricName, base.Statistic = "AWS/ECS", "CPUUtilization", "Average"
			if p.PredefinedMetricType == metricMemory {
				base.MetricName = "MemoryUtilization"
			}
			base.Dimensions = []cloudwatchapi.Dimension{{Name: "ClusterName", Value: svc.cluster}, {Name: "ServiceName", Value: svc.name}}
		case metricRequests:
			tg, _ := targetGroupOfLabel(p.ResourceLabel)
			dims := []cloudwatchapi.Dimension{{Name: "TargetGroup", Value: tg}}
			if period == 60 {
				base.Namespace, base.MetricName, base.Statistic = "AWS/ApplicationELB", "RequestCountPerTarget", "Sum"
				base.Dimensions = dims
				break
			}
			// The target value is requests per target per minute: over a
			// shorter period the sum is scaled to a minute's, so the
			// alarm compares like with like (a metric math alarm).
			base.Metrics = []cloudwatchapi.MetricDataQuery{
				{Id: "m1", ReturnData: new(false), MetricStat: &cloudwatchapi.MetricStat{Period: new(period), Stat: "Sum",
					Metric: &cloudwatchapi.Metric{Namespace: "AWS/ApplicationELB", MetricName: "RequestCountPerTarget", Dimensions: dims}}},
				{Id: "e1", ReturnData: new(true), Label: "RequestCountPerTarget per minute",
					Expression: "m1 * " + strconv.FormatFloat(60/float64(period), 'g', -1, 64)},
			}
		}
	case len(c.CustomizedMetricSpecification.Metrics) > 0:
		for _, q := range c.CustomizedMetricSpecification.Metrics {
			mq := cloudwatchapi.MetricDataQuery{Id: q.Id, Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData}
			if s := q.MetricStat; s != nil {
				m := &cloudwatchapi.Metric{Namespace: s.Metric.Namespace, MetricName: s.Metric.MetricName}
				for _, d := range s.Metric.Dimensions {
					m.Dimensions = append(m.Dimensions, cloudwatchapi.Dimension{Name: d.Name, Value: d.Value})
				}
				mq.MetricStat = &cloudwatchapi.MetricStat{Metric: m, Period: new(period), Stat: s.Stat, Unit: cloudwatchapi.StandardUnit(s.Unit)}
			}
			base.Metrics = append(base.Metrics, mq)
		}
	default:
		cm := c.CustomizedMetricSpecification
		base.Namespace, base.MetricName, base.Statistic, base.Unit = cm.Namespace, cm.MetricName, cloudwatchapi.Statistic(cm.Statistic), cloudwatchapi.StandardUnit(cm.Unit)
		for _, d := range cm.Dimensions {
			base.Dimensions = append(base.Dimensions, cloudwatchapi.Dimension{Name: d.Name, Value: d.Value})
		}
	}
	if len(base.Metrics) == 0 {
		base.Period = new(period)
	}
	target := *c.TargetValue
	high := base
	high.AlarmName = name("AlarmHigh")
	high.ComparisonOperator, high.Threshold = "GreaterThanThreshold", new(target)
	high.EvaluationPeriods, high.DatapointsToAlarm = new(int32(3)), new(int32(3))
	specs := []cloudwatchapi.PutMetricAlarmInput{high}
	if c.DisableScaleIn == nil || !*c.DisableScaleIn {
		low := base
		low.AlarmName = name("AlarmLow")
		low.ComparisonOperator, low.Threshold = "LessThanThreshold", new(target*0.9)
		low.EvaluationPeriods, low.DatapointsToAlarm = new(int32(15)), new(int32(15))
		specs = append(specs, low)
	}
	var out []autoscalingapi.Alarm
	for i := range specs {
		if _, err := a.Alarms.PutMetricAlarm(ctx, &specs[i]); err != nil {
			if len(old) == 0 {
				a.deleteAlarms(ctx, out)
			}
			if ae, ok := apierror.As(err); ok && ae.HTTPStatus() < 500 {
				return nil, validation("The alarm %s of the target tracking policy was refused by CloudWatch: %s", specs[i].AlarmName, ae.Message)
			}
			return nil, fmt.Errorf("put alarm %s: %w", specs[i].AlarmName, err)
		}
		out = append(out, autoscalingapi.Alarm{AlarmName: specs[i].AlarmName, AlarmARN: a.alarmARN(specs[i].AlarmName)})
	}
	return out, nil
}

// deleteAlarms deletes alarms a policy owned; a failure is logged (the
// alarm's action then names a policy that no longer exists, which Invoke
// answers with ObjectNotFoundException).
func (a *API) deleteAlarms(ctx context.Context, alarms []autoscalingapi.Alarm) {
	if len(alarms) == 0 || a.Alarms == nil {
		return
	}
	names := make([]string, len(alarms))
	for i, al := range alarms {
		names[i] = al.AlarmName
	}
	if _, err := a.Alarms.DeleteAlarms(ctx, &cloudwatchapi.DeleteAlarmsInput{AlarmNames: names}); err != nil {
		a.logger().Warn("delete the alarms of a target tracking policy", "alarms", names, "err", err)
	}
}

// DescribeScalingPolicies lists scaling policies, filtered by names,
// resource ID and dimension, 10 a page.
func (a *API) DescribeScalingPolicies(ctx context.Context, in *autoscalingapi.DescribeScalingPoliciesRequest) (_ *autoscalingapi.DescribeScalingPoliciesResponse, rerr error) {
	defer a.fault(&rerr)
	ecs, err := checkNamespace(in.ServiceNamespace)
	if err != nil {
		return nil, err
	}
	if err := checkDimension(in.ScalableDimension); err != nil {
		return nil, err
	}
	if in.ScalableDimension != "" && in.ResourceId == "" {
		return nil, errDimensionWithoutResource
	}
	if len(in.PolicyNames) > 50 {
		return nil, validation("1 validation error detected: Value at 'policyNames' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	for _, n := range in.PolicyNames {
		if err := checkName("policyNames.member", n); err != nil {
			return nil, err
		}
	}
	n, err := maxResults(in.MaxResults, 10, 10)
	if err != nil {
		return nil, err
	}
	var pols []keyed[autoscalingapi.ScalingPolicy]
	if ecs && (in.ScalableDimension == "" || in.ScalableDimension == DimensionDesired) {
		var ids []string
		if in.ResourceId != "" {
			ids = []string{in.ResourceId}
		}
		recs, err := a.listTargets(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ps := slices.Clone(r.v.Policies)
			slices.SortFunc(ps, func(x, y autoscalingapi.ScalingPolicy) int { return strings.Compare(x.PolicyName, y.PolicyName) })
			for _, p := range ps {
				if len(in.PolicyNames) > 0 && !slices.Contains(in.PolicyNames, p.PolicyName) {
					continue
				}
				pols = append(pols, keyed[autoscalingapi.ScalingPolicy]{key: r.key + "\x00" + p.PolicyName, v: p})
			}
		}
	}
	got, next, err := page(pols, func(k keyed[autoscalingapi.ScalingPolicy]) string { return k.key }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	out := &autoscalingapi.DescribeScalingPoliciesResponse{ScalingPolicies: []autoscalingapi.ScalingPolicy{}, NextToken: next}
	for _, k := range got {
		out.ScalingPolicies = append(out.ScalingPolicies, k.v)
	}
	return out, nil
}

// DeleteScalingPolicy deletes a scaling policy and the alarms it owns.
func (a *API) DeleteScalingPolicy(ctx context.Context, in *autoscalingapi.DeleteScalingPolicyRequest) (_ *autoscalingapi.DeleteScalingPolicyResponse, rerr error) {
	defer a.fault(&rerr)
	if _, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	if err := checkName("policyName", in.PolicyName); err != nil {
		return nil, err
	}
	notFound := objectNotFound("No scaling policy found for service namespace: %s, resource ID: %s, scalable dimension: %s, policy name: %s",
		NamespaceECS, in.ResourceId, DimensionDesired, in.PolicyName)
	var gone autoscalingapi.ScalingPolicy
	_, err := a.mutateTarget(ctx, in.ResourceId, func(r *targetRecord) error {
		i := r.policy(in.PolicyName)
		if i < 0 {
			return notFound
		}
		gone = r.Policies[i]
		r.Policies = slices.Delete(r.Policies, i, i+1)
		return nil
	})
	if apierror.IsCode(err, CodeObjectNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	a.deleteAlarms(ctx, gone.Alarms)
	return &autoscalingapi.DeleteScalingPolicyResponse{}, nil
}
