package cloudwatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// cli runs `aws cloudwatch args...` and decodes its JSON output into out
// (when not nil); it returns the error output and whether it succeeded.
func cli(t *testing.T, bin, url string, out any, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, append(append([]string{"cloudwatch"}, args...), "--endpoint-url", url, "--region", apitest.Region, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return stderr.String(), false
	}
	if out != nil && len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws cloudwatch %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	return stderr.String(), true
}

func TestAlarmWithTheCLI(t *testing.T) {
	bin := testutil.AWSCLI(t)
	env := apitest.Start(t, apitest.Options{AlarmEvaluationInterval: 200 * time.Millisecond})
	ok := func(out any, args ...string) {
		t.Helper()
		if stderr, ok := cli(t, bin, env.URL, out, args...); !ok {
			t.Fatalf("aws cloudwatch %s: %s", strings.Join(args, " "), stderr)
		}
	}
	ctx := context.Background()
	waitState := func(want string) {
		t.Helper()
		testutil.WaitFor(t, 8*time.Second, "alarm "+want, func() error {
			st, err := env.Server.CloudWatch.AlarmStates(ctx, []string{"cli-cpu"})
			if err != nil {
				return err
			}
			if st["cli-cpu"] != want {
				return fmt.Errorf("state %q", st["cli-cpu"])
			}
			return nil
		})
	}
	ok(nil, "put-metric-alarm", "--alarm-name", "cli-cpu", "--namespace", "CLI", "--metric-name", "CPU",
		"--dimensions", "Name=Service,Value=web", "--statistic", "Minimum", "--period", "10", "--evaluation-periods", "3",
		"--datapoints-to-alarm", "2", "--threshold", "50", "--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching")
	// No data, treated as not breaching: OK.
	waitState("OK")
	b0 := time.Now().Truncate(10 * time.Second)
	datum := func(at time.Time, v float64) string {
		return fmt.Sprintf(`{"MetricName":"CPU","Dimensions":[{"Name":"Service","Value":"web"}],"Timestamp":"%s","Value":%g,"StorageResolution":1,"Unit":"Percent"}`,
			at.UTC().Format(time.RFC3339), v)
	}
	ok(nil, "put-metric-data", "--namespace", "CLI", "--metric-data", "["+datum(b0.Add(-20*time.Second), 90)+","+datum(b0.Add(-10*time.Second), 95)+"]")
	waitState("ALARM")
	// 1 of the last 3 breaches
	ok(nil, "put-metric-data", "--namespace", "CLI", "--metric-data", "["+datum(b0.Add(-10*time.Second), 10)+"]")
	waitState("OK")

	var stats struct {
		Label      string
		Datapoints []struct {
			Timestamp string
			Minimum   float64
			Maximum   float64
			Unit      string
		}
	}
	ok(&stats, "get-metric-statistics", "--namespace", "CLI", "--metric-name", "CPU", "--dimensions", "Name=Service,Value=web",
		"--start-time", b0.Add(-time.Minute).UTC().Format(time.RFC3339), "--end-time", b0.Add(time.Minute).UTC().Format(time.RFC3339),
		"--period", "10", "--statistics", "Minimum", "Maximum")
	if len(stats.Datapoints) != 2 || stats.Label != "CPU" {
		t.Fatalf("statistics: %+v", stats)
	}
	for _, d := range stats.Datapoints {
		if d.Unit != "Percent" || !(d.Minimum == 90 && d.Maximum == 90 || d.Minimum == 10 && d.Maximum == 95) {
			t.Fatalf("datapoint: %+v", d)
		}
	}
	var gmd struct {
		MetricDataResults []struct {
			Id, Label, StatusCode string
			Values                []float64
			Timestamps            []string
		}
	}
	ok(&gmd, "get-metric-data", "--start-time", b0.Add(-time.Minute).UTC().Format(time.RFC3339), "--end-time", b0.Add(time.Minute).UTC().Format(time.RFC3339),
		"--scan-by", "TimestampAscending", "--metric-data-queries",
		`[{"Id":"mx","MetricStat":{"Metric":{"Namespace":"CLI","MetricName":"CPU","Dimensions":[{"Name":"Service","Value":"web"}]},"Period":10,"Stat":"Maximum"},"ReturnData":false},`+
			`{"Id":"half","Expression":"mx / 2","Label":"half of max"}]`)
	if len(gmd.MetricDataResults) != 1 || gmd.MetricDataResults[0].Label != "half of max" || gmd.MetricDataResults[0].StatusCode != "Complete" ||
		fmt.Sprint(gmd.MetricDataResults[0].Values) != "[45 47.5]" || len(gmd.MetricDataResults[0].Timestamps) != 2 {
		t.Fatalf("get-metric-data: %+v", gmd)
	}
	var alarms struct {
		MetricAlarms []struct {
			AlarmName, StateValue, StateReason string
			DatapointsToAlarm                  int
		}
	}
	ok(&alarms, "describe-alarms", "--alarm-names", "cli-cpu")
	if len(alarms.MetricAlarms) != 1 || alarms.MetricAlarms[0].StateValue != "OK" || alarms.MetricAlarms[0].DatapointsToAlarm != 2 ||
		!strings.Contains(alarms.MetricAlarms[0].StateReason, "(minimum 1 datapoint for ALARM -> OK transition)") {
		t.Fatalf("describe-alarms: %+v", alarms)
	}
	var hist struct {
		AlarmHistoryItems []struct{ HistorySummary string }
	}
	ok(&hist, "describe-alarm-history", "--alarm-name", "cli-cpu", "--history-item-type", "StateUpdate", "--scan-by", "TimestampAscending")
	var got []string
	for _, h := range hist.AlarmHistoryItems {
		got = append(got, h.HistorySummary)
	}
	if want := "Alarm updated from INSUFFICIENT_DATA to OK; Alarm updated from OK to ALARM; Alarm updated from ALARM to OK"; strings.Join(got, "; ") != want {
		t.Fatalf("history: %v", got)
	}
	// AWS's error, through the query protocol.
	stderr, success := cli(t, bin, env.URL, nil, "put-metric-data", "--namespace", "AWS/ECS", "--metric-name", "CPUUtilization", "--value", "1")
	if success || !strings.Contains(stderr, "(InvalidParameterValue)") {
		t.Fatalf("reserved namespace: %s", stderr)
	}
}
