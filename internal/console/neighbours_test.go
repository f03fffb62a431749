package console

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// evil is markup a name, tag, log line or description may hold; it must
// reach the page as text.
const evil = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`

// neighbours answers the neighbours' read operations with evil in every
// free-text field, and records the inputs it was given.
type neighbours struct {
	mu     sync.Mutex
	inputs map[string][]any
	events []logsapi.FilteredLogEvent
}

func (n *neighbours) got(op string) []any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inputs[op]
}

func (n *neighbours) addEvent(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ts := time.Date(2026, 12, 6, 12, 0, len(n.events), 0, time.UTC).UnixMilli()
	n.events = append(n.events, logsapi.FilteredLogEvent{LogStreamName: "app/web/1", Timestamp: &ts, Message: msg})
}

const (
	tgARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web-tg/0123456789abcdef"
	lbARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/front/0123456789abcdef"
)

func (n *neighbours) answer(service, op string, in any) (any, bool, error) {
	n.mu.Lock()
	if n.inputs == nil {
		n.inputs = map[string][]any{}
	}
	n.inputs[op] = append(n.inputs[op], in)
	n.mu.Unlock()
	now := ecsapi.NewTimestamp(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	port := i32(80)
	switch service + ":" + op {
	case "elasticloadbalancing:DescribeLoadBalancers":
		return &elbv2api.DescribeLoadBalancersOutput{LoadBalancers: []elbv2api.LoadBalancer{{LoadBalancerArn: lbARN, LoadBalancerName: "front" + evil,
			DNSName: "front.example", Type: "application", CreatedTime: now, State: &elbv2api.LoadBalancerState{Code: "active"}}}}, true, nil
	case "elasticloadbalancing:DescribeTags":
		return &elbv2api.DescribeTagsOutput{TagDescriptions: []elbv2api.TagDescription{{ResourceArn: lbARN, Tags: []elbv2api.Tag{{Key: "team", Value: evil}}}}}, true, nil
	case "elasticloadbalancing:DescribeListeners":
		return &elbv2api.DescribeListenersOutput{Listeners: []elbv2api.Listener{{ListenerArn: lbARN + "/l1", Port: port, Protocol: "HTTP",
			DefaultActions: []elbv2api.Action{{Type: "forward", TargetGroupArn: tgARN}}}}}, true, nil
	case "elasticloadbalancing:DescribeRules":
		return &elbv2api.DescribeRulesOutput{Rules: []elbv2api.Rule{{RuleArn: "r1", Priority: "10",
			Conditions: []elbv2api.RuleCondition{{Field: "path-pattern", PathPatternConfig: &elbv2api.PathPatternConditionConfig{Values: []string{"/api/*" + evil}}}},
			Actions:    []elbv2api.Action{{Type: "fixed-response", FixedResponseConfig: &elbv2api.FixedResponseActionConfig{StatusCode: "503", MessageBody: evil}}}}}}, true, nil
	case "elasticloadbalancing:DescribeTargetGroups":
		return &elbv2api.DescribeTargetGroupsOutput{TargetGroups: []elbv2api.TargetGroup{{TargetGroupArn: tgARN, TargetGroupName: "web-tg", Port: port, Protocol: "HTTP",
			TargetType: "ip", LoadBalancerArns: []string{lbARN}}}}, true, nil
	case "elasticloadbalancing:DescribeTargetHealth":
		return &elbv2api.DescribeTargetHealthOutput{TargetHealthDescriptions: []elbv2api.TargetHealthDescription{
			{Target: &elbv2api.TargetDescription{Id: "10.0.0.7", Port: i32(32768)}, TargetHealth: &elbv2api.TargetHealth{State: "healthy"}},
			{Target: &elbv2api.TargetDescription{Id: "10.0.0.8", Port: i32(32769)}, TargetHealth: &elbv2api.TargetHealth{State: "unhealthy", Reason: "Target.ResponseCodeMismatch", Description: evil}},
		}}, true, nil
	case "application-autoscaling:DescribeScalableTargets":
		return &autoscalingapi.DescribeScalableTargetsResponse{ScalableTargets: []autoscalingapi.ScalableTarget{{ServiceNamespace: "ecs", ResourceId: "service/prod/web",
			ScalableDimension: "ecs:service:DesiredCount", MinCapacity: i32(1), MaxCapacity: i32(8)}}}, true, nil
	case "application-autoscaling:DescribeScalingPolicies":
		v := 50.0
		return &autoscalingapi.DescribeScalingPoliciesResponse{ScalingPolicies: []autoscalingapi.ScalingPolicy{{PolicyName: "cpu50", PolicyType: "TargetTrackingScaling",
			TargetTrackingScalingPolicyConfiguration: &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: &v,
				PredefinedMetricSpecification: &autoscalingapi.PredefinedMetricSpecification{PredefinedMetricType: "ECSServiceAverageCPUUtilization"}}}}}, true, nil
	case "application-autoscaling:DescribeScalingActivities":
		return &autoscalingapi.DescribeScalingActivitiesResponse{ScalingActivities: []autoscalingapi.ScalingActivity{{ActivityId: "a1", StartTime: now, StatusCode: "Successful",
			Description: "Setting desired count to 3.", Cause: "monitor alarm " + evil + " in state ALARM triggered policy cpu50"}}}, true, nil
	case "monitoring:GetMetricData":
		gi := in.(*cloudwatchapi.GetMetricDataInput)
		out := &cloudwatchapi.GetMetricDataOutput{}
		for i, q := range gi.MetricDataQueries {
			base := gi.EndTime.Add(-3 * time.Minute)
			out.MetricDataResults = append(out.MetricDataResults, cloudwatchapi.MetricDataResult{Id: q.Id, Label: q.Label,
				// Newest first, as CloudWatch returns them.
				Timestamps: []ecsapi.Timestamp{{Time: base.Add(2 * time.Minute)}, {Time: base.Add(time.Minute)}, {Time: base}},
				Values:     []float64{float64(10 * (i + 1)), float64(20 * (i + 1)), float64(30 * (i + 1))}})
		}
		return out, true, nil
	case "monitoring:ListMetrics":
		return &cloudwatchapi.ListMetricsOutput{Metrics: []cloudwatchapi.Metric{
			{Namespace: "AWS/ECS", MetricName: "CPUUtilization", Dimensions: []cloudwatchapi.Dimension{{Name: "ServiceName", Value: "web"}, {Name: "ClusterName", Value: "prod"}}},
			{Namespace: "AWS/ECS", MetricName: "CPUUtilization", Dimensions: []cloudwatchapi.Dimension{{Name: "ClusterName", Value: "prod"}}},
			{Namespace: "AWS/ECS", MetricName: "MemoryUtilization", Dimensions: []cloudwatchapi.Dimension{{Name: "ClusterName", Value: "prod"}}},
			{Namespace: "Custom" + evil, MetricName: "Queue" + evil},
		}}, true, nil
	case "monitoring:DescribeAlarms", "monitoring:DescribeAlarmsForMetric":
		th := 80.0
		alarms := []cloudwatchapi.MetricAlarm{
			{AlarmName: "cpu-high", AlarmDescription: evil, StateValue: "ALARM", StateReason: "Threshold Crossed" + evil, Namespace: "AWS/ECS", MetricName: "CPUUtilization",
				Statistic: "Average", ComparisonOperator: "GreaterThanThreshold", Threshold: &th, EvaluationPeriods: i32(3), Period: i32(60), StateUpdatedTimestamp: now},
			{AlarmName: "mem-high", StateValue: "OK", Namespace: "AWS/ECS", MetricName: "MemoryUtilization"},
		}
		if op == "DescribeAlarms" {
			return &cloudwatchapi.DescribeAlarmsOutput{MetricAlarms: alarms}, true, nil
		}
		return &cloudwatchapi.DescribeAlarmsForMetricOutput{MetricAlarms: alarms[:1]}, true, nil
	case "logs:DescribeLogGroups":
		sz := int64(4096)
		return &logsapi.DescribeLogGroupsResponse{LogGroups: []logsapi.LogGroup{{LogGroupName: "/ecs/web" + evil, StoredBytes: &sz}}}, true, nil
	case "logs:DescribeLogStreams":
		return &logsapi.DescribeLogStreamsResponse{LogStreams: []logsapi.LogStream{{LogStreamName: "app/web/1"}}}, true, nil
	case "logs:FilterLogEvents":
		n.mu.Lock()
		defer n.mu.Unlock()
		return &logsapi.FilterLogEventsResponse{Events: append([]logsapi.FilteredLogEvent(nil), n.events...)}, true, nil
	case "ecr:DescribeRepositories":
		return &ecrapi.DescribeRepositoriesResponse{Repositories: []ecrapi.Repository{{RepositoryName: "team/web", RepositoryUri: "127.0.0.1:5000/team/web" + evil, CreatedAt: now}}}, true, nil
	case "ecr:DescribeImages":
		sz := int64(12 << 20)
		return &ecrapi.DescribeImagesResponse{ImageDetails: []ecrapi.ImageDetail{{ImageDigest: "sha256:0123456789abcdef0123456789abcdef", ImageTags: []string{"v1" + evil}, ImageSizeInBytes: &sz, ImagePushedAt: now}}}, true, nil
	}
	return nil, false, nil
}

func startNeighbours(t *testing.T) (*client, *fakeBackend, *neighbours) {
	f := newFake()
	f.service.ClusterArn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod"
	f.service.LoadBalancers = []ecsapi.LoadBalancer{{TargetGroupArn: tgARN, ContainerName: "app", ContainerPort: i32(80)}}
	n := &neighbours{}
	n.addEvent("first line " + evil)
	f.answer = n.answer
	now := time.Date(2026, 12, 6, 12, 0, 30, 0, time.UTC)
	c := start(t, f, Options{Now: func() time.Time { return now }, LiveInterval: 20 * time.Millisecond}, false)
	c.signIn("ADMIN", "admin-secret")
	return c, f, n
}

// The pages of the neighbours, and the service page that shows them,
// render every name, tag, log line and description as text.
func TestNeighbourPagesEscapeWhatTheyShow(t *testing.T) {
	c, _, _ := startNeighbours(t)
	pages := []string{"clusters/prod/services/web", "loadbalancers", "loadbalancers/front", "targetgroups/web-tg", "logs", "logs/group?name=%2Fecs%2Fweb",
		"metrics", "metrics?namespace=AWS%2FECS&metric=CPUUtilization", "alarms", "repositories", "repositories/team/web"}
	for _, p := range pages {
		resp, body := c.get(Prefix + p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d\n%s", p, resp.StatusCode, body)
			continue
		}
		for _, raw := range []string{"<script>window.pwned", "<img src=x", `onerror="window`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: %q reached the page unescaped", p, raw)
			}
		}
	}
	for p, want := range map[string]string{
		"loadbalancers":                   "front&lt;script&gt;window.pwned=1&lt;/script&gt;",
		"loadbalancers/front":             "team=&lt;script&gt;",
		"alarms":                          `<td class="alarm-description">&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.pwned=2&#34;&gt;</td>`,
		"logs/group?name=%2Fecs%2Fweb":    "first line &lt;script&gt;",
		"clusters/prod/services/web":      "monitor alarm &lt;script&gt;",
		"repositories/team/web":           "v1&lt;script&gt;",
		"targetgroups/web-tg":             "&lt;img src=x onerror=",
		"metrics?namespace=AWS%2FECS":     "CPUUtilization",
		"logs":                            "/ecs/web&lt;script&gt;",
		"metrics?namespace=Custom%3Cx%3E": "Custom&lt;script&gt;",
	} {
		if _, body := c.get(Prefix + p); !strings.Contains(body, want) {
			t.Errorf("%s does not show %s as text", p, want)
		}
	}
}

// The service page shows its target groups' targets and health, its
// autoscaling target, policies and activities, and CPU and memory charts
// drawn from GetMetricData with the service's dimensions.
func TestServicePageShowsTargetsScalingAndCharts(t *testing.T) {
	c, _, n := startNeighbours(t)
	_, body := c.get(Prefix + "clusters/prod/services/web")
	for _, want := range []string{"10.0.0.7:32768", `<td class="health-healthy">healthy</td>`, "Target.ResponseCodeMismatch", "1 of 2 healthy",
		"between <strong>1</strong> and <strong>8</strong>", "cpu50", "50 of ECSServiceAverageCPUUtilization", "Setting desired count to 3.",
		`<figure class="chart">`, "<polyline", "CPU utilization (%): latest 10, lowest 10, highest 30, 3 points", "Memory utilization (%): latest 20"} {
		if !strings.Contains(body, want) {
			t.Errorf("the service page lacks %s", want)
		}
	}
	gm := n.got("GetMetricData")
	if len(gm) == 0 {
		t.Fatal("no GetMetricData call")
	}
	q := gm[0].(*cloudwatchapi.GetMetricDataInput).MetricDataQueries
	if len(q) != 2 || q[0].MetricStat.Metric.MetricName != "CPUUtilization" || encodeDims(q[0].MetricStat.Metric.Dimensions) != "ClusterName=prod,ServiceName=web" ||
		q[1].MetricStat.Metric.MetricName != "MemoryUtilization" || *q[0].MetricStat.Period != 60 {
		t.Fatalf("the charts' queries: %+v", q)
	}
	st := n.got("DescribeScalableTargets")[0].(*autoscalingapi.DescribeScalableTargetsRequest)
	if st.ServiceNamespace != "ecs" || len(st.ResourceIds) != 1 || st.ResourceIds[0] != "service/prod/web" {
		t.Fatalf("DescribeScalableTargets %+v", st)
	}
}

// The load balancer page shows its listeners with their rules, and its
// target groups with their targets.
func TestLoadBalancerPageShowsListenersRulesAndTargets(t *testing.T) {
	c, _, _ := startNeighbours(t)
	_, body := c.get(Prefix + "loadbalancers/front")
	for _, want := range []string{"HTTP : 80", "Default: forward to web-tg", "path-pattern is /api/*", "respond 503", `href="/console/targetgroups/web-tg"`, "10.0.0.8:32769"} {
		if !strings.Contains(body, want) {
			t.Errorf("the load balancer page lacks %s", want)
		}
	}
}

// The metrics page lists namespaces, the namespace's metrics and the
// metric's dimension sets from ListMetrics, and charts the one chosen with
// the statistic and period chosen.
func TestMetricsPickerChartsTheChosenMetric(t *testing.T) {
	c, _, n := startNeighbours(t)
	_, body := c.get(Prefix + "metrics?namespace=AWS%2FECS&metric=CPUUtilization&dims=ClusterName%3Dprod&stat=Maximum&period=300&minutes=180")
	for _, want := range []string{`<option selected>AWS/ECS</option>`, `<option>MemoryUtilization</option>`, `<option value="ClusterName=prod" selected>ClusterName=prod</option>`,
		`<option value="ClusterName=prod,ServiceName=web">ClusterName=prod, ServiceName=web</option>`, `<label for="m-stat">Statistic`, "<polyline", "cpu-high"} {
		if !strings.Contains(body, want) {
			t.Errorf("the metrics page lacks %s", want)
		}
	}
	gm := n.got("GetMetricData")
	in := gm[len(gm)-1].(*cloudwatchapi.GetMetricDataInput)
	ms := in.MetricDataQueries[0].MetricStat
	if ms.Stat != "Maximum" || *ms.Period != 300 || encodeDims(ms.Metric.Dimensions) != "ClusterName=prod" || in.EndTime.Sub(in.StartTime.Time) != 3*time.Hour {
		t.Fatalf("GetMetricData %+v %+v", in, ms)
	}
}

// The log explorer passes the filter pattern, stream and range to
// FilterLogEvents, and its live part follows new events over the
// server-sent event stream.
func TestLogExplorerFiltersAndTails(t *testing.T) {
	c, _, n := startNeighbours(t)
	_, body := c.get(Prefix + "logs/group?name=%2Fecs%2Fweb&stream=app%2Fweb%2F1&pattern=ERROR&minutes=15")
	for _, want := range []string{`<label for="lf-pattern">Filter pattern`, `value="ERROR"`, `<option value="app/web/1" selected>`, `<option value="15" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the log group page lacks %s", want)
		}
	}
	fl := n.got("FilterLogEvents")
	in := fl[len(fl)-1].(*logsapi.FilterLogEventsRequest)
	if in.FilterPattern != "ERROR" || len(in.LogStreamNames) != 1 || in.LogStreamNames[0] != "app/web/1" || in.LogGroupName != "/ecs/web" ||
		*in.StartTime != time.Date(2026, 12, 6, 11, 45, 30, 0, time.UTC).UnixMilli() {
		t.Fatalf("FilterLogEvents %+v", in)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+Prefix+"logs/group?name=%2Fecs%2Fweb", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	seen := func(want string) {
		t.Helper()
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				return
			}
		}
		t.Fatalf("the live tail never sent %q (%v)", want, sc.Err())
	}
	seen("first line")
	n.addEvent("second line")
	seen("second line")
}

// A key whose policy refuses an operation sees AWS's error in its place.
func TestNeighbourPagesShowRefusals(t *testing.T) {
	f := newFake()
	f.answer = (&neighbours{}).answer
	c := start(t, f, Options{}, false)
	c.signIn("RO", "ro-secret")
	resp, body := c.get(Prefix + "logs/group?name=x")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "FilterLogEvents") {
		t.Fatalf("a refused FilterLogEvents: %d\n%s", resp.StatusCode, body)
	}
	// On the service page, a refused neighbour leaves its section with
	// the refusal and the rest of the page whole.
	_, body = c.get(Prefix + "clusters/prod/services/web")
	if !strings.Contains(body, "ecs:GetMetricData") || !strings.Contains(body, "Deployments") {
		t.Fatalf("the service page with GetMetricData refused:\n%s", body)
	}
}

func TestLineChart(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := series{Label: "a" + evil, Times: []time.Time{start.Add(2 * time.Minute), start, start.Add(time.Minute)}, Values: []float64{3, 1, 2}}
	out := string(lineChart("t"+evil, start, start.Add(2*time.Minute), []series{s}))
	if strings.Contains(out, "<script>") || !strings.Contains(out, "&lt;script&gt;") {
		t.Fatalf("the chart does not escape its labels:\n%s", out)
	}
	// Points left to right in time order; y from 0 to 5 (3 rounded up).
	if !strings.Contains(out, `points="56.0,`) || !strings.Contains(out, `>5</text>`) || !strings.Contains(out, "latest 3, lowest 1, highest 3, 3 points") {
		t.Fatalf("the chart:\n%s", out)
	}
	for _, tc := range []struct{ in, want float64 }{{0, 0}, {0.3, 0.5}, {1, 1}, {7, 10}, {100, 100}, {101, 200}, {37, 50}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := decodeDims(encodeDims([]cloudwatchapi.Dimension{{Name: "B", Value: "2"}, {Name: "A", Value: "x=y"}})); len(got) != 2 || got[0].Name != "A" || got[0].Value != "x=y" {
		t.Fatalf("dimensions round trip: %+v", got)
	}
}

// Every control of the new pages has a label: a visible <label for> of
// its id (hidden inputs aside), and every chart an accessible name.
func TestNeighbourPagesLabelEveryControl(t *testing.T) {
	c, _, _ := startNeighbours(t)
	control := regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	idOf := regexp.MustCompile(`\bid="([^"]+)"`)
	for _, p := range []string{"logs", "logs/group?name=%2Fecs%2Fweb", "metrics?namespace=AWS%2FECS&metric=CPUUtilization", "alarms", "clusters/prod/services/web"} {
		_, body := c.get(Prefix + p)
		for _, m := range control.FindAllString(body, -1) {
			if strings.Contains(m, `type="hidden"`) {
				continue
			}
			id := idOf.FindStringSubmatch(m)
			if id == nil || !strings.Contains(body, `<label for="`+id[1]+`">`) {
				t.Errorf("%s: %s has no label", p, m)
			}
		}
		if strings.Contains(body, "<svg role=\"img\"") && !strings.Contains(body, `<svg role="img" aria-label="`) {
			t.Errorf("%s: a chart without an accessible name", p)
		}
	}
}
