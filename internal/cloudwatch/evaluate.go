package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
)

// DefaultEvaluationInterval is how often the leader evaluates every
// alarm: well under the shortest alarm period (10 s).
const DefaultEvaluationInterval = 5 * time.Second

// leaderKey is the election of the server that evaluates alarms.
var leaderKey = store.Key("leader", "cloudwatch-alarms")

// point is one period of an alarm's evaluation range.
type point struct {
	start   time.Time
	value   float64
	present bool
	// few is set when a percentile alarm's period has too few samples to
	// be significant (EvaluateLowSampleCountPercentile).
	few bool
}

// verdict is the outcome of evaluating an alarm.
type verdict struct {
	state      string
	reason     string
	reasonData string
	last       float64
}

// decide applies CloudWatch's M out of N rule to the evaluation range pts
// (oldest first). Missing periods count as TreatMissingData says: missing
// and ignore evaluate on the periods present (with fewer than M present,
// ALARM needs every present one breaching); all missing is
// INSUFFICIENT_DATA for missing and keeps the current state for ignore;
// breaching and notBreaching count them as breaching or not.
func decide(al *cloudwatchapi.MetricAlarm, pts []point, now time.Time) verdict {
	m := int(*al.EvaluationPeriods)
	if al.DatapointsToAlarm != nil {
		m = int(*al.DatapointsToAlarm)
	}
	treat := al.TreatMissingData
	if treat == "" {
		treat = "missing"
	}
	threshold := *al.Threshold
	breaching, present := 0, 0
	last, lastComplete := math.NaN(), math.NaN()
	period := alarmPeriod(al)
	for _, p := range pts {
		switch {
		case p.present:
			present++
			last = p.value
			if !p.start.Add(period).After(now) {
				lastComplete = p.value
			}
			if breaches(string(al.ComparisonOperator), p.value, threshold) {
				breaching++
			}
		case treat == "breaching":
			breaching++
		}
	}
	cur := string(al.StateValue)
	// The value handed to the actions (a scaling policy sizes its step by
	// it) is the latest complete period's: the period in progress may be
	// evaluated as soon as it has data, but a Sum or SampleCount of part
	// of a period understates it.
	if !math.IsNaN(lastComplete) {
		last = lastComplete
	}
	v := verdict{last: last}
	switch {
	case present == 0 && treat == "missing":
		v.state = StateInsufficientData
	case present == 0 && treat == "ignore":
		v.state = cur
		if cur == "" {
			v.state = StateInsufficientData
		}
	case treat == "breaching" || treat == "notBreaching" || present >= m:
		if breaching >= m {
			v.state = StateAlarm
		} else {
			v.state = StateOK
		}
	default: // fewer than M present, missing or ignore
		if breaching == present {
			v.state = StateAlarm
		} else {
			v.state = StateOK
		}
	}
	if v.state == StateInsufficientData {
		v.reason = fmt.Sprintf("Insufficient Data: %d %s unknown.", len(pts), plural(len(pts), "datapoint was", "datapoints were"))
	} else {
		v.reason = thresholdReason(al, pts, v.state, cur, m, breaching)
	}
	v.reasonData = reasonData(al, pts, now)
	return v
}

func breaches(op string, v, threshold float64) bool {
	switch op {
	case "GreaterThanOrEqualToThreshold":
		return v >= threshold
	case "GreaterThanThreshold":
		return v > threshold
	case "LessThanThreshold":
		return v < threshold
	case "LessThanOrEqualToThreshold":
		return v <= threshold
	}
	return false
}

var opWords = map[string]string{
	"GreaterThanOrEqualToThreshold": "greater than or equal to",
	"GreaterThanThreshold":          "greater than",
	"LessThanThreshold":             "less than",
	"LessThanOrEqualToThreshold":    "less than or equal to",
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// thresholdReason words a state as CloudWatch does, e.g. "Threshold
// Crossed: 2 out of the last 3 datapoints [95.0 (06/12/26 08:30:00), ...]
// were greater than the threshold (80.0) (minimum 2 datapoints for OK ->
// ALARM transition)."
func thresholdReason(al *cloudwatchapi.MetricAlarm, pts []point, state, prev string, m, breaching int) string {
	var shown []string
	for i := len(pts) - 1; i >= 0; i-- {
		if pts[i].present {
			shown = append(shown, fmt.Sprintf("%s (%s)", formatFloat(pts[i].value), pts[i].start.UTC().Format("02/01/06 15:04:05")))
		}
	}
	words := opWords[string(al.ComparisonOperator)]
	count, minimum := breaching, m
	if state == StateOK {
		words = "not " + words
		count = len(pts) - breaching
		minimum = 1
	}
	if prev == "" {
		prev = StateInsufficientData
	}
	return fmt.Sprintf("Threshold Crossed: %d out of the last %d %s [%s] %s %s the threshold (%s) (minimum %d %s for %s -> %s transition).",
		count, len(pts), plural(len(pts), "datapoint", "datapoints"), strings.Join(shown, ", "),
		plural(count, "was", "were"), words, formatFloat(*al.Threshold), minimum, plural(minimum, "datapoint", "datapoints"), prev, state)
}

func reasonData(al *cloudwatchapi.MetricAlarm, pts []point, now time.Time) string {
	type dp struct {
		Timestamp string  `json:"timestamp"`
		Value     float64 `json:"value"`
	}
	var recent []float64
	var evaluated []dp
	for i := len(pts) - 1; i >= 0; i-- {
		if pts[i].present {
			recent = append(recent, pts[i].value)
			evaluated = append(evaluated, dp{pts[i].start.UTC().Format("2006-01-02T15:04:05.000+0000"), pts[i].value})
		}
	}
	d := map[string]any{"version": "1.0", "queryDate": now.UTC().Format("2006-01-02T15:04:05.000+0000"),
		"recentDatapoints": orEmptyF(recent), "threshold": *al.Threshold, "evaluatedDatapoints": evaluated}
	if len(pts) > 0 {
		d["startDate"] = pts[0].start.UTC().Format("2006-01-02T15:04:05.000+0000")
	}
	if al.Period != nil {
		d["period"] = *al.Period
	}
	if al.Statistic != "" {
		d["statistic"] = al.Statistic
	}
	if al.ExtendedStatistic != "" {
		d["statistic"] = al.ExtendedStatistic
	}
	b, _ := json.Marshal(d)
	return string(b)
}

func orEmptyF(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

// lowSampleCount is the fewest samples a period needs for a percentile
// alarm with EvaluateLowSampleCountPercentile "ignore" to be evaluated:
// 1/(1-p) for pNN (10 for p90, 100 for p99), as CloudWatch counts
// significance; 0 for other alarms.
func lowSampleCount(al *cloudwatchapi.MetricAlarm) float64 {
	if al.EvaluateLowSampleCountPercentile != "ignore" {
		return 0
	}
	p, ok := percentile(al.ExtendedStatistic)
	if !ok || p >= 100 {
		return 0
	}
	return math.Round(1 / (1 - p/100))
}

// tooFewSamples reports whether a period of the range has too few samples
// for its percentile: the alarm's state then stays as it is.
func tooFewSamples(al *cloudwatchapi.MetricAlarm, pts []point) bool {
	for _, p := range pts {
		if p.present && p.few {
			return true
		}
	}
	return false
}

// alarmPeriod is the period of an alarm (a metric math alarm's shortest).
func alarmPeriod(al *cloudwatchapi.MetricAlarm) time.Duration {
	if al.Period != nil {
		return time.Duration(*al.Period) * time.Second
	}
	p := int32(0)
	for _, q := range al.Metrics {
		qp := q.Period
		if q.MetricStat != nil {
			qp = q.MetricStat.Period
		}
		if qp != nil && (p == 0 || *qp < p) {
			p = *qp
		}
	}
	if p == 0 {
		p = 60
	}
	return time.Duration(p) * time.Second
}

// points reads an alarm's evaluation range: the last N periods, ending
// with the current one if it already has data that partialFinal accepts,
// else with the last complete one.
func (a *API) points(ctx context.Context, al *cloudwatchapi.MetricAlarm, now time.Time) ([]point, error) {
	n := int(*al.EvaluationPeriods)
	p := alarmPeriod(al)
	end := now.Truncate(p).Add(p)
	start := end.Add(-time.Duration(n+1) * p)
	values := map[int64]float64{}
	few := map[int64]bool{}
	if len(al.Metrics) == 0 {
		dims, _ := convertDimensions("", al.Dimensions)
		stat := string(al.Statistic)
		if stat == "" {
			stat = al.ExtendedStatistic
		}
		buckets, err := a.aggregate(ctx, metricstore.Series{Namespace: al.Namespace, Name: al.MetricName, Dimensions: dims}, start, end, int(p/time.Second), string(al.Unit), needsValues(stat))
		if err != nil {
			return nil, err
		}
		minSamples := lowSampleCount(al)
		for _, b := range buckets {
			if v, ok := b.stat(stat); ok {
				values[b.start.Unix()] = v
				if b.count < minSamples {
					few[b.start.Unix()] = true
				}
			}
		}
	} else {
		qs, err := checkQueries("Metrics", al.Metrics, start, now, false)
		if err != nil {
			return nil, err
		}
		ev := newEvaluator(a, qs, start, end, now)
		ev.prefetch(ctx)
		for _, q := range qs {
			if q.ret {
				s, err := ev.result(q)
				if err != nil {
					return nil, err
				}
				for i, t := range s.ts {
					values[t] = s.vals[i]
				}
			}
		}
	}
	pts := make([]point, 0, n+1)
	for t := start; t.Before(end); t = t.Add(p) {
		v, ok := values[t.Unix()]
		pts = append(pts, point{start: t, value: v, present: ok, few: few[t.Unix()]})
	}
	if cur := pts[len(pts)-1]; cur.present && partialFinal(al, cur.value) {
		return pts[1:], nil
	}
	return pts[:n], nil
}

// partialFinal reports whether the value v of the period in progress may
// be evaluated before the period ends. CloudWatch evaluates complete
// periods; Gantry looks at the one in progress to react sooner, but only
// where a partial value cannot mislead: a statistic that averages
// (Average, percentiles, trimmed means) estimates the complete period's,
// while Sum, SampleCount and Maximum only grow as datapoints arrive and
// Minimum only falls, so their partial value counts only when it already
// breaches in the direction the complete period cannot undo (a partial
// Sum over a GreaterThan threshold stays over it; a partial Sum under a
// LessThan threshold may not stay under it, and is left out). A metric
// math alarm's expression is taken as one that grows with its inputs (sums
// and counts of requests, their ratios to a constant): its partial value
// counts only when it breaches a GreaterThan threshold.
func partialFinal(al *cloudwatchapi.MetricAlarm, v float64) bool {
	if al.Threshold == nil {
		return false
	}
	op := string(al.ComparisonOperator)
	greater := op == "GreaterThanThreshold" || op == "GreaterThanOrEqualToThreshold"
	stat := string(al.Statistic)
	if len(al.Metrics) > 0 {
		stat = "Sum"
	}
	switch stat {
	case "Sum", "SampleCount", "Maximum":
		return greater && breaches(op, v, *al.Threshold)
	case "Minimum":
		return !greater && breaches(op, v, *al.Threshold)
	}
	return true
}

// EvaluatorOptions tune Run.
type EvaluatorOptions struct {
	// Interval is how often every alarm is evaluated; 0 is
	// DefaultEvaluationInterval.
	Interval time.Duration
	// LeaderTTL is the lease of the evaluator's leadership; 0 is 10 s.
	LeaderTTL time.Duration
	// ID names this server in the election.
	ID string
}

// actedState is what the evaluator last did for an alarm's actions.
type actedState struct {
	state   string
	stateAt time.Time
	at      time.Time
}

// Run evaluates the alarms while this server leads the election (one
// server at a time), until ctx ends.
func (a *API) Run(ctx context.Context, opts EvaluatorOptions) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultEvaluationInterval
	}
	if opts.LeaderTTL <= 0 {
		opts.LeaderTTL = 10 * time.Second
	}
	for ctx.Err() == nil {
		l, err := a.Store.Campaign(ctx, leaderKey, []byte(opts.ID), opts.LeaderTTL)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.Warn("alarm evaluator campaign", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		a.Logger.Info("alarm evaluator leads")
		a.lead(ctx, l, opts.Interval)
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.Resign(rctx)
		cancel()
	}
}

func (a *API) lead(ctx context.Context, l *store.Leadership, interval time.Duration) {
	acted := map[string]*actedState{}
	t := time.NewTicker(interval)
	defer t.Stop()
	// Datapoints of a watched metric evaluate its alarms when they
	// arrive (after ArrivalDelay, to take a burst at once), beside the
	// full evaluation every interval.
	poke := a.arrival.start()
	defer a.arrival.stop()
	var soon <-chan time.Time
	a.evaluateOnce(ctx, l.Guard(), acted, true, nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.Done():
			a.Logger.Warn("alarm evaluator lost its leadership")
			return
		case <-t.C:
			a.evaluateOnce(ctx, l.Guard(), acted, false, nil)
		case <-poke:
			if soon == nil {
				soon = time.After(ArrivalDelay)
			}
		case <-soon:
			soon = nil
			if dirty := a.arrival.take(); len(dirty) > 0 {
				a.evaluateOnce(ctx, l.Guard(), acted, false, dirty)
			}
		}
	}
}

// evaluateOnce evaluates the alarms once (every alarm, or with only set,
// those that watch one of its metrics), writing state changes guarded by
// guard, and runs the actions due. acted carries what was done across
// calls; with initial set, the states found are taken as acted on already
// (a new leader does not repeat its predecessor's notifications).
func (a *API) evaluateOnce(ctx context.Context, guard store.Cmp, acted map[string]*actedState, initial bool, only map[metricKey]bool) {
	recs, revs, err := a.loadAlarms(ctx)
	if err != nil {
		a.Logger.Warn("load alarms", "err", err)
		return
	}
	now := a.now()
	live := map[string]bool{}
	watched := map[metricKey]bool{}
	for i := range recs {
		al := &recs[i].Alarm
		live[al.AlarmName] = true
		keys := watchedBy(al)
		for _, k := range keys {
			watched[k] = true
		}
		if only != nil && !watchesAny(keys, only) {
			continue
		}
		if initial {
			acted[al.AlarmName] = &actedState{state: string(al.StateValue), stateAt: stateTime(al), at: now}
		}
		pts, err := a.points(ctx, al, now)
		if err != nil {
			a.Logger.Warn("evaluate alarm", "alarm", al.AlarmName, "err", err)
			continue
		}
		v := decide(al, pts, now)
		if v.state != string(al.StateValue) && !tooFewSamples(al, pts) {
			if err := a.transition(ctx, guard, recs[i], revs[i], v, now); err != nil {
				if !errors.Is(err, store.ErrConflict) {
					a.Logger.Warn("alarm state", "alarm", al.AlarmName, "err", err)
				}
				continue
			}
			prev := al.StateValue
			al.StateValue = cloudwatchapi.StateValue(v.state)
			al.StateReason = v.reason
			al.StateUpdatedTimestamp = awstime.NewTimestamp(now)
			a.Logger.Info("alarm state changed", "alarm", al.AlarmName, "from", prev, "to", v.state)
		}
		a.act(ctx, al, acted, v.last, now)
	}
	if only != nil {
		return
	}
	a.arrival.setWatched(watched)
	for name := range acted {
		if !live[name] {
			delete(acted, name)
		}
	}
}

// watchesAny reports whether one of keys is in set.
func watchesAny(keys []metricKey, set map[metricKey]bool) bool {
	for _, k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}

func stateTime(al *cloudwatchapi.MetricAlarm) time.Time {
	if al.StateUpdatedTimestamp != nil {
		return al.StateUpdatedTimestamp.Time
	}
	return time.Time{}
}

// transition writes an alarm's new state and its history item in one
// transaction, if the alarm is unchanged since read and this server
// still leads.
func (a *API) transition(ctx context.Context, guard store.Cmp, rec alarmRecord, rev int64, v verdict, now time.Time) error {
	old := rec.Alarm
	rec.Alarm.StateValue = cloudwatchapi.StateValue(v.state)
	rec.Alarm.StateReason = v.reason
	rec.Alarm.StateReasonData = v.reasonData
	rec.Alarm.StateUpdatedTimestamp = awstime.NewTimestamp(now)
	rec.Alarm.StateTransitionedTimestamp = awstime.NewTimestamp(now)
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	hk, hv := a.historyOp(old.AlarmName, "StateUpdate", fmt.Sprintf("Alarm updated from %s to %s", old.StateValue, v.state),
		stateHistoryData(old.StateValue, old.StateReason, v.state, v.reason, v.reasonData), now)
	res, err := a.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(alarmKey(old.AlarmName), rev), guard},
		store.OpPut(alarmKey(old.AlarmName), b), store.OpPut(hk, hv))
	if err != nil {
		return err
	}
	if !res.Succeeded {
		return store.ErrConflict
	}
	a.trimHistory(ctx, old.AlarmName)
	return nil
}

// act runs an alarm's actions: every action of its state when it entered
// the state since last acted on, and its Auto Scaling actions again each
// period while it stays there.
func (a *API) act(ctx context.Context, al *cloudwatchapi.MetricAlarm, acted map[string]*actedState, last float64, now time.Time) {
	st := acted[al.AlarmName]
	state, at := string(al.StateValue), stateTime(al)
	entered := st == nil || st.state != state || !st.stateAt.Equal(at)
	prev := ""
	if st != nil {
		prev = st.state
	}
	if st == nil {
		st = &actedState{}
		acted[al.AlarmName] = st
	}
	repeat := !entered && now.Sub(st.at) >= alarmPeriod(al)
	if !entered && !repeat {
		return
	}
	st.state, st.stateAt = state, at
	if repeat {
		st.at = now
	}
	if al.ActionsEnabled != nil && !*al.ActionsEnabled {
		return
	}
	var actions []string
	switch state {
	case StateOK:
		actions = al.OKActions
	case StateAlarm:
		actions = al.AlarmActions
	default:
		actions = al.InsufficientDataActions
	}
	if entered {
		st.at = now
	}
	for _, arn := range actions {
		if repeat && !isAutoScalingAction(arn) {
			continue
		}
		a.invoke(ctx, al, arn, prev, last, now)
	}
}

func (a *API) invoke(ctx context.Context, al *cloudwatchapi.MetricAlarm, arn, prev string, last float64, now time.Time) {
	var err error
	inv := a.getInvoker()
	switch {
	case !isAutoScalingAction(arn):
		err = errors.New("this kind of action is not delivered by Gantry")
	case inv == nil:
		err = errors.New("no Application Auto Scaling to invoke")
	default:
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ev := cwlink.AlarmEvent{AlarmName: al.AlarmName, AlarmArn: al.AlarmArn, State: string(al.StateValue), PreviousState: prev,
			Reason: al.StateReason, Timestamp: stateTime(al), Value: last, Threshold: *al.Threshold}
		err = inv.Invoke(ictx, arn, ev)
		cancel()
	}
	if err != nil {
		a.Logger.Warn("alarm action failed", "alarm", al.AlarmName, "action", arn, "err", err)
		a.addHistory(ctx, al.AlarmName, "Action", fmt.Sprintf("Failed to execute action %s. Received error: %q", arn, err.Error()), "", now)
		return
	}
	a.addHistory(ctx, al.AlarmName, "Action", "Successfully executed action "+arn, "", now)
}
