package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// The placement views: one scheduler.Cluster per cluster, the in-memory
// picture placement works on, kept current by one etcd watch over the
// records that matter to it:
//
//	instances/<cluster>/<id>   container instance records (capacity, status, attributes)
//	connected/<cluster>/<id>   agent connected (lease keys)
//	tasks/<cluster>/<id>       tasks: each holds its demand until STOPPED
//	slots/<cluster>/<shard>    the placement version of a shard of instances
//
// The tasks also give each instance's assignments, which agents' polls
// read.
//
// Placement reserves in the view, then commits in a batch (committer): one
// etcd transaction for many RunTask calls, guarded by the mod revision of
// the slots key of each shard of instances it places on, which every
// commit that places on an instance of the shard rewrites. Two servers
// placing on one instance from stale views therefore cannot both commit;
// within one server the committer keeps the latest slot revisions it
// wrote, so its own batches never conflict. Instances are hashed into
// slotShards shards rather than each having its own key: a batch of
// hundreds of tasks then rewrites at most slotShards keys instead of one
// per instance, at the price of more conflicts (retried) between servers
// that place at the same time in the same shard.

// slotShards is the number of slot keys per cluster.
const slotShards = 64

// slotOf returns the shard of the instance whose ARN or ID ends in id, as
// used in its slots key's last part.
func slotOf(instance string) string {
	h := fnv.New32a()
	h.Write([]byte(record.IDOf(instance)))
	return fmt.Sprintf("%02d", h.Sum32()%slotShards)
}

// Views is the placement state of one server.
type Views struct {
	cfg    Config
	agents *Agents
	ready  chan struct{}

	mu       sync.Mutex
	clusters map[string]*scheduler.Cluster
	inst     map[string]*viewInstance // cluster/id -> what the view knows
	slotRev  map[string]int64         // cluster/shard -> slot key mod revision
	// lastForeign is, per shard, the latest slot revision written by
	// another server (or found at load): a placement decided on a view
	// older than it may have missed that server's tasks.
	lastForeign map[string]int64
	// ownRevs are the revisions of this server's placement commits.
	ownRevs map[int64]bool
	// id names this server's views in the slot keys it writes, which is
	// how a slot write is known to be another server's.
	id       string
	idBytes  []byte        // id, as written to slot keys
	rev      int64         // etcd revision the views reflect
	advanced chan struct{} // closed and replaced when rev advances
	// assigns holds, per instance (cluster/id), its assignments: what
	// agents' polls answer and wait on; taskInst is the instance of each
	// assigned task (cluster/task -> instance cluster/id).
	assigns  map[string]*instanceAssigns
	taskInst map[string]string
	// loadedAt is the revision of the latest full load: changes before it
	// may not be in assigns' change revisions.
	loadedAt int64
	// svcTasks indexes the tasks of services (servicetasks.go);
	// svcPending holds the tasks of services of the placement commits in
	// flight, for the watch to index should it deliver one
	// before its commit returns.
	svcTasks   *serviceIndex
	svcPending map[taskKey]*record.Task
	// catalog holds a few members of every task, by cluster and ID
	// (catalog.go).
	catalog map[string]map[string]*catalogEntry

	commitMu sync.Mutex
	pending  map[string]*batch      // cluster -> batch being formed
	flights  map[string]*sync.Mutex // cluster -> one batch in flight
}

// instanceAssigns are the tasks assigned to one instance.
type instanceAssigns struct {
	tasks map[string]assignment // by task ID
	// changed is the latest revision at which an assignment was put or
	// deleted (at least the last load's).
	changed int64
	// wake is closed when changed advances; nil while nobody waits.
	wake chan struct{}
}

// assignment is a task assigned to an instance: its desired status and the
// revision at which the assignment last changed for the agent.
type assignment struct {
	mod     int64
	desired string
}

// viewInstance is an instance record and its agent's connection.
type viewInstance struct {
	rec       *record.Instance
	connected bool
}

func newViews(cfg Config, agents *Agents) *Views {
	id := newID()
	return &Views{cfg: cfg, agents: agents, ready: make(chan struct{}), clusters: map[string]*scheduler.Cluster{},
		inst: map[string]*viewInstance{}, slotRev: map[string]int64{}, advanced: make(chan struct{}),
		lastForeign: map[string]int64{}, ownRevs: map[int64]bool{}, id: id, idBytes: []byte(id),
		pending: map[string]*batch{}, assigns: map[string]*instanceAssigns{},
		taskInst: map[string]string{}, svcTasks: newServiceIndex(), svcPending: map[taskKey]*record.Task{}}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Ready waits until the views are loaded (30 seconds at most).
func (v *Views) Ready(ctx context.Context) error {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("placement views not loaded")
	}
}

var tasksPrefix = store.Key("tasks") + "/"

var viewPrefixes = []string{"instances", "connected", "tasks", "slots"}

// run keeps the views current until ctx ends: a list of the records they
// hold, then the watch of every key (store.Follow, which lists again when
// the watch breaks).
func (v *Views) run(ctx context.Context) {
	lists := make([]string, len(viewPrefixes))
	for i, p := range viewPrefixes {
		lists[i] = store.Key(p) + "/"
	}
	_ = v.cfg.Store.Follow(ctx, store.Follow{Prefix: store.Prefix, Lists: lists, Load: v.load, Apply: v.apply,
		Logger: v.cfg.Logger.With("component", "placement-views")})
}

// load rebuilds the views from a snapshot at rev.
func (v *Views) load(rev int64, items []store.Item) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clusters = map[string]*scheduler.Cluster{}
	v.inst = map[string]*viewInstance{}
	v.slotRev = map[string]int64{}
	v.lastForeign = map[string]int64{}
	// Polls waiting on the old assignments look again at the new ones,
	// which count as changed at the load's revision.
	for _, a := range v.assigns {
		if a.wake != nil {
			close(a.wake)
		}
	}
	v.assigns = map[string]*instanceAssigns{}
	v.taskInst = map[string]string{}
	v.svcTasks.reset()
	v.catalog = map[string]map[string]*catalogEntry{}
	v.loadedAt = rev
	for i := range items {
		kv := &items[i]
		v.applyLocked(kv.Key, kv.Value, kv.ModRev, kv.Lease, false)
	}
	v.advanceLocked(rev)
	select {
	case <-v.ready:
	default:
		close(v.ready)
	}
}

// apply folds one watch response into the views.
func (v *Views) apply(resp store.WatchResponse) {
	v.mu.Lock()
	for i := range resp.Events {
		ev := &resp.Events[i]
		if !ev.Deleted && strings.HasPrefix(ev.Key, tasksPrefix) && v.ownTaskLocked(ev) {
			// A task this server placed: the view has it already.
			continue
		}
		v.applyLocked(ev.Key, ev.Value, ev.ModRev, ev.Lease, ev.Deleted)
	}
	v.advanceLocked(resp.Revision)
	v.mu.Unlock()
}

func (v *Views) advanceLocked(rev int64) {
	if len(v.ownRevs) > 4096 {
		for r := range v.ownRevs {
			if r <= v.rev {
				delete(v.ownRevs, r)
			}
		}
	}
	if rev > v.rev {
		v.rev = rev
		close(v.advanced)
		v.advanced = make(chan struct{})
	}
}

// ownTaskLocked reports whether a watch event of a task record is the
// creation of a task this server placed: the views have it already (the
// placement reserved it before the write; write notes its assignment), so
// the record need not be decoded. That is a write of a placement commit of
// this server, or, when the watch delivers it before the commit has noted
// its revision, the first version of a task the view already holds: no
// other writer creates a task under an ID this server chose.
func (v *Views) ownTaskLocked(ev *store.Event) bool {
	if v.ownRevs[ev.ModRev] {
		return true
	}
	if ev.Version != 1 {
		return false
	}
	cluster, id, ok := strings.Cut(ev.Key[len(tasksPrefix):], "/")
	if !ok {
		return false
	}
	c := v.clusters[cluster]
	if c == nil || !c.HasTask(v.cfg.TaskARN(cluster, id)) {
		return false
	}
	if len(v.svcPending) > 0 {
		// A task of a service whose commit has not returned yet: index it
		// now, since the views may reach its revision before the
		// committer notes it.
		if rec := v.svcPending[taskKey{cluster, id}]; rec != nil {
			v.svcTasks.put(cluster, id, &rec.Task, ev.ModRev)
		}
	}
	return true
}

// SyncNow waits until the views reflect every write etcd had committed
// when it was called, on any server.
func (v *Views) SyncNow(ctx context.Context) {
	rev, err := v.cfg.Store.Revision(ctx)
	if err != nil {
		return
	}
	v.Sync(ctx, rev)
}

// Sync waits until the views reflect etcd revision rev (a short while at
// most).
func (v *Views) Sync(ctx context.Context, rev int64) {
	deadline := time.After(5 * time.Second)
	asked := false
	for {
		v.mu.Lock()
		done, ch := v.rev >= rev, v.advanced
		v.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-time.After(20 * time.Millisecond):
			if !asked {
				// The last writes may be outside the watched keys: ask
				// the watch to report the current revision.
				asked = true
				_ = v.cfg.Store.RequestProgress(ctx)
			}
		}
	}
}

// cluster returns the view of cluster name, creating it.
func (v *Views) clusterLocked(name string) *scheduler.Cluster {
	c := v.clusters[name]
	if c == nil {
		c = scheduler.New()
		v.clusters[name] = c
	}
	return c
}

// applyLocked folds one record (or its deletion) into the views.
func (v *Views) applyLocked(key string, value []byte, mod int64, lease store.LeaseID, deleted bool) {
	rest := strings.TrimPrefix(key, store.Prefix)
	kind, path, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	cluster, id, ok := strings.Cut(path, "/")
	if !ok {
		return
	}
	if strings.Contains(id, "/") {
		return
	}
	switch kind {
	case "instances":
		k := cluster + "/" + id
		vi := v.inst[k]
		if deleted {
			if vi != nil {
				v.clusterLocked(cluster).RemoveInstance(vi.rec.Instance.ContainerInstanceArn)
			}
			delete(v.inst, k)
			return
		}
		var rec record.Instance
		if json.Unmarshal(value, &rec) != nil {
			return
		}
		if vi == nil {
			vi = &viewInstance{}
			v.inst[k] = vi
		}
		vi.rec = &rec
		v.putInstanceLocked(cluster, vi)
	case "connected":
		k := cluster + "/" + id
		vi := v.inst[k]
		if vi == nil {
			vi = &viewInstance{}
			v.inst[k] = vi
		}
		vi.connected = !deleted
		v.agents.lost(cluster, id, lease, deleted, mod)
		if vi.rec != nil {
			v.putInstanceLocked(cluster, vi)
		}
	case "slots":
		k := cluster + "/" + id
		if deleted {
			delete(v.slotRev, k)
			delete(v.lastForeign, k)
			return
		}
		if mod > v.slotRev[k] {
			v.slotRev[k] = mod
		}
		if string(value) != v.id && mod > v.lastForeign[k] {
			v.lastForeign[k] = mod
		}
	case "tasks":
		arn := v.cfg.TaskARN(cluster, id)
		tk := cluster + "/" + id
		if deleted {
			v.clusterLocked(v.hostLocked(cluster, tk)).RemoveTask(arn)
			v.assignLocked(cluster, id, "", "", "", mod)
			v.svcTasks.remove(cluster, id)
			v.catalogRemoveLocked(cluster, id)
			return
		}
		var rec placedTask
		if bytes.Contains(value, serviceGroupJSON) {
			// Most likely a service's task: decoded once for the index
			// and the views.
			if !v.putServiceTaskLocked(cluster, id, value, mod, &rec) {
				return
			}
		} else {
			if json.Unmarshal(value, &rec) != nil {
				return
			}
			if _, ok := serviceOf(rec.Task.Group); ok {
				// Written otherwise than json.Marshal writes it.
				v.svcTasks.putRecord(cluster, id, value, mod)
			}
		}
		t := &rec.Task
		v.catalogPutLocked(cluster, id, entryOf(mod, t.ContainerInstanceArn, t.LastStatus, t.DesiredStatus, t.LaunchType,
			t.CapacityProviderName, t.StartedBy, t.Group, t.TaskDefinitionArn))
		// A task runs on an instance of its own cluster, or of another
		// (a Fargate pool's): that cluster's view accounts for it.
		host := hostOf(cluster, t.ContainerInstanceArn)
		c := v.clusterLocked(host)
		inst := ""
		if t.LastStatus != record.TaskStopped {
			inst = record.IDOf(t.ContainerInstanceArn)
		}
		v.assignLocked(cluster, id, host, inst, rec.agentDesired(), mod)
		if t.LastStatus == record.TaskStopped || t.ContainerInstanceArn == "" || rec.Demand == nil {
			c.RemoveTask(arn)
			return
		}
		_ = c.PutTask(scheduler.Task{ID: arn, InstanceARN: t.ContainerInstanceArn, Group: t.Group,
			Demand: *rec.Demand, Running: t.LastStatus == record.TaskRunning})
	}
}

// hostOf returns the cluster of container instance instARN
// (arn:...:container-instance/CLUSTER/ID), or cluster if the ARN names
// none.
func hostOf(cluster, instARN string) string {
	i := strings.LastIndex(instARN, "/")
	if i < 0 {
		return cluster
	}
	j := strings.LastIndex(instARN[:i], "/")
	if j < 0 {
		return cluster
	}
	return instARN[j+1 : i]
}

// hostLocked returns the cluster of the instance task tk (cluster/id) is
// assigned to, its own cluster if it is assigned to none.
func (v *Views) hostLocked(cluster, tk string) string {
	if k, ok := v.taskInst[tk]; ok {
		host, _, _ := strings.Cut(k, "/")
		return host
	}
	return cluster
}

func (v *Views) putInstanceLocked(cluster string, vi *viewInstance) {
	ci := vi.rec.Instance
	c := v.clusterLocked(cluster)
	if ci.Status == record.InstanceInactive {
		c.RemoveInstance(ci.ContainerInstanceArn)
		return
	}
	ci.AgentConnected = vi.connected
	inst, err := scheduler.InstanceFromECS(&ci)
	if err != nil {
		v.cfg.Logger.Warn("instance not placeable", "arn", ci.ContainerInstanceArn, "err", err)
		return
	}
	_ = c.PutInstance(inst)
}

// assignsLocked returns the assignments of instance k (cluster/id),
// creating an empty entry.
func (v *Views) assignsLocked(k string) *instanceAssigns {
	a := v.assigns[k]
	if a == nil {
		a = &instanceAssigns{tasks: map[string]assignment{}, changed: v.loadedAt}
		v.assigns[k] = a
	}
	return a
}

// assignLocked records, from the task record written at revision mod, that
// task (of cluster) is assigned to instance inst of cluster host with the
// desired status desired; inst is empty once the task is STOPPED (or
// deleted, or not placed). The agent's polls see an assignment change when
// it appears, when its desired status changes and when it goes; not when
// the agent reports the task's progress. A change wakes the polls waiting
// on the instance. A task assigned to an instance of another cluster (a
// Fargate pool's) is named CLUSTER/ID in the instance's assignments, its
// own cluster's tasks by their ID alone.
func (v *Views) assignLocked(cluster, task, host, inst, desired string, mod int64) {
	tk := cluster + "/" + task
	next := ""
	if inst != "" {
		next = host + "/" + inst
	}
	prev, had := v.taskInst[tk]
	if had && prev != next {
		a := v.assignsLocked(prev)
		name := task
		if ph, _, _ := strings.Cut(prev, "/"); ph != cluster {
			name = tk
		}
		delete(a.tasks, name)
		a.bump(mod)
		delete(v.taskInst, tk)
	}
	if inst == "" {
		return
	}
	name := task
	if host != cluster {
		name = tk
	}
	v.taskInst[tk] = next
	a := v.assignsLocked(next)
	if e, ok := a.tasks[name]; ok && e.desired == desired {
		return
	}
	a.tasks[name] = assignment{mod: mod, desired: desired}
	a.bump(mod)
}

// bump notes a change at revision mod and wakes the waiting polls.
func (a *instanceAssigns) bump(mod int64) {
	if mod > a.changed {
		a.changed = mod
	}
	if a.wake != nil {
		close(a.wake)
		a.wake = nil
	}
}

// AssignChange returns nil if instance k's assignments changed after
// revision rev, else a channel closed when they next change.
func (v *Views) AssignChange(k string, rev int64) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.assignsLocked(k)
	if a.changed > rev {
		return nil
	}
	if a.wake == nil {
		a.wake = make(chan struct{})
	}
	return a.wake
}

// AssignedAt returns the revision of the latest change to instance k's
// assignments (0 if none is known).
func (v *Views) AssignedAt(k string) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if a := v.assigns[k]; a != nil {
		return a.changed
	}
	return 0
}

// Assigned returns the revision the views reflect, the IDs of the tasks
// assigned to instance k (sorted), and those of them whose assignment
// changed after revision since (all of them when since is 0).
func (v *Views) Assigned(k string, since int64) (rev int64, ids, changed []string) {
	v.mu.Lock()
	rev = v.rev
	if a := v.assigns[k]; a != nil {
		ids = make([]string, 0, len(a.tasks))
		for id, e := range a.tasks {
			ids = append(ids, id)
			if since == 0 || e.mod > since {
				changed = append(changed, id)
			}
		}
	}
	v.mu.Unlock()
	slices.Sort(ids)
	slices.Sort(changed)
	return rev, ids, changed
}

// InstanceState returns the view's accounting of an instance.
func (v *Views) InstanceState(cluster, arn string) (scheduler.InstanceState, bool) {
	v.mu.Lock()
	c := v.clusters[cluster]
	v.mu.Unlock()
	if c == nil {
		return scheduler.InstanceState{}, false
	}
	return c.Instance(arn)
}

// Cluster returns the scheduler view of cluster (created empty if need
// be). Place on it only through Place.
func (v *Views) Cluster(cluster string) *scheduler.Cluster {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.clusterLocked(cluster)
}

// WithAccounting overlays the view's accounting (remaining resources, task
// counts) on an instance as the API shows it.
func (v *Views) WithAccounting(cluster string, ci *ecsapi.ContainerInstance) {
	st, ok := v.InstanceState(cluster, ci.ContainerInstanceArn)
	if !ok {
		ci.RemainingResources = ci.RegisteredResources
		ci.RunningTasksCount, ci.PendingTasksCount = 0, 0
		return
	}
	ci.RemainingResources = st.RemainingResources()
	ci.RunningTasksCount = int32(st.RunningTasks)
	ci.PendingTasksCount = int32(st.PendingTasks)
}

// placedTask is the part of a task record placement reads: decoding only
// these members keeps the watch cheap however large the record is.
type placedTask struct {
	Task struct {
		ContainerInstanceArn string `json:"containerInstanceArn"`
		LastStatus           string `json:"lastStatus"`
		DesiredStatus        string `json:"desiredStatus"`
		Group                string `json:"group"`
		LaunchType           string `json:"launchType"`
		CapacityProviderName string `json:"capacityProviderName"`
		StartedBy            string `json:"startedBy"`
		TaskDefinitionArn    string `json:"taskDefinitionArn"`
	} `json:"task"`
	Demand       *scheduler.Demand `json:"demand"`
	Deactivating bool              `json:"deactivating"`
}

// agentDesired is the desired status the task's agent is told (see
// record.Task.AgentDesiredStatus).
func (p *placedTask) agentDesired() string {
	if p.Deactivating && p.Task.DesiredStatus == record.TaskStopped {
		return record.TaskRunning
	}
	return p.Task.DesiredStatus
}
