package console

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// metricsData is the metrics page's: the picker's choices (namespaces,
// the chosen namespace's metric names, the chosen metric's dimension
// sets, from ListMetrics) and the chart of the chosen metric.
type metricsData struct {
	Namespaces, Names []string
	// DimSets are the chosen metric's dimension sets, each as the
	// picker's value ("Name=Value,Name=Value") and its text.
	DimSets []dimSet
	// The choice.
	Namespace, Metric, Dims, Stat string
	Period, Minutes               int
	Stats                         []string
	Periods, Ranges               []int
	Chart                         template.HTML
	Alarms                        []cloudwatchapi.MetricAlarm
}

type dimSet struct{ Value, Text string }

// The picker's choices of statistic, period (seconds) and range
// (minutes).
var (
	metricStats   = []string{"Average", "Sum", "Minimum", "Maximum", "SampleCount", "p50", "p90", "p99"}
	metricPeriods = []int{60, 300, 900, 3600}
	metricRanges  = []int{60, 180, 720, 1440, 10080}
)

// maxMetricsListed bounds how many metrics the picker reads.
const maxMetricsListed = 5000

// encodeDims writes a dimension set as the picker's value.
func encodeDims(ds []cloudwatchapi.Dimension) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, d.Name+"="+d.Value)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// decodeDims reads the picker's value back; a value with no '=' part is
// not a dimension.
func decodeDims(v string) []cloudwatchapi.Dimension {
	var out []cloudwatchapi.Dimension
	for p := range strings.SplitSeq(v, ",") {
		name, val, ok := strings.Cut(p, "=")
		if ok && name != "" {
			out = append(out, cloudwatchapi.Dimension{Name: name, Value: val})
		}
	}
	return out
}

func (h *Handler) listMetrics(r *http.Request, s *session, in *cloudwatchapi.ListMetricsInput) ([]cloudwatchapi.Metric, error) {
	var all []cloudwatchapi.Metric
	for {
		out, err := call[cloudwatchapi.ListMetricsOutput](h, r, s, svcMetrics, "ListMetrics", in)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Metrics...)
		if in.NextToken = out.NextToken; in.NextToken == "" || len(all) >= maxMetricsListed {
			return all, nil
		}
	}
}

func (h *Handler) metricsPage(r *http.Request, s *session) (*view, error) {
	q := r.URL.Query()
	d := &metricsData{Namespace: q.Get("namespace"), Metric: q.Get("metric"), Dims: q.Get("dims"), Stat: cmp.Or(q.Get("stat"), "Average"),
		Period: 60, Minutes: 180, Stats: metricStats, Periods: metricPeriods, Ranges: metricRanges}
	if p, err := strconv.Atoi(q.Get("period")); err == nil && slices.Contains(metricPeriods, p) {
		d.Period = p
	}
	if m, err := strconv.Atoi(q.Get("minutes")); err == nil && slices.Contains(metricRanges, m) {
		d.Minutes = m
	}
	// The picker is not part of the live part: a live update of a
	// chosen metric and dimension set charts it without listing every
	// metric again (without dims, the first set is the choice: list).
	var all []cloudwatchapi.Metric
	if r.Header.Get("Accept") != "text/event-stream" || !q.Has("dims") {
		var err error
		if all, err = h.listMetrics(r, s, &cloudwatchapi.ListMetricsInput{}); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, m := range all {
		if !seen["ns\x00"+m.Namespace] {
			seen["ns\x00"+m.Namespace] = true
			d.Namespaces = append(d.Namespaces, m.Namespace)
		}
		if m.Namespace != d.Namespace {
			continue
		}
		if !seen["m\x00"+m.MetricName] {
			seen["m\x00"+m.MetricName] = true
			d.Names = append(d.Names, m.MetricName)
		}
		if m.MetricName != d.Metric {
			continue
		}
		v := encodeDims(m.Dimensions)
		if !seen["d\x00"+v] {
			seen["d\x00"+v] = true
			d.DimSets = append(d.DimSets, dimSet{Value: v, Text: cmp.Or(strings.ReplaceAll(v, ",", ", "), "(no dimensions)")})
		}
	}
	slices.Sort(d.Namespaces)
	slices.Sort(d.Names)
	slices.SortFunc(d.DimSets, func(a, b dimSet) int { return cmp.Compare(a.Text, b.Text) })
	if d.Dims == "" && len(d.DimSets) > 0 && !q.Has("dims") {
		d.Dims = d.DimSets[0].Value
	}
	title := "Metrics"
	if d.Namespace != "" && d.Metric != "" {
		end := h.now().Truncate(time.Minute).Add(time.Minute)
		start := end.Add(-time.Duration(d.Minutes) * time.Minute)
		m := cloudwatchapi.Metric{Namespace: d.Namespace, MetricName: d.Metric, Dimensions: decodeDims(d.Dims)}
		label := d.Metric + " (" + d.Stat + ")"
		ss := h.metricSeries(r, s, []metricQuery{{Label: label, Metric: m, Stat: d.Stat}}, start, end, int32(d.Period))
		d.Chart = lineChart(d.Namespace+" "+d.Metric+" "+d.Dims+", "+d.Stat+" per "+strconv.Itoa(d.Period)+"s", start, end, ss)
		title = d.Namespace + " " + d.Metric
		// The metric's alarms, with their state.
		if a, err := call[cloudwatchapi.DescribeAlarmsForMetricOutput](h, r, s, svcMetrics, "DescribeAlarmsForMetric",
			&cloudwatchapi.DescribeAlarmsForMetricInput{Namespace: d.Namespace, MetricName: d.Metric, Dimensions: m.Dimensions}); err == nil {
			d.Alarms = a.MetricAlarms
		}
	}
	return &view{Title: title, Crumbs: []crumb{{"Metrics", Prefix + "metrics"}}, Data: d}, nil
}

// alarmsData is the alarms page's.
type alarmsData struct {
	State  string
	States []string
	Alarms []cloudwatchapi.MetricAlarm
	// Counts are how many alarms are in each state.
	Counts map[string]int
}

func (h *Handler) alarmsPage(r *http.Request, s *session) (*view, error) {
	q := r.URL.Query()
	d := &alarmsData{State: q.Get("state"), States: []string{"ALARM", "INSUFFICIENT_DATA", "OK"}, Counts: map[string]int{}}
	in := &cloudwatchapi.DescribeAlarmsInput{MaxRecords: i32(100)}
	if n := q.Get("name"); n != "" {
		in.AlarmNames = []string{n}
	}
	for page := 0; page < 10; page++ {
		out, err := call[cloudwatchapi.DescribeAlarmsOutput](h, r, s, svcMetrics, "DescribeAlarms", in)
		if err != nil {
			return nil, err
		}
		for _, a := range out.MetricAlarms {
			d.Counts[string(a.StateValue)]++
			if d.State == "" || string(a.StateValue) == d.State {
				d.Alarms = append(d.Alarms, a)
			}
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			break
		}
	}
	// Alarms in ALARM first, then by name.
	rank := map[string]int{"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
	slices.SortFunc(d.Alarms, func(a, b cloudwatchapi.MetricAlarm) int {
		return cmp.Or(cmp.Compare(rank[string(a.StateValue)], rank[string(b.StateValue)]), cmp.Compare(a.AlarmName, b.AlarmName))
	})
	return &view{Title: "Alarms", Data: d}, nil
}
