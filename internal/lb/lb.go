package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// Options configure a data plane.
type Options struct {
	// Source publishes the configuration to serve. Required.
	Source lbconf.Source
	// Health receives health check transitions; nil discards them.
	Health lbconf.HealthSink
	// Logger receives the data plane's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of slow start; nil is time.Now.
	Now func() time.Time
	// RetryBind is how often listeners that failed to bind are tried
	// again (default 2s).
	RetryBind time.Duration
	// DrainTimeout bounds how long Run waits, once its context ends, for
	// requests in flight on the listeners it closes (default 10s).
	DrainTimeout time.Duration
	// TCPIdleTimeout closes a TCP listener's connections that carried no
	// data for this long (default 350s, a network load balancer's).
	TCPIdleTimeout time.Duration
	// MaxIdleConnsPerTarget is the pool of idle keep-alive connections
	// kept to each target (default 512).
	MaxIdleConnsPerTarget int
	// Metrics receives Elastic Load Balancing's CloudWatch metrics
	// (AWS/ApplicationELB, AWS/NetworkELB) once per MetricsPeriod; nil
	// publishes none (the counters cost the same).
	Metrics lbconf.MetricSink
	// MetricsPeriod is how often metrics are published (default
	// DefaultMetricsPeriod).
	MetricsPeriod time.Duration
	// Demand receives the demand of target groups that hold requests
	// while no target is healthy (lbconf.TargetGroup.HoldTimeout); nil
	// holds them all the same, with no signal.
	Demand lbconf.DemandSink
}

// LB is a load balancer data plane: it binds every listener of every load
// balancer of the Source's snapshots and proxies to the targets.
type LB struct {
	opts   Options
	logger *slog.Logger

	// groups are the target groups by ARN; only Run's goroutine writes it.
	groups map[string]*group
	// ports are the bound listeners by key (address:port, or the listener
	// ARN for port 0); only Run's goroutine writes it, under mu.
	mu    sync.Mutex
	ports map[string]*port
	// stats are the load balancers' counters by ARN (under mu; replaced
	// whole by apply), lbGroups the target groups each forwards to (Run's
	// goroutine only).
	stats    map[string]*lbStats
	lbGroups map[string][]string
	// transports are the proxy transports by target timeout.
	transports map[time.Duration]*http.Transport
	proxies    map[time.Duration]*httputil.ReverseProxy
	buffers    bufferPool

	// closing counts the listeners being closed in the background (their
	// requests finishing); Run waits for them before it returns.
	closing sync.WaitGroup
	// checkers counts the health checkers; Run waits for them.
	checkers sync.WaitGroup

	// demand carries target groups' demand signals to runDemand; held
	// counts the requests and connections being held (hold.go).
	demand chan string
	held   atomic.Int64

	revision  atomic.Int64
	bindFails atomic.Int64
	applied   chan struct{} // closed and replaced after each apply
}

// New returns a data plane for opts; Run serves it.
func New(opts Options) (*LB, error) {
	if opts.Source == nil {
		return nil, errors.New("lb: no configuration source")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryBind <= 0 {
		opts.RetryBind = 2 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.TCPIdleTimeout <= 0 {
		opts.TCPIdleTimeout = 350 * time.Second
	}
	if opts.MaxIdleConnsPerTarget <= 0 {
		opts.MaxIdleConnsPerTarget = 512
	}
	if opts.MetricsPeriod <= 0 {
		opts.MetricsPeriod = DefaultMetricsPeriod
	}
	return &LB{
		opts:       opts,
		logger:     opts.Logger,
		groups:     make(map[string]*group),
		ports:      make(map[string]*port),
		transports: make(map[time.Duration]*http.Transport),
		proxies:    make(map[time.Duration]*httputil.ReverseProxy),
		buffers:    newBufferPool(),
		applied:    make(chan struct{}),
		demand:     make(chan string, 64),
	}, nil
}

// Run serves the configuration until ctx ends, applying each snapshot the
// Source publishes as it comes. When ctx ends it stops accepting, lets
// requests in flight finish for up to Options.DrainTimeout, and returns.
func (l *LB) Run(ctx context.Context) error {
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.opts.Demand != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Go(func() { l.runDemand(watchCtx) })
	}
	snaps := l.opts.Source.Watch(watchCtx)
	retry := time.NewTicker(l.opts.RetryBind)
	defer retry.Stop()
	// Metrics: counted all along, collected here every period and
	// published by a goroutine of their own so that a slow sink never
	// holds up a snapshot.
	var tick <-chan time.Time
	var pub chan []metricBatch
	periodStart := time.Now()
	if l.opts.Metrics != nil {
		t := time.NewTicker(l.opts.MetricsPeriod)
		defer t.Stop()
		tick = t.C
		pub = make(chan []metricBatch, 4)
		done := make(chan struct{})
		go l.publisher(pub, done)
		defer func() {
			// The last period's counts go out before Run returns.
			pub <- l.collect(periodStart)
			close(pub)
			<-done
		}()
	}
	var last *lbconf.Snapshot
	for {
		select {
		case now := <-tick:
			select {
			case pub <- l.collect(periodStart):
			default:
				l.logger.Warn("load balancer metrics dropped: the sink is behind")
			}
			periodStart = now
		case s, ok := <-snaps:
			if !ok {
				l.close()
				return ctx.Err()
			}
			if s == nil {
				continue
			}
			last = s
			l.apply(ctx, s)
		case <-retry.C:
			if last != nil && l.bindFails.Load() > 0 {
				l.apply(ctx, last)
			}
		case <-ctx.Done():
			l.close()
			return nil
		}
	}
}

// Revision is the store revision of the last snapshot applied (0 before
// the first).
func (l *LB) Revision() int64 { return l.revision.Load() }

// WaitRevision blocks until a snapshot of at least rev is applied or ctx
// ends.
func (l *LB) WaitRevision(ctx context.Context, rev int64) error {
	for {
		l.mu.Lock()
		ch := l.applied
		l.mu.Unlock()
		if l.revision.Load() >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Addr is the address a listener is bound to ("" if it is not bound),
// for listeners configured with port 0 (tests) among others.
func (l *LB) Addr(listenerArn string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.ports {
		if p.listenerArn == listenerArn {
			return p.ln.Addr().String()
		}
	}
	return ""
}

// apply makes the served configuration that of s: target groups first (so
// listeners never point to a group that is not there), then listeners.
func (l *LB) apply(ctx context.Context, s *lbconf.Snapshot) {
	l.applyGroups(ctx, s)
	l.applyStats(s)
	l.applyListeners(s)
	l.revision.Store(s.Revision)
	l.mu.Lock()
	close(l.applied)
	l.applied = make(chan struct{})
	l.mu.Unlock()
}

// applyGroups updates the target groups and their targets, keeping the
// run-time state of targets that stay registered.
func (l *LB) applyGroups(ctx context.Context, s *lbconf.Snapshot) {
	for arn, tg := range s.TargetGroups {
		g := l.groups[arn]
		if g == nil {
			g = &group{arn: arn, cookie: cookieValue(arn), now: l.opts.Now}
			empty := []*backend{}
			g.targets.Store(&empty)
			l.groups[arn] = g
		}
		algo := tg.Algorithm
		if algo != algorithmLOR {
			algo = algorithmRoundRobin
		}
		g.cfg.Store(&groupConfig{
			algorithm:          algo,
			slowStart:          tg.SlowStart,
			stickiness:         tg.Stickiness,
			stickinessDuration: tg.StickinessDuration,
			healthCheck:        tg.HealthCheck,
			hold:               tg.HoldTimeout,
		})
		old := make(map[string]*backend, len(*g.targets.Load()))
		for _, b := range *g.targets.Load() {
			old[b.key] = b
		}
		next := make([]*backend, 0, len(tg.Targets))
		for _, t := range tg.Targets {
			k := targetKey(t.ID, t.Port)
			b := old[k]
			if b != nil && b.addr != net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) {
				// Same target, new address (an instance that moved): a new
				// backend, the old one retires.
				b = nil
			}
			if b == nil {
				b = newBackend(arn, t, l.opts.MaxIdleConnsPerTarget)
				l.startHealth(ctx, g, b)
			} else {
				delete(old, k)
				if !b.registeredAt.Equal(t.RegisteredAt) {
					// Registered again (say while draining): its health
					// starts over from initial, as ELB's does, and is
					// reported again when the checks decide.
					b.registeredAt = t.RegisteredAt
					b.stop()
					b.state.Store(stateInitial)
					b.healthySince.Store(0)
					b.markUp()
					l.startHealth(ctx, g, b)
				}
			}
			b.draining.Store(t.Draining)
			next = append(next, b)
		}
		g.targets.Store(&next)
		for _, b := range old {
			b.retire()
		}
		// Held requests look again: a target may have come, or holding
		// been turned off.
		g.ready.changed()
	}
	for arn, g := range l.groups {
		if _, ok := s.TargetGroups[arn]; ok {
			continue
		}
		for _, b := range *g.targets.Load() {
			b.retire()
		}
		empty := []*backend{}
		g.targets.Store(&empty)
		g.cfg.Store(&groupConfig{algorithm: algorithmRoundRobin})
		g.ready.changed()
		delete(l.groups, arn)
	}
}

// listenerSpec is one listener of a snapshot with its load balancer.
type listenerSpec struct {
	lb *lbconf.LoadBalancer
	ls *lbconf.Listener
}

func portKey(lb *lbconf.LoadBalancer, ls *lbconf.Listener) string {
	if ls.Port == 0 {
		return "arn:" + ls.Arn
	}
	return net.JoinHostPort(lb.Address, strconv.Itoa(ls.Port))
}

// applyListeners binds new listeners, updates the configuration of those
// that stay, and closes those that went (their connections finish).
func (l *LB) applyListeners(s *lbconf.Snapshot) {
	want := make(map[string]listenerSpec)
	for i := range s.LoadBalancers {
		lb := &s.LoadBalancers[i]
		for j := range lb.Listeners {
			ls := &lb.Listeners[j]
			k := portKey(lb, ls)
			if prev, dup := want[k]; dup {
				l.logger.Error("listener port taken by another listener", "listener", ls.Arn, "address", k, "holder", prev.ls.Arn)
				continue
			}
			want[k] = listenerSpec{lb: lb, ls: ls}
		}
	}
	var fails int64
	for k, spec := range want {
		kind := kindOf(spec.lb, spec.ls)
		p := l.ports[k]
		if p != nil && p.kind != kind {
			// Another protocol on the same port: bind the new listener
			// first (SO_REUSEPORT), then close the old one.
			np, err := l.bind(k, spec)
			if err != nil {
				fails++
				continue
			}
			l.mu.Lock()
			l.ports[k] = np
			l.mu.Unlock()
			l.closing.Go(func() { p.close(l.opts.DrainTimeout) })
			p = np
		}
		if p == nil {
			np, err := l.bind(k, spec)
			if err != nil {
				fails++
				continue
			}
			l.mu.Lock()
			l.ports[k] = np
			l.mu.Unlock()
			p = np
		}
		p.update(l, spec)
	}
	for k, p := range l.ports {
		if _, ok := want[k]; ok {
			continue
		}
		l.mu.Lock()
		delete(l.ports, k)
		l.mu.Unlock()
		l.closing.Go(func() { p.close(l.opts.DrainTimeout) })
	}
	l.bindFails.Store(fails)
}

// kindOf is what serves a listener: the HTTP proxy or TCP pass-through.
func kindOf(lb *lbconf.LoadBalancer, ls *lbconf.Listener) string {
	if ls.Protocol == lbconf.ProtocolTCP || lb.Type == lbconf.TypeNetwork {
		return lbconf.ProtocolTCP
	}
	return lbconf.ProtocolHTTP
}

// bind listens on a listener's address.
func (l *LB) bind(key string, spec listenerSpec) (*port, error) {
	addr := net.JoinHostPort(spec.lb.Address, strconv.Itoa(spec.ls.Port))
	ln, err := listen(addr)
	if err != nil {
		l.logger.Error("bind a listener", "listener", spec.ls.Arn, "address", addr, "err", err)
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	l.logger.Info("listener bound", "listener", spec.ls.Arn, "address", ln.Addr().String(), "protocol", spec.ls.Protocol)
	p := &port{key: key, kind: kindOf(spec.lb, spec.ls), ln: ln, listenerArn: spec.ls.Arn, logger: l.logger,
		tcpIdle: l.opts.TCPIdleTimeout, done: make(chan struct{}), drain: l.opts.DrainTimeout}
	p.start()
	return p, nil
}

// close closes every listener and waits, up to the drain timeout, for
// what is in flight.
func (l *LB) close() {
	l.mu.Lock()
	ports := l.ports
	l.ports = make(map[string]*port)
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Go(func() { p.close(l.opts.DrainTimeout) })
	}
	wg.Wait()
	l.closing.Wait()
	for _, g := range l.groups {
		for _, b := range *g.targets.Load() {
			b.retire()
		}
	}
	l.checkers.Wait()
	for _, t := range l.transports {
		t.CloseIdleConnections()
	}
}

// compileAction resolves an action's target groups.
func (l *LB) compileAction(a lbconf.Action) *action {
	out := &action{typ: a.Type, stickiness: a.Stickiness, stickinessDuration: a.StickinessDuration}
	switch a.Type {
	case lbconf.ActionFixedResponse:
		out.fixed = a.FixedResponse
		if out.fixed == nil {
			out.fixed = &lbconf.FixedResponse{StatusCode: http.StatusOK}
		}
	case lbconf.ActionRedirect:
		out.redirect = a.Redirect
		if out.redirect == nil {
			out.redirect = &lbconf.Redirect{StatusCode: http.StatusFound}
		}
	default:
		for _, w := range a.Forward {
			g := l.groups[w.TargetGroupArn]
			if g == nil {
				g = &group{arn: w.TargetGroupArn, cookie: cookieValue(w.TargetGroupArn), now: l.opts.Now}
				empty := []*backend{}
				g.targets.Store(&empty)
				g.cfg.Store(&groupConfig{algorithm: algorithmRoundRobin})
			}
			if w.Weight <= 0 && len(a.Forward) > 1 {
				continue
			}
			weight := max(w.Weight, 1)
			out.forward = append(out.forward, weighted{g: g, weight: weight})
			out.total += weight
		}
	}
	return out
}

// compileRules compiles a listener's rules in priority order.
func (l *LB) compileRules(rules []lbconf.Rule) []rule {
	out := make([]rule, 0, len(rules))
	for _, r := range rules {
		cr := rule{priority: r.Priority}
		for _, c := range r.Conditions {
			cr.conditions = append(cr.conditions, compileCondition(c))
		}
		cr.action = l.terminal(r.Actions)
		out = append(out, cr)
	}
	slices.SortStableFunc(out, func(a, b rule) int { return a.priority - b.priority })
	return out
}

// terminal compiles the terminal action of a list (the last by Order).
func (l *LB) terminal(actions []lbconf.Action) *action {
	if len(actions) == 0 {
		return &action{typ: lbconf.ActionForward}
	}
	best := actions[0]
	for _, a := range actions[1:] {
		if a.Order >= best.Order {
			best = a
		}
	}
	return l.compileAction(best)
}

// transport is the proxy transport for a target timeout, shared by every
// listener with that timeout.
func (l *LB) transport(timeout time.Duration) *http.Transport {
	if t := l.transports[timeout]; t != nil {
		return t
	}
	t := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   connectTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   l.opts.MaxIdleConnsPerTarget,
		IdleConnTimeout:       50 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
	l.transports[timeout] = t
	return t
}
