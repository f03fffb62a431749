package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdBackend is a Backend on an etcd client.
type etcdBackend struct {
	c *clientv3.Client

	mu sync.Mutex
	// keepers ends the keep-alives of each lease, which Revoke calls: etcd
	// would tell them only at their next keep-alive.
	keepers map[LeaseID]map[*context.CancelFunc]struct{}
}

// New returns a Store on the etcd client c. Closing the Store does not
// close c: its owner does.
func New(c *clientv3.Client) *Store { return NewOn(NewEtcdBackend(c)) }

// NewEtcdBackend returns the Backend on the etcd client c, for NewOn with
// a wrapper (the server counts its round trips). Closing it does not close
// c.
func NewEtcdBackend(c *clientv3.Client) Backend {
	return &etcdBackend{c: c, keepers: map[LeaseID]map[*context.CancelFunc]struct{}{}}
}

func (e *etcdBackend) Close() error { return nil }

func (e *etcdBackend) Txn(ctx context.Context, cmps []Cmp, then []Op) (TxnResult, error) {
	ecmps := make([]clientv3.Cmp, len(cmps))
	for i, c := range cmps {
		switch c.target {
		case cmpMod:
			ecmps[i] = clientv3.Compare(clientv3.ModRevision(c.key), "=", c.n)
		case cmpCreate:
			ecmps[i] = clientv3.Compare(clientv3.CreateRevision(c.key), "=", c.n)
		case cmpLease:
			ecmps[i] = clientv3.Compare(clientv3.LeaseValue(c.key), "=", c.n)
		case cmpPrefixModBelow:
			ecmps[i] = clientv3.Compare(clientv3.ModRevision(c.key), "<", c.n).WithPrefix()
		}
	}
	eops := make([]clientv3.Op, len(then))
	reads := false
	for i, o := range then {
		switch o.kind {
		case opGet:
			eops[i] = clientv3.OpGet(o.key)
			reads = true
		case opCount:
			eops[i] = clientv3.OpGet(o.key, clientv3.WithCountOnly())
			reads = true
		case opPut:
			switch {
			case o.ignoreLease:
				eops[i] = clientv3.OpPut(o.key, string(o.value), clientv3.WithIgnoreLease())
			case o.lease != 0:
				eops[i] = clientv3.OpPut(o.key, string(o.value), clientv3.WithLease(clientv3.LeaseID(o.lease)))
			default:
				eops[i] = clientv3.OpPut(o.key, string(o.value))
			}
		case opDelete:
			eops[i] = clientv3.OpDelete(o.key)
		case opDeletePrefix:
			eops[i] = clientv3.OpDelete(o.key, clientv3.WithPrefix())
		}
	}
	resp, err := e.c.Txn(ctx).If(ecmps...).Then(eops...).Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = fmt.Errorf("%w: %w", ErrLeaseNotFound, err)
		}
		if errors.Is(err, rpctypes.ErrNoSpace) {
			err = fmt.Errorf("%w: etcd's quota is exhausted: %w", ErrNoSpace, err)
		}
		return TxnResult{}, err
	}
	out := TxnResult{Succeeded: resp.Succeeded, Revision: resp.Header.Revision}
	if resp.Succeeded && reads {
		out.Reads = make([]Read, len(resp.Responses))
		for i, r := range resp.Responses {
			if rr := r.GetResponseRange(); rr != nil {
				out.Reads[i] = Read{Items: itemsOf(rr.Kvs), Count: rr.Count}
			}
		}
	}
	return out, nil
}

func (e *etcdBackend) Range(ctx context.Context, r Range) (RangeResult, error) {
	opts := make([]clientv3.OpOption, 0, 5)
	if r.End != "" {
		opts = append(opts, clientv3.WithRange(r.End))
	}
	if r.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(r.Limit)))
	}
	if r.Rev > 0 {
		opts = append(opts, clientv3.WithRev(r.Rev))
	}
	if r.KeysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if r.CountOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	resp, err := e.c.Get(ctx, r.From, opts...)
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return RangeResult{}, fmt.Errorf("%w: %w", ErrCompacted, err)
		}
		return RangeResult{}, err
	}
	return RangeResult{Items: itemsOf(resp.Kvs), Count: resp.Count, Revision: resp.Header.Revision}, nil
}

// itemsOf converts etcd's key-values.
func itemsOf(kvs []*mvccpb.KeyValue) []Item {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]Item, len(kvs))
	for i, kv := range kvs {
		out[i] = Item{Key: string(kv.Key), Value: kv.Value, ModRev: kv.ModRevision,
			CreateRev: kv.CreateRevision, Version: kv.Version, Lease: LeaseID(kv.Lease)}
	}
	return out
}

func (e *etcdBackend) Grant(ctx context.Context, ttl time.Duration) (LeaseID, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	g, err := e.c.Grant(ctx, secs)
	if err != nil {
		return 0, err
	}
	return LeaseID(g.ID), nil
}

func (e *etcdBackend) KeepAlive(ctx context.Context, id LeaseID) (<-chan struct{}, error) {
	kctx, cancel := context.WithCancel(ctx)
	ch, err := e.c.KeepAlive(kctx, clientv3.LeaseID(id))
	if err != nil {
		cancel()
		return nil, err
	}
	e.mu.Lock()
	if e.keepers[id] == nil {
		e.keepers[id] = map[*context.CancelFunc]struct{}{}
	}
	e.keepers[id][&cancel] = struct{}{}
	e.mu.Unlock()
	done := make(chan struct{})
	// Owned by ctx: the client closes ch when ctx ends or the lease is
	// lost (or revoked), which ends this goroutine.
	go func() {
		defer close(done)
		for range ch {
		}
		cancel()
		e.mu.Lock()
		delete(e.keepers[id], &cancel)
		if len(e.keepers[id]) == 0 {
			delete(e.keepers, id)
		}
		e.mu.Unlock()
	}()
	return done, nil
}

func (e *etcdBackend) Renew(ctx context.Context, id LeaseID) (time.Duration, error) {
	r, err := e.c.KeepAliveOnce(ctx, clientv3.LeaseID(id))
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return 0, ErrLeaseNotFound
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(r.TTL) * time.Second, nil
}

func (e *etcdBackend) TimeToLive(ctx context.Context, id LeaseID) (time.Duration, error) {
	r, err := e.c.TimeToLive(ctx, clientv3.LeaseID(id))
	if err != nil {
		return 0, err
	}
	if r.TTL < 0 {
		return 0, ErrLeaseNotFound
	}
	return time.Duration(r.TTL) * time.Second, nil
}

func (e *etcdBackend) Revoke(ctx context.Context, id LeaseID) error {
	_, err := e.c.Revoke(ctx, clientv3.LeaseID(id))
	if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
		e.mu.Lock()
		for cancel := range e.keepers[id] {
			(*cancel)()
		}
		e.mu.Unlock()
	}
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: %w", ErrLeaseNotFound, err)
	}
	return err
}

func (e *etcdBackend) Watch(ctx context.Context, prefix string, rev int64) iter.Seq[WatchResponse] {
	return func(yield func(WatchResponse) bool) {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithProgressNotify()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		for resp := range e.c.Watch(wctx, prefix, opts...) {
			r := WatchResponse{Revision: resp.Header.Revision, Progress: resp.IsProgressNotify()}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
					err = fmt.Errorf("%w: %w", ErrCompacted, err)
				}
				r.Err = err
			} else if len(resp.Events) > 0 {
				r.Events = make([]Event, len(resp.Events))
				for i, ev := range resp.Events {
					kv := ev.Kv
					r.Events[i] = Event{Item: Item{Key: string(kv.Key), Value: kv.Value, ModRev: kv.ModRevision,
						CreateRev: kv.CreateRevision, Version: kv.Version, Lease: LeaseID(kv.Lease)},
						Deleted: ev.Type == clientv3.EventTypeDelete}
				}
			}
			if !yield(r) || r.Err != nil {
				return
			}
		}
		if ctx.Err() == nil {
			yield(WatchResponse{Err: errors.New("watch closed")})
		}
	}
}

func (e *etcdBackend) RequestProgress(ctx context.Context) error {
	return e.c.RequestProgress(clientv3.WithRequireLeader(ctx))
}
