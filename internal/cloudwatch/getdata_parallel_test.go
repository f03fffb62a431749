package cloudwatch

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// TestManyQueriesReadInParallel: a GetMetricData of more MetricStat
// queries than parallelReadMin (read on every core by prefetch) answers
// each exactly as a call of that query alone (read when evaluated), and a
// SUM over them adds them up.
func TestManyQueriesReadInParallel(t *testing.T) {
	a := lonelyAPI(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute)
	const n = 3 * parallelReadMin
	for s := range n {
		var data []cloudwatchapi.MetricDatum
		for m := range 30 {
			data = append(data, cloudwatchapi.MetricDatum{MetricName: "Load",
				Dimensions: []cloudwatchapi.Dimension{{Name: "Service", Value: fmt.Sprintf("svc-%02d", s)}},
				Timestamp:  &awstime.Timestamp{Time: now.Add(-time.Duration(m) * time.Minute)}, Value: ptr(float64(s*100 + m))})
		}
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "Par", MetricData: data}); err != nil {
			t.Fatal(err)
		}
	}
	query := func(s int) cloudwatchapi.MetricDataQuery {
		return cloudwatchapi.MetricDataQuery{Id: fmt.Sprintf("q%d", s), MetricStat: &cloudwatchapi.MetricStat{
			Metric: &cloudwatchapi.Metric{Namespace: "Par", MetricName: "Load",
				Dimensions: []cloudwatchapi.Dimension{{Name: "Service", Value: fmt.Sprintf("svc-%02d", s)}}},
			Period: ptr(int32(60)), Stat: "Sum"}}
	}
	in := &cloudwatchapi.GetMetricDataInput{StartTime: &awstime.Timestamp{Time: now.Add(-time.Hour)},
		EndTime: &awstime.Timestamp{Time: now.Add(time.Minute)}}
	for s := range n {
		in.MetricDataQueries = append(in.MetricDataQueries, query(s))
	}
	in.MetricDataQueries = append(in.MetricDataQueries, cloudwatchapi.MetricDataQuery{Id: "total", Expression: "SUM(METRICS())"})
	got, err := a.GetMetricData(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.MetricDataResults) != n+1 || got.NextToken != "" {
		t.Fatalf("%d results, token %q", len(got.MetricDataResults), got.NextToken)
	}
	for s := range n {
		alone, err := a.GetMetricData(ctx, &cloudwatchapi.GetMetricDataInput{StartTime: in.StartTime, EndTime: in.EndTime,
			MetricDataQueries: []cloudwatchapi.MetricDataQuery{query(s)}})
		if err != nil {
			t.Fatal(err)
		}
		r := got.MetricDataResults[s]
		if len(r.Values) != 30 || !reflect.DeepEqual(r, alone.MetricDataResults[0]) {
			t.Fatalf("query %d among %d: %+v\nalone: %+v", s, n, r, alone.MetricDataResults[0])
		}
	}
	total := got.MetricDataResults[n]
	for i, v := range total.Values {
		want := 0.0
		for s := range n {
			want += got.MetricDataResults[s].Values[i]
		}
		if v != want {
			t.Fatalf("SUM at %v = %v, want %v", total.Timestamps[i], v, want)
		}
	}
}
