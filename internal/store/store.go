// Package store keeps Gantry's state in etcd: JSON records under namespaced
// keys, read with their mod revision and written back with a transaction
// that compares it, so that concurrent writers never lose an update.
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
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is the root of every key Gantry writes.
const Prefix = "/gantry/v1/"

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a guarded write finds that the key changed
// (or came into existence) since it was read.
var ErrConflict = errors.New("conflict: key changed since it was read")

// Store is etcd holding Gantry's records.
type Store struct {
	c *clientv3.Client
}

// New returns a Store on c.
func New(c *clientv3.Client) *Store { return &Store{c: c} }

// Client is the etcd client, for transactions over several keys.
func (s *Store) Client() *clientv3.Client { return s.c }

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
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotFound
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// Create writes v at key if the key does not exist; ErrConflict if it does.
func (s *Store) Create(ctx context.Context, key string, v any) (int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	resp, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Update writes v at key if its mod revision is still rev; ErrConflict if not.
func (s *Store) Update(ctx context.Context, key string, v any, rev int64) (int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	resp, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Delete removes key if its mod revision is still rev; ErrConflict if not.
func (s *Store) Delete(ctx context.Context, key string, rev int64) error {
	resp, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	return nil
}

// Item is one record of a List.
type Item struct {
	Key    string
	Value  []byte
	ModRev int64
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
	items, _, err := s.ListRange(ctx, from, clientv3.GetPrefixRangeEnd(prefix), limit)
	return items, err
}

// ListRange returns up to limit items (all when limit is 0) whose keys are
// at least from and below end, in key order, and how many keys the range
// holds in all. etcd visits every key of the range to count them, limit or
// not: a caller paging through a large prefix should bound each range.
func (s *Store) ListRange(ctx context.Context, from, end string, limit int) ([]Item, int64, error) {
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.c.Get(ctx, from, opts...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", from, err)
	}
	items := make([]Item, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		items[i] = Item{Key: string(kv.Key), Value: kv.Value, ModRev: kv.ModRevision}
	}
	return items, resp.Count, nil
}

// Count returns how many keys are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
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
