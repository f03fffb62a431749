package lb

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// DefaultMetricsPeriod is how often the data plane publishes its metrics
// when Options.MetricsPeriod is unset: 2 seconds, so that alarms of
// CloudWatch's high-resolution 10-second period (those of Gantry's target
// tracking) see every period, and see a period's load within 2 seconds
// of it rather than when it ends (an alarm is evaluated as its data
// arrives): this takes up to 10 s off the reaction to a load step.
// Elastic Load Balancing publishes every 60 seconds; sums over a minute
// or a 10-second period are the same.
const DefaultMetricsPeriod = 2 * time.Second

// Response time histogram: bucket i holds times in [rtBase·rtRatio^i,
// rtBase·rtRatio^(i+1)), the first one everything below; published as
// values with counts (each bucket's geometric middle), so percentiles of
// TargetResponseTime are within 5% of the exact ones. 145 buckets of
// ratio 1.1 from 0.1 ms reach about 100 s, within PutMetricData's 150
// values.
const (
	rtBuckets = 145
	rtBase    = 1e-4
	rtRatio   = 1.1
)

var lnRatio = math.Log(rtRatio)

// rtHist counts response times by bucket.
type rtHist struct{ b [rtBuckets]atomic.Int64 }

// add counts one response time.
func (h *rtHist) add(d time.Duration) {
	h.b[rtBucket(d.Seconds())].Add(1)
}

// rtBucket is the bucket of a response time in seconds.
func rtBucket(s float64) int {
	if !(s > rtBase) {
		return 0
	}
	i := int(math.Log(s/rtBase) / lnRatio)
	return min(max(i, 0), rtBuckets-1)
}

// rtValue is the value bucket i stands for.
func rtValue(i int) float64 { return rtBase * math.Pow(rtRatio, float64(i)+0.5) }

// take moves the counts into out (adding) and zeroes them.
func (h *rtHist) take(out *[rtBuckets]int64) {
	for i := range h.b {
		if n := h.b[i].Swap(0); n != 0 {
			out[i] += n
		}
	}
}

// groupStats are a target group's counters of the current period.
type groupStats struct {
	// requests is RequestCount: requests for which a target was chosen.
	requests atomic.Int64
	// codes are HTTPCode_Target_2XX..5XX_Count.
	codes [4]atomic.Int64
	// rt is TargetResponseTime.
	rt rtHist
}

// target counts a target's answer and its response time.
func (s *groupStats) target(code int, rt time.Duration) {
	if c := code/100 - 2; c >= 0 && c < len(s.codes) {
		s.codes[c].Add(1)
	}
	s.rt.add(rt)
}

// lbStats are a load balancer's counters of the current period (those
// not per target group). One lives as long as its load balancer.
type lbStats struct {
	arn string
	// dim is the LoadBalancer dimension: app/NAME/ID or net/NAME/ID.
	dim     string
	network bool

	// elb counts the answers the load balancer wrote itself, by code
	// (HTTPCode_ELB_3XX/4XX/5XX_Count and the 500, 502, 503, 504 ones).
	elb3, elb4, elb5             atomic.Int64
	elb500, elb502, elb503, e504 atomic.Int64
	fixed, redirect              atomic.Int64
	// newConns counts accepted connections (NewConnectionCount,
	// NewFlowCount); active is the open ones now (ActiveConnectionCount,
	// ActiveFlowCount).
	newConns, active atomic.Int64
	// bytes is ProcessedBytes of a network load balancer.
	bytes atomic.Int64
}

// elbCode counts an answer the load balancer wrote itself.
func (s *lbStats) elbCode(code int) {
	if s == nil {
		return
	}
	switch code / 100 {
	case 3:
		s.elb3.Add(1)
	case 4:
		s.elb4.Add(1)
	case 5:
		s.elb5.Add(1)
	}
	switch code {
	case 500:
		s.elb500.Add(1)
	case 502:
		s.elb502.Add(1)
	case 503:
		s.elb503.Add(1)
	case 504:
		s.e504.Add(1)
	}
}

// conn counts a new client connection; the returned function, called
// once when it closes, uncounts it from the active ones.
func (s *lbStats) conn() func() {
	if s == nil {
		return func() {}
	}
	s.newConns.Add(1)
	s.active.Add(1)
	return func() { s.active.Add(-1) }
}

// dimensionOfLB is the LoadBalancer dimension of a load balancer ARN
// (app/NAME/ID, net/NAME/ID).
func dimensionOfLB(arn string) string {
	if _, rest, ok := strings.Cut(arn, ":loadbalancer/"); ok {
		return rest
	}
	return arn
}

// dimensionOfTG is the TargetGroup dimension of a target group ARN
// (targetgroup/NAME/ID).
func dimensionOfTG(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// applyStats keeps a stats record per load balancer of s (those of load
// balancers that went are dropped) and notes which target groups each
// forwards to.
func (l *LB) applyStats(s *lbconf.Snapshot) {
	next := make(map[string]*lbStats, len(s.LoadBalancers))
	groups := make(map[string][]string, len(s.LoadBalancers))
	for i := range s.LoadBalancers {
		lb := &s.LoadBalancers[i]
		st := l.stats[lb.Arn]
		if st == nil {
			st = &lbStats{arn: lb.Arn, dim: dimensionOfLB(lb.Arn), network: lb.Type == lbconf.TypeNetwork}
		}
		next[lb.Arn] = st
		seen := make(map[string]bool)
		add := func(actions []lbconf.Action) {
			for _, a := range actions {
				for _, f := range a.Forward {
					if !seen[f.TargetGroupArn] {
						seen[f.TargetGroupArn] = true
						groups[lb.Arn] = append(groups[lb.Arn], f.TargetGroupArn)
					}
				}
			}
		}
		for _, ls := range lb.Listeners {
			add(ls.DefaultActions)
			for _, r := range ls.Rules {
				add(r.Actions)
			}
		}
	}
	l.mu.Lock()
	l.stats = next
	l.mu.Unlock()
	l.lbGroups = groups
}

// statsOf is the stats record of a load balancer (nil if unknown).
func (l *LB) statsOf(arn string) *lbStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats[arn]
}

// metricBatch is one period's metrics of one namespace.
type metricBatch struct {
	namespace string
	data      []lbconf.Metric
}

// collect takes the counters of the period that started at start and
// returns its metrics by namespace, as Elastic Load Balancing reports
// them: counts only when not zero, host counts of every target group a
// load balancer forwards to at every period. It runs on Run's goroutine
// (it reads the groups).
func (l *LB) collect(start time.Time) []metricBatch {
	var app, network []lbconf.Metric
	count := func(name, unit string, v float64, dims ...lbconf.Dimension) lbconf.Metric {
		return lbconf.Metric{Name: name, Unit: unit, Timestamp: start, Dimensions: dims, SampleCount: 1, Sum: v, Minimum: v, Maximum: v}
	}
	l.mu.Lock()
	stats := l.stats
	l.mu.Unlock()
	for arn, s := range stats {
		lbDim := lbconf.Dimension{Name: "LoadBalancer", Value: s.dim}
		var out []lbconf.Metric
		var total int64
		var totalCodes [4]int64
		var totalRT [rtBuckets]int64
		for _, tgArn := range l.lbGroups[arn] {
			g := l.groups[tgArn]
			if g == nil {
				continue
			}
			tgDim := lbconf.Dimension{Name: "TargetGroup", Value: dimensionOfTG(tgArn)}
			var healthy, unhealthy, registered int
			for _, b := range *g.targets.Load() {
				if b.draining.Load() {
					continue
				}
				registered++
				switch b.state.Load() {
				case stateHealthy:
					healthy++
				case stateUnhealthy:
					unhealthy++
				}
			}
			out = append(out,
				count("HealthyHostCount", "Count", float64(healthy), tgDim, lbDim),
				count("UnHealthyHostCount", "Count", float64(unhealthy), tgDim, lbDim))
			if s.network {
				continue
			}
			n := g.stats.requests.Swap(0)
			var codes [4]int64
			for i := range codes {
				codes[i] = g.stats.codes[i].Swap(0)
				totalCodes[i] += codes[i]
			}
			var rt [rtBuckets]int64
			g.stats.rt.take(&rt)
			for i, c := range rt {
				totalRT[i] += c
			}
			total += n
			if n > 0 {
				out = append(out, count("RequestCount", "Count", float64(n), tgDim, lbDim))
				per := registered
				if healthy > 0 {
					per = healthy
				}
				if per > 0 {
					v := float64(n) / float64(per)
					out = append(out, count("RequestCountPerTarget", "Count", v, tgDim), count("RequestCountPerTarget", "Count", v, tgDim, lbDim))
				}
			}
			out = appendCodes(out, count, codes, tgDim, lbDim)
			if m, ok := histogram("TargetResponseTime", start, &rt, tgDim, lbDim); ok {
				out = append(out, m)
			}
		}
		if s.network {
			if n := s.newConns.Swap(0); n > 0 {
				out = append(out, count("NewFlowCount", "Count", float64(n), lbDim))
			}
			if n := s.active.Load(); n > 0 {
				out = append(out, count("ActiveFlowCount", "Count", float64(n), lbDim))
			}
			if n := s.bytes.Swap(0); n > 0 {
				out = append(out, count("ProcessedBytes", "Bytes", float64(n), lbDim))
			}
			network = append(network, out...)
			continue
		}
		if total > 0 {
			out = append(out, count("RequestCount", "Count", float64(total), lbDim))
		}
		out = appendCodes(out, count, totalCodes, lbDim)
		if m, ok := histogram("TargetResponseTime", start, &totalRT, lbDim); ok {
			out = append(out, m)
		}
		for _, c := range []struct {
			name string
			v    *atomic.Int64
		}{
			{"HTTPCode_ELB_3XX_Count", &s.elb3}, {"HTTPCode_ELB_4XX_Count", &s.elb4}, {"HTTPCode_ELB_5XX_Count", &s.elb5},
			{"HTTPCode_ELB_500_Count", &s.elb500}, {"HTTPCode_ELB_502_Count", &s.elb502}, {"HTTPCode_ELB_503_Count", &s.elb503},
			{"HTTPCode_ELB_504_Count", &s.e504}, {"HTTP_Fixed_Response_Count", &s.fixed}, {"HTTP_Redirect_Count", &s.redirect},
			{"NewConnectionCount", &s.newConns},
		} {
			if n := c.v.Swap(0); n > 0 {
				out = append(out, count(c.name, "Count", float64(n), lbDim))
			}
		}
		if n := s.active.Load(); n > 0 {
			out = append(out, count("ActiveConnectionCount", "Count", float64(n), lbDim))
		}
		app = append(app, out...)
	}
	var batches []metricBatch
	if len(app) > 0 {
		batches = append(batches, metricBatch{namespace: lbconf.NamespaceApplication, data: app})
	}
	if len(network) > 0 {
		batches = append(batches, metricBatch{namespace: lbconf.NamespaceNetwork, data: network})
	}
	return batches
}

// appendCodes appends the HTTPCode_Target_NXX_Count metrics that are not
// zero.
func appendCodes(out []lbconf.Metric, count func(string, string, float64, ...lbconf.Dimension) lbconf.Metric, codes [4]int64, dims ...lbconf.Dimension) []lbconf.Metric {
	for i, n := range codes {
		if n > 0 {
			out = append(out, count("HTTPCode_Target_"+string(rune('2'+i))+"XX_Count", "Count", float64(n), dims...))
		}
	}
	return out
}

// histogram is a TargetResponseTime datapoint of values with counts, or
// false if no request was timed.
func histogram(name string, start time.Time, h *[rtBuckets]int64, dims ...lbconf.Dimension) (lbconf.Metric, bool) {
	m := lbconf.Metric{Name: name, Unit: "Seconds", Timestamp: start, Dimensions: dims}
	for i, n := range h {
		if n > 0 {
			m.Values = append(m.Values, rtValue(i))
			m.Counts = append(m.Counts, float64(n))
		}
	}
	return m, len(m.Values) > 0
}

// publisher sends batches to the sink until in closes.
func (l *LB) publisher(in <-chan []metricBatch, done chan<- struct{}) {
	defer close(done)
	for batches := range in {
		for _, b := range batches {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := l.opts.Metrics.PublishMetrics(ctx, b.namespace, b.data); err != nil {
				l.logger.Warn("publish load balancer metrics", "namespace", b.namespace, "datapoints", len(b.data), "err", err)
			}
			cancel()
		}
	}
}
