package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/store"
)

// tdMaxBatch bounds the registrations committed in one transaction (etcd
// refuses transactions of more than 128 operations by default) and
// tdMaxBatchBytes their encoded size (external etcd refuses requests over
// 1.5 MiB by default).
const (
	tdMaxBatch      = 64
	tdMaxBatchBytes = 1 << 20
	tdMaxAttempts   = 30
	tdSyncTimeout   = 10 * time.Second
)

// TaskDefs is every task definition revision, by family, kept current by
// a follow of the store, and the per-family registration queues. Each
// write returns only once the view has applied its revision, so a caller
// reads its own writes.
type TaskDefs struct {
	store  *store.Store
	logger *slog.Logger
	ready  chan struct{} // closed once the first snapshot is loaded
	once   sync.Once

	mu       sync.RWMutex
	view     *TDView
	rev      int64         // the etcd revision the view reflects
	advanced chan struct{} // closed and replaced whenever rev advances

	ownMu sync.Mutex
	own   map[tdOwnKey]*record.TaskDef // records this process wrote, not yet seen by the watch

	queuesMu sync.Mutex
	queues   map[string]*tdFamilyQueue

	changes []tdChange // apply's scratch (the watch's goroutine only)
}

// tdOwnKey Names one version of one revision record.
type tdOwnKey struct {
	family string
	rev    int32
	modRev int64
}

func newTaskDefs(cfg Config) *TaskDefs {
	return &TaskDefs{
		store:    cfg.Store,
		logger:   cfg.Logger.With("component", "taskdefs"),
		ready:    make(chan struct{}),
		view:     newTDView(),
		advanced: make(chan struct{}),
		own:      map[tdOwnKey]*record.TaskDef{},
		queues:   map[string]*tdFamilyQueue{},
	}
}

// Ready waits until the view is loaded (tdSyncTimeout at most).
func (st *TaskDefs) Ready(ctx context.Context) error {
	select {
	case <-st.ready:
		return nil
	default:
	}
	t := time.NewTimer(tdSyncTimeout)
	defer t.Stop()
	select {
	case <-st.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("task definitions: the view of the store is not loaded")
	}
}

// Read calls fn with the view, which must not change it nor keep it.
func (st *TaskDefs) Read(fn func(v *TDView)) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	fn(st.view)
}

// run keeps the view current until ctx ends: a list of every revision
// record, then the watch (store.Follow, which lists again when the watch
// breaks).
func (st *TaskDefs) run(ctx context.Context) {
	_ = st.store.Follow(ctx, store.Follow{Prefix: record.PrefixOf("taskdefs"), Load: st.load, Apply: st.apply, Logger: st.logger})
}

// load swaps the view for the revision records of a snapshot at rev.
func (st *TaskDefs) load(rev int64, items []store.Item) {
	v := newTDView()
	for _, kv := range items {
		family, r, ok := record.ParseTaskDefKey(kv.Key)
		if !ok {
			continue
		}
		rec := new(record.TaskDef)
		if err := json.Unmarshal(kv.Value, rec); err != nil {
			st.logger.Error("decode task definition", "key", kv.Key, "err", err)
			continue
		}
		v.put(family, r, kv.ModRev, rec)
	}
	st.mu.Lock()
	st.view = v
	st.advanceLocked(rev)
	st.mu.Unlock()
	st.dropOwn(rev)
	st.once.Do(func() { close(st.ready) })
}

// tdChange is one watched change, decoded outside the view's lock.
type tdChange struct {
	family string
	rev    int32
	modRev int64
	rec    *record.TaskDef // nil for a deletion
}

// apply folds one watch response into the view.
func (st *TaskDefs) apply(resp store.WatchResponse) {
	if resp.Progress {
		st.mu.Lock()
		st.advanceLocked(resp.Revision)
		st.mu.Unlock()
		return
	}
	changes := st.changes[:0]
	var last int64
	for _, ev := range resp.Events {
		family, r, ok := record.ParseTaskDefKey(ev.Key)
		last = max(last, ev.ModRev)
		if !ok {
			continue
		}
		ch := tdChange{family: family, rev: r, modRev: ev.ModRev}
		if !ev.Deleted {
			ch.rec = st.takeOwn(tdOwnKey{family, r, ev.ModRev})
			if ch.rec == nil {
				ch.rec = new(record.TaskDef)
				if err := json.Unmarshal(ev.Value, ch.rec); err != nil {
					st.logger.Error("decode task definition", "key", ev.Key, "err", err)
					continue
				}
			}
		}
		changes = append(changes, ch)
	}
	st.mu.Lock()
	for _, ch := range changes {
		if ch.rec == nil {
			st.view.del(ch.family, ch.rev)
		} else {
			st.view.put(ch.family, ch.rev, ch.modRev, ch.rec)
		}
	}
	st.advanceLocked(last)
	st.mu.Unlock()
	st.dropOwn(last)
	clear(changes)
	st.changes = changes[:0]
}

// advanceLocked records that the view reflects rev and wakes the waiters.
// st.mu must be held for writing.
func (st *TaskDefs) advanceLocked(rev int64) {
	if rev <= st.rev {
		return
	}
	st.rev = rev
	close(st.advanced)
	st.advanced = make(chan struct{})
}

// Sync waits until the view reflects etcd revision rev, so that what was
// written at rev is read back. It gives up quietly after tdSyncTimeout or
// when ctx is done: the write itself has succeeded either way.
func (st *TaskDefs) Sync(ctx context.Context, rev int64) {
	var timer *time.Timer
	for {
		st.mu.RLock()
		cur, ch := st.rev, st.advanced
		st.mu.RUnlock()
		if cur >= rev {
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer == nil {
			timer = time.NewTimer(tdSyncTimeout)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			st.logger.Warn("task definition view is behind", "want", rev, "have", cur)
			return
		}
	}
}

// SyncNow waits until the view reflects every write etcd had committed
// when it was called, on any server. The watch covers task definitions
// only, so when the latest writes were elsewhere it asks for a progress
// notification to learn that it is current.
func (st *TaskDefs) SyncNow(ctx context.Context) {
	cur, err := st.store.Revision(ctx)
	if err != nil {
		return
	}
	st.mu.RLock()
	behind := st.rev < cur
	st.mu.RUnlock()
	if behind {
		_ = st.store.RequestProgress(ctx)
	}
	st.Sync(ctx, cur)
}

// putOwn remembers a record this process is writing at modRev, so that the
// watch need not decode it again.
func (st *TaskDefs) putOwn(k tdOwnKey, rec *record.TaskDef) {
	st.ownMu.Lock()
	st.own[k] = rec
	st.ownMu.Unlock()
}

// dropOwn forgets the remembered records of revisions up to rev, which the
// view already has: those whose write raced ahead of putOwn, or that a
// reload covered.
func (st *TaskDefs) dropOwn(rev int64) {
	st.ownMu.Lock()
	defer st.ownMu.Unlock()
	for k := range st.own {
		if k.modRev <= rev {
			delete(st.own, k)
		}
	}
}

// takeOwn returns and forgets the record remembered for k, if any.
func (st *TaskDefs) takeOwn(k tdOwnKey) *record.TaskDef {
	st.ownMu.Lock()
	defer st.ownMu.Unlock()
	rec, ok := st.own[k]
	if ok {
		delete(st.own, k)
	}
	return rec
}

// Lookup returns family:rev, or the latest ACTIVE revision when rev is 0.
// The record is shared with the view: never change it.
func (st *TaskDefs) Lookup(family string, rev int32) (TDEntry, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.view.lookup(family, rev)
}

// TDView is every task definition revision, by family.
type TDView struct {
	Families map[string]*TDFamily
	Names    []string // sorted Names of the Families that have revisions
}

// TDFamily is the revisions of one family.
type TDFamily struct {
	Revs   []TDEntry // by ascending revision
	Active int       // how many are ACTIVE
}

// TDEntry is one revision record and its etcd mod revision.
type TDEntry struct {
	Rev    int32
	ModRev int64
	Rec    *record.TaskDef
}

func newTDView() *TDView { return &TDView{Families: map[string]*TDFamily{}} }

func searchRev(revs []TDEntry, rev int32) (int, bool) {
	return slices.BinarySearchFunc(revs, rev, func(e TDEntry, r int32) int { return cmp.Compare(e.Rev, r) })
}

func (v *TDView) lookup(family string, rev int32) (TDEntry, bool) {
	f := v.Families[family]
	if f == nil {
		return TDEntry{}, false
	}
	if rev == 0 {
		for i := len(f.Revs) - 1; i >= 0; i-- {
			if f.Revs[i].Rec.TaskDefinition.Status == record.TaskDefActive {
				return f.Revs[i], true
			}
		}
		return TDEntry{}, false
	}
	i, ok := searchRev(f.Revs, rev)
	if !ok {
		return TDEntry{}, false
	}
	return f.Revs[i], true
}

// put stores a version of family:rev unless a later one is already there.
func (v *TDView) put(family string, rev int32, modRev int64, rec *record.TaskDef) {
	f := v.Families[family]
	if f == nil {
		f = &TDFamily{}
		v.Families[family] = f
		i, _ := slices.BinarySearch(v.Names, family)
		v.Names = slices.Insert(v.Names, i, family)
	}
	e := TDEntry{Rev: rev, ModRev: modRev, Rec: rec}
	i, found := searchRev(f.Revs, rev)
	if found {
		if f.Revs[i].ModRev >= modRev {
			return
		}
		if f.Revs[i].Rec.TaskDefinition.Status == record.TaskDefActive {
			f.Active--
		}
		f.Revs[i] = e
	} else {
		f.Revs = slices.Insert(f.Revs, i, e)
	}
	if rec.TaskDefinition.Status == record.TaskDefActive {
		f.Active++
	}
}

// del forgets family:rev, and the family once it has no revision left.
func (v *TDView) del(family string, rev int32) {
	f := v.Families[family]
	if f == nil {
		return
	}
	i, found := searchRev(f.Revs, rev)
	if !found {
		return
	}
	if f.Revs[i].Rec.TaskDefinition.Status == record.TaskDefActive {
		f.Active--
	}
	f.Revs = slices.Delete(f.Revs, i, i+1)
	if len(f.Revs) == 0 {
		delete(v.Families, family)
		if j, ok := slices.BinarySearch(v.Names, family); ok {
			v.Names = slices.Delete(v.Names, j, j+1)
		}
	}
}

// tdFamilyQueue serialises the registrations of one family in this process
// and batches them (see the group commit note above).
type tdFamilyQueue struct {
	commit sync.Mutex // held by the registration committing a batch

	mu      sync.Mutex
	pending []*tdRegistration
	// known says lastRev and modRev hold the family counter as this process
	// last wrote or read it; a failed guard clears it.
	known   bool
	lastRev int32
	modRev  int64
}

// tdRegistration is one registration waiting to be committed.
type tdRegistration struct {
	ctx      context.Context
	rec      *record.TaskDef
	finished bool // guarded by the queue's mu
	etcdRev  int64
	err      error
}

func (st *TaskDefs) queue(family string) *tdFamilyQueue {
	st.queuesMu.Lock()
	defer st.queuesMu.Unlock()
	q := st.queues[family]
	if q == nil {
		q = &tdFamilyQueue{}
		st.queues[family] = q
	}
	return q
}

// Register gives rec the next revision of its family and stores it; it
// returns the etcd revision of the write. rec's revision and ARN are set by
// the committing registration, with arn.
func (st *TaskDefs) Register(ctx context.Context, rec *record.TaskDef, arn func(string, int32) string) (int64, error) {
	family := rec.TaskDefinition.Family
	q := st.queue(family)
	r := &tdRegistration{ctx: ctx, rec: rec}
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()

	q.commit.Lock()
	defer q.commit.Unlock()
	for {
		q.mu.Lock()
		if r.finished {
			q.mu.Unlock()
			return r.etcdRev, r.err
		}
		// Take up to tdMaxBatch live registrations, in arrival order; the
		// others stay queued for the next commit.
		var batch []*tdRegistration
		keep := q.pending[:0]
		for _, p := range q.pending {
			switch {
			case len(batch) == tdMaxBatch:
				keep = append(keep, p)
			case p.ctx.Err() != nil:
				p.finished, p.err = true, p.ctx.Err()
			default:
				batch = append(batch, p)
			}
		}
		clear(q.pending[len(keep):])
		q.pending = keep
		q.mu.Unlock()
		rest := st.commitBatch(ctx, q, family, batch, arn)
		if len(rest) > 0 {
			q.mu.Lock()
			q.pending = append(rest, q.pending...)
			q.mu.Unlock()
		}
	}
}

// commitBatch commits as many registrations of batch as fit in one
// transaction, retrying when another server moved the family counter, and
// finishes them; it returns those that did not fit.
func (st *TaskDefs) commitBatch(ctx context.Context, q *tdFamilyQueue, family string, batch []*tdRegistration, arn func(string, int32) string) []*tdRegistration {
	if len(batch) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	finish := func(rs []*tdRegistration, etcdRev int64, err error) {
		q.mu.Lock()
		for _, r := range rs {
			r.finished, r.etcdRev, r.err = true, etcdRev, err
		}
		q.mu.Unlock()
	}
	fkey := record.FamilyKey(family)
	for attempt := 0; ; attempt++ {
		if !q.known {
			var fr record.Family
			resp, err := st.store.Range(cctx, store.Range{From: fkey})
			if err != nil {
				finish(batch, 0, fmt.Errorf("get %s: %w", fkey, err))
				return nil
			}
			q.lastRev, q.modRev = 0, 0
			if len(resp.Items) > 0 {
				if err := json.Unmarshal(resp.Items[0].Value, &fr); err != nil {
					finish(batch, 0, fmt.Errorf("decode %s: %w", fkey, err))
					return nil
				}
				q.lastRev, q.modRev = fr.LastRevision, resp.Items[0].ModRev
			}
			q.known = true
		}
		ops := make([]store.Op, 0, len(batch)+1)
		size := 0
		n := 0
		var rest []*tdRegistration
		for i, r := range batch {
			rev := q.lastRev + int32(n) + 1
			td := &r.rec.TaskDefinition
			td.Revision = rev
			td.TaskDefinitionArn = arn(family, rev)
			b, err := json.Marshal(r.rec)
			if err != nil {
				finish(batch[i:i+1], 0, fmt.Errorf("encode task definition: %w", err))
				continue
			}
			if n > 0 && size+len(b) > tdMaxBatchBytes {
				rest = batch[i:]
				break
			}
			size += len(b)
			batch[n] = r
			n++
			ops = append(ops, store.OpPut(record.TaskDefKey(family, rev), b))
		}
		committed := batch[:n]
		if n == 0 {
			return rest
		}
		fb, _ := json.Marshal(record.Family{LastRevision: q.lastRev + int32(n)})
		ops = append(ops, store.OpPut(fkey, fb))
		resp, err := st.store.Txn(cctx, []store.Cmp{store.ModRevisionIs(fkey, q.modRev)}, ops...)
		if err != nil {
			q.known = false
			finish(committed, 0, fmt.Errorf("register %s: %w", family, err))
			return rest
		}
		if resp.Succeeded {
			q.lastRev += int32(n)
			q.modRev = resp.Revision
			for _, r := range committed {
				st.putOwn(tdOwnKey{family, r.rec.TaskDefinition.Revision, resp.Revision}, r.rec)
			}
			finish(committed, resp.Revision, nil)
			return rest
		}
		// Another server registered in this family since we last looked.
		q.known = false
		if attempt+1 >= tdMaxAttempts {
			finish(committed, 0, fmt.Errorf("register %s: %w after %d attempts", family, store.ErrConflict, tdMaxAttempts))
			return rest
		}
		batch = append(committed, rest...)
		time.Sleep(time.Duration(1+rand.IntN(1<<min(attempt, 6))) * time.Millisecond)
	}
}

// Mutate applies change to family:rev with a transaction guarded by
// the record's mod revision, first as the view has it and, after a
// conflict, as etcd has it. change returns the new record, or nil to leave
// it as it is. It returns the record as it ends up (nil if there is none)
// and the etcd revision to sync to.
func (st *TaskDefs) Mutate(ctx context.Context, family string, rev int32, change func(cur *record.TaskDef) (*record.TaskDef, error)) (*record.TaskDef, int64, error) {
	key := record.TaskDefKey(family, rev)
	e, ok := st.Lookup(family, rev)
	cur, modRev := e.Rec, e.ModRev
	for attempt := 0; ; attempt++ {
		if attempt > 0 || !ok {
			resp, err := st.store.Range(ctx, store.Range{From: key})
			if err != nil {
				return nil, 0, fmt.Errorf("get %s: %w", key, err)
			}
			if len(resp.Items) == 0 {
				return nil, resp.Revision, nil
			}
			cur = new(record.TaskDef)
			if err := json.Unmarshal(resp.Items[0].Value, cur); err != nil {
				return nil, 0, fmt.Errorf("decode %s: %w", key, err)
			}
			modRev = resp.Items[0].ModRev
		}
		next, err := change(cur)
		if err != nil {
			return nil, 0, err
		}
		if next == nil {
			return cur, modRev, nil
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s: %w", key, err)
		}
		resp, err := st.store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, modRev)}, store.OpPut(key, b))
		if err != nil {
			return nil, 0, fmt.Errorf("update %s: %w", key, err)
		}
		if resp.Succeeded {
			st.putOwn(tdOwnKey{family, rev, resp.Revision}, next)
			return next, resp.Revision, nil
		}
		if attempt+1 >= tdMaxAttempts {
			return nil, 0, fmt.Errorf("update %s: %w", key, store.ErrConflict)
		}
	}
}
