package ops

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// instanceFilter compiles a ListContainerInstances filter (the cluster query
// language); an empty one matches everything.
func (s *Service) instanceFilter(expr string) (func(*ecsapi.ContainerInstance) bool, error) {
	if expr == "" {
		return func(*ecsapi.ContainerInstance) bool { return true }, nil
	}
	e, err := cql.Parse(expr)
	if err != nil {
		return nil, apierror.InvalidParameter("Invalid filter expression: %v", err)
	}
	return func(ci *ecsapi.ContainerInstance) bool { return e.Eval(cql.InstanceTarget{Instance: ci}) }, nil
}

// demandOf is what a task of td with overrides ov takes from its instance.
func demandOf(td *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) (scheduler.Demand, error) {
	eff := *td
	if ov != nil {
		eff.ContainerDefinitions = append([]ecsapi.ContainerDefinition(nil), td.ContainerDefinitions...)
		for _, co := range ov.ContainerOverrides {
			for i := range eff.ContainerDefinitions {
				c := &eff.ContainerDefinitions[i]
				if c.Name != co.Name {
					continue
				}
				if co.Cpu != nil {
					c.Cpu = *co.Cpu
				}
				if co.Memory != nil {
					c.Memory = co.Memory
				}
				if co.MemoryReservation != nil {
					c.MemoryReservation = co.MemoryReservation
				}
			}
		}
		if ov.Cpu != "" {
			eff.Cpu = ov.Cpu
		}
		if ov.Memory != "" {
			eff.Memory = ov.Memory
		}
	}
	d, err := scheduler.DemandFor(eff)
	if err != nil {
		return d, apierror.InvalidParameter("%v", err)
	}
	return d, nil
}

// errPlacementConflict: a batch's guard failed; place again on fresh views.
var errPlacementConflict = errors.New("placement conflict")

// place places count tasks of o in cluster, whose record the caller read at
// crev, and writes them, retrying on conflicts (reading the cluster again).
// The views first catch up with etcd: with revision rev (the caller's read)
// when given, else with a read of their own. It returns the tasks written
// and the failures of the last attempt.
func (s *Service) place(ctx context.Context, cluster string, crev, rev int64, o *runOptions, count int, cons []ecsapi.PlacementConstraint,
	strat []ecsapi.PlacementStrategy) ([]*taskRecord, []ecsapi.Failure, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, nil, err
	}
	demand, err := demandOf(o.td, o.overrides)
	if err != nil {
		return nil, nil, err
	}
	pol, err := scheduler.NewPolicy(strat, scheduler.ConstraintsFor(*o.td, cons))
	if err != nil {
		return nil, nil, apierror.InvalidParameter("%s", strings.TrimPrefix(err.Error(), scheduler.ErrInvalidPolicy.Error()+": "))
	}
	group := o.group
	if group == "" {
		group = "family:" + o.td.Family
	}
	var placed []*taskRecord
	var failures []ecsapi.Failure
	deadline := time.Now().Add(placeConflictBudget)
	conflicted := false
	for attempt := 0; len(placed) < count; attempt++ {
		if attempt > 0 {
			// Only a conflict comes back here. Servers that place in the
			// same shards at once would collide again in step: wait a
			// little, longer each time, at random.
			if time.Now().After(deadline) {
				break
			}
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(2*time.Millisecond)))):
			case <-ctx.Done():
				return placed, nil, ctx.Err()
			}
			if _, crev, rev, err = s.activeClusterAt(ctx, cluster); err != nil {
				return nil, nil, err
			}
		}
		if rev > 0 {
			v.sync(ctx, rev)
		} else {
			v.syncNow(ctx)
		}
		view := v.view(cluster)
		if view.Len() == 0 {
			return nil, nil, apierror.InvalidParameter("No Container Instances were found in your cluster.")
		}
		n := count - len(placed)
		ids := make([]string, n)
		now := s.now()
		for i := range ids {
			ids[i] = s.TaskARN(cluster, newTaskID(now))
		}
		var seed [8]byte
		copy(seed[:], ids[0][len(ids[0])-8:])
		// Place while the watch cannot change the view, and note the slot
		// revision of each instance the decision was made on.
		v.mu.Lock()
		plan, err := view.Place(scheduler.Request{TaskIDs: ids, Group: group, Demand: demand,
			RequiredAttributes: o.td.RequiresAttributes, Policy: pol, Seed: binary.LittleEndian.Uint64(seed[:])})
		seen := map[string]int64{}
		for _, pl := range plan.Placements {
			k := cluster + "/" + slotOf(pl.InstanceARN)
			seen[k] = v.slotRev[k]
		}
		v.mu.Unlock()
		if err != nil {
			return nil, nil, fmt.Errorf("place: %w", err)
		}
		failures = plan.Failures
		if len(plan.Placements) == 0 {
			break
		}
		now = s.now()
		recs := make([]*taskRecord, 0, len(plan.Placements))
		v.mu.Lock()
		for _, pl := range plan.Placements {
			vi := v.inst[cluster+"/"+instanceIDOf(pl.InstanceARN)]
			inst := &ecsapi.ContainerInstance{ContainerInstanceArn: pl.InstanceARN}
			if vi != nil && vi.rec != nil {
				inst = &vi.rec.Instance
			}
			rec := s.newTask(cluster, inst, o, now, taskIDOf(pl.TaskID))
			d := demand
			rec.Demand = &d
			recs = append(recs, rec)
		}
		v.mu.Unlock()
		err = v.commit(ctx, cluster, crev, seen, recs)
		conflicted = errors.Is(err, errPlacementConflict)
		if conflicted {
			view.Rollback(plan.PlacedIDs()...)
			continue
		}
		if err != nil {
			view.Rollback(plan.PlacedIDs()...)
			v.recheck(ctx, cluster, recs)
			return nil, nil, err
		}
		view.Commit(plan.PlacedIDs()...)
		placed = append(placed, recs...)
		if len(plan.Unplaced) > 0 {
			break
		}
	}
	if conflicted {
		// Other servers kept winning the same shards for the whole budget.
		if len(placed) == 0 {
			return nil, nil, apierror.New(apierror.CodeThrottling, "Rate exceeded: placements of other servers kept conflicting with this one; retry.")
		}
		s.Logger.Warn("placement gave up on conflicts", "cluster", cluster, "placed", len(placed), "asked", count)
		failures = nil
	}
	if len(placed) == count {
		failures = nil
	}
	return placed, failures, nil
}

// placeConflictBudget bounds how long a placement retries after conflicts
// with other servers' placements before giving up.
const placeConflictBudget = 10 * time.Second

// recheck reads back tasks whose commit failed without a clear outcome
// (the transaction may have been applied, as when ctx ended while it was
// in flight) and puts those that exist into the views: the watch may have
// skipped them as this server's own placements before they were rolled
// back.
func (v *views) recheck(ctx context.Context, cluster string, recs []*taskRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, rec := range recs {
		key := taskKey(cluster, taskIDOf(rec.Task.TaskArn))
		resp, err := v.s.Store.Range(ctx, store.Range{From: key})
		if err != nil {
			v.s.Logger.Warn("placement outcome unknown", "task", rec.Task.TaskArn, "err", err)
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

// batchItem is one placement of a batch: its tasks, the cluster revision
// and the slot revisions its decision was made on, and its outcome.
type batchItem struct {
	crev int64
	seen map[string]int64
	recs []*taskRecord
	err  error
}

// maxBatchOps bounds the operations of one placement transaction (etcd's
// --max-txn-ops, 128 by default; the embedded member allows more).
func (s *Service) maxBatchOps() int {
	if s.MaxTxnOps > 0 {
		return s.MaxTxnOps
	}
	return 128
}

// commit writes recs as part of the next batch of cluster's placements and
// returns once that batch is written (or failed). While one batch is in
// flight, the placements that arrive join the next one: group commit.
func (v *views) commit(ctx context.Context, cluster string, crev int64, seen map[string]int64, recs []*taskRecord) error {
	ops := 2*len(recs) + 1
	v.commitMu.Lock()
	b := v.pending[cluster]
	leader := false
	if b == nil || b.ops+ops > v.s.maxBatchOps() {
		b = &batch{done: make(chan struct{})}
		v.pending[cluster] = b
		leader = true
	}
	item := &batchItem{crev: crev, seen: seen, recs: recs}
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
		return item.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flight returns the lock that keeps one batch of cluster in flight.
func (v *views) flight(cluster string) *sync.Mutex {
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
// out with errPlacementConflict: its decision may have missed them. Each
// item's outcome is in its err.
func (v *views) write(ctx context.Context, cluster string, b *batch) {
	var cmps []store.Cmp
	var ops []store.Op
	crevs := map[int64]bool{}
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
			it.err = errPlacementConflict
			continue
		}
		items = append(items, it)
		if !crevs[it.crev] {
			crevs[it.crev] = true
			cmps = append(cmps, store.ModRevisionIs(clusterKey(cluster), it.crev))
		}
		for _, rec := range it.recs {
			shard := slotOf(rec.Task.ContainerInstanceArn)
			if k := cluster + "/" + shard; !touched[k] {
				touched[k] = true
				cmps = append(cmps, store.ModRevisionIs(slotKey(cluster, shard), v.slotRev[k]))
				ops = append(ops, store.OpPut(slotKey(cluster, shard), v.idBytes))
			}
		}
	}
	v.mu.Unlock()
	if len(items) == 0 {
		return
	}
	fail := func(err error) {
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
			ops = append(ops, store.OpPut(taskKey(cluster, taskIDOf(rec.Task.TaskArn)), tb))
		}
	}
	resp, err := v.s.Store.Txn(ctx, cmps, ops...)
	if err != nil {
		fail(fmt.Errorf("commit placements: %w", err))
		return
	}
	if !resp.Succeeded {
		fail(errPlacementConflict)
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
	// assignments here.
	for _, it := range items {
		for _, rec := range it.recs {
			v.assignLocked(cluster, taskIDOf(rec.Task.TaskArn), instanceIDOf(rec.Task.ContainerInstanceArn), rec.Task.DesiredStatus, rev)
		}
	}
	v.mu.Unlock()
}

// checkPlacement validates placement constraints and strategies as ECS
// does (at most 10 constraints and 5 strategies, known types and fields,
// memberOf expressions that parse).
func (s *Service) checkPlacement(cons []ecsapi.PlacementConstraint, strat []ecsapi.PlacementStrategy) error {
	if _, err := scheduler.NewPolicy(strat, cons); err != nil {
		return apierror.InvalidParameter("%s", strings.TrimPrefix(err.Error(), scheduler.ErrInvalidPolicy.Error()+": "))
	}
	return nil
}

// candidate is a container instance with its agent's connection, as the
// placement views know it.
type candidate struct {
	rec       instanceRecord
	connected bool
}

// candidates returns the cluster's instances that are not INACTIVE.
func (s *Service) candidates(ctx context.Context, cluster string) ([]*candidate, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	v.syncNow(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*candidate
	prefix := cluster + "/"
	for k, vi := range v.inst {
		if !strings.HasPrefix(k, prefix) || vi.rec == nil || vi.rec.Instance.Status == instanceInactive {
			continue
		}
		out = append(out, &candidate{rec: *vi.rec, connected: vi.connected})
	}
	return out, nil
}
