package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseLost is returned by Campaign when its lease ended before the
// campaign was won (the store was unreachable for longer than its TTL).
var ErrLeaseLost = errors.New("lease lost")

// Leadership is an election won by Campaign. It lasts until the campaign's
// ctx ends, Resign is called, or its lease is lost (the store unreachable
// for longer than the TTL); Done is closed then. A leader guards its writes
// with Guard, so that a write made after the leadership ended (another
// server may lead by then) fails instead of applying.
type Leadership struct {
	// Key is the candidate key this server holds under the election's
	// prefix; Rev is its create revision.
	Key string
	Rev int64

	s      *Store
	lease  LeaseID
	done   <-chan struct{}
	cancel context.CancelFunc
}

// Guard is the comparison that holds while the leadership does: add it to
// a transaction's comparisons.
func (l *Leadership) Guard() Cmp { return CreateRevisionIs(l.Key, l.Rev) }

// Done is closed when the leadership has ended (or may have: the lease is
// no longer kept alive).
func (l *Leadership) Done() <-chan struct{} { return l.done }

// Resign ends the leadership at once: it revokes the lease, deleting the
// candidate key, so the next candidate leads without waiting for the TTL.
func (l *Leadership) Resign(ctx context.Context) error {
	l.cancel()
	return l.s.Revoke(ctx, l.lease)
}

// Campaign joins the election under prefix with value and blocks until
// this candidate leads, ctx ends (ctx.Err()), or its lease is lost
// (ErrLeaseLost). Candidates lead in the order they joined: each holds a
// key prefix/<lease> on a lease of ttl, kept alive while ctx lasts, and the
// candidate whose key is the oldest leads. On failure the candidate's key
// is removed. The leadership lasts until ctx ends, Resign, or the lease is
// lost.
func (s *Store) Campaign(ctx context.Context, prefix string, value []byte, ttl time.Duration) (*Leadership, error) {
	lease, err := s.Grant(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: %w", prefix, err)
	}
	kctx, cancel := context.WithCancel(ctx)
	done, err := s.KeepAlive(kctx, lease)
	if err != nil {
		cancel()
		s.revokeSoon(lease)
		return nil, fmt.Errorf("campaign %s: %w", prefix, err)
	}
	l := &Leadership{Key: fmt.Sprintf("%s/%x", prefix, int64(lease)), s: s, lease: lease, done: done, cancel: cancel}
	fail := func(err error) (*Leadership, error) {
		cancel()
		s.revokeSoon(lease)
		return nil, fmt.Errorf("campaign %s: %w", prefix, err)
	}
	res, err := s.Txn(ctx, []Cmp{Absent(l.Key)}, OpPutLeased(l.Key, value, lease))
	if err != nil {
		return fail(err)
	}
	if !res.Succeeded {
		return fail(ErrConflict)
	}
	l.Rev = res.Revision
	for {
		r, err := s.Range(ctx, Range{From: prefix + "/", End: PrefixEnd(prefix + "/"), KeysOnly: true})
		if err != nil {
			return fail(err)
		}
		var ahead string
		var aheadRev int64
		mine := false
		for _, it := range r.Items {
			if it.Key == l.Key {
				mine = true
			} else if it.CreateRev < l.Rev && it.CreateRev > aheadRev {
				ahead, aheadRev = it.Key, it.CreateRev
			}
		}
		if !mine {
			return fail(ErrLeaseLost)
		}
		if ahead == "" {
			return l, nil
		}
		// Wait for the candidate just ahead to go.
		if err := s.waitDeleted(ctx, done, ahead, r.Revision+1); err != nil {
			return fail(err)
		}
	}
}

// waitDeleted waits until key is deleted (watching from rev), ctx ends, or
// lost is closed.
func (s *Store) waitDeleted(ctx context.Context, lost <-chan struct{}, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // ends the watch when the lease is lost
		select {
		case <-lost:
			cancel()
		case <-stop:
		}
	}()
	for resp := range s.Watch(wctx, key, rev) {
		if resp.Err != nil {
			break // look again
		}
		for _, ev := range resp.Events {
			if ev.Key == key && ev.Deleted {
				return nil
			}
		}
	}
	select {
	case <-lost:
		return ErrLeaseLost
	default:
	}
	return ctx.Err()
}

// revokeSoon revokes lease, giving up after a couple of seconds.
func (s *Store) revokeSoon(lease LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Revoke(ctx, lease)
}
