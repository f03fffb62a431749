package cloudwatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestAlarmEvaluatedWhenItsDatapointArrives: with an evaluation interval
// of an hour, an alarm still goes to ALARM (and invokes its policy) as
// soon as the breaching datapoint of its period is written, because the
// arrival of a watched metric's data evaluates the alarms that watch it;
// data of a metric no alarm watches does not.
func TestAlarmEvaluatedWhenItsDatapointArrives(t *testing.T) {
	ms, err := metricstore.Open(t.TempDir(), metricstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	a := New(ms, store.NewMemory(time.Now), "us-east-1", "123456789012", nil)
	inv := &invocations{}
	a.SetInvoker(inv)
	ctx, cancel := context.WithCancel(context.Background())
	th := 50.0
	i32 := func(v int32) *int32 { return &v }
	policy := "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:resource/ecs/service/c/web:policyName/p"
	if _, err := a.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "hi", Namespace: "NS", MetricName: "m", Statistic: "Maximum",
		Period: i32(10), EvaluationPeriods: i32(1), Threshold: &th, ComparisonOperator: "GreaterThanThreshold",
		TreatMissingData: "notBreaching", AlarmActions: []string{policy}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx, EvaluatorOptions{Interval: time.Hour, LeaderTTL: 5 * time.Second, ID: "one"}) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	state := func() string {
		s, err := a.AlarmStates(ctx, []string{"hi"})
		if err != nil {
			t.Fatal(err)
		}
		return s["hi"]
	}
	waitFor := func(want string) time.Duration {
		start := time.Now()
		for state() != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("alarm %s after %v, want %s", state(), time.Since(start), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	// The first full evaluation (leading) finds no data: OK.
	waitFor(StateOK)
	put := func(name string, v float64) {
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
			{MetricName: name, Value: &v, Timestamp: awstime.NewTimestamp(time.Now()), StorageResolution: i32(1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("other", 99)
	time.Sleep(500 * time.Millisecond)
	if s := state(); s != StateOK {
		t.Fatalf("alarm %s after data of a metric it does not watch", s)
	}
	put("m", 90)
	took := waitFor(StateAlarm)
	t.Logf("ALARM %v after the breaching datapoint", took)
	deadline := time.Now().Add(5 * time.Second)
	for inv.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the policy was not invoked")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestActionValueIsTheLastCompletePeriod: an alarm evaluated while its
// period is in progress hands its actions the last complete period's
// value, not the partial sum of the period in progress.
func TestActionValueIsTheLastCompletePeriod(t *testing.T) {
	p, n, th := int32(10), int32(3), 100.0
	al := &cloudwatchapi.MetricAlarm{Period: &p, EvaluationPeriods: &n, Threshold: &th, ComparisonOperator: "GreaterThanThreshold", Statistic: "Sum"}
	b := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	pts := []point{{start: b, value: 300, present: true}, {start: b.Add(10 * time.Second), value: 290, present: true},
		{start: b.Add(20 * time.Second), value: 120, present: true}}
	v := decide(al, pts, b.Add(24*time.Second))
	if v.state != StateAlarm || v.last != 290 {
		t.Fatalf("in progress: state %s, value %v; want ALARM with 290", v.state, v.last)
	}
	if v := decide(al, pts, b.Add(30*time.Second)); v.last != 120 {
		t.Fatalf("complete: value %v, want 120", v.last)
	}
}
