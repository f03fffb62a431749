package ecr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// The registry's garbage collection against the pushes of every server
// sharing the store (registry.Guard, held across servers in etcd):
//
//   - A write (a finished upload or mount, a manifest put, CompleteLayerUpload,
//     PutImage) puts a key under guardWritesPrefix, leased to its server,
//     in a transaction that requires guardSweepKey to be absent; it
//     deletes the key when it ends. While the sweep key is present it
//     waits for its deletion.
//   - A collection puts guardSweepKey (leased) if absent, then waits until
//     no key is left under guardWritesPrefix, and deletes the sweep key
//     when it ends.
//
// The transactions order the two: a write registered before the sweep key
// is seen by the collection's wait, and a write after it fails its
// comparison. A server that dies loses its keys with its lease (after
// guardTTL), so neither side waits forever on a dead one.

var (
	guardSweepKey     = store.Key("registry", "guard", "sweep")
	guardWritesPrefix = store.Key("registry", "guard", "writes") + "/"
)

// guardTTL is the lease of a server's guard keys.
const guardTTL = 10 * time.Second

// guardPoll is how often a waiting write or collection looks again.
const guardPoll = 50 * time.Millisecond

// guardCollectWait bounds a collection's wait for the writes under way:
// then it gives up (and runs at the next interval) rather than hold
// pushes back any longer.
const guardCollectWait = 2 * time.Minute

// StoreGuard is a registry.Guard held across the servers sharing Store.
// Close revokes its lease.
type StoreGuard struct {
	Store  *store.Store
	Logger *slog.Logger

	mu     sync.Mutex
	lease  store.LeaseID
	kept   <-chan struct{}
	cancel context.CancelFunc
	closed bool
}

// errGuardClosed is returned after Close.
var errGuardClosed = errors.New("registry guard closed")

// session returns the guard's lease, granting a new one when there is
// none or the last one was lost.
func (g *StoreGuard) session(ctx context.Context) (store.LeaseID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errGuardClosed
	}
	if g.kept != nil {
		select {
		case <-g.kept:
			g.cancel()
			g.kept = nil
		default:
			return g.lease, nil
		}
	}
	lease, err := g.Store.Grant(ctx, guardTTL)
	if err != nil {
		return 0, fmt.Errorf("registry guard lease: %w", err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	kept, err := g.Store.KeepAlive(kctx, lease)
	if err != nil {
		cancel()
		return 0, fmt.Errorf("registry guard keep-alive: %w", err)
	}
	g.lease, g.kept, g.cancel = lease, kept, cancel
	return lease, nil
}

// Close ends the guard's lease: its keys go at once.
func (g *StoreGuard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.kept == nil {
		return nil
	}
	g.cancel()
	g.kept = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.Store.Revoke(ctx, g.lease)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// release deletes key, on a context of its own (the request's may have
// ended); the lease removes it anyway if this fails.
func (g *StoreGuard) release(key string) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := g.Store.Txn(ctx, nil, store.OpDelete(key)); err != nil && g.Logger != nil {
			g.Logger.Warn("registry guard: release", "key", key, "err", err)
		}
	}
}

// Write implements registry.Guard.
func (g *StoreGuard) Write(ctx context.Context) (func(), error) {
	key := guardWritesPrefix + randomID()
	for {
		lease, err := g.session(ctx)
		if err != nil {
			return nil, err
		}
		res, err := g.Store.Txn(ctx, []store.Cmp{store.Absent(guardSweepKey)}, store.OpPutLeased(key, nil, lease))
		if err != nil {
			return nil, fmt.Errorf("registry guard: %w", err)
		}
		if res.Succeeded {
			return g.release(key), nil
		}
		// A collection runs: wait for its end.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(guardPoll):
		}
	}
}

// Collect implements registry.Guard.
func (g *StoreGuard) Collect(ctx context.Context) (func(), error) {
	for {
		lease, err := g.session(ctx)
		if err != nil {
			return nil, err
		}
		res, err := g.Store.Txn(ctx, []store.Cmp{store.Absent(guardSweepKey)}, store.OpPutLeased(guardSweepKey, []byte(randomID()), lease))
		if err != nil {
			return nil, fmt.Errorf("registry guard: %w", err)
		}
		if res.Succeeded {
			break
		}
		// Another collection (a leader that just lost its election).
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(guardPoll):
		}
	}
	done := g.release(guardSweepKey)
	deadline := time.Now().Add(guardCollectWait)
	for {
		r, err := g.Store.Range(ctx, store.Range{From: guardWritesPrefix, End: store.PrefixEnd(guardWritesPrefix), CountOnly: true})
		if err != nil {
			done()
			return nil, fmt.Errorf("registry guard: %w", err)
		}
		if r.Count == 0 {
			return done, nil
		}
		if time.Now().After(deadline) {
			done()
			return nil, fmt.Errorf("%d writes still under way after %s", r.Count, guardCollectWait)
		}
		select {
		case <-ctx.Done():
			done()
			return nil, ctx.Err()
		case <-time.After(guardPoll):
		}
	}
}
