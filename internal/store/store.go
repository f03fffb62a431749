// Package store keeps Gantry's state: JSON records under namespaced keys,
// read with their mod revision and written back with a transaction that
// compares it, so that concurrent writers never lose an update. It owns the
// whole vocabulary the rest of the server uses to talk to its database:
// guarded multi-key transactions (Cmp, Op, Txn), leases, ranges, watches
// from a revision (Watch, and Follow, which lists then watches), and leader
// election (Campaign). Nothing outside this package sees the etcd client.
//
// A Store runs on a Backend: etcd (New) in servers and integration tests,
// or an in-memory store with the same semantics (NewMemory) in unit tests.
//
// Key layout (all under Prefix):
//
//	clusters/<name>
//	families/<family>                 last revision number of a family
//	taskdefs/<family>/<revision %010d>
//	instances/<cluster>/<id>
//	tasks/<cluster>/<id>
//	services/<cluster>/<name>
//	accountsettings/<principal arn>/<name>
//	accountsettings-default/<name>
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"
)

// Prefix is the root of every key Gantry writes.
const Prefix = "/gantry/v1/"

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a guarded write finds that the key changed
// (or came into existence) since it was read.
var ErrConflict = errors.New("conflict: key changed since it was read")

// ErrNoSpace is returned (wrapped) for a write while the store is full:
// its backend's quota is exhausted (etcd's NOSPACE alarm) or SetFull says
// the disk under it is nearly full. Reads, and writes that only delete,
// still work.
var ErrNoSpace = errors.New("the store is full")

// Store holds Gantry's records on a Backend.
type Store struct {
	b Backend
	// full, when set, refuses writes that put (SetFull).
	full atomic.Pointer[string]
}

// SetFull makes the store refuse every write that puts a key, with
// ErrNoSpace and reason, until SetFull(""): the server's disk guard calls
// it before the disk under the backend fills up, so that the backend
// (etcd dies on a full disk) never writes into a full disk.
func (s *Store) SetFull(reason string) {
	if reason == "" {
		s.full.Store(nil)
		return
	}
	s.full.Store(&reason)
}

// Full returns why the store refuses writes, "" when it does not.
func (s *Store) Full() string {
	if r := s.full.Load(); r != nil {
		return *r
	}
	return ""
}

// btxn is the backend's Txn behind the full-store gate.
func (s *Store) btxn(ctx context.Context, cmps []Cmp, then []Op) (TxnResult, error) {
	if r := s.full.Load(); r != nil {
		for _, o := range then {
			if o.kind == opPut {
				return TxnResult{}, fmt.Errorf("%w: %s", ErrNoSpace, *r)
			}
		}
	}
	return s.b.Txn(ctx, cmps, then)
}

// NewOn returns a Store on backend b.
func NewOn(b Backend) *Store { return &Store{b: b} }

// Close closes the backend (not an etcd client given to New).
func (s *Store) Close() error { return s.b.Close() }

// Txn applies then if every comparison of cmps holds, atomically, and
// returns the outcome: Succeeded false (and nothing applied) when one does
// not hold. The error is the backend's failure, wrapped.
func (s *Store) Txn(ctx context.Context, cmps []Cmp, then ...Op) (TxnResult, error) {
	r, err := s.btxn(ctx, cmps, then)
	if err != nil {
		return r, fmt.Errorf("txn: %w", err)
	}
	return r, nil
}

// Range reads the keys of r; ErrCompacted (wrapped) for a revision gone.
func (s *Store) Range(ctx context.Context, r Range) (RangeResult, error) {
	res, err := s.b.Range(ctx, r)
	if err != nil {
		return res, fmt.Errorf("range %s: %w", r.From, err)
	}
	return res, nil
}

// Revision returns the store's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	res, err := s.b.Range(ctx, Range{From: Key("revision"), CountOnly: true})
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return res.Revision, nil
}

// Grant creates a lease that expires after ttl (rounded up to seconds on
// etcd) unless kept alive.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (LeaseID, error) {
	id, err := s.b.Grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	return id, nil
}

// KeepAlive keeps lease id alive until ctx ends. The channel is closed
// when it is no longer kept alive: ctx ended, or the lease expired or was
// revoked, or the store closed.
func (s *Store) KeepAlive(ctx context.Context, id LeaseID) (<-chan struct{}, error) {
	ch, err := s.b.KeepAlive(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("keep lease %x alive: %w", int64(id), err)
	}
	return ch, nil
}

// TimeToLive returns the time lease id has left (whole seconds on etcd);
// ErrLeaseNotFound (wrapped) if it has ended.
func (s *Store) TimeToLive(ctx context.Context, id LeaseID) (time.Duration, error) {
	d, err := s.b.TimeToLive(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("lease %x: %w", int64(id), err)
	}
	return d, nil
}

// Revoke ends lease id and deletes the keys attached to it.
func (s *Store) Revoke(ctx context.Context, id LeaseID) error {
	if err := s.b.Revoke(ctx, id); err != nil {
		return fmt.Errorf("revoke lease %x: %w", int64(id), err)
	}
	return nil
}

// Watch yields the changes to the keys under prefix from revision rev (0:
// from the next one) until ctx ends, with progress notifications (a
// response with Progress set and the revision reached) now and then and
// after RequestProgress:
//
//	for resp := range s.Watch(ctx, prefix, rev) { ... }
//
// The watch starts when the loop does and ends with it (break), when ctx
// ends, or after a response with Err (ErrCompacted when the history from
// rev is gone).
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) iter.Seq[WatchResponse] {
	return s.b.Watch(ctx, prefix, rev)
}

// RequestProgress asks the watches to report the revision they reached,
// which tells a watcher that it saw every change up to it.
func (s *Store) RequestProgress(ctx context.Context) error {
	return s.b.RequestProgress(ctx)
}

// Key joins the parts of a key under Prefix.
func Key(parts ...string) string {
	k := Prefix
	for i, p := range parts {
		if i > 0 {
			k += "/"
		}
		k += p
	}
	return k
}

// Get reads key into v and returns its mod revision. ErrNotFound if absent.
func (s *Store) Get(ctx context.Context, key string, v any) (int64, error) {
	resp, err := s.b.Range(ctx, Range{From: key})
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Items) == 0 {
		return 0, ErrNotFound
	}
	if err := json.Unmarshal(resp.Items[0].Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return resp.Items[0].ModRev, nil
}

// Create writes v at key if the key does not exist; ErrConflict if it does.
func (s *Store) Create(ctx context.Context, key string, v any) (int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	resp, err := s.btxn(ctx, []Cmp{Absent(key)}, []Op{OpPut(key, b)})
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Revision, nil
}

// Update writes v at key if its mod revision is still rev; ErrConflict if not.
func (s *Store) Update(ctx context.Context, key string, v any, rev int64) (int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	resp, err := s.btxn(ctx, []Cmp{ModRevisionIs(key, rev)}, []Op{OpPut(key, b)})
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Revision, nil
}

// Delete removes key if its mod revision is still rev; ErrConflict if not.
func (s *Store) Delete(ctx context.Context, key string, rev int64) error {
	resp, err := s.btxn(ctx, []Cmp{ModRevisionIs(key, rev)}, []Op{OpDelete(key)})
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	return nil
}

// Decode unmarshals the record into v.
func (it Item) Decode(v any) error {
	if err := json.Unmarshal(it.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", it.Key, err)
	}
	return nil
}

// List returns the records under prefix in key order, starting after
// startAfter (if not empty), at most limit of them (0: all).
func (s *Store) List(ctx context.Context, prefix, startAfter string, limit int) ([]Item, error) {
	from := prefix
	if startAfter != "" {
		from = startAfter + "\x00"
	}
	items, _, err := s.ListRange(ctx, from, PrefixEnd(prefix), limit)
	return items, err
}

// ListRange returns up to limit items (all when limit is 0) whose keys are
// at least from and below end, in key order, and how many keys the range
// holds in all. etcd visits every key of the range to count them, limit or
// not: a caller paging through a large prefix should bound each range.
func (s *Store) ListRange(ctx context.Context, from, end string, limit int) ([]Item, int64, error) {
	resp, err := s.b.Range(ctx, Range{From: from, End: end, Limit: limit})
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", from, err)
	}
	return resp.Items, resp.Count, nil
}

// Count returns how many keys are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.b.Range(ctx, Range{From: prefix, End: PrefixEnd(prefix), CountOnly: true})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", prefix, err)
	}
	return resp.Count, nil
}

// Mutate reads the record at key into a fresh T, lets fn change it, and
// writes it back guarded by the revision read, retrying on conflict. fn gets
// exists=false when the key is absent; it returns an error to abort (which
// Mutate returns unchanged). Mutate returns the record as written.
func Mutate[T any](ctx context.Context, s *Store, key string, fn func(cur *T, exists bool) error) (*T, error) {
	for attempt := 0; ; attempt++ {
		var cur T
		rev, err := s.Get(ctx, key, &cur)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err := fn(&cur, exists); err != nil {
			return nil, err
		}
		if exists {
			_, err = s.Update(ctx, key, &cur, rev)
		} else {
			_, err = s.Create(ctx, key, &cur)
		}
		if err == nil {
			return &cur, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		if attempt > 50 {
			return nil, fmt.Errorf("mutate %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
}
