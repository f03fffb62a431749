package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrLeaseNotFound is returned for a lease that does not exist (expired,
// revoked or never granted).
var ErrLeaseNotFound = errors.New("lease not found")

// ErrClosed is returned by a closed memory backend.
var ErrClosed = errors.New("store closed")

// errKeyNotFound is returned by OpPutKeepLease on an absent key, as etcd
// does.
var errKeyNotFound = errors.New("key not found")

// Memory is an in-memory Backend with etcd's semantics (revisions, mod and
// create revisions, versions, atomic transactions, leases, watches from a
// revision with history), for unit tests. Leases expire by the clock given
// to NewMemoryBackend, checked at every call and by ExpireLeases: a test
// advances its clock and calls ExpireLeases to see them go.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	closed    bool
	rev       int64
	compacted int64
	keys      map[string][]version // by key: its versions, oldest first
	sorted    []string             // every key in keys, in order
	log       []logEntry           // the changes of each write revision
	leases    map[LeaseID]*memLease
	nextLease LeaseID
	watchers  map[*memWatcher]struct{}
}

// version is one state of a key: as written at ModRev, or deleted.
type version struct {
	Item
	deleted bool
}

// logEntry is the changes of one revision.
type logEntry struct {
	rev    int64
	events []Event
}

// memLease is a lease and the keys attached to it.
type memLease struct {
	ttl     time.Duration
	expiry  time.Time
	keys    map[string]bool
	keepers map[*keeper]struct{}
}

// keeper is one KeepAlive of a lease.
type keeper struct {
	ch   chan struct{}
	stop func() bool
}

// NewMemory returns a Store on a new Memory backend whose leases expire by
// now (time.Now when nil).
func NewMemory(now func() time.Time) *Store { return NewOn(NewMemoryBackend(now)) }

// NewMemoryBackend returns an empty Memory backend at revision 1, whose
// leases expire by now (time.Now when nil).
func NewMemoryBackend(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, rev: 1, keys: map[string][]version{}, leases: map[LeaseID]*memLease{},
		watchers: map[*memWatcher]struct{}{}}
}

// Close ends every watch and keep-alive; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for w := range m.watchers {
		w.push(WatchResponse{Err: ErrClosed})
		delete(m.watchers, w)
	}
	for _, l := range m.leases {
		for k := range l.keepers {
			m.endKeeperLocked(l, k)
		}
	}
	return nil
}

// Compact forgets the history before revision rev: reads and watches at
// an older revision then fail with ErrCompacted.
func (m *Memory) Compact(rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev > m.rev {
		rev = m.rev
	}
	if rev <= m.compacted {
		return
	}
	m.compacted = rev
	i := sort.Search(len(m.log), func(i int) bool { return m.log[i].rev >= rev })
	m.log = slices.Clone(m.log[i:])
	for k, vs := range m.keys {
		// Keep the latest version at or before rev, and the later ones.
		j := sort.Search(len(vs), func(i int) bool { return vs[i].ModRev > rev })
		if j > 0 {
			j--
		}
		vs = vs[j:]
		if len(vs) == 1 && vs[0].deleted {
			delete(m.keys, k)
			continue
		}
		m.keys[k] = slices.Clone(vs)
	}
	m.sorted = m.sorted[:0]
	for k := range m.keys {
		m.sorted = append(m.sorted, k)
	}
	slices.Sort(m.sorted)
}

// ExpireLeases deletes the keys of the leases whose time is up by the
// clock; leases being kept alive are extended instead.
func (m *Memory) ExpireLeases() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
}

func (m *Memory) expireLocked() {
	now := m.now()
	for id, l := range m.leases {
		if len(l.keepers) > 0 {
			l.expiry = now.Add(l.ttl)
			continue
		}
		if !now.Before(l.expiry) {
			m.revokeLocked(id, l)
		}
	}
}

// current returns the live state of key, if any.
func (m *Memory) current(key string) (Item, bool) {
	vs := m.keys[key]
	if len(vs) == 0 || vs[len(vs)-1].deleted {
		return Item{}, false
	}
	return vs[len(vs)-1].Item, true
}

// at returns the state of key at revision rev, if it existed.
func (m *Memory) at(key string, rev int64) (Item, bool) {
	vs := m.keys[key]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].ModRev > rev })
	if i == 0 || vs[i-1].deleted {
		return Item{}, false
	}
	return vs[i-1].Item, true
}

func (m *Memory) check(c Cmp) bool {
	if c.target == cmpPrefixModBelow {
		end := PrefixEnd(c.key)
		for i := sort.SearchStrings(m.sorted, c.key); i < len(m.sorted) && m.sorted[i] < end; i++ {
			if it, ok := m.current(m.sorted[i]); ok && it.ModRev >= c.n {
				return false
			}
		}
		return true
	}
	it, _ := m.current(c.key)
	switch c.target {
	case cmpMod:
		return it.ModRev == c.n
	case cmpCreate:
		return it.CreateRev == c.n
	case cmpLease:
		return int64(it.Lease) == c.n
	}
	return false
}

// Txn implements Backend.
func (m *Memory) Txn(ctx context.Context, cmps []Cmp, then []Op) (TxnResult, error) {
	if err := ctx.Err(); err != nil {
		return TxnResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return TxnResult{}, ErrClosed
	}
	m.expireLocked()
	for _, c := range cmps {
		if !m.check(c) {
			return TxnResult{Revision: m.rev}, nil
		}
	}
	// Validate the writes before applying any: a transaction is atomic.
	for _, o := range then {
		if o.kind != opPut {
			continue
		}
		if o.lease != 0 && m.leases[o.lease] == nil {
			return TxnResult{}, fmt.Errorf("put %s: %w", o.key, ErrLeaseNotFound)
		}
		if o.ignoreLease {
			if _, ok := m.current(o.key); !ok {
				return TxnResult{}, fmt.Errorf("put %s: %w", o.key, errKeyNotFound)
			}
		}
	}
	res := TxnResult{Succeeded: true}
	next := m.rev + 1
	var events []Event
	for _, o := range then {
		var rd Read
		switch o.kind {
		case opGet:
			if it, ok := m.current(o.key); ok {
				rd = Read{Items: []Item{it}, Count: 1}
			}
		case opCount:
			if _, ok := m.current(o.key); ok {
				rd.Count = 1
			}
		case opPut:
			events = append(events, m.putLocked(o, next))
		case opDelete:
			if ev, ok := m.deleteLocked(o.key, next); ok {
				events = append(events, ev)
			}
		case opDeletePrefix:
			end := PrefixEnd(o.key)
			for i := sort.SearchStrings(m.sorted, o.key); i < len(m.sorted) && (end == "\x00" || m.sorted[i] < end); i++ {
				if ev, ok := m.deleteLocked(m.sorted[i], next); ok {
					events = append(events, ev)
				}
			}
		}
		res.Reads = append(res.Reads, rd)
	}
	if len(events) > 0 {
		m.commitLocked(next, events)
	}
	res.Revision = m.rev
	return res, nil
}

// putLocked writes a put of revision rev.
func (m *Memory) putLocked(o Op, rev int64) Event {
	prev, exists := m.current(o.key)
	it := Item{Key: o.key, Value: slices.Clone(o.value), ModRev: rev, CreateRev: rev, Version: 1, Lease: o.lease}
	if exists {
		it.CreateRev, it.Version = prev.CreateRev, prev.Version+1
		if o.ignoreLease {
			it.Lease = prev.Lease
		}
		if prev.Lease != it.Lease {
			if l := m.leases[prev.Lease]; l != nil {
				delete(l.keys, o.key)
			}
		}
	}
	if l := m.leases[it.Lease]; l != nil {
		l.keys[o.key] = true
	}
	if _, ok := m.keys[o.key]; !ok {
		i, _ := slices.BinarySearch(m.sorted, o.key)
		m.sorted = slices.Insert(m.sorted, i, o.key)
	}
	m.keys[o.key] = append(m.keys[o.key], version{Item: it})
	return Event{Item: it}
}

// deleteLocked deletes key at revision rev, if it exists.
func (m *Memory) deleteLocked(key string, rev int64) (Event, bool) {
	prev, ok := m.current(key)
	if !ok {
		return Event{}, false
	}
	if l := m.leases[prev.Lease]; l != nil {
		delete(l.keys, key)
	}
	it := Item{Key: key, ModRev: rev}
	m.keys[key] = append(m.keys[key], version{Item: it, deleted: true})
	return Event{Item: it, Deleted: true}, true
}

// commitLocked records the changes of revision rev and tells the watches.
func (m *Memory) commitLocked(rev int64, events []Event) {
	m.rev = rev
	m.log = append(m.log, logEntry{rev: rev, events: events})
	for w := range m.watchers {
		if evs := w.match(events); len(evs) > 0 {
			w.push(WatchResponse{Events: evs, Revision: rev})
		}
	}
}

// Range implements Backend.
func (m *Memory) Range(ctx context.Context, r Range) (RangeResult, error) {
	if err := ctx.Err(); err != nil {
		return RangeResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return RangeResult{}, ErrClosed
	}
	m.expireLocked()
	rev := r.Rev
	if rev == 0 {
		rev = m.rev
	}
	if rev < m.compacted {
		return RangeResult{}, ErrCompacted
	}
	if rev > m.rev {
		return RangeResult{}, fmt.Errorf("revision %d is in the future", rev)
	}
	res := RangeResult{Revision: m.rev}
	add := func(it Item) {
		res.Count++
		if r.CountOnly || r.Limit > 0 && len(res.Items) >= r.Limit {
			return
		}
		if r.KeysOnly {
			it.Value = nil
		} else {
			it.Value = slices.Clone(it.Value)
		}
		res.Items = append(res.Items, it)
	}
	if r.End == "" {
		if it, ok := m.at(r.From, rev); ok {
			add(it)
		}
		return res, nil
	}
	all := r.End == "\x00"
	for i := sort.SearchStrings(m.sorted, r.From); i < len(m.sorted) && (all || m.sorted[i] < r.End); i++ {
		if it, ok := m.at(m.sorted[i], rev); ok {
			add(it)
		}
	}
	return res, nil
}

// Grant implements Backend.
func (m *Memory) Grant(ctx context.Context, ttl time.Duration) (LeaseID, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.nextLease++
	m.leases[m.nextLease] = &memLease{ttl: ttl, expiry: m.now().Add(ttl), keys: map[string]bool{},
		keepers: map[*keeper]struct{}{}}
	return m.nextLease, nil
}

// KeepAlive implements Backend. It starts no goroutine: the lease is
// extended at every check while a keep-alive lasts.
func (m *Memory) KeepAlive(ctx context.Context, id LeaseID) (<-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	m.expireLocked()
	l := m.leases[id]
	if l == nil {
		return nil, ErrLeaseNotFound
	}
	k := &keeper{ch: make(chan struct{})}
	l.keepers[k] = struct{}{}
	k.stop = context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := l.keepers[k]; ok {
			l.expiry = m.now().Add(l.ttl)
			m.endKeeperLocked(l, k)
		}
	})
	return k.ch, nil
}

func (m *Memory) endKeeperLocked(l *memLease, k *keeper) {
	delete(l.keepers, k)
	k.stop()
	close(k.ch)
}

// Renew implements Backend.
func (m *Memory) Renew(ctx context.Context, id LeaseID) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.expireLocked()
	l := m.leases[id]
	if l == nil {
		return 0, ErrLeaseNotFound
	}
	l.expiry = m.now().Add(l.ttl)
	return l.ttl, nil
}

// TimeToLive implements Backend.
func (m *Memory) TimeToLive(ctx context.Context, id LeaseID) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.expireLocked()
	l := m.leases[id]
	if l == nil {
		return 0, ErrLeaseNotFound
	}
	return l.expiry.Sub(m.now()), nil
}

// Revoke implements Backend.
func (m *Memory) Revoke(ctx context.Context, id LeaseID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	l := m.leases[id]
	if l == nil {
		return ErrLeaseNotFound
	}
	m.revokeLocked(id, l)
	return nil
}

// revokeLocked ends a lease: its keys go in one revision.
func (m *Memory) revokeLocked(id LeaseID, l *memLease) {
	delete(m.leases, id)
	for k := range l.keepers {
		m.endKeeperLocked(l, k)
	}
	if len(l.keys) == 0 {
		return
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	next := m.rev + 1
	var events []Event
	for _, k := range keys {
		if ev, ok := m.deleteLocked(k, next); ok {
			events = append(events, ev)
		}
	}
	if len(events) > 0 {
		m.commitLocked(next, events)
	}
}

// memWatcher is one watch: the responses queued for it, which its
// consumer takes.
type memWatcher struct {
	prefix string
	mu     sync.Mutex
	queue  []WatchResponse
	wake   chan struct{}
}

func (w *memWatcher) match(events []Event) []Event {
	var out []Event
	for _, ev := range events {
		if strings.HasPrefix(ev.Key, w.prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func (w *memWatcher) push(r WatchResponse) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Watch implements Backend: the consumer waits on the watch's queue, which
// the writers fill.
func (m *Memory) Watch(ctx context.Context, prefix string, rev int64) iter.Seq[WatchResponse] {
	return func(yield func(WatchResponse) bool) {
		w := &memWatcher{prefix: prefix, wake: make(chan struct{}, 1)}
		m.mu.Lock()
		switch {
		case m.closed:
			w.push(WatchResponse{Err: ErrClosed})
		case rev > 0 && rev < m.compacted:
			w.push(WatchResponse{Revision: m.rev, Err: ErrCompacted})
		default:
			if rev > 0 {
				i := sort.Search(len(m.log), func(i int) bool { return m.log[i].rev >= rev })
				for _, e := range m.log[i:] {
					if evs := w.match(e.events); len(evs) > 0 {
						w.push(WatchResponse{Events: evs, Revision: e.rev})
					}
				}
			}
			m.watchers[w] = struct{}{}
		}
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.watchers, w)
			m.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			q := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, r := range q {
				if ctx.Err() != nil {
					return
				}
				if !yield(r) || r.Err != nil {
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}
}

// RequestProgress implements Backend.
func (m *Memory) RequestProgress(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.expireLocked()
	for w := range m.watchers {
		w.push(WatchResponse{Revision: m.rev, Progress: true})
	}
	return nil
}
