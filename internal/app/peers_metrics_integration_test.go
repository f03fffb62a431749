package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/etcdembed"
)

func cwClient(url string) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
}

// twoServersSlowAlarms starts two servers on one embedded etcd, each with
// its own data directory (metric store), evaluating alarms every 10 s (the
// longest interval) so that a quicker evaluation is one on arrival.
func twoServersSlowAlarms(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	var urls []string
	for i := 0; i < 2; i++ {
		cfg := config.DefaultServer()
		cfg.Listen = "127.0.0.1:0"
		cfg.DataDir = t.TempDir()
		cfg.EtcdEndpoints = []string{etcd.ClientURL}
		cfg.AlarmEvaluationInterval = 10 * time.Second
		cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
		srv, err := app.StartServer(ctx, cfg, apitest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, srv.URL)
	}
	return urls
}

// TestAnyServerAnswersMetricQueries: datapoints put through one server
// are read through the other, merged with that server's own exactly
// (GetMetricStatistics with percentiles, GetMetricData, ListMetrics), and
// the alarm evaluator, on whichever server leads, takes alarms to ALARM
// from datapoints put through either server.
func TestAnyServerAnswersMetricQueries(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	ctx := context.Background()
	urls := twoServersSlowAlarms(t)
	a, b := cwClient(urls[0]), cwClient(urls[1])
	dims := []types.Dimension{{Name: aws.String("Service"), Value: aws.String("web")}}
	minute := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	put := func(c *cloudwatch.Client, name string, at time.Time, values ...float64) {
		t.Helper()
		if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("HA"), MetricData: []types.MetricDatum{
			{MetricName: aws.String(name), Dimensions: dims, Timestamp: aws.Time(at), Values: values, StorageResolution: aws.Int32(1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// 1..8 through A, 9..20 through B, in one minute.
	put(a, "Latency", minute.Add(5*time.Second), 1, 2, 3, 4, 5, 6, 7, 8)
	put(b, "Latency", minute.Add(9*time.Second), 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	put(a, "OnlyA", minute.Add(5*time.Second), 42)

	t.Run("GetMetricStatistics through either", func(t *testing.T) {
		for i, c := range []*cloudwatch.Client{a, b} {
			out, err := c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("HA"), MetricName: aws.String("Latency"),
				Dimensions: dims, StartTime: aws.Time(minute), EndTime: aws.Time(minute.Add(time.Minute)), Period: aws.Int32(60),
				Statistics:         []types.Statistic{types.StatisticSampleCount, types.StatisticSum, types.StatisticMinimum, types.StatisticMaximum, types.StatisticAverage},
				ExtendedStatistics: []string{"p50", "p90"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Datapoints) != 1 {
				t.Fatalf("server %d: %d datapoints", i, len(out.Datapoints))
			}
			d := out.Datapoints[0]
			if *d.SampleCount != 20 || *d.Sum != 210 || *d.Minimum != 1 || *d.Maximum != 20 || *d.Average != 10.5 ||
				d.ExtendedStatistics["p50"] != 10 || d.ExtendedStatistics["p90"] != 18 {
				t.Fatalf("server %d: n=%v sum=%v min=%v max=%v avg=%v %v", i, *d.SampleCount, *d.Sum, *d.Minimum, *d.Maximum, *d.Average, d.ExtendedStatistics)
			}
		}
	})
	t.Run("GetMetricData through B of data put through A", func(t *testing.T) {
		metric := func(name string) *types.Metric {
			return &types.Metric{Namespace: aws.String("HA"), MetricName: aws.String(name), Dimensions: dims}
		}
		out, err := b.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(minute), EndTime: aws.Time(minute.Add(time.Minute)),
			MetricDataQueries: []types.MetricDataQuery{
				{Id: aws.String("only"), MetricStat: &types.MetricStat{Metric: metric("OnlyA"), Period: aws.Int32(60), Stat: aws.String("Sum")}},
				{Id: aws.String("n"), MetricStat: &types.MetricStat{Metric: metric("Latency"), Period: aws.Int32(60), Stat: aws.String("SampleCount")}, ReturnData: aws.Bool(false)},
				{Id: aws.String("twice"), Expression: aws.String("n * 2")},
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.MetricDataResults) != 2 || !slices.Equal(out.MetricDataResults[0].Values, []float64{42}) ||
			!slices.Equal(out.MetricDataResults[1].Values, []float64{40}) {
			t.Fatalf("%+v", out.MetricDataResults)
		}
	})
	t.Run("ListMetrics through B", func(t *testing.T) {
		out, err := b.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("HA")})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range out.Metrics {
			names = append(names, *m.MetricName)
		}
		slices.Sort(names) // AWS documents no order
		if !slices.Equal(names, []string{"Latency", "OnlyA"}) {
			t.Fatalf("ListMetrics: %v", names)
		}
	})

	// Two alarms, each fed through one server: whichever server leads
	// the evaluator, one alarm's datapoint arrives at the other.
	for _, name := range []string{"HotA", "HotB"} {
		if _, err := a.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("alarm-" + name), Namespace: aws.String("HA"),
			MetricName: aws.String(name), Dimensions: dims, Statistic: types.StatisticMaximum, Period: aws.Int32(10), EvaluationPeriods: aws.Int32(1),
			Threshold: aws.Float64(50), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching")}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("DescribeAlarmsForMetric through B", func(t *testing.T) {
		out, err := b.DescribeAlarmsForMetric(ctx, &cloudwatch.DescribeAlarmsForMetricInput{Namespace: aws.String("HA"), MetricName: aws.String("HotA"),
			Dimensions: dims, Statistic: types.StatisticMaximum, Period: aws.Int32(10)})
		if err != nil || len(out.MetricAlarms) != 1 {
			t.Fatalf("%v %+v", err, out)
		}
	})
	states := func() map[string]types.StateValue {
		out, err := b.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("alarm-")})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]types.StateValue{}
		for _, al := range out.MetricAlarms {
			m[*al.AlarmName] = al.StateValue
		}
		return m
	}
	waitFor := func(want types.StateValue, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			s := states()
			if s["alarm-HotA"] == want && s["alarm-HotB"] == want {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("alarms %v after %v, want %s", s, time.Since(start), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The first evaluation after PutMetricAlarm, on a full tick.
	waitFor(types.StateValueOk, 25*time.Second)
	now := time.Now()
	put(a, "HotA", now, 90)
	put(b, "HotB", now, 90)
	took := waitFor(types.StateValueAlarm, 5*time.Second) // on arrival, not the 10 s tick
	t.Logf("both alarms in ALARM %v after their datapoints were put (evaluation interval 10s)", took)
}
