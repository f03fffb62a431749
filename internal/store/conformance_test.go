package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// backend is a store under test and what the conformance tests need to
// drive it beyond the Store API.
type backend struct {
	s *store.Store
	// compact forgets the history before rev.
	compact func(t *testing.T, rev int64)
	// expire lets time pass until a lease of ttl granted now has expired
	// (were it not kept alive), and has the store notice.
	expire func(t *testing.T, ttl time.Duration)
}

func TestMemoryConformance(t *testing.T) {
	conformance(t, func(t *testing.T) backend {
		clock := testutil.NewClock(time.Unix(1_700_000_000, 0))
		m := store.NewMemoryBackend(clock.Now)
		s := store.NewOn(m)
		t.Cleanup(func() { s.Close() })
		return backend{s: s,
			compact: func(t *testing.T, rev int64) { m.Compact(rev) },
			expire: func(t *testing.T, ttl time.Duration) {
				clock.Advance(ttl + time.Second)
				m.ExpireLeases()
			}}
	})
}

func TestEtcdConformance(t *testing.T) {
	e := testutil.StartEtcd(t)
	conformance(t, func(t *testing.T) backend {
		return backend{s: store.New(e.Client()),
			compact: func(t *testing.T, rev int64) {
				if _, err := e.Client().Compact(context.Background(), rev); err != nil {
					t.Fatal(err)
				}
			},
			expire: func(t *testing.T, ttl time.Duration) {
				// etcd's shortest lease is longer than a second here.
				time.Sleep(ttl + 2*time.Second)
			}}
	})
}

// conformance runs the tests every Backend must pass. Each test writes
// under a key prefix of its own, so the tests may share one etcd.
func conformance(t *testing.T, open func(t *testing.T) backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend, p string)
	}{
		{"records", testRecords},
		{"txn", testTxn},
		{"range", testRange},
		{"compaction", testCompaction},
		{"leases", testLeases},
		{"lease expiry", testLeaseExpiry},
		{"watch", testWatch},
		{"follow", testFollow},

		{"campaign", testCampaign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t)
			tt.fn(t, b, store.Key("test", strings.ReplaceAll(tt.name, " ", "-"))+"/")
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

type rec struct {
	N int `json:"n"`
}

func testRecords(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	rev := must[int64](t)(s.Create(ctx, p+"a", rec{1}))
	if _, err := s.Create(ctx, p+"a", rec{2}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create again: %v, want ErrConflict", err)
	}
	var r rec
	if got := must[int64](t)(s.Get(ctx, p+"a", &r)); got != rev || r.N != 1 {
		t.Fatalf("get: rev %d %+v, want %d {1}", got, r, rev)
	}
	if _, err := s.Update(ctx, p+"a", rec{3}, rev-1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update at a stale revision: %v", err)
	}
	rev2 := must[int64](t)(s.Update(ctx, p+"a", rec{3}, rev))
	if rev2 <= rev {
		t.Fatalf("update revision %d after %d", rev2, rev)
	}
	got := must[*rec](t)(store.Mutate(ctx, s, p+"a", func(cur *rec, exists bool) error {
		if !exists {
			return errors.New("gone")
		}
		cur.N++
		return nil
	}))
	if got.N != 4 {
		t.Fatalf("mutate: %+v", got)
	}
	if err := s.Delete(ctx, p+"a", rev2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete at a stale revision: %v", err)
	}
	mod := must[int64](t)(s.Get(ctx, p+"a", &r))
	if err := s.Delete(ctx, p+"a", mod); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, p+"a", &r); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
}

func testTxn(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{store.Absent(p + "a"), store.Absent(p + "b")},
		store.OpPut(p+"a", []byte("1")), store.OpPut(p+"b", []byte("2")), store.OpGet(p+"a"), store.OpCount(p+"b"), store.OpCount(p+"c")))
	if !res.Succeeded || len(res.Reads) != 5 {
		t.Fatalf("txn: %+v", res)
	}
	r1 := res.Revision
	if it := res.Reads[2].Items; len(it) != 1 || string(it[0].Value) != "1" || it[0].ModRev != r1 || it[0].CreateRev != r1 || it[0].Version != 1 {
		t.Fatalf("read in txn: %+v", it)
	}
	if res.Reads[3].Count != 1 || res.Reads[4].Count != 0 || len(res.Reads[3].Items) != 0 {
		t.Fatalf("counts in txn: %+v", res.Reads)
	}
	// One failing comparison: nothing applied.
	res = must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{store.ModRevisionIs(p+"a", r1), store.ModRevisionIs(p+"b", r1-1)},
		store.OpPut(p+"a", []byte("x")), store.OpDelete(p+"b")))
	if res.Succeeded {
		t.Fatal("txn with a failing comparison succeeded")
	}
	// All hold: applied at one revision.
	res = must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{store.ModRevisionIs(p+"a", r1), store.CreateRevisionIs(p+"b", r1),
		store.UnchangedSince(p, r1), store.ModRevisionIs(p+"none", 0), store.LeaseIs(p+"a", 0)},
		store.OpPut(p+"a", []byte("x")), store.OpDelete(p+"b"), store.OpDelete(p+"none")))
	if !res.Succeeded || res.Revision != r1+1 {
		t.Fatalf("txn: %+v, want revision %d", res, r1+1)
	}
	if res.Reads != nil && (len(res.Reads) != 3 || res.Reads[0].Items != nil) {
		t.Fatalf("reads of writes: %+v", res.Reads)
	}
	r := must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)}))
	if len(r.Items) != 1 || r.Items[0].Key != p+"a" || r.Items[0].Version != 2 || r.Items[0].CreateRev != r1 || r.Items[0].ModRev != r1+1 {
		t.Fatalf("after txn: %+v", r.Items)
	}
	if res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{store.UnchangedSince(p, r1)})); res.Succeeded {
		t.Fatal("UnchangedSince held after a change")
	}
	// A transaction of reads does not advance the revision.
	if res := must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpGet(p+"a"))); res.Revision != r1+1 {
		t.Fatalf("read-only txn revision %d, want %d", res.Revision, r1+1)
	}
}

func testRange(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	var revs []int64
	for i := range 5 {
		revs = append(revs, must[int64](t)(s.Create(ctx, fmt.Sprintf("%sk%d", p, i), rec{i})))
	}
	r := must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Limit: 2}))
	if len(r.Items) != 2 || r.Count != 5 || r.Items[0].Key != p+"k0" || r.Items[1].Key != p+"k1" || r.Revision < revs[4] {
		t.Fatalf("limited range: %+v", r)
	}
	r = must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p + "k1", End: p + "k3", KeysOnly: true}))
	if len(r.Items) != 2 || r.Items[0].Value != nil || r.Items[0].ModRev != revs[1] {
		t.Fatalf("keys only: %+v", r)
	}
	r = must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), CountOnly: true}))
	if len(r.Items) != 0 || r.Count != 5 {
		t.Fatalf("count only: %+v", r)
	}
	if n := must[int64](t)(s.Count(ctx, p)); n != 5 {
		t.Fatalf("count %d", n)
	}
	r = must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Rev: revs[2]}))
	if len(r.Items) != 3 {
		t.Fatalf("range at revision %d: %d items", revs[2], len(r.Items))
	}
	items := must[[]store.Item](t)(s.List(ctx, p, p+"k2", 0))
	if len(items) != 2 || items[0].Key != p+"k3" {
		t.Fatalf("list after k2: %+v", items)
	}
	if cur := must[int64](t)(s.Revision(ctx)); cur < revs[4] {
		t.Fatalf("revision %d < %d", cur, revs[4])
	}
}

func testCompaction(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	r1 := must[int64](t)(s.Create(ctx, p+"a", rec{1}))
	r2 := must[int64](t)(s.Update(ctx, p+"a", rec{2}, r1))
	must[int64](t)(s.Update(ctx, p+"a", rec{3}, r2))
	b.compact(t, r2)
	if _, err := s.Range(ctx, store.Range{From: p + "a", Rev: r1}); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("range at a compacted revision: %v", err)
	}
	r := must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p + "a", Rev: r2}))
	if len(r.Items) != 1 || r.Items[0].ModRev != r2 {
		t.Fatalf("range at the compaction revision: %+v", r)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp := <-watchChan(wctx, s, p, r1)
	if !errors.Is(resp.Err, store.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %+v", resp)
	}
}

func testLeases(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	l := must[store.LeaseID](t)(s.Grant(ctx, 30*time.Second))
	res := must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpPutLeased(p+"a", []byte("1"), l), store.OpPutLeased(p+"b", []byte("1"), l)))
	if !res.Succeeded {
		t.Fatal("leased put failed")
	}
	if res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{store.LeaseIs(p+"a", l)}, store.OpPutKeepLease(p+"a", []byte("2")))); !res.Succeeded {
		t.Fatal("LeaseIs did not hold")
	}
	r := must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p + "a"}))
	if len(r.Items) != 1 || r.Items[0].Lease != l || string(r.Items[0].Value) != "2" {
		t.Fatalf("after a put keeping the lease: %+v", r.Items)
	}
	// A plain put detaches the key from its lease.
	must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpPut(p+"b", []byte("2"))))
	if ttl := must[time.Duration](t)(s.TimeToLive(ctx, l)); ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("time to live %v", ttl)
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kept := must[<-chan struct{}](t)(s.KeepAlive(kctx, l))
	if err := s.Revoke(ctx, l); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kept:
	case <-time.After(10 * time.Second):
		t.Fatal("keep-alive channel still open after revoke")
	}
	r = must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)}))
	if len(r.Items) != 1 || r.Items[0].Key != p+"b" || r.Items[0].Lease != 0 {
		t.Fatalf("after revoke: %+v", r.Items)
	}
	if _, err := s.Txn(ctx, nil, store.OpPutLeased(p+"c", nil, l)); !errors.Is(err, store.ErrLeaseNotFound) {
		t.Fatalf("put on a revoked lease: %v", err)
	}
	if _, err := s.TimeToLive(ctx, l); !errors.Is(err, store.ErrLeaseNotFound) {
		t.Fatalf("time to live of a revoked lease: %v", err)
	}
	must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpPut(p+"d/1", nil), store.OpPut(p+"d/2", nil), store.OpPut(p+"e", nil)))
	must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpDeletePrefix(p+"d/")))
	if n := must[int64](t)(s.Count(ctx, p)); n != 2 {
		t.Fatalf("%d keys after deleting a prefix, want 2", n)
	}
}

func testLeaseExpiry(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	ttl := time.Second
	gone := must[store.LeaseID](t)(s.Grant(ctx, ttl))
	kept := must[store.LeaseID](t)(s.Grant(ctx, ttl))
	must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpPutLeased(p+"gone", nil, gone), store.OpPutLeased(p+"kept", nil, kept)))
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := must[<-chan struct{}](t)(s.KeepAlive(kctx, kept))
	b.expire(t, ttl)
	b.expire(t, ttl)
	r := must[store.RangeResult](t)(s.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)}))
	if len(r.Items) != 1 || r.Items[0].Key != p+"kept" {
		t.Fatalf("after expiry: %+v", r.Items)
	}
	cancel()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("keep-alive channel open after its ctx ended")
	}
}

func testWatch(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	r1 := must[int64](t)(s.Create(ctx, p+"a", rec{1}))
	l := must[store.LeaseID](t)(s.Grant(ctx, time.Minute))
	r2 := must[store.TxnResult](t)(s.Txn(ctx, nil, store.OpPutLeased(p+"b", []byte("b"), l), store.OpPut(p+"a", []byte("a2")))).Revision
	must[int64](t)(s.Create(ctx, store.Key("test", "elsewhere"), rec{1}))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := watchChan(wctx, s, p, r1)
	var evs []store.Event
	next := func() store.WatchResponse {
		t.Helper()
		select {
		case resp := <-wch:
			if resp.Err != nil {
				t.Fatal(resp.Err)
			}
			return resp
		case <-time.After(10 * time.Second):
			t.Fatal("no watch response")
		}
		return store.WatchResponse{}
	}
	for len(evs) < 3 {
		evs = append(evs, next().Events...)
	}
	if evs[0].Key != p+"a" || evs[0].ModRev != r1 || evs[0].Version != 1 || evs[0].Deleted {
		t.Fatalf("first event: %+v", evs[0])
	}
	if evs[1].Key != p+"b" || evs[1].ModRev != r2 || evs[1].Lease != l || string(evs[1].Value) != "b" {
		t.Fatalf("second event: %+v", evs[1])
	}
	if evs[2].Key != p+"a" || evs[2].Version != 2 || evs[2].CreateRev != r1 {
		t.Fatalf("third event: %+v", evs[2])
	}
	if err := s.Revoke(ctx, l); err != nil {
		t.Fatal(err)
	}
	resp := next()
	if len(resp.Events) != 1 || !resp.Events[0].Deleted || resp.Events[0].Key != p+"b" || resp.Events[0].ModRev != resp.Revision {
		t.Fatalf("deletion: %+v", resp)
	}
	// A progress request reports the current revision.
	must[int64](t)(s.Create(ctx, store.Key("test", "elsewhere2"), rec{1}))
	cur := must[int64](t)(s.Revision(ctx))
	if err := s.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		resp := next()
		if resp.Progress && resp.Revision >= cur {
			break
		}
		if len(resp.Events) > 0 {
			t.Fatalf("unexpected events: %+v", resp.Events)
		}
	}
	cancel()
	for range wch {
	}
}

func testCampaign(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	prefix := strings.TrimSuffix(p, "/")
	first, err := s.Campaign(ctx, prefix, []byte("one"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	won := make(chan *store.Leadership, 1)
	go func() {
		l, err := s.Campaign(ctx, prefix, []byte("two"), 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- l
	}()
	select {
	case <-won:
		t.Fatal("second candidate leads while the first does")
	case <-time.After(300 * time.Millisecond):
	}
	if res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{first.Guard()}, store.OpPut(p+"x", nil))); !res.Succeeded {
		t.Fatal("leader's guard does not hold")
	}
	if err := first.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done open after Resign")
	}
	var second *store.Leadership
	select {
	case second = <-won:
	case <-time.After(10 * time.Second):
		t.Fatal("second candidate does not lead after the first resigned")
	}
	if second == nil {
		return
	}
	if res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{first.Guard()}, store.OpPut(p+"x", nil))); res.Succeeded {
		t.Fatal("old leader's guard holds")
	}
	if res := must[store.TxnResult](t)(s.Txn(ctx, []store.Cmp{second.Guard()}, store.OpPut(p+"x", nil))); !res.Succeeded {
		t.Fatal("new leader's guard does not hold")
	}
	_ = second.Resign(ctx)
}

func testFollow(t *testing.T, b backend, p string) {
	ctx, s := ctxOf(t), b.s
	for i := range 3 {
		must[int64](t)(s.Create(ctx, fmt.Sprintf("%sa/%d", p, i), rec{i}))
	}
	must[int64](t)(s.Create(ctx, p+"b/0", rec{0}))
	type state struct {
		keys map[string]bool
		rev  int64
	}
	ch := make(chan state, 100)
	var cur state
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(fctx, store.Follow{Prefix: p, Lists: []string{p + "a/", p + "b/"}, PageSize: 2,
			Load: func(rev int64, items []store.Item) {
				cur = state{keys: map[string]bool{}, rev: rev}
				for _, it := range items {
					cur.keys[it.Key] = true
				}
				ch <- state{keys: maps.Clone(cur.keys), rev: rev}
			},
			Apply: func(resp store.WatchResponse) {
				for _, ev := range resp.Events {
					cur.keys[ev.Key] = !ev.Deleted
					if ev.Deleted {
						delete(cur.keys, ev.Key)
					}
				}
				cur.rev = resp.Revision
				ch <- state{keys: maps.Clone(cur.keys), rev: resp.Revision}
			}})
	}()
	first := <-ch
	if len(first.keys) != 4 {
		t.Fatalf("snapshot: %v", first.keys)
	}
	rev := must[int64](t)(s.Create(ctx, p+"c", rec{1}))
	if err := s.Delete(ctx, p+"b/0", must[int64](t)(s.Get(ctx, p+"b/0", &rec{}))); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case st := <-ch:
			if st.rev > rev && st.keys[p+"c"] && !st.keys[p+"b/0"] && len(st.keys) == 4 {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("Follow returned %v", err)
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("follow did not see the changes")
		}
	}
}

// watchChan runs a watch in a goroutine of its own, for tests that wait on
// it with a timeout.
func watchChan(ctx context.Context, s *store.Store, prefix string, rev int64) <-chan store.WatchResponse {
	ch := make(chan store.WatchResponse, 100)
	go func() {
		defer close(ch)
		for r := range s.Watch(ctx, prefix, rev) {
			ch <- r
		}
	}()
	return ch
}
