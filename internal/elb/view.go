package elb

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// view is a watch-fed copy of the configuration records, kept by API.Run,
// so that reads need not decode every record on every call: the world of
// its latest revision is decoded once, on the first read after a change,
// and shared by the reads until the next change. Reads must not modify it.
type view struct {
	mu sync.Mutex
	// ready is set once the first listing has loaded.
	ready bool
	rev   int64
	// versionRev is the mod revision of the version key in items.
	versionRev int64
	items      map[string]store.Item
	// decoded is the world of items, nil until a read decodes it.
	decoded *world
	// changed is closed (and replaced) at every change.
	changed chan struct{}
}

func newView() *view { return &view{items: map[string]store.Item{}, changed: make(chan struct{})} }

func (v *view) load(rev int64, items []store.Item) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.items = map[string]store.Item{}
	for _, it := range items {
		v.items[it.Key] = it
	}
	v.ready = true
	v.changedLocked(rev)
}

func (v *view) apply(resp store.WatchResponse) {
	if len(resp.Events) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ev := range resp.Events {
		if ev.Deleted {
			delete(v.items, ev.Key)
		} else {
			v.items[ev.Key] = ev.Item
		}
	}
	v.changedLocked(resp.Revision)
}

func (v *view) changedLocked(rev int64) {
	v.rev = rev
	v.versionRev = 0
	if it, ok := v.items[versionKey()]; ok {
		v.versionRev = it.ModRev
	}
	v.decoded = nil
	close(v.changed)
	v.changed = make(chan struct{})
}

// at returns the view's world if it holds version key revision vr; else
// nil and a channel closed at the next change.
func (v *view) at(vr int64) (*world, <-chan struct{}, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.ready || v.versionRev != vr {
		return nil, v.changed, nil
	}
	if v.decoded == nil {
		items := make([]store.Item, 0, len(v.items))
		for _, it := range v.items {
			items = append(items, it)
		}
		w, err := decode(v.rev, items)
		if err != nil {
			return nil, nil, err
		}
		v.decoded = w
	}
	return v.decoded, nil, nil
}

// read returns the configuration for a read-only operation: the view's
// world once it holds the latest write (the version key's revision, read
// from the store, says which), else what load reads. Every write acknowledged
// before read started is in what it returns. The world must not be
// modified.
func (a *API) read(ctx context.Context) (*world, error) {
	v := a.view.Load()
	if v == nil {
		return a.load(ctx)
	}
	resp, err := a.Store.Range(ctx, store.Range{From: versionKey(), KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read the elbv2 version: %w", err)
	}
	var vr int64
	if len(resp.Items) > 0 {
		vr = resp.Items[0].ModRev
	}
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	for {
		w, changed, err := v.at(vr)
		if err != nil || w != nil {
			return w, err
		}
		select {
		case <-changed:
		case <-timeout.C:
			return a.load(ctx) // the watch lags: read the store
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// follow keeps the view until ctx ends.
func (a *API) follow(ctx context.Context, v *view) {
	_ = a.Store.Follow(ctx, store.Follow{Prefix: configPrefix(), Load: v.load, Apply: v.apply, Logger: a.logger()})
}
