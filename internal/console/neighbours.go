package console

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// Signing names of the neighbours the console reads.
const (
	svcELB     = elbv2api.SigningName
	svcMetrics = cloudwatchapi.SigningName
	svcScaling = autoscalingapi.SigningName
)

// targetGroupHealth is a target group with its targets' health.
type targetGroupHealth struct {
	ARN, Name string
	Port      *int32
	Protocol  string
	Targets   []elbv2api.TargetHealthDescription
	// Healthy counts the healthy targets.
	Healthy int
	Err     string
}

// targetHealth reads the health of the targets of each target group
// named, as the session's key (its error, if refused, is the group's).
func (h *Handler) targetHealth(r *http.Request, s *session, arns []string) []targetGroupHealth {
	var out []targetGroupHealth
	for _, arn := range arns {
		g := targetGroupHealth{ARN: arn, Name: tgName(arn)}
		th, err := call[elbv2api.DescribeTargetHealthOutput](h, r, s, svcELB, "DescribeTargetHealth", &elbv2api.DescribeTargetHealthInput{TargetGroupArn: arn})
		if err != nil {
			g.Err = errText(err)
		} else {
			g.Targets = th.TargetHealthDescriptions
			slices.SortFunc(g.Targets, func(a, b elbv2api.TargetHealthDescription) int {
				return cmp.Compare(targetText(a.Target), targetText(b.Target))
			})
			for _, t := range g.Targets {
				if t.TargetHealth != nil && t.TargetHealth.State == "healthy" {
					g.Healthy++
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// tgName is a target group's name from its ARN
// (…:targetgroup/name/id).
func tgName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return shortARN(arn)
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// targetText is a target as "id:port".
func targetText(t *elbv2api.TargetDescription) string {
	if t == nil {
		return ""
	}
	if t.Port != nil {
		return t.Id + ":" + strconv.Itoa(int(*t.Port))
	}
	return t.Id
}

// scaling is a service's Application Auto Scaling: its scalable target,
// policies and latest activities.
type scaling struct {
	Target     *autoscalingapi.ScalableTarget
	Policies   []autoscalingapi.ScalingPolicy
	Activities []autoscalingapi.ScalingActivity
	Err        string
}

func (h *Handler) serviceScaling(r *http.Request, s *session, cluster, service string) *scaling {
	id := "service/" + cluster + "/" + service
	sc := &scaling{}
	t, err := call[autoscalingapi.DescribeScalableTargetsResponse](h, r, s, svcScaling, "DescribeScalableTargets",
		&autoscalingapi.DescribeScalableTargetsRequest{ServiceNamespace: "ecs", ResourceIds: []string{id}, ScalableDimension: "ecs:service:DesiredCount"})
	if err != nil {
		sc.Err = errText(err)
		return sc
	}
	if len(t.ScalableTargets) == 0 {
		return sc
	}
	sc.Target = &t.ScalableTargets[0]
	if p, err := call[autoscalingapi.DescribeScalingPoliciesResponse](h, r, s, svcScaling, "DescribeScalingPolicies",
		&autoscalingapi.DescribeScalingPoliciesRequest{ServiceNamespace: "ecs", ResourceId: id, ScalableDimension: "ecs:service:DesiredCount"}); err != nil {
		sc.Err = errText(err)
	} else {
		sc.Policies = p.ScalingPolicies
	}
	if a, err := call[autoscalingapi.DescribeScalingActivitiesResponse](h, r, s, svcScaling, "DescribeScalingActivities",
		&autoscalingapi.DescribeScalingActivitiesRequest{ServiceNamespace: "ecs", ResourceId: id, ScalableDimension: "ecs:service:DesiredCount", MaxResults: i32(10)}); err != nil {
		sc.Err = errText(err)
	} else {
		sc.Activities = a.ScalingActivities
	}
	return sc
}

// metricQuery is one metric a chart shows.
type metricQuery struct {
	Label string
	cloudwatchapi.Metric
	Stat string
}

// chartRange is how far back the service page's charts look.
const chartRange = time.Hour

// metricSeries reads queries over [start, end) at period seconds with
// GetMetricData as the session's key.
func (h *Handler) metricSeries(r *http.Request, s *session, qs []metricQuery, start, end time.Time, period int32) []series {
	in := &cloudwatchapi.GetMetricDataInput{StartTime: ecsapi.NewTimestamp(start), EndTime: ecsapi.NewTimestamp(end)}
	for i, q := range qs {
		m := q.Metric
		in.MetricDataQueries = append(in.MetricDataQueries, cloudwatchapi.MetricDataQuery{Id: "m" + strconv.Itoa(i), Label: q.Label,
			MetricStat: &cloudwatchapi.MetricStat{Metric: &m, Period: i32(period), Stat: q.Stat}})
	}
	out := make([]series, len(qs))
	for i, q := range qs {
		out[i].Label = q.Label
	}
	for page := 0; page < 10; page++ {
		d, err := call[cloudwatchapi.GetMetricDataOutput](h, r, s, svcMetrics, "GetMetricData", in)
		if err != nil {
			for i := range out {
				out[i].Err = errText(err)
			}
			return out
		}
		for _, res := range d.MetricDataResults {
			i, err := strconv.Atoi(res.Id[1:])
			if err != nil || i < 0 || i >= len(out) {
				continue
			}
			for j, t := range res.Timestamps {
				if j < len(res.Values) {
					out[i].Times = append(out[i].Times, t.Time)
					out[i].Values = append(out[i].Values, res.Values[j])
				}
			}
		}
		if in.NextToken = d.NextToken; in.NextToken == "" {
			break
		}
	}
	return out
}

// serviceCharts draws the service's CPU and memory utilization over the
// last hour, as AWS/ECS publishes them per cluster and service.
func (h *Handler) serviceCharts(r *http.Request, s *session, cluster, service string) template.HTML {
	end := h.now().Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-chartRange)
	dims := []cloudwatchapi.Dimension{{Name: "ClusterName", Value: cluster}, {Name: "ServiceName", Value: service}}
	ss := h.metricSeries(r, s, []metricQuery{
		{Label: "CPU utilization (%)", Metric: cloudwatchapi.Metric{Namespace: "AWS/ECS", MetricName: "CPUUtilization", Dimensions: dims}, Stat: "Average"},
		{Label: "Memory utilization (%)", Metric: cloudwatchapi.Metric{Namespace: "AWS/ECS", MetricName: "MemoryUtilization", Dimensions: dims}, Stat: "Average"},
	}, start, end, 60)
	return lineChart("CPU and memory utilization of "+service+", average per minute, last hour", start, end, ss)
}
