package cloudwatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// pts builds an evaluation range from a pattern, oldest first: "X" a
// breaching datapoint (90), "0" a good one (10), "-" a missing one.
func pts(pattern string) []point {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var out []point
	for i, c := range pattern {
		p := point{start: t0.Add(time.Duration(i) * time.Minute)}
		switch c {
		case 'X':
			p.value, p.present = 90, true
		case '0':
			p.value, p.present = 10, true
		}
		out = append(out, p)
	}
	return out
}

func TestDecide(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	th := 50.0
	tests := []struct {
		name    string
		pattern string
		m       int32
		treat   string
		cur     string
		want    string
	}{
		{"all good", "000", 3, "missing", "ALARM", "OK"},
		{"all breaching", "XXX", 3, "missing", "OK", "ALARM"},
		{"2 of 3 needs 2", "0XX", 2, "missing", "OK", "ALARM"},
		{"1 of 3 with M 2", "X00", 2, "missing", "ALARM", "OK"},
		{"3 of 3 needs 3", "0XX", 3, "missing", "OK", "OK"},
		{"all missing: missing", "---", 3, "missing", "OK", "INSUFFICIENT_DATA"},
		{"all missing: ignore keeps", "---", 3, "ignore", "ALARM", "ALARM"},
		{"all missing: breaching", "---", 3, "breaching", "OK", "ALARM"},
		{"all missing: notBreaching", "---", 3, "notBreaching", "ALARM", "OK"},
		{"fewer than M present, all breaching", "-X-", 3, "missing", "OK", "ALARM"},
		{"fewer than M present, one good", "0X-", 3, "missing", "ALARM", "OK"},
		{"missing counted breaching", "X--", 3, "breaching", "OK", "ALARM"},
		{"missing counted good", "XX-", 3, "notBreaching", "ALARM", "OK"},
		{"ignore evaluates present", "0-0", 2, "ignore", "ALARM", "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			al := &cloudwatchapi.MetricAlarm{EvaluationPeriods: i32(int32(len(tt.pattern))), DatapointsToAlarm: i32(tt.m), Threshold: &th,
				ComparisonOperator: "GreaterThanThreshold", TreatMissingData: tt.treat, StateValue: cloudwatchapi.StateValue(tt.cur),
				Period: i32(60), Statistic: "Average"}
			v := decide(al, pts(tt.pattern), time.Now())
			if v.state != tt.want {
				t.Fatalf("%s with M=%d, %s, from %s: got %s (%s), want %s", tt.pattern, tt.m, tt.treat, tt.cur, v.state, v.reason, tt.want)
			}
		})
	}
}

func TestDecideReasons(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	th := 80.0
	al := &cloudwatchapi.MetricAlarm{EvaluationPeriods: i32(3), DatapointsToAlarm: i32(2), Threshold: &th,
		ComparisonOperator: "GreaterThanOrEqualToThreshold", StateValue: "OK", Period: i32(60), Statistic: "Average"}
	v := decide(al, pts("0XX"), time.Now())
	want := "Threshold Crossed: 2 out of the last 3 datapoints [90.0 (06/12/26 08:02:00), 90.0 (06/12/26 08:01:00), 10.0 (06/12/26 08:00:00)] " +
		"were greater than or equal to the threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition)."
	if v.state != "ALARM" || v.reason != want {
		t.Fatalf("got %s %q\nwant %q", v.state, v.reason, want)
	}
	if !strings.Contains(v.reasonData, `"recentDatapoints":[90,90,10]`) || !strings.Contains(v.reasonData, `"threshold":80`) {
		t.Fatalf("reason data: %s", v.reasonData)
	}
	v = decide(al, pts("---"), time.Now())
	if v.reason != "Insufficient Data: 3 datapoints were unknown." {
		t.Fatalf("insufficient: %q", v.reason)
	}
}

// TestPartialPeriodDoesNotFireLessThanSum: a LessThan alarm on a Sum with
// one evaluation period stays OK while the period in progress holds only
// part of its datapoints (CloudWatch evaluates complete periods); a
// GreaterThan alarm on the same Sum may fire on the partial period, which
// can only grow.
func TestPartialPeriodDoesNotFireLessThanSum(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 10, 0, time.UTC)
	a := newTestAPI(t, &now)
	ctx := context.Background()
	i32 := func(v int32) *int32 { return &v }
	put := func(at time.Time, v float64) {
		t.Helper()
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
			{MetricName: "Requests", Value: &v, Timestamp: awstime.NewTimestamp(at)}}}); err != nil {
			t.Fatal(err)
		}
	}
	put(now.Add(-time.Minute), 200) // the last complete minute: 200 requests
	put(now, 20)                    // 10 s into this minute: 20 so far
	low, high := 100.0, 150.0
	alarm := func(op string, th *float64) *cloudwatchapi.MetricAlarm {
		return &cloudwatchapi.MetricAlarm{Namespace: "NS", MetricName: "Requests", Statistic: "Sum", Period: i32(60),
			EvaluationPeriods: i32(1), Threshold: th, ComparisonOperator: cloudwatchapi.ComparisonOperator(op), StateValue: "OK"}
	}
	al := alarm("LessThanThreshold", &low)
	p, err := a.points(context.Background(), al, now)
	if err != nil {
		t.Fatal(err)
	}
	if v := decide(al, p, now); v.state != StateOK {
		t.Fatalf("LessThan 100 on Sum: %s (%s), want OK: the complete minute had 200", v.state, v.reason)
	}
	put(now, 200) // the minute in progress reaches 220: over 150 already
	al = alarm("GreaterThanThreshold", &high)
	if p, err = a.points(context.Background(), al, now); err != nil {
		t.Fatal(err)
	}
	if v := decide(al, p, now); v.state != StateAlarm || v.last != 220 {
		t.Fatalf("GreaterThan 150 on Sum: %s last %v (%s), want ALARM on the partial minute's 220", v.state, v.last, v.reason)
	}
}
