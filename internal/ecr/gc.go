package ecr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// gcLeaderKey is the election of the server that collects the registry's
// garbage: one at a time, since they share the storage.
var gcLeaderKey = store.Key("leader", "registry-gc")

// lifecycleLeaderKey is the election of the server that applies the
// lifecycle policies: one at a time, so that two servers never expire the
// same images together.
var lifecycleLeaderKey = store.Key("leader", "registry-lifecycle")

// gcLeaderTTL is how soon another server takes the collection (or the
// lifecycle policies) over when its leader dies.
const gcLeaderTTL = 10 * time.Second

// RunGC collects the registry's garbage (registry.CollectGarbage: blobs no
// manifest references, older than grace) every interval, on the server
// elected among those sharing the store, until ctx ends. interval <= 0
// returns at once.
func (a *API) RunGC(ctx context.Context, interval, grace time.Duration) {
	if interval <= 0 {
		return
	}
	a.whileLeading(ctx, gcLeaderKey, "registry garbage collection", interval, func(ctx context.Context, _ *store.Leadership) {
		if _, err := a.Registry.CollectGarbage(ctx, grace, a.now()); err != nil && ctx.Err() == nil {
			a.Logger.Warn("registry garbage collection", "err", err)
		}
	})
}

// whileLeading campaigns for the election at key and, while this server
// leads it, calls fn every interval (with a context that ends with the
// leadership), until ctx ends.
func (a *API) whileLeading(ctx context.Context, key, what string, interval time.Duration, fn func(context.Context, *store.Leadership)) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	for ctx.Err() == nil {
		lead, err := a.Store.Campaign(ctx, key, []byte(id), gcLeaderTTL)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.Warn(what+": campaign", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		a.Logger.Debug(what+": leading", "id", id)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lead.Done():
				cancel()
			case <-lctx.Done():
			}
		}()
		t := time.NewTicker(interval)
	loop:
		for {
			select {
			case <-lctx.Done():
				break loop
			case <-t.C:
			}
			fn(lctx, lead)
		}
		t.Stop()
		cancel()
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = lead.Resign(rctx)
		rcancel()
	}
}
