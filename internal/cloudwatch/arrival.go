package cloudwatch

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// ArrivalDelay is how long the evaluator waits after datapoints of a
// metric an alarm watches arrive before it evaluates those alarms: it
// gathers a burst (a data plane's or an agent's several metrics) into one
// evaluation.
const ArrivalDelay = 100 * time.Millisecond

// metricKey names a metric an alarm watches: namespace and metric name.
type metricKey struct{ namespace, name string }

// arrivals tells the alarm evaluator, when this server leads it, which
// watched metrics received datapoints since its last evaluation, so that
// an alarm is evaluated when the datapoint for its period arrives rather
// than at the next tick of the evaluation interval.
type arrivals struct {
	// on is set while this server's evaluator leads.
	on atomic.Bool
	mu sync.Mutex
	// watched are the metrics the alarms watch (set by each full
	// evaluation); dirty those of them with new datapoints.
	watched map[metricKey]bool
	dirty   map[metricKey]bool
	ch      chan struct{}
	// fwd tells the other servers, while this one does not lead, so that
	// the leader evaluates on arrival too (fanout.go).
	fwd forwarder
}

// notify records that datapoints of namespace arrived (called by every
// write of datapoints); cheap when this server does not evaluate or no
// alarm watches them.
func (r *arrivals) notify(namespace string, data []cloudwatchapi.MetricDatum) {
	if !r.on.Load() {
		r.fwd.add(namespace, data)
		return
	}
	r.mu.Lock()
	hit := false
	for i := range data {
		hit = r.markLocked(metricKey{namespace, data[i].MetricName}) || hit
	}
	ch := r.ch
	r.mu.Unlock()
	poke(hit, ch)
}

// mark records that datapoints of keys arrived on another server (a peer
// told this one); nothing unless this server leads.
func (r *arrivals) mark(keys []metricKey) {
	if !r.on.Load() {
		return
	}
	r.mu.Lock()
	hit := false
	for _, k := range keys {
		hit = r.markLocked(k) || hit
	}
	ch := r.ch
	r.mu.Unlock()
	poke(hit, ch)
}

// markLocked marks k dirty if an alarm watches it and reports whether
// one does; r.mu is held.
func (r *arrivals) markLocked(k metricKey) bool {
	if !r.watched[k] {
		return false
	}
	if r.dirty == nil {
		r.dirty = map[metricKey]bool{}
	}
	r.dirty[k] = true
	return true
}

// poke wakes the evaluator when hit.
func poke(hit bool, ch chan struct{}) {
	if hit && ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// start turns notification on for a leading evaluator and returns the
// channel it is poked on.
func (r *arrivals) start() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ch = make(chan struct{}, 1)
	r.dirty = nil
	r.on.Store(true)
	return r.ch
}

// stop turns notification off.
func (r *arrivals) stop() {
	r.on.Store(false)
	r.mu.Lock()
	r.ch, r.dirty, r.watched = nil, nil, nil
	r.mu.Unlock()
}

// setWatched replaces the watched metrics.
func (r *arrivals) setWatched(w map[metricKey]bool) {
	r.mu.Lock()
	r.watched = w
	r.mu.Unlock()
}

// take returns and clears the metrics with new datapoints.
func (r *arrivals) take() map[metricKey]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dirty
	r.dirty = nil
	return d
}

// watchedBy returns the metrics an alarm reads: its metric, or each
// MetricStat of its metric math.
func watchedBy(al *cloudwatchapi.MetricAlarm) []metricKey {
	if len(al.Metrics) == 0 {
		return []metricKey{{al.Namespace, al.MetricName}}
	}
	var out []metricKey
	for _, q := range al.Metrics {
		if q.MetricStat != nil && q.MetricStat.Metric != nil {
			out = append(out, metricKey{q.MetricStat.Metric.Namespace, q.MetricStat.Metric.MetricName})
		}
	}
	return out
}
