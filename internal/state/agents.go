package state

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/store"
)

// AgentTTL is how long an agent counts as connected after its last call.
// Agents poll at most every few seconds, so a live agent never lapses.
const AgentTTL = 10 * time.Second

// Agents tracks the agents that call this server. An agent counts as
// connected, on every server of the control plane, while its key
// connected/<cluster>/<id> exists. This server writes that key once, when an
// agent starts calling it, on one lease of its own (AgentTTL, kept alive by
// Run for as long as the server runs); after that a call only notes the
// time in memory. A sweep each second deletes the keys of agents silent for
// AgentTTL, and if the server dies its lease expires and takes its agents'
// keys with it. Heartbeats therefore cost no store write.
//
// Another server may take an agent over: it puts the key on its own lease.
// The views see that write (or a deletion) and tell this server its key is
// gone (lost), so that the agent's next call here writes it again; the
// sweep deletes a key only while it is still on this server's lease.
type Agents struct {
	cfg Config
	now func() time.Time

	mu    sync.Mutex
	lease store.LeaseID
	// leaseSet is closed and replaced when lease changes.
	leaseSet chan struct{}
	m        map[string]*agentConn // cluster/id

	// stopping is closed when run's context ends: a call waiting for a
	// lease then gives up at once, so that it does not hold the server's
	// shutdown.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

// agentConn is what this server knows of one agent.
type agentConn struct {
	last time.Time // its latest call
	// written: its connected key is on this server's lease.
	written bool
	// lostAt is the revision at which the key was last seen deleted or on
	// another lease; a write older than it does not count.
	lostAt int64
}

func newAgents(cfg Config) *Agents {
	return &Agents{cfg: cfg, now: time.Now, leaseSet: make(chan struct{}), m: map[string]*agentConn{}, stopping: make(chan struct{})}
}

// run keeps this server's lease (granting a new one when it is lost) and
// sweeps the silent agents, until ctx ends.
func (a *Agents) run(ctx context.Context) {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { a.stoppingOnce.Do(func() { close(a.stopping) }) })
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sweep(ctx)
	}()
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		id, err := a.cfg.Store.Grant(ctx, AgentTTL)
		var kept <-chan struct{}
		if err == nil {
			kept, err = a.cfg.Store.KeepAlive(ctx, id)
		}
		if err != nil {
			if ctx.Err() == nil {
				a.cfg.Logger.Warn("agent lease", "err", err)
			}
			sleep(ctx, delay)
			delay = min(2*delay, 2*time.Second)
			continue
		}
		delay = 50 * time.Millisecond
		a.setLease(id)
		<-kept
		// The lease is gone (expired, revoked, or ctx ended): every key on
		// it is gone too, to be written again on a new one.
		a.setLease(0)
	}
	wg.Wait()
}

func (a *Agents) setLease(id store.LeaseID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lease = id
	if id == 0 {
		for _, c := range a.m {
			c.written = false
		}
	}
	close(a.leaseSet)
	a.leaseSet = make(chan struct{})
}

// currentLease returns this server's lease, waiting a little for one.
func (a *Agents) currentLease(ctx context.Context) store.LeaseID {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		a.mu.Lock()
		id, ch := a.lease, a.leaseSet
		a.mu.Unlock()
		if id != 0 {
			return id
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0
		case <-a.stopping:
			return 0
		case <-t.C:
			return 0
		}
	}
}

// Connected records that the agent of instance id of cluster called: see
// Agents.
func (a *Agents) Connected(ctx context.Context, cluster, id string) {
	k := cluster + "/" + id
	a.mu.Lock()
	c := a.m[k]
	if c == nil {
		c = &agentConn{}
		a.m[k] = c
	}
	c.last = a.now()
	written := c.written
	a.mu.Unlock()
	if written {
		return
	}
	lease := a.currentLease(ctx)
	if lease == 0 {
		a.cfg.Logger.Warn("agent connected key: no lease", "instance", id)
		return
	}
	resp, err := a.cfg.Store.Txn(ctx, nil, store.OpPutLeased(record.ConnectedKey(cluster, id), []byte("1"), lease))
	if err != nil {
		a.cfg.Logger.Warn("agent connected key", "instance", id, "err", err)
		return
	}
	a.mu.Lock()
	if a.lease == lease && a.m[k] == c && c.lostAt < resp.Revision {
		c.written = true
	}
	a.mu.Unlock()
}

// lost tells the tracker that an instance's connected key was deleted or
// written on another lease at revision rev (from the views' watch).
func (a *Agents) lost(cluster, id string, lease store.LeaseID, deleted bool, rev int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.m[cluster+"/"+id]
	if c == nil || !deleted && a.lease != 0 && lease == a.lease {
		return
	}
	c.written = false
	if rev > c.lostAt {
		c.lostAt = rev
	}
}

// sweep deletes, every second, the connected keys of the agents that have
// not called this server for AgentTTL.
func (a *Agents) sweep(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var gone []string
		a.mu.Lock()
		lease := a.lease
		now := a.now()
		for k, c := range a.m {
			if now.Sub(c.last) > AgentTTL {
				if c.written {
					gone = append(gone, k)
				}
				delete(a.m, k)
			}
		}
		a.mu.Unlock()
		for _, k := range gone {
			cluster, id, _ := strings.Cut(k, "/")
			key := record.ConnectedKey(cluster, id)
			// Only while the key is still on this server's lease: another
			// server may have taken the agent over.
			if _, err := a.cfg.Store.Txn(ctx, []store.Cmp{store.LeaseIs(key, lease)}, store.OpDelete(key)); err != nil && ctx.Err() == nil {
				a.cfg.Logger.Warn("agent disconnected", "instance", id, "err", err)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
