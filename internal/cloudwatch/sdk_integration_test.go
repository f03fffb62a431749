package cloudwatch_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// protocols are the three wire protocols of CloudWatch's SDKs: the Go SDK
// speaks RPC v2 CBOR by default and either of the others when told.
var protocols = []struct {
	name string
	set  func(*cloudwatch.Options)
}{
	{"cbor", func(*cloudwatch.Options) {}},
	{"json", func(o *cloudwatch.Options) { o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801) }},
	{"query", func(o *cloudwatch.Options) { o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801) }},
}

func newClient(url string, set func(*cloudwatch.Options)) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           apitest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	}, set)
}

// wantErr fails unless err is the API error code (the query code, which
// every protocol carries).
func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	// The typed exceptions' ErrorCode is the query code over CBOR and
	// JSON (X-Amzn-Query-Error) and the shape name over query.
	shapes := map[string]string{"InvalidParameterValue": "InvalidParameterValueException", "MissingParameter": "MissingRequiredParameterException",
		"InvalidParameterCombination": "InvalidParameterCombinationException", "InvalidFormat": "InvalidFormatFault"}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code && ae.ErrorCode() != shapes[code] {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorMessage() == "" {
		t.Errorf("%s: the SDK read no message from the error (%v)", code, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func dims(kv ...string) []types.Dimension {
	var out []types.Dimension
	for i := 0; i < len(kv); i += 2 {
		out = append(out, types.Dimension{Name: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func TestMetricsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			testMetrics(t, newClient(env.URL, p.set), "Test/"+p.name, p.name)
		})
	}
}

func testMetrics(t *testing.T, c *cloudwatch.Client, ns, protocol string) {
	ctx := context.Background()
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Hour).Add(-time.Hour) // a whole hour, an hour ago
	if time.Since(base) > 2*time.Hour {
		base = base.Add(time.Hour)
	}
	// Minute 0: values 1..100 one by one; minute 1: a statistic set; minute
	// 2: values with counts. Dimensions in any order name one series.
	var data []types.MetricDatum
	for i := 1; i <= 100; i++ {
		data = append(data, types.MetricDatum{MetricName: aws.String("Latency"), Dimensions: dims("Service", "web", "Cluster", "c1"),
			Timestamp: aws.Time(base.Add(time.Duration(i) * 100 * time.Millisecond)), Value: aws.Float64(float64(i)), Unit: types.StandardUnitMilliseconds})
	}
	data = append(data, types.MetricDatum{MetricName: aws.String("Latency"), Dimensions: dims("Cluster", "c1", "Service", "web"),
		Timestamp: aws.Time(base.Add(time.Minute)), Unit: types.StandardUnitMilliseconds,
		StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(4), Sum: aws.Float64(40), Minimum: aws.Float64(1), Maximum: aws.Float64(20)}})
	data = append(data, types.MetricDatum{MetricName: aws.String("Latency"), Dimensions: dims("Cluster", "c1", "Service", "web"),
		Timestamp: aws.Time(base.Add(2 * time.Minute)), Unit: types.StandardUnitMilliseconds,
		Values: []float64{5, 50}, Counts: []float64{9, 1}})
	// A second service, for metric math and listing.
	for m := 0; m < 3; m++ {
		data = append(data, types.MetricDatum{MetricName: aws.String("Latency"), Dimensions: dims("Cluster", "c1", "Service", "api"),
			Timestamp: aws.Time(base.Add(time.Duration(m) * time.Minute)), Value: aws.Float64(10), Unit: types.StandardUnitMilliseconds})
	}
	must[*cloudwatch.PutMetricDataOutput](t)(c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: data}))
	// High resolution: kept to the second.
	hotAt := time.Now().Add(-30 * time.Second)
	must[*cloudwatch.PutMetricDataOutput](t)(c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{
		{MetricName: aws.String("Hot"), Timestamp: aws.Time(hotAt), Value: aws.Float64(7), StorageResolution: aws.Int32(1)},
		{MetricName: aws.String("Hot"), Timestamp: aws.Time(hotAt), Value: aws.Float64(9), StorageResolution: aws.Int32(1)},
	}}))

	st := must[*cloudwatch.GetMetricStatisticsOutput](t)(c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: &ns, MetricName: aws.String("Latency"), Dimensions: dims("Service", "web", "Cluster", "c1"),
		StartTime: aws.Time(base), EndTime: aws.Time(base.Add(5 * time.Minute)), Period: aws.Int32(60),
		Statistics:         []types.Statistic{types.StatisticAverage, types.StatisticSum, types.StatisticMinimum, types.StatisticMaximum, types.StatisticSampleCount},
		ExtendedStatistics: []string{"p50", "p90", "p99"},
	}))
	if len(st.Datapoints) != 3 || aws.ToString(st.Label) != "Latency" {
		t.Fatalf("datapoints: %+v", st)
	}
	byMinute := map[int]types.Datapoint{}
	for _, d := range st.Datapoints {
		byMinute[int(d.Timestamp.Sub(base)/time.Minute)] = d
	}
	d0 := byMinute[0]
	if *d0.SampleCount != 100 || *d0.Sum != 5050 || *d0.Average != 50.5 || *d0.Minimum != 1 || *d0.Maximum != 100 ||
		d0.ExtendedStatistics["p50"] != 50 || d0.ExtendedStatistics["p90"] != 90 || d0.ExtendedStatistics["p99"] != 99 || d0.Unit != types.StandardUnitMilliseconds {
		t.Fatalf("minute 0: %+v %v", d0, d0.ExtendedStatistics)
	}
	if d1 := byMinute[1]; *d1.SampleCount != 4 || *d1.Average != 10 || *d1.Maximum != 20 || len(d1.ExtendedStatistics) != 0 {
		t.Fatalf("minute 1 (statistic set): %+v", d1)
	}
	if d2 := byMinute[2]; *d2.SampleCount != 10 || *d2.Sum != 95 || d2.ExtendedStatistics["p90"] != 5 || d2.ExtendedStatistics["p99"] != 50 {
		t.Fatalf("minute 2 (values and counts): %+v %v", d2, d2.ExtendedStatistics)
	}
	// The same over a 3-minute period: one datapoint aggregates all.
	st = must[*cloudwatch.GetMetricStatisticsOutput](t)(c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: &ns, MetricName: aws.String("Latency"), Dimensions: dims("Service", "web", "Cluster", "c1"),
		StartTime: aws.Time(base), EndTime: aws.Time(base.Add(3 * time.Minute)), Period: aws.Int32(180),
		Statistics: []types.Statistic{types.StatisticSampleCount, types.StatisticMaximum}, Unit: types.StandardUnitMilliseconds}))
	if len(st.Datapoints) != 1 || *st.Datapoints[0].SampleCount != 114 || *st.Datapoints[0].Maximum != 100 {
		t.Fatalf("3-minute period: %+v", st.Datapoints)
	}
	// Another unit matches nothing.
	st = must[*cloudwatch.GetMetricStatisticsOutput](t)(c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: &ns, MetricName: aws.String("Latency"), Dimensions: dims("Service", "web", "Cluster", "c1"),
		StartTime: aws.Time(base), EndTime: aws.Time(base.Add(3 * time.Minute)), Period: aws.Int32(60),
		Statistics: []types.Statistic{types.StatisticSum}, Unit: types.StandardUnitSeconds}))
	if len(st.Datapoints) != 0 {
		t.Fatalf("unit filter: %+v", st.Datapoints)
	}
	// High resolution with a 1-second period.
	hot := must[*cloudwatch.GetMetricStatisticsOutput](t)(c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: &ns, MetricName: aws.String("Hot"), StartTime: aws.Time(time.Now().Add(-time.Minute)), EndTime: aws.Time(time.Now()),
		Period: aws.Int32(1), Statistics: []types.Statistic{types.StatisticAverage, types.StatisticSampleCount}}))
	if len(hot.Datapoints) != 1 || *hot.Datapoints[0].Average != 8 || *hot.Datapoints[0].SampleCount != 2 {
		t.Fatalf("high resolution: %+v", hot.Datapoints)
	}

	// GetMetricData: MetricStat queries and metric math.
	metric := func(svc string) *types.Metric {
		return &types.Metric{Namespace: &ns, MetricName: aws.String("Latency"), Dimensions: dims("Cluster", "c1", "Service", svc)}
	}
	gmd := must[*cloudwatch.GetMetricDataOutput](t)(c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(base), EndTime: aws.Time(base.Add(5 * time.Minute)), ScanBy: types.ScanByTimestampAscending,
		MetricDataQueries: []types.MetricDataQuery{
			{Id: aws.String("web"), MetricStat: &types.MetricStat{Metric: metric("web"), Period: aws.Int32(60), Stat: aws.String("Maximum")}, ReturnData: aws.Bool(false)},
			{Id: aws.String("api"), MetricStat: &types.MetricStat{Metric: metric("api"), Period: aws.Int32(60), Stat: aws.String("Sum")}, Label: aws.String("api sum")},
			{Id: aws.String("total"), Expression: aws.String("SUM([web, api])"), Label: aws.String("total")},
			{Id: aws.String("ratio"), Expression: aws.String("(web - api) / 2 + -1")},
			{Id: aws.String("peak"), Expression: aws.String("MAX(web)")},
			{Id: aws.String("p99"), MetricStat: &types.MetricStat{Metric: metric("web"), Period: aws.Int32(60), Stat: aws.String("p99")}},
		}}))
	res := map[string]types.MetricDataResult{}
	for _, r := range gmd.MetricDataResults {
		res[aws.ToString(r.Id)] = r
	}
	if _, ok := res["web"]; ok || len(res) != 5 || aws.ToString(gmd.NextToken) != "" {
		t.Fatalf("ReturnData false returned, or results missing: %+v", gmd.MetricDataResults)
	}
	check := func(id, label string, want ...float64) {
		t.Helper()
		r := res[id]
		if r.StatusCode != types.StatusCodeComplete || aws.ToString(r.Label) != label || fmt.Sprint(r.Values) != fmt.Sprint(want) {
			t.Fatalf("%s: got %s %q %v, want %q %v", id, r.StatusCode, aws.ToString(r.Label), r.Values, label, want)
		}
		for i := 1; i < len(r.Timestamps); i++ {
			if !r.Timestamps[i].After(r.Timestamps[i-1]) {
				t.Fatalf("%s: timestamps not ascending: %v", id, r.Timestamps)
			}
		}
	}
	check("api", "api sum", 10, 10, 10)
	check("total", "total", 110, 30, 60)
	check("ratio", "ratio", 44, 4, 19)
	check("peak", "peak", 100, 100, 100)
	check("p99", "Latency", 99, 50)
	// Paging by MaxDatapoints, newest first.
	var got []float64
	var token *string
	for page := 0; ; page++ {
		out := must[*cloudwatch.GetMetricDataOutput](t)(c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(base), EndTime: aws.Time(base.Add(5 * time.Minute)), MaxDatapoints: aws.Int32(2), NextToken: token,
			MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("m"), MetricStat: &types.MetricStat{Metric: metric("web"), Period: aws.Int32(60), Stat: aws.String("SampleCount")}}}}))
		for _, r := range out.MetricDataResults {
			got = append(got, r.Values...)
			if (out.NextToken != nil) != (r.StatusCode == types.StatusCodePartialData) {
				t.Fatalf("page %d: status %s with token %v", page, r.StatusCode, out.NextToken)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(got) != "[10 4 100]" {
		t.Fatalf("pages: %v", got)
	}

	// ListMetrics: namespace, name and dimension filters.
	lm := must[*cloudwatch.ListMetricsOutput](t)(c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: &ns}))
	if len(lm.Metrics) != 3 {
		t.Fatalf("list: %+v", lm.Metrics)
	}
	lm = must[*cloudwatch.ListMetricsOutput](t)(c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: &ns, MetricName: aws.String("Latency"),
		Dimensions: []types.DimensionFilter{{Name: aws.String("Service"), Value: aws.String("api")}}}))
	if len(lm.Metrics) != 1 || len(lm.Metrics[0].Dimensions) != 2 || aws.ToString(lm.Metrics[0].Dimensions[1].Value) != "api" {
		t.Fatalf("list filtered: %+v", lm.Metrics)
	}
	lm = must[*cloudwatch.ListMetricsOutput](t)(c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: &ns, RecentlyActive: types.RecentlyActivePt3h,
		Dimensions: []types.DimensionFilter{{Name: aws.String("Service")}}}))
	if len(lm.Metrics) != 2 {
		t.Fatalf("list recently active with a Service dimension: %+v", lm.Metrics)
	}

	// Bad input: AWS's errors, in this protocol.
	_, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/ECS"), MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1)}}})
	wantErr(t, err, "InvalidParameterValue")
	var many []string
	for i := 0; i < 31; i++ {
		many = append(many, fmt.Sprintf("d%d", i), "v")
	}
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1), Dimensions: dims(many...)}}})
	wantErr(t, err, "InvalidParameterValue")
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1),
		StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(1), Sum: aws.Float64(1), Minimum: aws.Float64(1), Maximum: aws.Float64(1)}}}})
	wantErr(t, err, "InvalidParameterCombination")
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x")}}})
	wantErr(t, err, "MissingParameter")
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(math.Inf(1))}}})
	if protocol == "json" {
		// awsJson writes infinity as the string "Infinity", which the JSON
		// decoder refuses before CloudWatch sees it.
		wantErr(t, err, "SerializationException")
	} else {
		wantErr(t, err, "InvalidParameterValue")
	}
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1), StorageResolution: aws.Int32(5)}}})
	wantErr(t, err, "InvalidParameterValue")
	_, err = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1), Timestamp: aws.Time(time.Now().Add(-15 * 24 * time.Hour))}}})
	wantErr(t, err, "InvalidParameterValue")
	gms := func(period int32, span time.Duration, stats ...string) error {
		var s []types.Statistic
		var ext []string
		for _, x := range stats {
			if strings.HasPrefix(x, "p") {
				ext = append(ext, x)
			} else {
				s = append(s, types.Statistic(x))
			}
		}
		_, err := c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: &ns, MetricName: aws.String("Latency"),
			StartTime: aws.Time(time.Now().Add(-span)), EndTime: aws.Time(time.Now()), Period: aws.Int32(period), Statistics: s, ExtendedStatistics: ext})
		return err
	}
	wantErr(t, gms(61, time.Hour, "Sum"), "InvalidParameterValue")
	wantErr(t, gms(10, 4*time.Hour, "Sum"), "InvalidParameterValue")
	wantErr(t, gms(60, 25*time.Hour, "Sum"), "InvalidParameterCombination")
	wantErr(t, gms(60, time.Hour, "Median"), "InvalidParameterValue")
	wantErr(t, gms(60, time.Hour, "p101"), "InvalidParameterValue")
	wantErr(t, gms(60, time.Hour), "MissingParameter")
	_, err = c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(base), EndTime: aws.Time(base.Add(time.Hour)),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("e"), Expression: aws.String("nope * 2")}}})
	wantErr(t, err, "InvalidParameterValue")
	_, err = c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(base), EndTime: aws.Time(base.Add(time.Hour)),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("e"), Expression: aws.String("2 * (")}}})
	wantErr(t, err, "InvalidParameterValue")
	_, err = c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(base), EndTime: aws.Time(base.Add(time.Hour)), NextToken: aws.String("garbage!"),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("e"), Expression: aws.String("2")}}})
	wantErr(t, err, "InvalidNextToken")
	_, err = c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{NextToken: aws.String("!!")})
	wantErr(t, err, "InvalidNextToken")
}

func TestMetricsSurviveARestart(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL, protocols[0].set)
	ctx := context.Background()
	ts := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	must[*cloudwatch.PutMetricDataOutput](t)(c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Restart"),
		MetricData: []types.MetricDatum{{MetricName: aws.String("m"), Timestamp: aws.Time(ts), Value: aws.Float64(42)}}}))
	env.Restart(t)
	c = newClient(env.URL, protocols[0].set)
	st := must[*cloudwatch.GetMetricStatisticsOutput](t)(c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("Restart"), MetricName: aws.String("m"), StartTime: aws.Time(ts.Add(-time.Minute)), EndTime: aws.Time(ts.Add(time.Minute)),
		Period: aws.Int32(60), Statistics: []types.Statistic{types.StatisticSum}}))
	if len(st.Datapoints) != 1 || *st.Datapoints[0].Sum != 42 || !st.Datapoints[0].Timestamp.Equal(ts) {
		t.Fatalf("after restart: %+v", st.Datapoints)
	}
	lm := must[*cloudwatch.ListMetricsOutput](t)(c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("Restart")}))
	if len(lm.Metrics) != 1 {
		t.Fatalf("list after restart: %+v", lm.Metrics)
	}
}
