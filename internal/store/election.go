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
			l.done = s.watchLease(kctx, cancel, lease, ttl, done)
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

// watchLease returns a channel closed when the leadership on lease must
// end: when kept closes (the keep-alive ended), or, earlier, when this
// process can no longer be sure that the lease is alive. The etcd client
// closes kept only once a TTL has passed since the last keep-alive answer
// it received, which is later than the lease's expiry in the store by the
// answer's travel time: a partitioned leader would go on acting after
// another one may have started. So every ttl/4 it renews the lease itself
// (Renew): the lease lives at least until the moment the renewal was sent
// plus the TTL answered, and the leadership ends a tenth of ttl before the
// latest such moment unless a newer renewal has answered. Ending it
// cancels the keep-alive (cancel), so the lease then expires.
func (s *Store) watchLease(ctx context.Context, cancel context.CancelFunc, lease LeaseID, ttl time.Duration, kept <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	every := max(ttl/4, 10*time.Millisecond)
	margin := ttl / 10
	go func() {
		defer close(out)
		defer cancel()
		// The client renews the lease every ttl/3: it lives at least
		// 2/3 of ttl from now.
		sure := time.Now().Add(ttl - ttl/3)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-kept:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !time.Now().Before(sure.Add(-margin)) {
				return // no recent proof that the lease is alive
			}
			sent := time.Now()
			qctx, qcancel := context.WithDeadline(ctx, sure.Add(-margin))
			left, err := s.b.Renew(qctx, lease)
			qcancel()
			if errors.Is(err, ErrLeaseNotFound) {
				return
			}
			if err == nil && sent.Add(left).After(sure) {
				sure = sent.Add(left)
			}
			t.Reset(min(every, max(time.Until(sure.Add(-margin)), 0)))
		}
	}()
	return out
}

// revokeSoon revokes lease, giving up after a couple of seconds.
func (s *Store) revokeSoon(lease LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Revoke(ctx, lease)
}
