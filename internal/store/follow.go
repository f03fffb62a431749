package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Follow describes a list-then-watch of a part of the store: the way to
// keep an in-memory picture of it current. Follow lists Lists at one
// revision and hands the items to Load, then watches Prefix from the next
// revision and hands each batch of changes, and each progress notification,
// to Apply. When the watch breaks (the history it needs was compacted, the
// store was unreachable) it lists again and calls Load again with a fresh
// snapshot, which replaces the picture.
type Follow struct {
	// Prefix is the prefix watched.
	Prefix string
	// Lists are the prefixes listed (Prefix alone when empty), in order:
	// Load gets their items in that order, then in key order.
	Lists []string
	// PageSize bounds each read of a list (1000 when zero).
	PageSize int
	// Load receives a snapshot: every item of Lists at revision rev. It
	// replaces what an earlier Load and Apply built.
	Load func(rev int64, items []Item)
	// Apply receives each watch response after the snapshot: changes
	// (Events, in revision order) or a progress notification (Progress;
	// Revision is the revision reached either way).
	Apply func(resp WatchResponse)
	// Logger receives the reloads' warnings; discarded when nil.
	Logger *slog.Logger
}

// Follow runs f until ctx ends: a snapshot, then the watch, again after
// every break, waiting a little longer after each failure in a row (up to
// 2 seconds). It returns ctx.Err().
func (s *Store) Follow(ctx context.Context, f Follow) error {
	logger := f.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := s.snapshot(ctx, f)
		if err == nil {
			delay = 50 * time.Millisecond
			err = s.watchFrom(ctx, f, rev)
		}
		if ctx.Err() != nil {
			break
		}
		logger.Warn("follow: relisting", "prefix", f.Prefix, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(2*delay, 2*time.Second)
	}
	return ctx.Err()
}

// snapshot lists f's prefixes at one revision and calls Load.
func (s *Store) snapshot(ctx context.Context, f Follow) (int64, error) {
	lists := f.Lists
	if len(lists) == 0 {
		lists = []string{f.Prefix}
	}
	page := f.PageSize
	if page <= 0 {
		page = 1000
	}
	var rev int64
	var items []Item
	for _, p := range lists {
		from, end := p, PrefixEnd(p)
		for {
			r, err := s.b.Range(ctx, Range{From: from, End: end, Limit: page, Rev: rev})
			if err != nil {
				return 0, fmt.Errorf("list %s: %w", p, err)
			}
			if rev == 0 {
				rev = r.Revision
			}
			items = append(items, r.Items...)
			if len(r.Items) == 0 || int64(len(r.Items)) >= r.Count {
				break
			}
			from = r.Items[len(r.Items)-1].Key + "\x00"
		}
	}
	f.Load(rev, items)
	return rev, nil
}

// watchFrom applies the watch of f.Prefix from rev+1 until it breaks.
func (s *Store) watchFrom(ctx context.Context, f Follow, rev int64) error {
	for resp := range s.b.Watch(ctx, f.Prefix, rev+1) {
		if resp.Err != nil {
			return resp.Err
		}
		f.Apply(resp)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("watch closed")
}
