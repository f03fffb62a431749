package cloudwatch

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// BenchmarkGetMetricDataFanout measures GetMetricData's work (in
// process, no client) over one day of 1-minute data for 100 services:
// on one server holding every datapoint, and on two servers holding half
// of each series each, asked through one of them (the peer's answer over
// loopback HTTP, merged). cpu-ms/op is the process's CPU (both servers).
func BenchmarkGetMetricDataFanout(b *testing.B) {
	ctx := context.Background()
	one := lonelyAPI(b)
	two := peerAPIs(b, 2)
	now := time.Now().Truncate(time.Minute)
	start := now.Add(-24 * time.Hour)
	const services = 100
	for s := 0; s < services; s++ {
		dims := []cloudwatchapi.Dimension{{Name: "ServiceName", Value: fmt.Sprintf("svc-%03d", s)}}
		var all, half [2][]cloudwatchapi.MetricDatum
		for m := 0; m < 1440; m++ {
			v := float64((s*7 + m) % 100)
			d := cloudwatchapi.MetricDatum{MetricName: "CPUUtilization", Dimensions: dims, Value: &v, Unit: "Percent",
				Timestamp: awstime.NewTimestamp(start.Add(time.Duration(m)*time.Minute + 30*time.Second))}
			all[m/720] = append(all[m/720], d)
			half[m%2] = append(half[m%2], d)
		}
		for i := range all {
			mustPut(b, one, all[i])
		}
		for i := range half {
			for j := 0; j < len(half[i]); j += MaxDatumsPerPut {
				mustPut(b, two[i], half[i][j:min(j+MaxDatumsPerPut, len(half[i]))])
			}
		}
	}
	var qs []cloudwatchapi.MetricDataQuery
	for s := 0; s < services; s++ {
		qs = append(qs, cloudwatchapi.MetricDataQuery{Id: fmt.Sprintf("m%d", s), MetricStat: &cloudwatchapi.MetricStat{
			Metric: &cloudwatchapi.Metric{Namespace: "Bench", MetricName: "CPUUtilization",
				Dimensions: []cloudwatchapi.Dimension{{Name: "ServiceName", Value: fmt.Sprintf("svc-%03d", s)}}},
			Period: ptr(int32(60)), Stat: "Average"}})
	}
	in := &cloudwatchapi.GetMetricDataInput{StartTime: awstime.NewTimestamp(start), EndTime: awstime.NewTimestamp(now), MetricDataQueries: qs,
		MaxDatapoints: ptr(int32(services * 1440))}
	for _, c := range []struct {
		name string
		api  *API
	}{{"one server", one}, {"two servers", two[0]}} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := processCPU()
			points := 0
			for b.Loop() {
				out, err := c.api.GetMetricData(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				points = 0
				for _, r := range out.MetricDataResults {
					points += len(r.Values)
				}
			}
			if points != services*1440 {
				b.Fatalf("%d datapoints, want %d", points, services*1440)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

func mustPut(tb testing.TB, a *API, data []cloudwatchapi.MetricDatum) {
	tb.Helper()
	if _, err := a.PutMetricData(context.Background(), &cloudwatchapi.PutMetricDataInput{Namespace: "Bench", MetricData: data}); err != nil {
		tb.Fatal(err)
	}
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
