package cloudwatch

import (
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// MaxDatapoints is how many datapoints GetMetricStatistics answers at most.
const MaxDatapoints = 1440

// bucket accumulates the data of one period.
type bucket struct {
	start time.Time
	count float64
	sum   float64
	min   float64
	max   float64
	unit  string
	// values and counts are the raw values, for percentiles; statsOnly is
	// set when some data came as statistic sets (no raw values).
	values []float64
	counts []float64
	sets   bool
	seen   bool
}

func (b *bucket) add(d *metricstore.Datum, withValues bool) {
	if b.count == 0 {
		b.min, b.max = math.Inf(1), math.Inf(-1)
		b.unit = d.Unit
	}
	if d.Stats != nil {
		b.count += d.Stats.SampleCount
		b.sum += d.Stats.Sum
		b.min = min(b.min, d.Stats.Min)
		b.max = max(b.max, d.Stats.Max)
		b.sets = true
		return
	}
	for i, v := range d.Values {
		c := 1.0
		if d.Counts != nil {
			c = d.Counts[i]
		}
		b.count += c
		b.sum += v * c
		b.min = min(b.min, v)
		b.max = max(b.max, v)
		if withValues {
			b.values = append(b.values, v)
			b.counts = append(b.counts, c)
		}
	}
}

// stat returns a statistic of the bucket: SampleCount, Average, Sum,
// Minimum, Maximum or a percentile pNN(.NN). ok is false when the bucket
// cannot answer it (a percentile of statistic sets only).
func (b *bucket) stat(name string) (float64, bool) {
	switch name {
	case "SampleCount":
		return b.count, true
	case "Sum":
		return b.sum, true
	case "Average":
		return b.sum / b.count, true
	case "Minimum":
		return b.min, true
	case "Maximum":
		return b.max, true
	}
	if len(b.values) == 0 {
		return 0, false
	}
	if p, ok := percentile(name); ok {
		return b.percentile(p), true
	}
	if r, ok := parseRangeStat(name); ok {
		return b.rangeStat(r)
	}
	return 0, false
}

// rangeStat is a statistic over the values between two percentiles:
// trimmed mean (TM), winsorized mean (WM), trimmed count (TC) and trimmed
// sum (TS), as CloudWatch defines them; lo and hi are percents.
type rangeStat struct {
	kind   string // TM, WM, TC, TS
	lo, hi float64
}

var (
	shortRangeRE = regexp.MustCompile(`^(tm|wm|tc|ts)(\d{1,2}(\.\d{1,10})?|100)$`)
	longRangeRE  = regexp.MustCompile(`^(TM|WM|TC|TS)\((?:(\d{1,3}(\.\d{1,10})?)%)?:(?:(\d{1,3}(\.\d{1,10})?)%)?\)$`)
)

// parseRangeStat parses tmNN (TM(0%:NN%)), TM(a%:b%) and their WM, TC and
// TS forms, and IQM (TM(25%:75%)).
func parseRangeStat(s string) (rangeStat, bool) {
	if s == "IQM" {
		return rangeStat{"TM", 25, 75}, true
	}
	if m := shortRangeRE.FindStringSubmatch(s); m != nil {
		hi, err := strconv.ParseFloat(m[2], 64)
		return rangeStat{strings.ToUpper(m[1]), 0, hi}, err == nil && hi > 0 && hi <= 100
	}
	m := longRangeRE.FindStringSubmatch(s)
	if m == nil {
		return rangeStat{}, false
	}
	r := rangeStat{kind: m[1], lo: 0, hi: 100}
	var err error
	if m[2] != "" {
		if r.lo, err = strconv.ParseFloat(m[2], 64); err != nil {
			return rangeStat{}, false
		}
	}
	if m[4] != "" {
		if r.hi, err = strconv.ParseFloat(m[4], 64); err != nil {
			return rangeStat{}, false
		}
	}
	return r, r.lo < r.hi && r.hi <= 100
}

// rangeStat computes r over the values ranked within (lo%, hi%] of the
// samples (counts weigh them); WM clamps the others to the range's ends.
func (b *bucket) rangeStat(r rangeStat) (float64, bool) {
	idx := b.sorted()
	total := 0.0
	for _, c := range b.counts {
		total += c
	}
	loRank, hiRank := r.lo/100*total, r.hi/100*total
	var n, sum float64
	var first, last = math.NaN(), math.NaN()
	seen := 0.0
	for _, i := range idx {
		c := b.counts[i]
		// The part of this value's samples ranked within (loRank, hiRank].
		in := math.Min(seen+c, hiRank) - math.Max(seen, loRank)
		seen += c
		if in <= 0 {
			continue
		}
		if math.IsNaN(first) {
			first = b.values[i]
		}
		last = b.values[i]
		n += in
		sum += in * b.values[i]
	}
	switch r.kind {
	case "TC":
		return n, true
	case "TS":
		return sum, true
	}
	if n == 0 {
		return 0, false
	}
	if r.kind == "WM" {
		// The samples outside the range count at its ends.
		sum += loRank*first + (total-hiRank)*last
		return sum / total, true
	}
	return sum / n, true
}

// sorted returns the indexes of the raw values in value order.
func (b *bucket) sorted() []int {
	idx := make([]int, len(b.values))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int {
		switch {
		case b.values[x] < b.values[y]:
			return -1
		case b.values[x] > b.values[y]:
			return 1
		}
		return 0
	})
	return idx
}

// percentile is the nearest-rank percentile p (0..100) of the raw values.
func (b *bucket) percentile(p float64) float64 {
	idx := b.sorted()
	total := 0.0
	for _, c := range b.counts {
		total += c
	}
	rank := math.Ceil(p / 100 * total)
	if rank < 1 {
		rank = 1
	}
	seen := 0.0
	for _, i := range idx {
		seen += b.counts[i]
		if seen >= rank {
			return b.values[i]
		}
	}
	return b.values[idx[len(idx)-1]]
}

var percentileRE = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$`)

// percentile parses pNN.NN.
func percentile(s string) (float64, bool) {
	if !percentileRE.MatchString(s) {
		return 0, false
	}
	p, err := strconv.ParseFloat(s[1:], 64)
	return p, err == nil
}

var basicStats = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}

// validStat reports whether s is a statistic Gantry computes: the five
// basic ones, percentiles, and the trimmed and winsorized forms.
func validStat(s string) bool {
	if slices.Contains(basicStats, s) {
		return true
	}
	if _, ok := percentile(s); ok {
		return true
	}
	_, ok := parseRangeStat(s)
	return ok
}

// localAggregate reads ser from this server's store over [start, end)
// into periods of period seconds, aligned to start, keeping only unit's
// data when unit is set, and the raw values only when withValues (for
// percentiles). It returns the buckets with data in time order.
// aggregate (fanout.go) adds the other servers' buckets.
func (a *API) localAggregate(ser metricstore.Series, start, end time.Time, period int, unit string, withValues bool) ([]*bucket, error) {
	p := time.Duration(period) * time.Second
	n := int(end.Sub(start) / p)
	if end.Sub(start)%p != 0 {
		n++
	}
	if n <= 0 {
		return nil, nil
	}
	var dense []bucket
	var sparse map[int]*bucket
	if n <= 1<<16 {
		dense = make([]bucket, n)
	} else {
		sparse = make(map[int]*bucket)
	}
	used := 0
	err := a.Metrics.Scan(ser, start, end, func(d *metricstore.Datum) {
		if unit != "" && d.Unit != unit {
			return
		}
		i := int(d.Time.Sub(start) / p)
		var b *bucket
		if dense != nil {
			b = &dense[i]
		} else if b = sparse[i]; b == nil {
			b = new(bucket)
			sparse[i] = b
		}
		if !b.seen {
			b.seen = true
			b.start = start.Add(time.Duration(i) * p)
			used++
		}
		b.add(d, withValues)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*bucket, 0, used)
	if dense != nil {
		for i := range dense {
			if dense[i].seen {
				out = append(out, &dense[i])
			}
		}
		return out, nil
	}
	for _, b := range sparse {
		out = append(out, b)
	}
	slices.SortFunc(out, func(x, y *bucket) int { return x.start.Compare(y.start) })
	return out, nil
}

// needsValues reports whether any of stats is a percentile.
func needsValues(stats ...string) bool {
	for _, s := range stats {
		if !slices.Contains(basicStats, s) {
			return true
		}
	}
	return false
}

// alignStart rounds a query's start time down as CloudWatch does: to the
// period when it is under a minute, else to the minute (within 15 days),
// five minutes (within 63 days) or the hour.
func alignStart(start time.Time, period int, now time.Time) time.Time {
	switch age := now.Sub(start); {
	case period < 60:
		return start.Truncate(time.Duration(period) * time.Second)
	case age <= 15*24*time.Hour:
		return start.Truncate(time.Minute)
	case age <= 63*24*time.Hour:
		return start.Truncate(5 * time.Minute)
	default:
		return start.Truncate(time.Hour)
	}
}

// checkPeriod applies CloudWatch's period rules: 1, 5, 10, 20, 30 or a
// multiple of 60 seconds; periods under a minute only for data under
// three hours old; multiples of 300 beyond 15 days and of 3600 beyond 63.
func checkPeriod(param string, period int32, start, now time.Time) error {
	if period <= 0 {
		return invalidValue("The parameter %s must be greater than 0.", param)
	}
	if period < 60 && !slices.Contains([]int32{1, 5, 10, 20, 30}, period) || period >= 60 && period%60 != 0 {
		return invalidValue("The parameter %s must be 1, 5, 10, 20, 30, 60, or any multiple of 60.", param)
	}
	age := now.Sub(start)
	switch {
	case period < 60 && age > 3*time.Hour:
		return invalidValue("The parameter %s must be a multiple of 60 for data older than 3 hours.", param)
	case age > 63*24*time.Hour && period%3600 != 0:
		return invalidValue("The parameter %s must be a multiple of 3600 for data older than 63 days.", param)
	case age > 15*24*time.Hour && period%300 != 0:
		return invalidValue("The parameter %s must be a multiple of 300 for data older than 15 days.", param)
	}
	return nil
}

// GetMetricStatistics answers statistics of one metric per period.
func (a *API) GetMetricStatistics(ctx context.Context, in *cloudwatchapi.GetMetricStatisticsInput) (*cloudwatchapi.GetMetricStatisticsOutput, error) {
	if err := checkNamespace("Namespace", in.Namespace); err != nil {
		return nil, err
	}
	if err := checkName("MetricName", in.MetricName); err != nil {
		return nil, err
	}
	dims, err := convertDimensions("Dimensions", in.Dimensions)
	if err != nil {
		return nil, err
	}
	if in.StartTime == nil || in.EndTime == nil || in.Period == nil {
		return nil, missing("The parameters StartTime, EndTime and Period are required.")
	}
	start, end := in.StartTime.Time, in.EndTime.Time
	if !start.Before(end) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	now := a.now()
	if err := checkPeriod("Period", *in.Period, start, now); err != nil {
		return nil, err
	}
	if len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0 {
		return nil, missing("Must specify either Statistics or ExtendedStatistics.")
	}
	if len(in.Statistics) > 5 {
		return nil, invalidValue("The collection Statistics must not have a size greater than 5.")
	}
	if len(in.ExtendedStatistics) > 10 {
		return nil, invalidValue("The collection ExtendedStatistics must not have a size greater than 10.")
	}
	for i, s := range in.Statistics {
		if !slices.Contains(basicStats, string(s)) {
			return nil, invalidValue("The value %s for parameter Statistics.member.%d is invalid.", s, i+1)
		}
	}
	for i, s := range in.ExtendedStatistics {
		if _, ok := percentile(s); !ok {
			return nil, invalidValue("The value %s for parameter ExtendedStatistics.member.%d is invalid.", s, i+1)
		}
	}
	if in.Unit != "" && !validUnit(string(in.Unit)) {
		return nil, invalidValue("The value %s for parameter Unit is invalid.", in.Unit)
	}
	period := int(*in.Period)
	start = alignStart(start, period, now)
	if n := (end.Sub(start) + time.Duration(period)*time.Second - 1) / (time.Duration(period) * time.Second); n > MaxDatapoints {
		return nil, combination("You have requested up to %s datapoints, which exceeds the limit of %s. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
			thousands(int64(n)), thousands(MaxDatapoints))
	}
	buckets, err := a.aggregate(ctx, metricstore.Series{Namespace: in.Namespace, Name: in.MetricName, Dimensions: dims}, start, end, period, string(in.Unit), len(in.ExtendedStatistics) > 0)
	if err != nil {
		return nil, a.internal("GetMetricStatistics", err)
	}
	out := &cloudwatchapi.GetMetricStatisticsOutput{Label: in.MetricName, Datapoints: []cloudwatchapi.Datapoint{}}
	for _, b := range buckets {
		dp := cloudwatchapi.Datapoint{Timestamp: awstime.NewTimestamp(b.start), Unit: cloudwatchapi.StandardUnit(b.unit)}
		for _, s := range in.Statistics {
			v, _ := b.stat(string(s))
			switch s {
			case "SampleCount":
				dp.SampleCount = &v
			case "Average":
				dp.Average = &v
			case "Sum":
				dp.Sum = &v
			case "Minimum":
				dp.Minimum = &v
			case "Maximum":
				dp.Maximum = &v
			}
		}
		for _, s := range in.ExtendedStatistics {
			if v, ok := b.stat(s); ok {
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = map[string]float64{}
				}
				dp.ExtendedStatistics[s] = v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	return out, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// formatFloat writes v as CloudWatch's messages do (Java's Double
// toString for ordinary magnitudes: "80.0", "0.5").
func formatFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if math.Abs(v) >= 1e7 || (v != 0 && math.Abs(v) < 1e-3) {
		s = strconv.FormatFloat(v, 'E', -1, 64)
	}
	if !strings.ContainsAny(s, ".EN") && !strings.Contains(s, "Inf") {
		s += ".0"
	}
	return s
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
