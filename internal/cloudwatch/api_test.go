package cloudwatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// TestConcurrentTagsLoseNothing: tags written by concurrent TagResource
// calls on one alarm all land (each is a guarded read-modify-write).
func TestConcurrentTagsLoseNothing(t *testing.T) {
	now := time.Now()
	a := newTestAPI(t, &now)
	ctx := context.Background()
	i32 := func(v int32) *int32 { return &v }
	th := 1.0
	if _, err := a.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "a", Namespace: "NS", MetricName: "m", Statistic: "Sum",
		Period: i32(60), EvaluationPeriods: i32(1), Threshold: &th, ComparisonOperator: "GreaterThanThreshold"}); err != nil {
		t.Fatal(err)
	}
	arn := a.alarmARN("a")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.TagResource(ctx, &cloudwatchapi.TagResourceInput{ResourceARN: arn, Tags: []cloudwatchapi.Tag{{Key: fmt.Sprintf("k%d", i), Value: "v"}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	out, err := a.ListTagsForResource(ctx, &cloudwatchapi.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil || len(out.Tags) != 20 {
		t.Fatalf("%d tags, %v", len(out.Tags), err)
	}
}

// TestListMetricsPages: 501 metrics are two pages of ListMetrics.
func TestListMetricsPages(t *testing.T) {
	now := time.Now()
	a := newTestAPI(t, &now)
	ctx := context.Background()
	for b := 0; b < 2; b++ {
		var data []cloudwatchapi.MetricDatum
		for i := 0; i < 501; i++ {
			v := 1.0
			data = append(data, cloudwatchapi.MetricDatum{MetricName: fmt.Sprintf("m%03d", i), Value: &v})
		}
		if b == 1 {
			data = data[:1] // the same series again: no new metric
		}
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "Many", MetricData: data[:min(len(data), 500)]}); err != nil {
			t.Fatal(err)
		}
		if len(data) > 500 {
			if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "Many", MetricData: data[500:]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]bool{}
	token := ""
	pages := 0
	for {
		out, err := a.ListMetrics(ctx, &cloudwatchapi.ListMetricsInput{Namespace: "Many", NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range out.Metrics {
			if seen[m.MetricName] {
				t.Fatalf("%s listed twice", m.MetricName)
			}
			seen[m.MetricName] = true
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if pages != 2 || len(seen) != 501 {
		t.Fatalf("%d pages, %d metrics", pages, len(seen))
	}
}
