package cloudwatch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// Limits of GetMetricData.
const (
	MaxQueries             = 500
	DefaultMaxDatapoints   = 100_800
	maxExpressionLength    = 2048
	statusComplete         = "Complete"
	statusPartialData      = "PartialData"
	scanTimestampAscending = "TimestampAscending"
	scanTimestampDescend   = "TimestampDescending"
)

var idRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// query is a checked MetricDataQuery.
type query struct {
	in     *cloudwatchapi.MetricDataQuery
	series metricstore.Series
	expr   node
	ret    bool
}

// checkQueries validates the queries of GetMetricData or of a metric
// math alarm (param names the collection: MetricDataQueries, Metrics).
func checkQueries(param string, qs []cloudwatchapi.MetricDataQuery, start, now time.Time, checkPeriods bool) ([]*query, error) {
	if len(qs) == 0 {
		return nil, missing("The parameter %s is required.", param)
	}
	if len(qs) > MaxQueries {
		return nil, invalidValue("The collection %s must not have a size greater than %d.", param, MaxQueries)
	}
	out := make([]*query, len(qs))
	ids := map[string]bool{}
	returned := 0
	for i := range qs {
		q := &qs[i]
		p := fmt.Sprintf("%s.member.%d", param, i+1)
		if q.Id == "" {
			return nil, missing("The parameter %s.Id is required.", p)
		}
		if len(q.Id) > 255 || !idRE.MatchString(q.Id) {
			return nil, invalidValue("The value %s for parameter %s.Id is invalid: it must start with a lowercase letter and contain only letters, digits and underscores.", q.Id, p)
		}
		if ids[q.Id] {
			return nil, invalidValue("The value %s for parameter %s.Id is not unique.", q.Id, p)
		}
		ids[q.Id] = true
		cq := &query{in: q, ret: q.ReturnData == nil || *q.ReturnData}
		if cq.ret {
			returned++
		}
		switch {
		case q.MetricStat != nil && q.Expression != "":
			return nil, combination("The parameters %[1]s.MetricStat and %[1]s.Expression are mutually exclusive.", p)
		case q.MetricStat == nil && q.Expression == "":
			return nil, missing("One of the parameters %[1]s.MetricStat or %[1]s.Expression must be specified.", p)
		case q.MetricStat != nil:
			ms := q.MetricStat
			if ms.Metric == nil || ms.Period == nil || ms.Stat == "" {
				return nil, missing("The parameters %[1]s.MetricStat.Metric, Period and Stat are required.", p)
			}
			if err := checkNamespace(p+".MetricStat.Metric.Namespace", ms.Metric.Namespace); err != nil {
				return nil, err
			}
			if err := checkName(p+".MetricStat.Metric.MetricName", ms.Metric.MetricName); err != nil {
				return nil, err
			}
			dims, err := convertDimensions(p+".MetricStat.Metric.Dimensions", ms.Metric.Dimensions)
			if err != nil {
				return nil, err
			}
			if checkPeriods {
				if err := checkPeriod(p+".MetricStat.Period", *ms.Period, start, now); err != nil {
					return nil, err
				}
			}
			if !validStat(ms.Stat) {
				return nil, invalidValue("The value %s for parameter %s.MetricStat.Stat is invalid.", ms.Stat, p)
			}
			if ms.Unit != "" && !validUnit(string(ms.Unit)) {
				return nil, invalidValue("The value %s for parameter %s.MetricStat.Unit is invalid.", ms.Unit, p)
			}
			cq.series = metricstore.Series{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: dims}
		default:
			if len(q.Expression) > maxExpressionLength {
				return nil, invalidValue("The parameter %s.Expression must be shorter than %d characters.", p, maxExpressionLength+1)
			}
			n, err := parseExpr(q.Expression)
			if err != nil {
				return nil, invalidValue("%s: %v", p+".Expression", err)
			}
			cq.expr = n
			if q.Period != nil && checkPeriods {
				if err := checkPeriod(p+".Period", *q.Period, start, now); err != nil {
					return nil, err
				}
			}
		}
		out[i] = cq
	}
	if returned == 0 {
		return nil, invalidValue("At least one of the queries in %s must have ReturnData set to true.", param)
	}
	// Every id an expression names must exist; an expression may not
	// name itself, directly or not (checked when evaluated).
	for i, q := range out {
		if q.expr == nil {
			continue
		}
		names := map[string]bool{}
		refs(q.expr, names)
		for id := range names {
			if !ids[id] {
				return nil, invalidValue("Error in expression %s: Unrecognized metric or expression: %s (%s.member.%d.Expression).", q.in.Id, id, param, i+1)
			}
		}
	}
	return out, nil
}

// evaluator computes the queries' series over [start, end).
type evaluator struct {
	a          *API
	start, end time.Time
	now        time.Time
	queries    map[string]*query
	order      []*query
	done       map[string]value
	visiting   map[string]bool
	// partial is set when a query's data could not all be read.
	partial map[string]bool
	// remote holds the other servers' buckets of the MetricStat queries
	// (prefetch), merged with this server's when a query is evaluated.
	remote map[*query][]*bucket
	// local holds this server's buckets of the MetricStat queries when
	// prefetch read them in parallel; a query missing from it is read
	// when it is evaluated.
	local map[*query][]*bucket
}

// parallelReadMin is the number of MetricStat queries from which prefetch
// reads this server's store on every core: below it, starting workers
// costs more than it saves.
const parallelReadMin = 8

func newEvaluator(a *API, qs []*query, start, end, now time.Time) *evaluator {
	e := &evaluator{a: a, start: start, end: end, now: now, queries: map[string]*query{}, order: qs,
		done: map[string]value{}, visiting: map[string]bool{}, partial: map[string]bool{}}
	for _, q := range qs {
		e.queries[q.in.Id] = q
	}
	return e
}

func (e *evaluator) value(id string) (value, error) {
	if v, ok := e.done[id]; ok {
		return v, nil
	}
	q := e.queries[id]
	if q == nil {
		return value{}, exprErr("Unrecognized metric or expression: %s", id)
	}
	if e.visiting[id] {
		return value{}, exprErr("Circular dependency: %s refers to itself", id)
	}
	e.visiting[id] = true
	defer delete(e.visiting, id)
	var v value
	if q.expr == nil {
		s, err := e.metricStat(q)
		if err != nil {
			return value{}, err
		}
		v = value{kind: kSeries, series: s}
	} else {
		env := &evalEnv{lookup: e.value, metrics: func() []tseries {
			var arr []tseries
			for _, o := range e.order {
				if o.expr == nil {
					if ov, err := e.value(o.in.Id); err == nil {
						arr = append(arr, ov.series)
					}
				}
			}
			return arr
		}}
		var err error
		v, err = env.eval(q.expr)
		if err != nil {
			return value{}, err
		}
	}
	e.done[id] = v
	return v, nil
}

// aggQuery is the aggregation a MetricStat query reads.
func (e *evaluator) aggQuery(q *query) aggQuery {
	ms := q.in.MetricStat
	period := int(*ms.Period)
	start := alignStart(e.start, period, e.now)
	return aggQuery{Series: q.series, Start: start.UnixMilli(), End: e.end.UnixMilli(), Period: period, Unit: string(ms.Unit), Values: needsValues(ms.Stat)}
}

// prefetch asks the other live servers, in one request each, for their
// buckets of every MetricStat query, and meanwhile reads this server's
// buckets of them on every core when there are many (one day of 1-minute
// data for 100 services is 144,000 datapoints: read one query after
// another, that is most of the call's time).
func (e *evaluator) prefetch(ctx context.Context) {
	var qs []*query
	var aqs []aggQuery
	for _, q := range e.order {
		if q.expr == nil {
			qs = append(qs, q)
			aqs = append(aqs, e.aggQuery(q))
		}
	}
	if len(qs) == 0 {
		return
	}
	var wg sync.WaitGroup
	var res [][]*bucket
	if e.a.Peers != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res = e.a.askAggregate(ctx, aqs)
		}()
	}
	var local [][]*bucket
	var errs []error
	if len(qs) >= parallelReadMin {
		local, errs = make([][]*bucket, len(qs)), make([]error, len(qs))
		var next atomic.Int64
		for range min(runtime.GOMAXPROCS(0), len(qs)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(qs) {
						return
					}
					local[i], errs[i] = e.a.localQuery(aqs[i])
				}
			}()
		}
	}
	wg.Wait()
	if local != nil {
		e.local = make(map[*query][]*bucket, len(qs))
		for i, q := range qs {
			if errs[i] == nil {
				e.local[q] = local[i]
			}
		}
	}
	if res == nil {
		return
	}
	e.remote = make(map[*query][]*bucket, len(qs))
	for i, q := range qs {
		e.remote[q] = res[i]
	}
}

func (e *evaluator) metricStat(q *query) (tseries, error) {
	ms := q.in.MetricStat
	buckets, ok := e.local[q]
	if !ok {
		var err error
		if buckets, err = e.a.localQuery(e.aggQuery(q)); err != nil {
			return tseries{}, err
		}
	}
	buckets = mergeBuckets(buckets, e.remote[q])
	s := tseries{ts: make([]int64, 0, len(buckets)), vals: make([]float64, 0, len(buckets))}
	for _, b := range buckets {
		if v, ok := b.stat(ms.Stat); ok {
			s.ts = append(s.ts, b.start.Unix())
			s.vals = append(s.vals, v)
		}
	}
	return s, nil
}

// allTimestamps is every timestamp of the MetricStat queries, for an
// expression whose result is a scalar.
func (e *evaluator) allTimestamps() []int64 {
	set := map[int64]bool{}
	for _, q := range e.order {
		if q.expr == nil {
			if v, err := e.value(q.in.Id); err == nil {
				for _, t := range v.series.ts {
					set[t] = true
				}
			}
		}
	}
	out := make([]int64, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// result evaluates query q to one time series.
func (e *evaluator) result(q *query) (tseries, error) {
	v, err := e.value(q.in.Id)
	if err != nil {
		return tseries{}, err
	}
	switch v.kind {
	case kSeries:
		return v.series, nil
	case kScalar:
		var s tseries
		for _, t := range e.allTimestamps() {
			s.ts = append(s.ts, t)
			s.vals = append(s.vals, v.scalar)
		}
		return s, nil
	}
	return tseries{}, exprErr("Error in expression %s: it returns %d time series; Gantry returns one time series per query", q.in.Id, len(v.array))
}

// GetMetricData answers MetricStat queries and metric math expressions.
func (a *API) GetMetricData(ctx context.Context, in *cloudwatchapi.GetMetricDataInput) (*cloudwatchapi.GetMetricDataOutput, error) {
	if in.StartTime == nil || in.EndTime == nil {
		return nil, missing("The parameters StartTime and EndTime are required.")
	}
	start, end := in.StartTime.Time, in.EndTime.Time
	if !start.Before(end) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	now := a.now()
	qs, err := checkQueries("MetricDataQueries", in.MetricDataQueries, start, now, true)
	if err != nil {
		return nil, err
	}
	scan := string(in.ScanBy)
	if scan == "" {
		scan = scanTimestampDescend
	}
	if scan != scanTimestampAscending && scan != scanTimestampDescend {
		return nil, invalidValue("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	limit := DefaultMaxDatapoints
	if in.MaxDatapoints != nil {
		if *in.MaxDatapoints <= 0 {
			return nil, invalidValue("The value %d for parameter MaxDatapoints is invalid.", *in.MaxDatapoints)
		}
		limit = int(*in.MaxDatapoints)
	}
	first, offset := 0, 0
	if in.NextToken != "" {
		if first, offset, err = decodeDataToken(in.NextToken); err != nil {
			return nil, err
		}
	}
	ev := newEvaluator(a, qs, start, end, now)
	ev.prefetch(ctx)
	var returned []*query
	for _, q := range qs {
		if q.ret {
			returned = append(returned, q)
		}
	}
	if first >= len(returned) {
		return nil, badToken()
	}
	out := &cloudwatchapi.GetMetricDataOutput{MetricDataResults: []cloudwatchapi.MetricDataResult{}, Messages: []cloudwatchapi.MessageData{}}
	budget := limit
	for i := first; i < len(returned); i++ {
		q := returned[i]
		s, err := ev.result(q)
		if err != nil {
			var ee *exprError
			if errors.As(err, &ee) {
				return nil, invalidValue("%s", ee.msg)
			}
			return nil, a.internal("GetMetricData", err)
		}
		if scan == scanTimestampDescend {
			slices.Reverse(s.ts)
			slices.Reverse(s.vals)
		}
		from := 0
		if i == first {
			from = min(offset, len(s.ts))
		}
		label := q.in.Label
		if label == "" {
			if q.in.MetricStat != nil {
				label = q.in.MetricStat.Metric.MetricName
			} else {
				label = q.in.Id
			}
		}
		r := cloudwatchapi.MetricDataResult{Id: q.in.Id, Label: label, StatusCode: statusComplete,
			Timestamps: []awstime.Timestamp{}, Values: []float64{}, Messages: []cloudwatchapi.MessageData{}}
		to := len(s.ts)
		if to-from > budget {
			to = from + budget
			r.StatusCode = statusPartialData
			out.NextToken = encodeDataToken(i, to)
		}
		r.Timestamps = make([]awstime.Timestamp, 0, to-from)
		r.Values = make([]float64, 0, to-from)
		for j := from; j < to; j++ {
			r.Timestamps = append(r.Timestamps, awstime.Timestamp{Time: time.Unix(s.ts[j], 0).UTC()})
			r.Values = append(r.Values, s.vals[j])
		}
		budget -= to - from
		out.MetricDataResults = append(out.MetricDataResults, r)
		if out.NextToken != "" {
			break
		}
		if budget == 0 && i+1 < len(returned) {
			out.NextToken = encodeDataToken(i+1, 0)
			break
		}
	}
	return out, nil
}

func encodeDataToken(result, offset int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "gmd1:%d:%d", result, offset))
}

func decodeDataToken(tok string) (int, int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, badToken()
	}
	var i, j int
	if n, err := fmt.Sscanf(string(b), "gmd1:%d:%d", &i, &j); err != nil || n != 2 || i < 0 || j < 0 {
		return 0, 0, badToken()
	}
	return i, j, nil
}
