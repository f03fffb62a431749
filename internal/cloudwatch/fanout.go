package cloudwatch

import (
	"context"
	bin "encoding/binary" // mathexpr.go has a type named binary
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/peers"
)

// PeerAsker asks the other live servers of the control plane;
// *peers.Client implements it.
type PeerAsker interface {
	Ask(ctx context.Context, op string, in any) ([]peers.Answer, error)
}

// The peer operations of the CloudWatch API (see RegisterPeerOps).
const (
	peerOpAggregate = "metrics/aggregate"
	peerOpList      = "metrics/list"
	peerOpArrived   = "metrics/arrived"
)

// forwardDelay is how long a server that does not lead the alarm evaluator
// gathers the metrics that received datapoints before it tells the other
// servers (one request for a burst).
const forwardDelay = 20 * time.Millisecond

// aggQuery is one aggregation: the datapoints of a series over
// [Start, End) (unix milliseconds, Start already aligned by the asking
// server) in periods of Period seconds, of Unit's data only when set, with
// the raw values when Values (percentiles need them).
type aggQuery struct {
	Series metricstore.Series
	Start  int64
	End    int64
	Period int
	Unit   string
	Values bool
}

// peerAggRequest asks a server for its buckets of each query.
type peerAggRequest struct {
	Queries []aggQuery
}

// A server answers a peerAggRequest with a peers.Raw: the number of
// queries (uvarint), then each query's buckets as appendBuckets writes
// them (binary: JSON numbers cost several times the CPU of the
// aggregation itself).

// appendBuckets encodes bs: their number, then per bucket the start (unix
// milliseconds, varint), SampleCount, Sum, Minimum and Maximum (float64
// bits, so infinities pass), the unit, whether a statistic set
// contributed, and the raw values and their counts.
func appendBuckets(out []byte, bs []*bucket) []byte {
	size := 10
	for _, b := range bs {
		size += 10 + 32 + 1 + len(b.unit) + 1 + 10 + 16*len(b.values)
	}
	if cap(out)-len(out) < size {
		out = slices.Grow(out, max(size, len(out))) // at least double: one answer holds many queries
	}
	out = bin.AppendUvarint(out, uint64(len(bs)))
	for _, b := range bs {
		out = bin.AppendVarint(out, b.start.UnixMilli())
		for _, f := range [4]float64{b.count, b.sum, b.min, b.max} {
			out = bin.LittleEndian.AppendUint64(out, math.Float64bits(f))
		}
		out = bin.AppendUvarint(out, uint64(len(b.unit)))
		out = append(out, b.unit...)
		if b.sets {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
		out = bin.AppendUvarint(out, uint64(len(b.values)))
		for i, v := range b.values {
			out = bin.LittleEndian.AppendUint64(out, math.Float64bits(v))
			out = bin.LittleEndian.AppendUint64(out, math.Float64bits(b.counts[i]))
		}
	}
	return out
}

var errBadBuckets = errors.New("undecodable buckets")

// decodeBuckets decodes what appendBuckets wrote and returns the rest.
func decodeBuckets(in []byte) ([]*bucket, []byte, error) {
	n, k := bin.Uvarint(in)
	if k <= 0 || n > uint64(len(in)) {
		return nil, nil, errBadBuckets
	}
	in = in[k:]
	f64 := func() (float64, bool) {
		if len(in) < 8 {
			return 0, false
		}
		v := math.Float64frombits(bin.LittleEndian.Uint64(in))
		in = in[8:]
		return v, true
	}
	out := make([]*bucket, n)
	all := make([]bucket, n)
	for i := range out {
		b := &all[i]
		start, k := bin.Varint(in)
		if k <= 0 {
			return nil, nil, errBadBuckets
		}
		in = in[k:]
		b.start, b.seen = time.UnixMilli(start), true
		var ok [4]bool
		b.count, ok[0] = f64()
		b.sum, ok[1] = f64()
		b.min, ok[2] = f64()
		b.max, ok[3] = f64()
		if ok != [4]bool{true, true, true, true} {
			return nil, nil, errBadBuckets
		}
		ul, k := bin.Uvarint(in)
		if k <= 0 || uint64(len(in)-k) < ul+1 {
			return nil, nil, errBadBuckets
		}
		b.unit = string(in[k : k+int(ul)])
		b.sets = in[k+int(ul)] == 1
		in = in[k+int(ul)+1:]
		nv, k := bin.Uvarint(in)
		if k <= 0 || nv > uint64(len(in))/16 {
			return nil, nil, errBadBuckets
		}
		in = in[k:]
		if nv > 0 {
			b.values, b.counts = make([]float64, nv), make([]float64, nv)
			for j := range b.values {
				b.values[j], _ = f64()
				b.counts[j], _ = f64()
			}
		}
		out[i] = b
	}
	return out, in, nil
}

// merge adds o's data to b: counts and sums add, extremes combine, raw
// values join, so every statistic of the result is that of the union.
func (b *bucket) merge(o *bucket) {
	if b.count == 0 && o.count != 0 || b.unit == "" {
		b.unit = o.unit
	}
	b.count += o.count
	b.sum += o.sum
	b.min = min(b.min, o.min)
	b.max = max(b.max, o.max)
	b.values = append(b.values, o.values...)
	b.counts = append(b.counts, o.counts...)
	b.sets = b.sets || o.sets
}

// mergeBuckets merges lists of buckets (each in time order, all aligned to
// the same start and period) into one list in time order.
func mergeBuckets(lists ...[]*bucket) []*bucket {
	var out []*bucket
	for _, l := range lists {
		out = mergeTwo(out, l)
	}
	return out
}

// mergeTwo merges two lists in time order, merging the buckets of one
// period into x's.
func mergeTwo(x, y []*bucket) []*bucket {
	if len(x) == 0 {
		return y
	}
	if len(y) == 0 {
		return x
	}
	out := make([]*bucket, 0, max(len(x), len(y)))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch c := x[i].start.Compare(y[j].start); {
		case c < 0:
			out = append(out, x[i])
			i++
		case c > 0:
			out = append(out, y[j])
			j++
		default:
			x[i].merge(y[j])
			out = append(out, x[i])
			i++
			j++
		}
	}
	out = append(out, x[i:]...)
	return append(out, y[j:]...)
}

// localQuery aggregates one query from this server's store.
func (a *API) localQuery(q aggQuery) ([]*bucket, error) {
	return a.localAggregate(q.Series, time.UnixMilli(q.Start), time.UnixMilli(q.End), q.Period, q.Unit, q.Values)
}

// askAggregate asks the other live servers for their buckets of qs and
// returns them per query (nil without peers). A peer that does not answer
// is left out (logged by the peers client).
func (a *API) askAggregate(ctx context.Context, qs []aggQuery) [][]*bucket {
	if a.Peers == nil || len(qs) == 0 {
		return nil
	}
	answers, err := a.Peers.Ask(ctx, peerOpAggregate, peerAggRequest{Queries: qs})
	if err != nil {
		a.Logger.Warn("ask the peers for datapoints", "err", err)
		return nil
	}
	out := make([][]*bucket, len(qs))
	for _, ans := range answers {
		lists, err := decodeAnswer(ans.Body, len(qs))
		if err != nil {
			a.Logger.Warn("a peer's datapoints are left out: bad answer", "peer", ans.URL, "err", err)
			continue
		}
		for i := range lists {
			out[i] = mergeTwo(out[i], lists[i])
		}
	}
	return out
}

// decodeAnswer decodes a peer's answer to n queries.
func decodeAnswer(in []byte, n int) ([][]*bucket, error) {
	got, k := bin.Uvarint(in)
	if k <= 0 || got != uint64(n) {
		return nil, errBadBuckets
	}
	in = in[k:]
	out := make([][]*bucket, n)
	for i := range out {
		var err error
		if out[i], in, err = decodeBuckets(in); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// aggregate reads one series over [start, end) into periods from every
// live server: this server's store and, in parallel, the peers'. It
// returns the buckets with data in time order.
func (a *API) aggregate(ctx context.Context, ser metricstore.Series, start, end time.Time, period int, unit string, withValues bool) ([]*bucket, error) {
	q := aggQuery{Series: ser, Start: start.UnixMilli(), End: end.UnixMilli(), Period: period, Unit: unit, Values: withValues}
	var remote [][]*bucket
	var wg sync.WaitGroup
	if a.Peers != nil {
		wg.Go(func() { remote = a.askAggregate(ctx, []aggQuery{q}) })
	}
	local, err := a.localAggregate(ser, start, end, period, unit, withValues)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if remote == nil {
		return local, nil
	}
	return mergeBuckets(local, remote[0]), nil
}

// listQuery is ListMetrics' filter, with the cut-off times computed by the
// asking server (unix milliseconds; Since 0 is none).
type listQuery struct {
	Namespace  string
	After      string
	Limit      int
	MetricName string
	Dimensions []cloudwatchapi.DimensionFilter
	Listed     int64
	Since      int64
}

// peerListAnswer is a server's series matching a listQuery.
type peerListAnswer struct {
	Series []metricstore.SeriesInfo
}

// localList lists this server's series matching q, in key order.
func (a *API) localList(q listQuery) []metricstore.SeriesInfo {
	listed, since := time.UnixMilli(q.Listed), time.UnixMilli(q.Since)
	keep := func(si metricstore.SeriesInfo) bool {
		if q.MetricName != "" && si.Series.Name != q.MetricName {
			return false
		}
		if si.LastPut.Before(listed) {
			return false // no new data for 15 days: unlisted, as on AWS
		}
		if q.Since != 0 && si.LastPut.Before(since) {
			return false
		}
		for _, f := range q.Dimensions {
			found := false
			for _, d := range si.Series.Dimensions {
				if d.Name == f.Name && (f.Value == "" || d.Value == f.Value) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return a.Metrics.List(q.Namespace, q.After, q.Limit, keep)
}

// list lists the series matching q on every live server: the union by
// series key (a series is listed when one server's data keeps it), in key
// order, at most q.Limit.
func (a *API) list(ctx context.Context, q listQuery) []metricstore.SeriesInfo {
	var answers []peers.Answer
	var wg sync.WaitGroup
	if a.Peers != nil {
		wg.Go(func() {
			var err error
			if answers, err = a.Peers.Ask(ctx, peerOpList, q); err != nil {
				a.Logger.Warn("ask the peers for metrics", "err", err)
			}
		})
	}
	local := a.localList(q)
	wg.Wait()
	if len(answers) == 0 {
		return local
	}
	byKey := make(map[string]bool, len(local))
	all := local
	for _, si := range local {
		byKey[si.Key] = true
	}
	for _, ans := range answers {
		var in peerListAnswer
		if err := json.Unmarshal(ans.Body, &in); err != nil {
			a.Logger.Warn("a peer's metrics are left out: bad answer", "peer", ans.URL, "err", err)
			continue
		}
		for _, si := range in.Series {
			if !byKey[si.Key] {
				byKey[si.Key] = true
				all = append(all, si)
			}
		}
	}
	slices.SortFunc(all, func(x, y metricstore.SeriesInfo) int {
		switch {
		case x.Key < y.Key:
			return -1
		case x.Key > y.Key:
			return 1
		}
		return 0
	})
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return all
}

// peerArrived tells the servers which metrics received datapoints.
type peerArrived struct {
	Metrics []peerMetric
}

// peerMetric is a metric's namespace and name.
type peerMetric struct{ Namespace, Name string }

// RegisterPeerOps registers the operations this server answers its peers
// with: its buckets of aggregations and its series, from the local store
// only, and the arrival of datapoints on another server (which wakes this
// server's alarm evaluator when it leads). Call it, and set Peers, before
// the API serves.
func (a *API) RegisterPeerOps(s *peers.Server) {
	s.Handle(peerOpAggregate, func(ctx context.Context, body []byte) (any, error) {
		var in peerAggRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		out := bin.AppendUvarint(nil, uint64(len(in.Queries)))
		for _, q := range in.Queries {
			var bs []*bucket
			if q.Period > 0 && q.End > q.Start {
				var err error
				if bs, err = a.localQuery(q); err != nil {
					return nil, err
				}
			}
			out = appendBuckets(out, bs)
		}
		return peers.Raw(out), nil
	})
	s.Handle(peerOpList, func(ctx context.Context, body []byte) (any, error) {
		var in listQuery
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return peerListAnswer{Series: a.localList(in)}, nil
	})
	s.Handle(peerOpArrived, func(ctx context.Context, body []byte) (any, error) {
		var in peerArrived
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		keys := make([]metricKey, len(in.Metrics))
		for i, m := range in.Metrics {
			keys[i] = metricKey{m.Namespace, m.Name}
		}
		a.arrival.mark(keys)
		return struct{}{}, nil
	})
	a.arrival.fwd.send = func(keys []metricKey) {
		if a.Peers == nil {
			return
		}
		in := peerArrived{Metrics: make([]peerMetric, len(keys))}
		for i, k := range keys {
			in.Metrics[i] = peerMetric{k.namespace, k.name}
		}
		ctx, cancel := context.WithTimeout(context.Background(), peers.DefaultTimeout)
		defer cancel()
		_, _ = a.Peers.Ask(ctx, peerOpArrived, in)
	}
}

// forwarder gathers, on a server that does not lead the alarm evaluator,
// the metrics that received datapoints, and sends them to the other
// servers forwardDelay later, so that the leader evaluates their alarms on
// arrival as it does for its own datapoints.
type forwarder struct {
	// send tells the peers (set by RegisterPeerOps; nil: nothing sent).
	send func(keys []metricKey)

	mu        sync.Mutex
	pending   map[metricKey]bool
	scheduled bool
}

// add records that datapoints of namespace arrived.
func (f *forwarder) add(namespace string, data []cloudwatchapi.MetricDatum) {
	if f.send == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[metricKey]bool{}
	}
	for i := range data {
		f.pending[metricKey{namespace, data[i].MetricName}] = true
	}
	if !f.scheduled {
		f.scheduled = true
		time.AfterFunc(forwardDelay, f.flush)
	}
}

// flush sends the pending metrics; one send is in flight at a time (a
// slow peer delays the next, it does not pile requests up).
func (f *forwarder) flush() {
	f.mu.Lock()
	keys := make([]metricKey, 0, len(f.pending))
	for k := range f.pending {
		keys = append(keys, k)
	}
	f.pending = nil
	f.mu.Unlock()
	if len(keys) > 0 {
		f.send(keys)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) > 0 {
		time.AfterFunc(forwardDelay, f.flush)
		return
	}
	f.scheduled = false
}
