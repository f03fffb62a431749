package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// ErrPlacementConflict is returned by Commit when a batch's guard failed:
// another server placed in one of its shards. Place again on fresh views.
var ErrPlacementConflict = errors.New("placement conflict")

// Place decides the placements of req on cluster's view while the watch
// cannot change it, and returns them with the slot revision of each shard
// they place on (the revisions Commit guards on). The caller commits the
// placements (Commit), then confirms (scheduler.Cluster.Commit) or rolls
// them back.
func (v *Views) Place(cluster string, req scheduler.Request) (scheduler.Plan, map[string]int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	plan, err := v.clusterLocked(cluster).Place(req)
	seen := make(map[string]int64, len(plan.Placements))
	for _, pl := range plan.Placements {
		k := cluster + "/" + slotOf(pl.InstanceARN)
		seen[k] = v.slotRev[k]
	}
	return plan, seen, err
}

// Instance returns what the views hold of instance id of cluster: its
// record and whether its agent is connected. The record is shared: never
// change it.
func (v *Views) Instance(cluster, id string) (*record.Instance, bool, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vi := v.inst[cluster+"/"+id]
	if vi == nil || vi.rec == nil {
		return nil, false, false
	}
	return vi.rec, vi.connected, true
}

// Candidate is a container instance with its agent's connection, as the
// placement views know it.
type Candidate struct {
	Rec       record.Instance
	Connected bool
}

// Candidates returns cluster's instances that are not INACTIVE (after
// SyncNow).
func (v *Views) Candidates(ctx context.Context, cluster string) []*Candidate {
	v.SyncNow(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*Candidate
	prefix := cluster + "/"
	for k, vi := range v.inst {
		if !strings.HasPrefix(k, prefix) || vi.rec == nil || vi.rec.Instance.Status == record.InstanceInactive {
			continue
		}
		out = append(out, &Candidate{Rec: *vi.rec, Connected: vi.connected})
	}
	return out
}

// Recheck reads back tasks whose commit failed without a clear outcome
// (the transaction may have been applied, as when ctx ended while it was
// in flight) and puts those that exist into the views: the watch may have
// skipped them as this server's own placements before they were rolled
// back.
func (v *Views) Recheck(ctx context.Context, cluster string, recs []*record.Task) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, rec := range recs {
		key := record.TaskKey(cluster, record.IDOf(rec.Task.TaskArn))
		resp, err := v.cfg.Store.Range(ctx, store.Range{From: key})
		if err != nil {
			v.cfg.Logger.Warn("placement outcome unknown", "task", rec.Task.TaskArn, "err", err)
			continue
		}
		if len(resp.Items) == 0 {
			continue
		}
		kv := resp.Items[0]
		v.mu.Lock()
		v.applyLocked(key, kv.Value, kv.ModRev, kv.Lease, false)
		v.mu.Unlock()
	}
}

// batch is a group of placements written in one transaction.
type batch struct {
	items []*batchItem
	ops   int
	done  chan struct{}
}

// batchItem is one placement of a batch: its tasks and their cluster, the
// cluster revision and the slot revisions its decision was made on, and
// its outcome.
type batchItem struct {
	cluster string
	crev    int64
	seen    map[string]int64
	recs    []*record.Task
	// guard, when set, holds the mod revision each of recs' task
	// records must still have (Bind): tasks that already exist.
	guard map[string]int64
	err   error
	rev   int64 // the revision of the commit, when written
}

// Commit writes recs as part of the next batch of cluster's placements and
// returns once that batch is written (or failed). While one batch is in
// flight, the placements that arrive join the next one: group commit.
// Once written, the tasks of services among recs are in the index that
// ServiceTasks reads. After an error other than ErrPlacementConflict
// (ctx ended while the batch was in flight, say), call Recheck: the tasks
// may have been written all the same.
func (v *Views) Commit(ctx context.Context, cluster string, crev int64, seen map[string]int64, recs []*record.Task) error {
	return v.CommitOn(ctx, cluster, cluster, crev, seen, recs)
}

// CommitOn is Commit for tasks of cluster taskCluster (whose record the
// caller read at crev) placed on instances of cluster host, as Place
// decided them on host's view: the tasks of any cluster that run on a
// Fargate pool. The batch is host's; the task records are taskCluster's,
// guarded by its cluster record.
func (v *Views) CommitOn(ctx context.Context, cluster, taskCluster string, crev int64, seen map[string]int64, recs []*record.Task) error {
	ops := 2*len(recs) + 1
	v.commitMu.Lock()
	b := v.pending[cluster]
	leader := false
	if b == nil || b.ops+ops > v.cfg.MaxTxnOps {
		b = &batch{done: make(chan struct{})}
		v.pending[cluster] = b
		leader = true
	}
	item := &batchItem{cluster: taskCluster, crev: crev, seen: seen, recs: recs}
	b.items = append(b.items, item)
	b.ops += ops
	v.commitMu.Unlock()
	if leader {
		fl := v.flight(cluster)
		fl.Lock()
		v.commitMu.Lock()
		if v.pending[cluster] == b {
			delete(v.pending, cluster)
		}
		v.commitMu.Unlock()
		v.write(ctx, cluster, b)
		fl.Unlock()
		close(b.done)
	}
	select {
	case <-b.done:
		if item.err == nil {
			// The tasks of services, indexed before the placement
			// returns: its caller reads them next.
			v.svcTasks.putCommitted(item.cluster, item.recs, item.rev)
		}
		v.observeCommit(len(recs), item.err)
		return item.err
	case <-ctx.Done():
		v.observeCommit(len(recs), ctx.Err())
		return ctx.Err()
	}
}

// Bind writes recs, tasks of cluster that already exist without an
// instance (waiting in PROVISIONING) and now placed on instances of host
// as Place decided, each guarded by the mod revision its record had when
// read (revs, by task ID): a task stopped or changed since is not
// overwritten, and the whole bind fails with ErrPlacementConflict. A bind
// is a batch of its own, in flight alone among host's batches, so that its
// guards never fail other placements.
func (v *Views) Bind(ctx context.Context, host, cluster string, crev int64, seen map[string]int64, recs []*record.Task, revs map[string]int64) error {
	guard := make(map[string]int64, len(recs))
	for _, rec := range recs {
		id := record.IDOf(rec.Task.TaskArn)
		guard[record.TaskKey(cluster, id)] = revs[id]
	}
	item := &batchItem{cluster: cluster, crev: crev, seen: seen, recs: recs, guard: guard}
	fl := v.flight(host)
	fl.Lock()
	v.write(ctx, host, &batch{items: []*batchItem{item}})
	fl.Unlock()
	if item.err == nil {
		v.svcTasks.putCommitted(item.cluster, item.recs, item.rev)
	}
	v.observeCommit(len(recs), item.err)
	return item.err
}

// observeCommit reports a commit's outcome to Config.OnCommit.
func (v *Views) observeCommit(tasks int, err error) {
	if v.cfg.OnCommit != nil {
		v.cfg.OnCommit(tasks, err)
	}
}

// flight returns the lock that keeps one batch of cluster in flight.
func (v *Views) flight(cluster string) *sync.Mutex {
	v.commitMu.Lock()
	defer v.commitMu.Unlock()
	if v.flights == nil {
		v.flights = map[string]*sync.Mutex{}
	}
	m := v.flights[cluster]
	if m == nil {
		m = &sync.Mutex{}
		v.flights[cluster] = m
	}
	return m
}

// write commits a batch: every task, and the slot key of each shard of
// instances it places on, guarded by the slot revisions this server knows
// and by the cluster record's revision. An item decided on a view that has
// since learnt of another server's placements in one of its shards is left
// out with ErrPlacementConflict: its decision may have missed them. Each
// item's outcome is in its err.
func (v *Views) write(ctx context.Context, cluster string, b *batch) {
	var cmps []store.Cmp
	var ops []store.Op
	crevs := map[string]bool{}
	touched := map[string]bool{}
	var items []*batchItem
	v.mu.Lock()
	for _, it := range b.items {
		stale := false
		for k, rev := range it.seen {
			if v.lastForeign[k] > rev {
				stale = true
			}
		}
		if stale {
			it.err = ErrPlacementConflict
			continue
		}
		items = append(items, it)
		for _, rec := range it.recs {
			if _, ok := serviceOf(rec.Task.Group); ok {
				v.svcPending[taskKey{it.cluster, record.IDOf(rec.Task.TaskArn)}] = rec
			}
		}
		for k, rev := range it.guard {
			cmps = append(cmps, store.ModRevisionIs(k, rev))
		}
		if ck := fmt.Sprintf("%s@%d", it.cluster, it.crev); !crevs[ck] {
			crevs[ck] = true
			cmps = append(cmps, store.ModRevisionIs(record.ClusterKey(it.cluster), it.crev))
		}
		for _, rec := range it.recs {
			shard := slotOf(rec.Task.ContainerInstanceArn)
			if k := cluster + "/" + shard; !touched[k] {
				touched[k] = true
				cmps = append(cmps, store.ModRevisionIs(record.SlotKey(cluster, shard), v.slotRev[k]))
				ops = append(ops, store.OpPut(record.SlotKey(cluster, shard), v.idBytes))
			}
		}
	}
	v.mu.Unlock()
	if len(items) == 0 {
		return
	}
	fail := func(err error) {
		v.mu.Lock()
		v.unpendLocked(items)
		v.mu.Unlock()
		for _, it := range items {
			it.err = err
		}
	}
	for _, it := range items {
		for _, rec := range it.recs {
			tb, err := json.Marshal(rec)
			if err != nil {
				fail(err)
				return
			}
			ops = append(ops, store.OpPut(record.TaskKey(it.cluster, record.IDOf(rec.Task.TaskArn)), tb))
		}
	}
	resp, err := v.cfg.Store.Txn(ctx, cmps, ops...)
	if err != nil {
		fail(fmt.Errorf("commit placements: %w", err))
		return
	}
	if !resp.Succeeded {
		fail(ErrPlacementConflict)
		return
	}
	rev := resp.Revision
	v.mu.Lock()
	v.ownRevs[rev] = true
	for k := range touched {
		if rev > v.slotRev[k] {
			v.slotRev[k] = rev
		}
	}
	// The watch skips these tasks (the view has them): note their
	// assignments here. Their callers index those of services (Commit).
	v.unpendLocked(items)
	for _, it := range items {
		it.rev = rev
		for _, rec := range it.recs {
			v.assignLocked(it.cluster, record.IDOf(rec.Task.TaskArn), cluster, record.IDOf(rec.Task.ContainerInstanceArn), rec.AgentDesiredStatus(), rev)
			v.catalogPutLocked(it.cluster, record.IDOf(rec.Task.TaskArn), catalogOf(rec, rev))
		}
	}
	v.mu.Unlock()
}

// unpendLocked forgets the tasks of services of items as in flight.
func (v *Views) unpendLocked(items []*batchItem) {
	if len(v.svcPending) == 0 {
		return
	}
	for _, it := range items {
		for _, rec := range it.recs {
			delete(v.svcPending, taskKey{it.cluster, record.IDOf(rec.Task.TaskArn)})
		}
	}
}
