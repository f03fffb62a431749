package ecs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/state"
)

// instanceFilter compiles a ListContainerInstances filter (the cluster query
// language); an empty one matches everything.
func (s *API) instanceFilter(expr string) (func(*ecsapi.ContainerInstance) bool, error) {
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

// ErrNoInstances is the error, matched with errors.Is, of a placement in a
// cluster that has no container instance (RunTask, StartTask, RunTasks).
// The error returned also holds the InvalidParameterException RunTask
// answers its callers with (apierror.As finds it, its text unchanged).
var ErrNoInstances = errors.New("no container instances in the cluster")

// errNoInstances is ErrNoInstances with ECS's answer to RunTask.
func errNoInstances() error {
	return fmt.Errorf("%w: %w", ErrNoInstances, apierror.InvalidParameter("No Container Instances were found in your cluster."))
}

// placeChunk is the most tasks placed and committed at once: each task
// costs its commit two operations (its record and, at most, its shard's
// slot key), and a commit is one transaction of at most MaxTxnOps.
func (s *API) placeChunk() int {
	n := s.MaxTxnOps
	if n <= 0 {
		n = 128
	}
	return max(1, (n-1)/2)
}

// place places count tasks of o in cluster, whose record the caller read at
// crev, and writes them, retrying on conflicts (reading the cluster again).
// The views first catch up with etcd: with revision rev (the caller's read)
// when given, else with a read of their own. More tasks than one commit
// holds (placeChunk) are placed and written a chunk at a time. It returns
// the tasks written and the failures of the last attempt; ErrNoInstances
// (with RunTask's error) if the cluster has no container instance. With an
// error, the tasks written before it are returned too.
func (s *API) place(ctx context.Context, cluster string, crev, rev int64, o *runOptions, count int, cons []ecsapi.PlacementConstraint,
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
	// host is the cluster whose instances take the tasks: the Fargate
	// pool's for Fargate tasks, which stay tasks of cluster.
	host := cluster
	if o.hostCluster != "" {
		host = o.hostCluster
	}
	var placed []*taskRecord
	var failures []ecsapi.Failure
	deadline := time.Now().Add(placeConflictBudget)
	conflicted := false
	chunk := s.placeChunk()
	for attempt := 0; len(placed) < count; {
		if conflicted {
			// Servers that place in the same shards at once would collide
			// again in step: wait a little, longer each time, at random.
			attempt++
			if time.Now().After(deadline) {
				break
			}
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(2*time.Millisecond)))):
			case <-ctx.Done():
				return placed, nil, ctx.Err()
			}
			if _, crev, rev, err = s.activeClusterAt(ctx, cluster); err != nil {
				return placed, nil, err
			}
		}
		if rev > 0 {
			v.Sync(ctx, rev)
		} else {
			v.SyncNow(ctx)
		}
		view := v.Cluster(host)
		if view.Len() == 0 {
			if len(placed) > 0 {
				// The instances left between two chunks.
				break
			}
			return nil, nil, errNoInstances()
		}
		n := min(count-len(placed), chunk)
		ids := make([]string, n)
		now := s.now()
		for i := range ids {
			ids[i] = s.TaskARN(cluster, newTaskID(now))
		}
		var seed [8]byte
		copy(seed[:], ids[0][len(ids[0])-8:])
		// Place while the watch cannot change the view, noting the slot
		// revision of each instance the decision was made on.
		plan, seen, err := v.Place(host, scheduler.Request{TaskIDs: ids, Group: group, Demand: demand,
			RequiredAttributes: o.requiredAttributes(), Policy: pol, Seed: binary.LittleEndian.Uint64(seed[:])})
		if err != nil {
			return placed, nil, fmt.Errorf("place: %w", err)
		}
		failures = plan.Failures
		if len(plan.Placements) == 0 {
			// Right after a conflict, "nothing fits" may come from this
			// server's other placements in flight, which may yet roll
			// back: the answer stays ThrottlingException (below), which
			// SDKs retry, rather than capacity failures that are not
			// final.
			break
		}
		now = s.now()
		recs := make([]*taskRecord, 0, len(plan.Placements))
		for _, pl := range plan.Placements {
			inst := &ecsapi.ContainerInstance{ContainerInstanceArn: pl.InstanceARN}
			if rec, _, ok := v.Instance(host, instanceIDOf(pl.InstanceARN)); ok {
				inst = &rec.Instance
			}
			rec := s.newTask(cluster, inst, o, now, taskIDOf(pl.TaskID))
			if o.launchType == launchTypeFargate {
				fargateTask(&rec.Task)
			}
			d := demand
			rec.Demand = &d
			recs = append(recs, rec)
		}
		err = v.CommitOn(ctx, host, cluster, crev, seen, recs)
		conflicted = errors.Is(err, state.ErrPlacementConflict)
		if conflicted {
			view.Rollback(plan.PlacedIDs()...)
			continue
		}
		if err != nil {
			view.Rollback(plan.PlacedIDs()...)
			v.Recheck(ctx, cluster, recs)
			return placed, nil, err
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

// checkPlacement validates placement constraints and strategies as ECS
// does (at most 10 constraints and 5 strategies, known types and fields,
// memberOf expressions that parse).
func (s *API) checkPlacement(cons []ecsapi.PlacementConstraint, strat []ecsapi.PlacementStrategy) error {
	if _, err := scheduler.NewPolicy(strat, cons); err != nil {
		return apierror.InvalidParameter("%s", strings.TrimPrefix(err.Error(), scheduler.ErrInvalidPolicy.Error()+": "))
	}
	return nil
}

// candidates returns the cluster's instances that are not INACTIVE.
func (s *API) candidates(ctx context.Context, cluster string) ([]*state.Candidate, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	return v.Candidates(ctx, cluster), nil
}
