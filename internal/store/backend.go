package store

import (
	"context"
	"iter"
	"time"
)

// Backend is what a Store runs on: a revisioned key-value store with
// guarded transactions, leases and watches, as etcd offers them. NewEtcd
// and NewMemory return the two implementations; the conformance tests of
// this package hold both to the same semantics:
//
//   - every write transaction advances the store's revision by one, and
//     each key written records it as its mod revision (and, when the key
//     is created, as its create revision; its version counts its puts
//     since creation);
//   - a transaction's comparisons and operations are atomic;
//   - a key put with a lease is deleted when the lease expires or is
//     revoked;
//   - a watch from a revision first delivers the history since then, in
//     revision order, and ErrCompacted if that history is gone.
type Backend interface {
	// Txn applies then if every comparison of cmps holds, atomically.
	Txn(ctx context.Context, cmps []Cmp, then []Op) (TxnResult, error)
	// Range reads the keys of r.
	Range(ctx context.Context, r Range) (RangeResult, error)
	// Grant creates a lease that expires after ttl unless kept alive.
	Grant(ctx context.Context, ttl time.Duration) (LeaseID, error)
	// KeepAlive keeps lease id alive until ctx ends; the channel is closed
	// when it no longer is (ctx ended, lease expired or revoked, backend
	// closed).
	KeepAlive(ctx context.Context, id LeaseID) (<-chan struct{}, error)
	// Renew renews lease id once, now, and returns its TTL: the lease lives
	// at least that long after the call began. ErrLeaseNotFound if it has
	// ended.
	Renew(ctx context.Context, id LeaseID) (time.Duration, error)
	// TimeToLive returns the time lease id has left; ErrLeaseNotFound if
	// it has ended.
	TimeToLive(ctx context.Context, id LeaseID) (time.Duration, error)
	// Revoke ends lease id and deletes its keys.
	Revoke(ctx context.Context, id LeaseID) error
	// Watch yields the changes under prefix from revision rev (the next
	// revision when rev is 0) until ctx ends, with progress notifications;
	// it ends after an error response, when ctx ends or when the loop
	// breaks. It converts each response in the caller's goroutine: no
	// goroutine stands between the store and the consumer.
	Watch(ctx context.Context, prefix string, rev int64) iter.Seq[WatchResponse]
	// RequestProgress asks every watch to report the current revision.
	RequestProgress(ctx context.Context) error
	// Close releases the backend.
	Close() error
}
