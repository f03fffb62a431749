package cloudwatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
)

type invocations struct {
	mu  sync.Mutex
	got []cwlink.AlarmEvent
}

func (r *invocations) Invoke(_ context.Context, _ string, ev cwlink.AlarmEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ev)
	return nil
}

func (r *invocations) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// newTestAPI is the API over a temporary metric store and an in-memory
// store, on a clock the test moves.
func newTestAPI(t *testing.T, now *time.Time) *API {
	t.Helper()
	clock := func() time.Time { return *now }
	ms, err := metricstore.Open(t.TempDir(), metricstore.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	a := New(ms, store.NewMemory(clock), "us-east-1", "123456789012", nil)
	a.Now = clock
	return a
}

// TestActionsEnterAndRepeat: an Auto Scaling action runs when the alarm
// enters ALARM and again each period while it stays; an SNS action once,
// recorded as not delivered; nothing while actions are disabled; a write
// whose leadership guard fails changes nothing.
func TestActionsEnterAndRepeat(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 5, 0, time.UTC)
	a := newTestAPI(t, &now)
	inv := &invocations{}
	a.SetInvoker(inv)
	ctx := context.Background()
	i32 := func(v int32) *int32 { return &v }
	th := 50.0
	policy := "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:resource/ecs/service/c/web:policyName/p"
	if _, err := a.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "hi", Namespace: "NS", MetricName: "m", Statistic: "Maximum",
		Period: i32(60), EvaluationPeriods: i32(1), Threshold: &th, ComparisonOperator: "GreaterThanThreshold",
		AlarmActions: []string{policy, "arn:aws:sns:us-east-1:123456789012:topic"}}); err != nil {
		t.Fatal(err)
	}
	v := 90.0
	if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
		{MetricName: "m", Value: &v, Timestamp: awstime.NewTimestamp(now)}}}); err != nil {
		t.Fatal(err)
	}
	// A lost leadership: the guard fails, the state stays.
	lost := store.Absent(store.Key("leader", "nobody"))
	if _, err := a.Store.Txn(ctx, nil, store.OpPut(store.Key("leader", "nobody"), []byte("x"))); err != nil {
		t.Fatal(err)
	}
	acted := map[string]*actedState{}
	a.evaluateOnce(ctx, lost, acted, true, nil)
	if st, _ := a.AlarmStates(ctx, []string{"hi"}); st["hi"] != StateInsufficientData || inv.count() != 0 {
		t.Fatalf("state %v, %d invocations without leadership", st, inv.count())
	}
	ok := store.Absent(store.Key("leader", "free"))
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if st, _ := a.AlarmStates(ctx, []string{"hi"}); st["hi"] != StateAlarm || inv.count() != 1 {
		t.Fatalf("state %v, %d invocations", st, inv.count())
	}
	if ev := inv.got[0]; ev.State != StateAlarm || ev.Value != 90 || ev.Threshold != 50 || ev.AlarmName != "hi" {
		t.Fatalf("event %+v", ev)
	}
	// Within the period: nothing more; a period later: the policy again.
	now = now.Add(30 * time.Second)
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if inv.count() != 1 {
		t.Fatalf("%d invocations within the period", inv.count())
	}
	now = now.Add(31 * time.Second)
	if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
		{MetricName: "m", Value: &v, Timestamp: awstime.NewTimestamp(now)}}}); err != nil {
		t.Fatal(err)
	}
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if inv.count() != 2 {
		t.Fatalf("%d invocations after a period in ALARM", inv.count())
	}
	h, err := a.DescribeAlarmHistory(ctx, &cloudwatchapi.DescribeAlarmHistoryInput{AlarmName: "hi", HistoryItemType: "Action"})
	if err != nil {
		t.Fatal(err)
	}
	var sns, ok2 int
	for _, it := range h.AlarmHistoryItems {
		switch it.HistorySummary {
		case "Successfully executed action " + policy:
			ok2++
		case `Failed to execute action arn:aws:sns:us-east-1:123456789012:topic. Received error: "this kind of action is not delivered by Gantry"`:
			sns++
		}
	}
	if ok2 != 2 || sns != 1 {
		t.Fatalf("action history: %+v", h.AlarmHistoryItems)
	}
	// Disabled: no more invocations.
	if _, err := a.DisableAlarmActions(ctx, &cloudwatchapi.DisableAlarmActionsInput{AlarmNames: []string{"hi"}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Second)
	if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
		{MetricName: "m", Value: &v, Timestamp: awstime.NewTimestamp(now)}}}); err != nil {
		t.Fatal(err)
	}
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if inv.count() != 2 {
		t.Fatalf("%d invocations with actions disabled", inv.count())
	}
}

// TestRecord: the namespaces AWS publishes are Record's, not PutMetricData's.
func TestRecord(t *testing.T) {
	now := time.Now()
	a := newTestAPI(t, &now)
	ctx := context.Background()
	v := 1.0
	data := []cloudwatchapi.MetricDatum{{MetricName: "CPUUtilization", Value: &v, Dimensions: []cloudwatchapi.Dimension{{Name: "ClusterName", Value: "c"}}}}
	if err := a.Record(ctx, "AWS/ECS", data); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, "Custom", data); err == nil {
		t.Fatal("Record took a custom namespace")
	}
	if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "AWS/ECS", MetricData: data}); err == nil {
		t.Fatal("PutMetricData took AWS/ECS")
	}
	out, err := a.ListMetrics(ctx, &cloudwatchapi.ListMetricsInput{Namespace: "AWS/ECS"})
	if err != nil || len(out.Metrics) != 1 || out.Metrics[0].Dimensions[0].Value != "c" {
		t.Fatalf("list %+v %v", out, err)
	}
}

// TestMetricMathAlarm: an alarm on SUM of two metrics divided by 2
// follows the expression, not either metric.
func TestMetricMathAlarm(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 5, 0, time.UTC)
	a := newTestAPI(t, &now)
	ctx := context.Background()
	i32 := func(v int32) *int32 { return &v }
	f := func(v float64) *float64 { return &v }
	no := false
	metric := func(id, svc string) cloudwatchapi.MetricDataQuery {
		return cloudwatchapi.MetricDataQuery{Id: id, ReturnData: &no, MetricStat: &cloudwatchapi.MetricStat{Period: i32(60), Stat: "Sum",
			Metric: &cloudwatchapi.Metric{Namespace: "NS", MetricName: "Requests", Dimensions: []cloudwatchapi.Dimension{{Name: "Service", Value: svc}}}}}
	}
	if _, err := a.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "math", EvaluationPeriods: i32(1), Threshold: f(100),
		ComparisonOperator: "GreaterThanOrEqualToThreshold", TreatMissingData: "notBreaching",
		Metrics: []cloudwatchapi.MetricDataQuery{metric("web", "web"), metric("api", "api"), {Id: "half", Expression: "SUM([web, api]) / 2"}}}); err != nil {
		t.Fatal(err)
	}
	put := func(svc string, v float64) {
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
			{MetricName: "Requests", Value: &v, Timestamp: awstime.NewTimestamp(now), Dimensions: []cloudwatchapi.Dimension{{Name: "Service", Value: svc}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	ok := store.Absent(store.Key("leader", "free"))
	acted := map[string]*actedState{}
	put("web", 150) // (150 + 0) / 2 = 75: OK
	a.evaluateOnce(ctx, ok, acted, true, nil)
	if st, _ := a.AlarmStates(ctx, []string{"math"}); st["math"] != StateOK {
		t.Fatalf("state %v", st)
	}
	put("api", 60) // (150 + 60) / 2 = 105: ALARM
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if st, _ := a.AlarmStates(ctx, []string{"math"}); st["math"] != StateAlarm {
		t.Fatalf("state %v", st)
	}
}

// TestOneEvaluatorLeads: two servers' APIs over one store both run the
// evaluator; only the elected one evaluates, so the alarm's transition
// invokes its action once, from one server.
func TestOneEvaluatorLeads(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	st := store.NewMemory(time.Now)
	i32 := func(v int32) *int32 { return &v }
	th := 50.0
	v := 90.0
	policy := "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:resource/ecs/service/c/web:policyName/p"
	var apis []*API
	var invs []*invocations
	for i := 0; i < 2; i++ {
		ms, err := metricstore.Open(t.TempDir(), metricstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
		a := New(ms, st, "us-east-1", "123456789012", nil)
		inv := &invocations{}
		a.SetInvoker(inv)
		// Both servers have the breaching data.
		if _, err := a.PutMetricData(context.Background(), &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
			{MetricName: "m", Value: &v, Timestamp: awstime.NewTimestamp(clock())}}}); err != nil {
			t.Fatal(err)
		}
		apis, invs = append(apis, a), append(invs, inv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := apis[0].PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "hi", Namespace: "NS", MetricName: "m", Statistic: "Maximum",
		Period: i32(3600), EvaluationPeriods: i32(1), Threshold: &th, ComparisonOperator: "GreaterThanThreshold", AlarmActions: []string{policy}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, a := range apis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Run(ctx, EvaluatorOptions{Interval: 20 * time.Millisecond, LeaderTTL: 2 * time.Second, ID: fmt.Sprint(i)})
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := apis[1].AlarmStates(ctx, []string{"hi"})
		if s["hi"] == StateAlarm && invs[0].count()+invs[1].count() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %v, invocations %d and %d", s, invs[0].count(), invs[1].count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // more evaluations: no second invocation within the period
	cancel()
	wg.Wait()
	if n0, n1 := invs[0].count(), invs[1].count(); n0+n1 != 1 {
		t.Fatalf("invocations: %d and %d, want 1 in all", n0, n1)
	}
}

// TestLowSampleCountPercentile: a p90 alarm with
// EvaluateLowSampleCountPercentile "ignore" keeps its state while a period
// has fewer than 10 samples, and is evaluated once it has 10.
func TestLowSampleCountPercentile(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 5, 0, time.UTC)
	a := newTestAPI(t, &now)
	ctx := context.Background()
	i32 := func(v int32) *int32 { return &v }
	th := 50.0
	if _, err := a.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "p90", Namespace: "NS", MetricName: "lat", ExtendedStatistic: "p90",
		EvaluateLowSampleCountPercentile: "ignore", Period: i32(60), EvaluationPeriods: i32(1), Threshold: &th, ComparisonOperator: "GreaterThanThreshold"}); err != nil {
		t.Fatal(err)
	}
	put := func(n int) {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = 90
		}
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
			{MetricName: "lat", Values: vals, Timestamp: awstime.NewTimestamp(now)}}}); err != nil {
			t.Fatal(err)
		}
	}
	ok := store.Absent(store.Key("leader", "free"))
	acted := map[string]*actedState{}
	put(9)
	a.evaluateOnce(ctx, ok, acted, true, nil)
	if st, _ := a.AlarmStates(ctx, []string{"p90"}); st["p90"] != StateInsufficientData {
		t.Fatalf("with 9 samples: %v", st)
	}
	put(1)
	a.evaluateOnce(ctx, ok, acted, false, nil)
	if st, _ := a.AlarmStates(ctx, []string{"p90"}); st["p90"] != StateAlarm {
		t.Fatalf("with 10 samples: %v", st)
	}
}
