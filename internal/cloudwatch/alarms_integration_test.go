package cloudwatch_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/testutil"
)

const policyARN = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1234-5678:resource/ecs/service/default/web:policyName/out"

func alarmInput(name, ns string) *cloudwatch.PutMetricAlarmInput {
	return &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String(ns), MetricName: aws.String("CPU"),
		Dimensions: dims("Service", "web"), Statistic: types.StatisticAverage, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(3),
		DatapointsToAlarm: aws.Int32(2), Threshold: aws.Float64(80), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		AlarmActions: []string{policyARN}, TreatMissingData: aws.String("ignore")}
}

func TestAlarmsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			testAlarms(t, newClient(env.URL, p.set), p.name+"-")
		})
	}
}

func testAlarms(t *testing.T, c *cloudwatch.Client, prefix string) {
	ctx := context.Background()
	ns := "Alarms/" + prefix
	for i := 0; i < 3; i++ {
		in := alarmInput(fmt.Sprintf("%shigh-%d", prefix, i), ns)
		if i == 2 {
			in.AlarmActions = nil
			in.OKActions = []string{"arn:aws:sns:us-east-1:123456789012:ops"}
		}
		in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
		must[*cloudwatch.PutMetricAlarmOutput](t)(c.PutMetricAlarm(ctx, in))
	}
	// A metric math alarm.
	must[*cloudwatch.PutMetricAlarmOutput](t)(c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(prefix + "math"),
		EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1), ComparisonOperator: types.ComparisonOperatorLessThanThreshold,
		Metrics: []types.MetricDataQuery{
			{Id: aws.String("a"), MetricStat: &types.MetricStat{Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String("CPU")}, Period: aws.Int32(60), Stat: aws.String("Sum")}, ReturnData: aws.Bool(false)},
			{Id: aws.String("e"), Expression: aws.String("a / 60"), Label: aws.String("per second")},
		}}))

	d := must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix)}))
	if len(d.MetricAlarms) != 4 || d.NextToken != nil {
		t.Fatalf("describe: %+v", d)
	}
	a0 := d.MetricAlarms[0]
	if aws.ToString(a0.AlarmName) != prefix+"high-0" || a0.StateValue != types.StateValueInsufficientData ||
		aws.ToString(a0.StateReason) != "Unchecked: Initial alarm creation" || aws.ToString(a0.AlarmArn) != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"+prefix+"high-0" ||
		!aws.ToBool(a0.ActionsEnabled) || *a0.DatapointsToAlarm != 2 || aws.ToString(a0.TreatMissingData) != "ignore" || a0.AlarmConfigurationUpdatedTimestamp == nil {
		t.Fatalf("alarm: %+v", a0)
	}
	if m := d.MetricAlarms[3]; len(m.Metrics) != 2 || aws.ToString(m.Metrics[1].Expression) != "a / 60" {
		t.Fatalf("math alarm: %+v", m)
	}
	// Paging, state and action filters.
	var names []string
	var token *string
	for {
		p := must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix), MaxRecords: aws.Int32(3), NextToken: token}))
		for _, a := range p.MetricAlarms {
			names = append(names, aws.ToString(a.AlarmName))
		}
		if token = p.NextToken; token == nil {
			break
		}
	}
	if len(names) != 4 {
		t.Fatalf("paged: %v", names)
	}
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix), ActionPrefix: aws.String("arn:aws:sns:")}))
	if len(d.MetricAlarms) != 1 || aws.ToString(d.MetricAlarms[0].AlarmName) != prefix+"high-2" {
		t.Fatalf("action prefix: %+v", d.MetricAlarms)
	}
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{prefix + "high-1", prefix + "nope"}}))
	if len(d.MetricAlarms) != 1 {
		t.Fatalf("by names: %+v", d.MetricAlarms)
	}
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix), AlarmTypes: []types.AlarmType{types.AlarmTypeCompositeAlarm}}))
	if len(d.MetricAlarms) != 0 {
		t.Fatalf("composite only: %+v", d.MetricAlarms)
	}
	fm := must[*cloudwatch.DescribeAlarmsForMetricOutput](t)(c.DescribeAlarmsForMetric(ctx, &cloudwatch.DescribeAlarmsForMetricInput{
		Namespace: aws.String(ns), MetricName: aws.String("CPU"), Dimensions: dims("Service", "web")}))
	if len(fm.MetricAlarms) != 3 {
		t.Fatalf("for metric: %+v", fm.MetricAlarms)
	}

	// SetAlarmState, history, actions on and off.
	must[*cloudwatch.SetAlarmStateOutput](t)(c.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(prefix + "high-0"),
		StateValue: types.StateValueAlarm, StateReason: aws.String("testing"), StateReasonData: aws.String(`{"k":1}`)}))
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix), StateValue: types.StateValueAlarm}))
	if len(d.MetricAlarms) != 1 || aws.ToString(d.MetricAlarms[0].StateReason) != "testing" {
		t.Fatalf("by state: %+v", d.MetricAlarms)
	}
	h := must[*cloudwatch.DescribeAlarmHistoryOutput](t)(c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(prefix + "high-0")}))
	if len(h.AlarmHistoryItems) < 2 || h.AlarmHistoryItems[0].HistoryItemType == types.HistoryItemTypeConfigurationUpdate {
		t.Fatalf("history: %+v", h.AlarmHistoryItems)
	}
	var sawState, sawCreate bool
	for _, it := range h.AlarmHistoryItems {
		switch aws.ToString(it.HistorySummary) {
		case "Alarm updated from INSUFFICIENT_DATA to ALARM":
			sawState = it.HistoryItemType == types.HistoryItemTypeStateUpdate
		case fmt.Sprintf("Alarm %q created", prefix+"high-0"):
			sawCreate = it.HistoryItemType == types.HistoryItemTypeConfigurationUpdate
		}
	}
	if !sawState || !sawCreate {
		t.Fatalf("history items: %+v", h.AlarmHistoryItems)
	}
	h = must[*cloudwatch.DescribeAlarmHistoryOutput](t)(c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(prefix + "high-0"),
		HistoryItemType: types.HistoryItemTypeConfigurationUpdate, ScanBy: types.ScanByTimestampAscending, MaxRecords: aws.Int32(1)}))
	if len(h.AlarmHistoryItems) != 1 || h.NextToken != nil {
		t.Fatalf("history filtered: %+v", h)
	}
	must[*cloudwatch.DisableAlarmActionsOutput](t)(c.DisableAlarmActions(ctx, &cloudwatch.DisableAlarmActionsInput{AlarmNames: []string{prefix + "high-1"}}))
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{prefix + "high-1"}}))
	if aws.ToBool(d.MetricAlarms[0].ActionsEnabled) {
		t.Fatal("actions still enabled")
	}
	must[*cloudwatch.EnableAlarmActionsOutput](t)(c.EnableAlarmActions(ctx, &cloudwatch.EnableAlarmActionsInput{AlarmNames: []string{prefix + "high-1"}}))
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{prefix + "high-1"}}))
	if !aws.ToBool(d.MetricAlarms[0].ActionsEnabled) {
		t.Fatal("actions not enabled")
	}
	// An update keeps the state and the tags.
	up := alarmInput(prefix+"high-0", ns)
	up.Threshold = aws.Float64(90)
	must[*cloudwatch.PutMetricAlarmOutput](t)(c.PutMetricAlarm(ctx, up))
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{prefix + "high-0"}}))
	if a := d.MetricAlarms[0]; a.StateValue != types.StateValueAlarm || *a.Threshold != 90 {
		t.Fatalf("updated: %+v", a)
	}

	// Tags.
	arn := "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + prefix + "high-0"
	must[*cloudwatch.TagResourceOutput](t)(c.TagResource(ctx, &cloudwatch.TagResourceInput{ResourceARN: &arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("b")}}}))
	must[*cloudwatch.UntagResourceOutput](t)(c.UntagResource(ctx, &cloudwatch.UntagResourceInput{ResourceARN: &arn, TagKeys: []string{"env"}}))
	tags := must[*cloudwatch.ListTagsForResourceOutput](t)(c.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: &arn}))
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "b" {
		t.Fatalf("tags: %+v", tags.Tags)
	}
	_, err := c.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: aws.String(arn + "-nope")})
	wantErr(t, err, "ResourceNotFoundException")

	// Bad input.
	bad := func(mut func(*cloudwatch.PutMetricAlarmInput)) error {
		in := alarmInput(prefix+"bad", ns)
		mut(in)
		_, err := c.PutMetricAlarm(ctx, in)
		return err
	}
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.Period = aws.Int32(45) }), "InvalidParameterValue")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.DatapointsToAlarm = aws.Int32(4) }), "InvalidParameterValue")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.TreatMissingData = aws.String("maybe") }), "InvalidParameterValue")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.ExtendedStatistic = aws.String("p90") }), "InvalidParameterCombination")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) {
		in.ComparisonOperator = types.ComparisonOperatorLessThanLowerOrGreaterThanUpperThreshold
	}), "InvalidParameterCombination")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) {
		in.Metrics = []types.MetricDataQuery{{Id: aws.String("e"), Expression: aws.String("1")}}
	}), "InvalidParameterCombination")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.AlarmActions = []string{"not-an-arn"} }), "InvalidParameterValue")
	wantErr(t, bad(func(in *cloudwatch.PutMetricAlarmInput) { in.Statistic = "" }), "MissingParameter")
	_, err = c.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(prefix + "nope"), StateValue: types.StateValueOk, StateReason: aws.String("x")})
	wantErr(t, err, "ResourceNotFound")
	_, err = c.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(prefix + "high-1"), StateValue: types.StateValueOk, StateReason: aws.String("x"), StateReasonData: aws.String("{")})
	wantErr(t, err, "InvalidFormat")
	_, err = c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"x"}, AlarmNamePrefix: aws.String("y")})
	wantErr(t, err, "InvalidParameterCombination")

	// DeleteAlarms: all or nothing.
	_, err = c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{prefix + "high-1", prefix + "nope"}})
	wantErr(t, err, "ResourceNotFound")
	must[*cloudwatch.DeleteAlarmsOutput](t)(c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{prefix + "high-1", prefix + "high-2"}}))
	d = must[*cloudwatch.DescribeAlarmsOutput](t)(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix)}))
	if len(d.MetricAlarms) != 2 {
		t.Fatalf("after delete: %+v", d.MetricAlarms)
	}
}

// recordingInvoker records the actions the evaluator invokes. (Application
// Auto Scaling is another package's; here only what CloudWatch hands it is
// the subject.)
type recordingInvoker struct {
	mu     sync.Mutex
	events []cwlink.AlarmEvent
}

func (r *recordingInvoker) Invoke(_ context.Context, arn string, ev cwlink.AlarmEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if arn == policyARN {
		r.events = append(r.events, ev)
	}
	return nil
}

func (r *recordingInvoker) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.State)
	}
	return out
}

// TestAlarmCrossesTheThreshold puts high-resolution data so that a
// 10-second alarm with 2 out of 3 datapoints goes INSUFFICIENT_DATA ->
// ALARM -> OK within seconds, and invokes its Auto Scaling action.
func TestAlarmCrossesTheThreshold(t *testing.T) {
	env := apitest.Start(t, apitest.Options{AlarmEvaluationInterval: 200 * time.Millisecond})
	inv := &recordingInvoker{}
	env.Server.CloudWatch.SetInvoker(inv)
	c := newClient(env.URL, protocols[0].set)
	ctx := context.Background()
	must[*cloudwatch.PutMetricAlarmOutput](t)(c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("fast"),
		Namespace: aws.String("Fast"), MetricName: aws.String("Load"), Statistic: types.StatisticMinimum, Period: aws.Int32(10),
		EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2), Threshold: aws.Float64(50),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, AlarmActions: []string{policyARN}, OKActions: []string{policyARN}}))
	state := func(want string) *types.MetricAlarm {
		var al types.MetricAlarm
		testutil.WaitFor(t, 8*time.Second, "alarm "+want, func() error {
			d, err := c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"fast"}})
			if err != nil {
				return err
			}
			al = d.MetricAlarms[0]
			if string(al.StateValue) != want {
				return fmt.Errorf("state %s (%s)", al.StateValue, aws.ToString(al.StateReason))
			}
			return nil
		})
		return &al
	}
	// No data at all: missing data is "missing", so INSUFFICIENT_DATA.
	state("INSUFFICIENT_DATA")
	// The current 10-second bucket and the two before it.
	b0 := time.Now().Truncate(10 * time.Second)
	put := func(v float64, at time.Time) {
		t.Helper()
		must[*cloudwatch.PutMetricDataOutput](t)(c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Fast"),
			MetricData: []types.MetricDatum{{MetricName: aws.String("Load"), Value: aws.Float64(v), Timestamp: aws.Time(at), StorageResolution: aws.Int32(1)}}}))
	}
	put(90, b0.Add(-20*time.Second))
	put(90, b0.Add(-10*time.Second))
	al := state("ALARM")
	if r := aws.ToString(al.StateReason); !strings.HasPrefix(r, "Threshold Crossed: 2 out of the last 3 datapoints [90.0 (") ||
		!strings.HasSuffix(r, "] were greater than the threshold (50.0) (minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition).") {
		t.Fatalf("reason: %s", r)
	}
	// One low datapoint: 2 of 3 still breach, the alarm stays.
	put(10, b0.Add(time.Second))
	time.Sleep(600 * time.Millisecond)
	state("ALARM")
	// Two low datapoints: 1 of 3 breaches: OK.
	put(10, b0.Add(-10*time.Second))
	al = state("OK")
	if r := aws.ToString(al.StateReason); !strings.Contains(r, "were not greater than the threshold (50.0)") {
		t.Fatalf("reason: %s", r)
	}
	testutil.WaitFor(t, 5*time.Second, "actions", func() error {
		if got := inv.states(); len(got) < 2 || got[0] != "ALARM" || got[len(got)-1] != "OK" {
			return fmt.Errorf("invoked for %v", got)
		}
		return nil
	})
	h := must[*cloudwatch.DescribeAlarmHistoryOutput](t)(c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String("fast"),
		HistoryItemType: types.HistoryItemTypeStateUpdate, ScanBy: types.ScanByTimestampAscending}))
	var got []string
	for _, it := range h.AlarmHistoryItems {
		got = append(got, aws.ToString(it.HistorySummary))
	}
	if strings.Join(got, "; ") != "Alarm updated from INSUFFICIENT_DATA to ALARM; Alarm updated from ALARM to OK" {
		t.Fatalf("history: %v", got)
	}
	states := must[map[string]string](t)(env.Server.CloudWatch.AlarmStates(ctx, []string{"fast", "nope"}))
	if len(states) != 1 || states["fast"] != "OK" {
		t.Fatalf("AlarmStates: %v", states)
	}
}
