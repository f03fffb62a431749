package ecs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// Tasks waiting for capacity. A task whose capacity provider has managed
// scaling ENABLED and that fits none of the provider's instances is not a
// RESOURCE failure, as ECS does it: it is written without an instance and
// waits in PROVISIONING (lastStatus PROVISIONING, desiredStatus RUNNING, no
// containerInstanceArn) while managed scaling (internal/capacity) has the
// provisioner add instances. The leader's managed scaling loop places the
// waiting tasks when instances arrive (PlaceWaiting): each placement is a
// guarded bind of the existing record (state.Views.Bind), so a task
// stopped meanwhile is never revived. StopTask stops a waiting task at
// once. A task that waits longer than ProvisioningTimeout is stopped with
// stop code TaskFailedToStart.

// Limits of waiting tasks.
const (
	// MaxProvisioningTasks is the most tasks of one cluster that wait in
	// PROVISIONING; beyond it placement fails as without managed scaling.
	MaxProvisioningTasks = 500
	// ProvisioningTimeout is how long a task waits in PROVISIONING before
	// it is stopped.
	ProvisioningTimeout = 30 * time.Minute
)

// provisioningTimeoutReason is the stoppedReason of a task that waited too
// long for capacity.
const provisioningTimeoutReason = "Capacity is unavailable at this time: the task waited for managed scaling to add an instance of its capacity provider for longer than the provisioning timeout."

// ManagedProvider returns the record of capacity provider name when it is
// an ACTIVE Auto Scaling group provider with managed scaling ENABLED.
func (s *API) ManagedProvider(ctx context.Context, name string) (ecsapi.CapacityProvider, bool, error) {
	var cp ecsapi.CapacityProvider
	if name == "" || builtinProvider(name) {
		return cp, false, nil
	}
	_, err := s.Store.Get(ctx, capacityProviderKey(name), &cp)
	if errors.Is(err, store.ErrNotFound) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("get capacity provider %s: %w", name, err)
	}
	asg := cp.AutoScalingGroupProvider
	ok := cp.Status == providerActive && asg != nil && asg.ManagedScaling != nil && asg.ManagedScaling.Status == "ENABLED"
	return cp, ok, nil
}

// waiting reports whether t waits in PROVISIONING for an instance.
func waiting(t *ecsapi.Task) bool {
	return t.ContainerInstanceArn == "" && t.LastStatus == taskProvisioning && t.DesiredStatus == taskRunning
}

// clusterTasks reads every task record of cluster with its mod revision.
func (s *API) clusterTasks(ctx context.Context, cluster string) ([]*taskRecord, []int64, error) {
	p := prefixOf("tasks", cluster)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, nil, fmt.Errorf("list tasks of %s: %w", cluster, err)
	}
	recs := make([]*taskRecord, 0, len(resp.Items))
	revs := make([]int64, 0, len(resp.Items))
	for _, it := range resp.Items {
		var rec taskRecord
		if json.Unmarshal(it.Value, &rec) != nil {
			continue
		}
		recs = append(recs, &rec)
		revs = append(revs, it.ModRev)
	}
	return recs, revs, nil
}

// provision writes n tasks of o (a managed-scaling provider's share that
// found no room) waiting in PROVISIONING, as many as the cluster's limit
// leaves room for, guarded by the cluster record's revision crev. The
// tasks keep the placement constraints and strategy cons and strat for
// the placement that comes when capacity does.
func (s *API) provision(ctx context.Context, cluster string, crev int64, o *runOptions, n int, cons []ecsapi.PlacementConstraint,
	strat []ecsapi.PlacementStrategy) ([]*taskRecord, error) {
	p := prefixOf("tasks", cluster)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("count waiting tasks of %s: %w", cluster, err)
	}
	waitingNow := 0
	for _, it := range resp.Items {
		if !strings.Contains(string(it.Value), `"PROVISIONING"`) {
			continue
		}
		var rec taskRecord
		if json.Unmarshal(it.Value, &rec) == nil && waiting(&rec.Task) {
			waitingNow++
		}
	}
	n = min(n, MaxProvisioningTasks-waitingNow)
	if n <= 0 {
		return nil, nil
	}
	demand, err := demandOf(o.td, o.overrides)
	if err != nil {
		return nil, err
	}
	now := s.now()
	recs := make([]*taskRecord, 0, n)
	cmps := []store.Cmp{store.ModRevisionIs(clusterKey(cluster), crev)}
	var ops []store.Op
	for range n {
		rec := s.newTask(cluster, &ecsapi.ContainerInstance{}, o, now, newTaskID(now))
		d := demand
		rec.Demand = &d
		rec.PlacementConstraints, rec.PlacementStrategy = cons, strat
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		k := taskKey(cluster, taskIDOf(rec.Task.TaskArn))
		cmps = append(cmps, store.Absent(k))
		ops = append(ops, store.OpPut(k, b))
		recs = append(recs, rec)
	}
	r, err := s.Store.Txn(ctx, cmps, ops...)
	if err != nil {
		return nil, fmt.Errorf("write waiting tasks of %s: %w", cluster, err)
	}
	if !r.Succeeded {
		return nil, fmt.Errorf("write waiting tasks of %s: %w", cluster, store.ErrConflict)
	}
	if s.OnProvisioning != nil {
		s.OnProvisioning()
	}
	s.Logger.Info("tasks wait in PROVISIONING for managed scaling", "cluster", cluster, "capacityProvider", o.capacityProvider, "tasks", n)
	return recs, nil
}

// WaitingTask is a task waiting in PROVISIONING, as managed scaling counts
// it.
type WaitingTask struct {
	TaskArn          string
	CapacityProvider string
	Demand           scheduler.Demand
	CreatedAt        time.Time
}

// WaitingTasks returns the tasks of cluster that wait in PROVISIONING.
func (s *API) WaitingTasks(ctx context.Context, cluster string) ([]WaitingTask, error) {
	recs, _, err := s.clusterTasks(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var out []WaitingTask
	for _, rec := range recs {
		if !waiting(&rec.Task) {
			continue
		}
		w := WaitingTask{TaskArn: rec.Task.TaskArn, CapacityProvider: rec.Task.CapacityProviderName}
		if rec.Demand != nil {
			w.Demand = *rec.Demand
		}
		if rec.Task.CreatedAt != nil {
			w.CreatedAt = rec.Task.CreatedAt.Time
		}
		out = append(out, w)
	}
	return out, nil
}

// PlaceWaiting places the tasks of cluster that wait in PROVISIONING on
// instances of their capacity providers that now have room, and stops
// those that waited longer than ProvisioningTimeout. It returns how many
// it placed. Run it on one server at a time (the managed scaling leader);
// a bind that conflicts with a concurrent change is left for the next call.
func (s *API) PlaceWaiting(ctx context.Context, cluster string) (int, error) {
	recs, revs, err := s.clusterTasks(ctx, cluster)
	if err != nil {
		return 0, err
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	placed := 0
	for i, rec := range recs {
		t := &rec.Task
		if !waiting(t) {
			continue
		}
		id := taskIDOf(t.TaskArn)
		if t.CreatedAt != nil && now.Sub(t.CreatedAt.Time) > ProvisioningTimeout {
			if _, err := s.requestStopCode(ctx, cluster, id, provisioningTimeoutReason, "TaskFailedToStart"); err != nil {
				s.Logger.Warn("stop task that waited too long", "task", t.TaskArn, "err", err)
			}
			continue
		}
		ok, err := s.bindWaiting(ctx, v, cluster, rec, revs[i])
		if err != nil {
			return placed, err
		}
		if ok {
			placed++
		}
	}
	return placed, nil
}

// bindWaiting places waiting task rec (read at mod revision rev) on an
// instance of its capacity provider with room for it, if any.
func (s *API) bindWaiting(ctx context.Context, v *state.Views, cluster string, rec *taskRecord, rev int64) (bool, error) {
	t := &rec.Task
	_, crev, srev, err := s.activeClusterAt(ctx, cluster)
	if err != nil {
		return false, err
	}
	td, err := s.taskDefForService(ctx, t.TaskDefinitionArn)
	if err != nil {
		return false, err
	}
	o := &runOptions{td: td, overrides: t.Overrides, capacityProvider: t.CapacityProviderName, group: t.Group, launchType: string(t.LaunchType)}
	if rec.Demand == nil {
		d, err := demandOf(td, t.Overrides)
		if err != nil {
			return false, err
		}
		rec.Demand = &d
	}
	pol, err := scheduler.NewPolicy(rec.PlacementStrategy, scheduler.ConstraintsFor(*td, rec.PlacementConstraints))
	if err != nil {
		return false, err
	}
	v.Sync(ctx, srev)
	var seed [8]byte
	copy(seed[:], t.TaskArn[len(t.TaskArn)-8:])
	plan, seen, err := v.Place(cluster, scheduler.Request{TaskIDs: []string{t.TaskArn}, Group: t.Group, Demand: *rec.Demand,
		RequiredAttributes: o.requiredAttributes(), Policy: pol, Seed: binary.LittleEndian.Uint64(seed[:])})
	if err != nil {
		return false, fmt.Errorf("place waiting task: %w", err)
	}
	if len(plan.Placements) == 0 {
		return false, nil
	}
	pl := plan.Placements[0]
	inst, _, ok := v.Instance(cluster, instanceIDOf(pl.InstanceARN))
	view := v.Cluster(cluster)
	if !ok {
		view.Rollback(plan.PlacedIDs()...)
		return false, nil
	}
	bound := *rec
	bound.PlacementConstraints, bound.PlacementStrategy = nil, nil
	bt := bound.Task
	bt.ContainerInstanceArn = pl.InstanceARN
	bt.Attributes = []ecsapi.Attribute{{Name: "ecs.cpu-architecture", Value: attrValue(inst.Instance.Attributes, "ecs.cpu-architecture")}}
	bt.AvailabilityZone = attrValue(inst.Instance.Attributes, "ecs.availability-zone")
	bt.Containers = slices.Clone(t.Containers)
	bt.Version++
	bound.Task = bt
	id := taskIDOf(t.TaskArn)
	err = v.Bind(ctx, cluster, cluster, crev, seen, []*taskRecord{&bound}, map[string]int64{id: rev})
	if errors.Is(err, state.ErrPlacementConflict) {
		view.Rollback(plan.PlacedIDs()...)
		return false, nil
	}
	if err != nil {
		view.Rollback(plan.PlacedIDs()...)
		v.Recheck(ctx, cluster, []*taskRecord{&bound})
		return false, err
	}
	view.Commit(plan.PlacedIDs()...)
	s.Logger.Info("waiting task placed", "task", t.TaskArn, "instance", pl.InstanceARN)
	return true, nil
}

// ScalingTarget is a capacity provider with managed scaling ENABLED in
// one of the ACTIVE clusters that have it.
type ScalingTarget struct {
	Cluster  string
	Provider ecsapi.CapacityProvider
}

// ScalingTargets returns every (cluster, provider) pair that managed
// scaling looks after.
func (s *API) ScalingTargets(ctx context.Context) ([]ScalingTarget, error) {
	p := prefixOf("clusters")
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	cache := map[string]*ecsapi.CapacityProvider{}
	var out []ScalingTarget
	for _, it := range resp.Items {
		name := strings.TrimPrefix(it.Key, p)
		if strings.Contains(name, "/") {
			continue
		}
		var c struct {
			Status    string   `json:"status"`
			Providers []string `json:"capacityProviders"`
		}
		if json.Unmarshal(it.Value, &c) != nil || c.Status != "ACTIVE" {
			continue
		}
		for _, pn := range c.Providers {
			cp, seen := cache[pn]
			if !seen {
				rec, ok, err := s.ManagedProvider(ctx, pn)
				if err != nil {
					return nil, err
				}
				if ok {
					cp = &rec
				}
				cache[pn] = cp
			}
			if cp != nil {
				out = append(out, ScalingTarget{Cluster: name, Provider: *cp})
			}
		}
	}
	return out, nil
}

// ProviderInstance is a container instance of a capacity provider as
// managed scaling sees it.
type ProviderInstance struct {
	Instance ecsapi.ContainerInstance
	// Registered and Remaining are its CPU units and memory MiB.
	Registered, Remaining Resources
	// Tasks counts its tasks that are not STOPPED, daemon tasks aside.
	Tasks int
	// Connected is whether its agent is connected.
	Connected bool
}

// ProviderInstances returns the instances of cluster that belong to
// capacity provider and are not INACTIVE.
func (s *API) ProviderInstances(ctx context.Context, cluster, provider string) ([]ProviderInstance, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	cands := v.Candidates(ctx, cluster)
	recs, _, err := s.clusterTasks(ctx, cluster)
	if err != nil {
		return nil, err
	}
	daemons, err := s.daemonServices(ctx, cluster)
	if err != nil {
		return nil, err
	}
	tasks := map[string]int{}
	for _, rec := range recs {
		t := &rec.Task
		if t.ContainerInstanceArn == "" || t.LastStatus == taskStopped {
			continue
		}
		if name, ok := strings.CutPrefix(t.Group, "service:"); ok && daemons[name] {
			continue
		}
		tasks[t.ContainerInstanceArn]++
	}
	var out []ProviderInstance
	for _, c := range cands {
		ci := c.Rec.Instance
		if ci.CapacityProviderName != provider {
			continue
		}
		v.WithAccounting(cluster, &ci)
		out = append(out, ProviderInstance{Instance: ci, Registered: resourcesOf(ci.RegisteredResources),
			Remaining: resourcesOf(ci.RemainingResources), Tasks: tasks[ci.ContainerInstanceArn], Connected: c.Connected})
	}
	slices.SortFunc(out, func(a, b ProviderInstance) int {
		return strings.Compare(a.Instance.ContainerInstanceArn, b.Instance.ContainerInstanceArn)
	})
	return out, nil
}

// Resources are CPU units and memory MiB.
type Resources struct {
	CPU, Memory int64
}

// resourcesOf reads CPU and MEMORY from ECS resources.
func resourcesOf(rs []ecsapi.Resource) Resources {
	var r Resources
	for _, x := range rs {
		switch x.Name {
		case "CPU":
			r.CPU = int64(x.IntegerValue)
		case "MEMORY":
			r.Memory = int64(x.IntegerValue)
		}
	}
	return r
}

// daemonServices returns the names of cluster's services whose scheduling
// strategy is DAEMON.
func (s *API) daemonServices(ctx context.Context, cluster string) (map[string]bool, error) {
	p := prefixOf("services", cluster)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("list services of %s: %w", cluster, err)
	}
	out := map[string]bool{}
	for _, it := range resp.Items {
		if !strings.Contains(string(it.Value), `"DAEMON"`) {
			continue
		}
		var sv struct {
			ServiceName        string `json:"serviceName"`
			SchedulingStrategy string `json:"schedulingStrategy"`
		}
		if json.Unmarshal(it.Value, &sv) == nil && sv.SchedulingStrategy == "DAEMON" {
			out[sv.ServiceName] = true
		}
	}
	return out, nil
}
