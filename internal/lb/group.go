package lb

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// Health states of a backend as this data plane sees them.
const (
	stateInitial int32 = iota
	stateHealthy
	stateUnhealthy
)

// Algorithms of load_balancing.algorithm.type.
const (
	algorithmRoundRobin = "round_robin"
	algorithmLOR        = "least_outstanding_requests"
)

// backend is one registered target of one target group. It lives as long
// as the target stays registered (draining included), across snapshots, so
// its health, outstanding requests and connections carry over.
type backend struct {
	key  string // "id|port"
	id   string
	port int
	addr string // host:port dialled
	// cookie is the AWSALB value that names this target: a hash of the
	// group, target and port, the same in every data-plane process.
	cookie       string
	registeredAt time.Time

	draining     atomic.Bool
	state        atomic.Int32
	healthySince atomic.Int64 // unix nanos of the last transition to healthy
	outstanding  atomic.Int64

	// pool is the backend's idle keep-alive connections (fast path).
	pool pool

	// stop ends the backend's health checker.
	stop context.CancelFunc

	mu    sync.Mutex
	conns map[net.Conn]struct{} // TCP connections through this backend
	gone  bool                  // deregistered for good: close new conns at once

	// down ends when the target is found unhealthy or retires: requests
	// waiting on it for a connection or the first byte of an answer give
	// up and go to another target (downCtx).
	downMu     sync.Mutex
	down       context.Context
	downCancel context.CancelFunc

	// waiting holds the connections awaiting an answer's first byte,
	// cut when b goes down (wentDown: it is, since markDown; both under
	// downMu too when they change).
	waitMu   sync.Mutex
	waiting  map[*bconn]struct{}
	wentDown bool
}

// awaitAnswer notes that bc awaits an answer from b, so that b going
// down cuts the wait; it reports false (nothing noted) if b is down
// already.
func (b *backend) awaitAnswer(bc *bconn) bool {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	if b.wentDown {
		return false
	}
	if b.waiting == nil {
		b.waiting = make(map[*bconn]struct{})
	}
	b.waiting[bc] = struct{}{}
	return true
}

// answerCame ends awaitAnswer; it reports whether b going down cut the
// wait.
func (b *backend) answerCame(bc *bconn) (cut bool) {
	b.waitMu.Lock()
	delete(b.waiting, bc)
	cut, bc.cut = bc.cut, false
	b.waitMu.Unlock()
	return cut
}

// isDown reports whether b is down (found unhealthy or retired).
func (b *backend) isDown() bool {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	return b.wentDown
}

// downCtx is the context that ends when b goes down.
func (b *backend) downCtx() context.Context {
	b.downMu.Lock()
	defer b.downMu.Unlock()
	return b.down
}

// markDown ends the down context: b was found unhealthy or retired.
func (b *backend) markDown() {
	b.downMu.Lock()
	defer b.downMu.Unlock()
	b.downCancel()
	b.waitMu.Lock()
	b.wentDown = true
	for bc := range b.waiting {
		bc.cut = true
		_ = bc.c.SetReadDeadline(time.Unix(1, 0))
	}
	b.waitMu.Unlock()
}

// markUp gives b a new down context once it is healthy again.
func (b *backend) markUp() {
	b.downMu.Lock()
	if b.down.Err() != nil {
		b.down, b.downCancel = context.WithCancel(context.Background())
		b.waitMu.Lock()
		b.wentDown = false
		b.waitMu.Unlock()
	}
	b.downMu.Unlock()
}

// eligible reports whether b may take a new request: not draining and
// healthy, or, when failOpen, in any health state.
func (b *backend) eligible(failOpen bool) bool {
	if b.draining.Load() {
		return false
	}
	return failOpen || b.state.Load() == stateHealthy
}

// track adds a TCP connection to b; it reports false if b is gone.
func (b *backend) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gone {
		return false
	}
	if b.conns == nil {
		b.conns = make(map[net.Conn]struct{})
	}
	b.conns[c] = struct{}{}
	return true
}

// untrack removes a TCP connection from b.
func (b *backend) untrack(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

// retire marks b as deregistered for good and closes its TCP connections
// (its deregistration delay, if any, has passed: the control plane keeps a
// draining target in the snapshot until then).
func (b *backend) retire() {
	b.stop()
	b.markDown()
	b.pool.close()
	b.mu.Lock()
	b.gone = true
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// groupConfig is the part of a target group that changes with its
// attributes.
type groupConfig struct {
	algorithm          string
	slowStart          time.Duration
	stickiness         bool
	stickinessDuration time.Duration
	healthCheck        lbconf.HealthCheck
	// hold is how long requests wait for a healthy target while none is
	// (0: not held; hold.go).
	hold time.Duration
}

// group is a target group at run time.
type group struct {
	arn string
	// cookie is the AWSALBTG value naming this group in weighted forwards.
	cookie  string
	cfg     atomic.Pointer[groupConfig]
	targets atomic.Pointer[[]*backend] // registered targets, draining included
	rr      atomic.Uint64
	now     func() time.Time
	// stats are the group's metrics counters of the current period.
	stats groupStats
	// ready wakes the requests held while no target is healthy.
	ready readiness
}

// cookieValue is a stable, opaque cookie value for a name.
func cookieValue(parts ...string) string {
	h := fnv.New128a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	var buf [32]byte
	sum := h.Sum(nil)
	const hex = "0123456789abcdef"
	for i, c := range sum {
		buf[2*i] = hex[c>>4]
		buf[2*i+1] = hex[c&15]
	}
	return string(buf[:])
}

// newBackend builds the backend of a registered target.
func newBackend(groupArn string, t lbconf.Target, maxIdle int) *backend {
	b := &backend{
		key:          targetKey(t.ID, t.Port),
		id:           t.ID,
		port:         t.Port,
		addr:         net.JoinHostPort(t.Host, strconv.Itoa(t.Port)),
		cookie:       cookieValue(groupArn, t.ID, strconv.Itoa(t.Port)),
		registeredAt: t.RegisteredAt,
		stop:         func() {},
	}
	b.pool.max = maxIdle
	b.down, b.downCancel = context.WithCancel(context.Background())
	return b
}

func targetKey(id string, port int) string { return id + "|" + strconv.Itoa(port) }

// failOpen reports whether no target is eligible on health, so that every
// non-draining target takes requests (ELB's fail-open: "If a target group
// contains only unhealthy registered targets, the load balancer routes
// requests to all those targets, regardless of their health status").
func failOpen(list []*backend) bool {
	for _, b := range list {
		if b.eligible(false) {
			return false
		}
	}
	return true
}

// pick chooses a target for a new request or connection, or nil when no
// target can take one. except, if set, is not chosen (a retry after it
// refused the connection).
func (g *group) pick(except *backend) *backend {
	list := *g.targets.Load()
	if len(list) == 0 {
		return nil
	}
	cfg := g.cfg.Load()
	open := failOpen(list)
	if cfg.algorithm == algorithmLOR {
		return g.pickLOR(list, open, except)
	}
	return g.pickRR(list, open, except, cfg.slowStart)
}

// pickRR is round robin, skipping targets that may not take requests. A
// target within its slow start period takes its turn with a probability
// that grows linearly from 0 to 1 over the period.
func (g *group) pickRR(list []*backend, open bool, except *backend, slowStart time.Duration) *backend {
	n := len(list)
	start := int(g.rr.Add(1) % uint64(n))
	var fallback *backend
	var now int64
	for i := range n {
		b := list[(start+i)%n]
		if b == except || !b.eligible(open) {
			continue
		}
		if slowStart > 0 {
			if now == 0 {
				now = g.now().UnixNano()
			}
			if f := b.slowStartFraction(now, slowStart); f < 1 && rand.Float64() >= f {
				if fallback == nil {
					fallback = b
				}
				continue
			}
		}
		return b
	}
	return fallback
}

// slowStartFraction is the share of its full load b takes at now: 1 after
// the slow start period since b became healthy.
func (b *backend) slowStartFraction(now int64, slowStart time.Duration) float64 {
	since := b.healthySince.Load()
	if since == 0 {
		return 1
	}
	elapsed := time.Duration(now - since)
	if elapsed >= slowStart {
		return 1
	}
	if elapsed <= 0 {
		return 0.01
	}
	return max(float64(elapsed)/float64(slowStart), 0.01)
}

// pickLOR is least outstanding requests; ties go round robin.
func (g *group) pickLOR(list []*backend, open bool, except *backend) *backend {
	n := len(list)
	start := int(g.rr.Add(1) % uint64(n))
	var best *backend
	var bestN int64
	for i := range n {
		b := list[(start+i)%n]
		if b == except || !b.eligible(open) {
			continue
		}
		if o := b.outstanding.Load(); best == nil || o < bestN {
			best, bestN = b, o
		}
	}
	return best
}

// byCookie finds the eligible target an AWSALB cookie names.
func (g *group) byCookie(v string) *backend {
	list := *g.targets.Load()
	for _, b := range list {
		if b.cookie == v {
			if b.eligible(failOpen(list)) {
				return b
			}
			return nil
		}
	}
	return nil
}
