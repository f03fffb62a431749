package lb

import (
	"context"
	"sync"
	"time"
)

// demandInterval is how often, at most, a target group that holds
// requests signals its demand (lbconf.DemandSink) while they wait.
const demandInterval = time.Second

// readiness wakes the requests a target group holds while it has no
// healthy target: wait returns a channel that is closed at the next
// change that may let them through (a target turning healthy, the
// group's configuration or targets changing, the group going away).
type readiness struct {
	mu sync.Mutex
	ch chan struct{}
	// lastDemand is when the group last signalled its demand.
	lastDemand time.Time
}

// wait returns the channel closed at the next change.
func (r *readiness) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch == nil {
		r.ch = make(chan struct{})
	}
	return r.ch
}

// changed wakes every waiter.
func (r *readiness) changed() {
	r.mu.Lock()
	if r.ch != nil {
		close(r.ch)
		r.ch = nil
	}
	r.mu.Unlock()
}

// demandDue reports whether a demand signal is due at now (none in the
// last demandInterval), and records it if so.
func (r *readiness) demandDue(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastDemand.IsZero() && now.Sub(r.lastDemand) < demandInterval {
		return false
	}
	r.lastDemand = now
	return true
}

// hasHealthy reports whether a target of g may take a request on its
// health: healthy and not draining.
func (g *group) hasHealthy() bool {
	for _, b := range *g.targets.Load() {
		if b.eligible(false) {
			return true
		}
	}
	return false
}

// hold waits, when g's configuration holds requests
// (gantry.hold_requests.enabled) and g has no healthy target, until a
// target turns healthy, the hold timeout passes, or ctx ends, signalling
// the group's demand meanwhile (Options.Demand) so that the service
// behind it scales up. It returns how long it held (0: not held) and
// whether a healthy target is there now; the caller then picks a target
// as it would have (fail-open or ELB's 503 when still none is healthy).
func (l *LB) hold(ctx context.Context, g *group) (time.Duration, bool) {
	timeout := g.cfg.Load().hold
	if timeout <= 0 || g.hasHealthy() {
		return 0, true
	}
	start := time.Now()
	l.held.Add(1)
	defer l.held.Add(-1)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(demandInterval)
	defer tick.Stop()
	l.signalDemand(g)
	for {
		// Registered before the check, so a change in between is seen.
		ch := g.ready.wait()
		if g.hasHealthy() {
			return time.Since(start), true
		}
		if g.cfg.Load().hold <= 0 {
			return time.Since(start), false
		}
		select {
		case <-ch:
		case <-tick.C:
			// Still waiting: the demand stands (a wake that lost a race or
			// a task that failed to start is asked for again).
			l.signalDemand(g)
		case <-timer.C:
			l.logger.Info("held request timed out", "targetGroup", g.arn, "held", time.Since(start).Round(time.Millisecond))
			return time.Since(start), false
		case <-ctx.Done():
			return time.Since(start), false
		}
	}
}

// signalDemand hands g's demand to the demand goroutine, at most once per
// demandInterval; a full queue drops it (the next tick tries again).
func (l *LB) signalDemand(g *group) {
	if l.opts.Demand == nil || !g.ready.demandDue(time.Now()) {
		return
	}
	select {
	case l.demand <- g.arn:
	default:
	}
}

// runDemand passes demand signals to Options.Demand until ctx ends.
func (l *LB) runDemand(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case arn := <-l.demand:
			if err := l.opts.Demand.Demand(ctx, arn); err != nil && ctx.Err() == nil {
				l.logger.Warn("signal a target group's demand", "targetGroup", arn, "err", err)
			}
		}
	}
}

// Held is the number of requests and connections being held now for
// target groups without a healthy target.
func (l *LB) Held() int64 { return l.held.Load() }
