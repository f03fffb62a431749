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

// gcLeaderTTL is how soon another server takes the collection over when
// its leader dies.
const gcLeaderTTL = 10 * time.Second

// RunGC collects the registry's garbage (registry.CollectGarbage: blobs no
// manifest references, older than grace) every interval, on the server
// elected among those sharing the store, until ctx ends. interval <= 0
// returns at once.
func (a *API) RunGC(ctx context.Context, interval, grace time.Duration) {
	if interval <= 0 {
		return
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	for ctx.Err() == nil {
		lead, err := a.Store.Campaign(ctx, gcLeaderKey, []byte(id), gcLeaderTTL)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.Warn("registry garbage collection: campaign", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		a.collectWhileLeading(ctx, lead, interval, grace)
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = lead.Resign(rctx)
		cancel()
	}
}

func (a *API) collectWhileLeading(ctx context.Context, lead *store.Leadership, interval, grace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lead.Done():
			return
		case <-t.C:
		}
		if _, err := a.Registry.CollectGarbage(ctx, grace, a.now()); err != nil && ctx.Err() == nil {
			a.Logger.Warn("registry garbage collection", "err", err)
		}
	}
}
