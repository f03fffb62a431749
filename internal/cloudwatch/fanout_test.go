package cloudwatch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/peers"
	"github.com/gantry-dev/gantry/internal/store"
)

// peerAPIs returns n APIs, each with its own metric store, over one
// alarm store, that ask each other through peers servers on loopback
// HTTP (the transport the servers use).
func peerAPIs(t testing.TB, n int) []*API {
	t.Helper()
	st := store.NewMemory(time.Now)
	key := []byte("0123456789abcdef0123456789abcdef")
	var urls []string
	var apis []*API
	for i := 0; i < n; i++ {
		ms, err := metricstore.Open(t.TempDir(), metricstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
		a := New(ms, st, "us-east-1", "123456789012", nil)
		ps := peers.NewServer(key, slog.New(slog.DiscardHandler))
		a.RegisterPeerOps(ps)
		hs := httptest.NewServer(ps)
		t.Cleanup(hs.Close)
		urls = append(urls, hs.URL)
		apis = append(apis, a)
	}
	for i, a := range apis {
		a.Peers = &peers.Client{Self: urls[i], Key: key, Logger: slog.New(slog.DiscardHandler),
			Live: func(context.Context) ([]string, error) { return urls, nil }}
	}
	return apis
}

func lonelyAPI(t testing.TB) *API {
	t.Helper()
	ms, err := metricstore.Open(t.TempDir(), metricstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return New(ms, store.NewMemory(time.Now), "us-east-1", "123456789012", nil)
}

func ptr[T any](v T) *T { return &v }

// TestReadsMergeEveryServersData: datapoints split between two servers
// read through either give exactly what one server holding all of them
// gives: GetMetricStatistics (the five statistics and percentiles over
// values, values with counts and statistic sets), GetMetricData (a
// percentile, metric math, paging), and ListMetrics (the union, paged by
// 500 with no series twice).
func TestReadsMergeEveryServersData(t *testing.T) {
	ctx := context.Background()
	apis := peerAPIs(t, 2)
	one := lonelyAPI(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	dims := []cloudwatchapi.Dimension{{Name: "Service", Value: "web"}}
	put := func(a *API, data []cloudwatchapi.MetricDatum) {
		t.Helper()
		if _, err := a.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "Fan", MetricData: data}); err != nil {
			t.Fatal(err)
		}
	}
	// Ten minutes; each minute's data split between the two servers.
	for m := 0; m < 10; m++ {
		ts := awstime.NewTimestamp(base.Add(time.Duration(m)*time.Minute + 7*time.Second))
		var da, db []cloudwatchapi.MetricDatum
		for k := 0; k < 20; k++ {
			v := float64((m*37+k*11)%97) + 0.25
			d := cloudwatchapi.MetricDatum{MetricName: "Latency", Dimensions: dims, Timestamp: ts, Value: ptr(v), Unit: "Milliseconds"}
			if k%3 == 0 {
				da = append(da, d)
			} else {
				db = append(db, d)
			}
		}
		db = append(db, cloudwatchapi.MetricDatum{MetricName: "Latency", Dimensions: dims, Timestamp: ts, Unit: "Milliseconds",
			Values: []float64{1, 500, float64(m)}, Counts: []float64{3, 1, 2}})
		if m%4 == 0 {
			// A period holding a statistic set has a SampleCount, Sum,
			// Minimum and Maximum from it too.
			da = append(da, cloudwatchapi.MetricDatum{MetricName: "Latency", Dimensions: dims, Timestamp: ts, Unit: "Milliseconds",
				StatisticValues: &cloudwatchapi.StatisticSet{SampleCount: ptr(4.0), Sum: ptr(40.0), Minimum: ptr(0.5), Maximum: ptr(900.0)}})
		}
		put(apis[0], da)
		put(apis[1], db)
		put(one, append(append([]cloudwatchapi.MetricDatum{}, da...), db...))
	}
	statsIn := &cloudwatchapi.GetMetricStatisticsInput{Namespace: "Fan", MetricName: "Latency", Dimensions: dims,
		StartTime: awstime.NewTimestamp(base.Add(-time.Minute)), EndTime: awstime.NewTimestamp(base.Add(11 * time.Minute)), Period: ptr(int32(120)),
		Statistics:         []cloudwatchapi.Statistic{"SampleCount", "Average", "Sum", "Minimum", "Maximum"},
		ExtendedStatistics: []string{"p50", "p90", "p99.5"}}
	want, err := one.GetMetricStatistics(ctx, statsIn)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Datapoints) != 6 {
		t.Fatalf("the reference has %d datapoints, want 6", len(want.Datapoints))
	}
	for i, a := range apis {
		got, err := a.GetMetricStatistics(ctx, statsIn)
		if err != nil {
			t.Fatal(err)
		}
		if !sameStatistics(got.Datapoints, want.Datapoints) {
			t.Fatalf("GetMetricStatistics through server %d:\ngot  %s\nwant %s", i, dumpDatapoints(got.Datapoints), dumpDatapoints(want.Datapoints))
		}
	}

	dataIn := &cloudwatchapi.GetMetricDataInput{StartTime: statsIn.StartTime, EndTime: statsIn.EndTime, MaxDatapoints: ptr(int32(4)),
		MetricDataQueries: []cloudwatchapi.MetricDataQuery{
			{Id: "p", MetricStat: &cloudwatchapi.MetricStat{Metric: &cloudwatchapi.Metric{Namespace: "Fan", MetricName: "Latency", Dimensions: dims}, Period: ptr(int32(60)), Stat: "p90"}},
			{Id: "s", MetricStat: &cloudwatchapi.MetricStat{Metric: &cloudwatchapi.Metric{Namespace: "Fan", MetricName: "Latency", Dimensions: dims}, Period: ptr(int32(60)), Stat: "SampleCount"}, ReturnData: ptr(false)},
			{Id: "e", Expression: "s * 2"},
		}}
	all := func(a *API) []cloudwatchapi.MetricDataResult {
		t.Helper()
		in := *dataIn
		var out []cloudwatchapi.MetricDataResult
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("paging does not end")
			}
			o, err := a.GetMetricData(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range o.MetricDataResults {
				r.StatusCode = ""
				out = append(out, r)
			}
			if o.NextToken == "" {
				return out
			}
			in.NextToken = o.NextToken
		}
	}
	wantData := all(one)
	if n := len(wantData); n < 5 {
		t.Fatalf("the reference has %d pages of results", n)
	}
	for i, a := range apis {
		if got := all(a); !reflect.DeepEqual(got, wantData) {
			t.Fatalf("GetMetricData through server %d:\ngot  %+v\nwant %+v", i, got, wantData)
		}
	}

	// ListMetrics: 300 series on each server, 50 of them on both: 550,
	// listed once each over two pages.
	for s := 0; s < 2; s++ {
		var data []cloudwatchapi.MetricDatum
		for k := 0; k < 300; k++ {
			id := k + s*250
			data = append(data, cloudwatchapi.MetricDatum{MetricName: "M", Dimensions: []cloudwatchapi.Dimension{{Name: "Id", Value: fmt.Sprintf("%04d", id)}}, Value: ptr(1.0)})
		}
		if _, err := apis[s].PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "List", MetricData: data}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	in := &cloudwatchapi.ListMetricsInput{Namespace: "List"}
	for pages := 0; ; pages++ {
		out, err := apis[1].ListMetrics(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 && len(out.Metrics) != ListMetricsPageSize {
			t.Fatalf("first page: %d metrics", len(out.Metrics))
		}
		for _, m := range out.Metrics {
			got = append(got, m.Dimensions[0].Value)
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(got) != 550 {
		t.Fatalf("ListMetrics listed %d metrics, want 550", len(got))
	}
	for i, v := range got {
		if v != fmt.Sprintf("%04d", i) {
			t.Fatalf("ListMetrics entry %d is %s", i, v)
		}
	}
	out, err := apis[0].ListMetrics(ctx, &cloudwatchapi.ListMetricsInput{Namespace: "List", Dimensions: []cloudwatchapi.DimensionFilter{{Name: "Id", Value: "0549"}}})
	if err != nil || len(out.Metrics) != 1 {
		t.Fatalf("ListMetrics of a series only the other server holds: %v %+v", err, out)
	}
}

// sameStatistics compares datapoints; sums may differ in the last bits
// (added in another order), the rest is equal.
func sameStatistics(got, want []cloudwatchapi.Datapoint) bool {
	if len(got) != len(want) {
		return false
	}
	near := func(x, y *float64) bool {
		if x == nil || y == nil {
			return x == y
		}
		return math.Abs(*x-*y) <= 1e-9*math.Max(1, math.Abs(*y))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Timestamp.Time.Equal(w.Timestamp.Time) || g.Unit != w.Unit || !near(g.SampleCount, w.SampleCount) || !near(g.Sum, w.Sum) ||
			!near(g.Average, w.Average) || !near(g.Minimum, w.Minimum) || !near(g.Maximum, w.Maximum) ||
			!reflect.DeepEqual(g.ExtendedStatistics, w.ExtendedStatistics) {
			return false
		}
	}
	return true
}

func dumpDatapoints(dps []cloudwatchapi.Datapoint) string {
	s := ""
	for _, d := range dps {
		s += fmt.Sprintf("{%s n=%v sum=%v avg=%v min=%v max=%v %v} ", d.Timestamp.Time.Format(time.TimeOnly), deref(d.SampleCount), deref(d.Sum),
			deref(d.Average), deref(d.Minimum), deref(d.Maximum), d.ExtendedStatistics)
	}
	return s
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestLeaderEvaluatesOnArrivalAtAnotherServer: with an evaluation
// interval of an hour, the alarm evaluator leading on one server takes an
// alarm to ALARM as soon as its breaching datapoint is put through the
// other server: that server tells its peers of the arrival, and the
// leader reads the datapoint from it.
func TestLeaderEvaluatesOnArrivalAtAnotherServer(t *testing.T) {
	apis := peerAPIs(t, 2)
	leader, other := apis[0], apis[1]
	ctx, cancel := context.WithCancel(context.Background())
	th := 50.0
	if _, err := leader.PutMetricAlarm(ctx, &cloudwatchapi.PutMetricAlarmInput{AlarmName: "hi", Namespace: "NS", MetricName: "m", Statistic: "Maximum",
		Period: ptr(int32(10)), EvaluationPeriods: ptr(int32(1)), Threshold: &th, ComparisonOperator: "GreaterThanThreshold",
		TreatMissingData: "notBreaching"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		leader.Run(ctx, EvaluatorOptions{Interval: time.Hour, LeaderTTL: 5 * time.Second, ID: "leader"})
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	state := func() string {
		s, err := other.AlarmStates(ctx, []string{"hi"})
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
	waitFor(StateOK)
	v := 90.0
	if _, err := other.PutMetricData(ctx, &cloudwatchapi.PutMetricDataInput{Namespace: "NS", MetricData: []cloudwatchapi.MetricDatum{
		{MetricName: "m", Value: &v, Timestamp: awstime.NewTimestamp(time.Now()), StorageResolution: ptr(int32(1))}}}); err != nil {
		t.Fatal(err)
	}
	took := waitFor(StateAlarm)
	t.Logf("ALARM %v after the breaching datapoint was put through the other server", took)
}
