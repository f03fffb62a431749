package state

import (
	"context"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// The task catalogue: per cluster, a few members of every task whose record
// exists, kept by the same watch as the placement views (and by this
// server's own placement commits, which the watch skips). It answers what
// would otherwise decode every task record of a cluster: DescribeClusters'
// counts and ListTasks filtered by service, instance, startedBy or family.
// An entry holds only constants and strings shared with the decoded record,
// so it costs about a hundred bytes a task.

// Statuses the catalogue reads besides record's.
const (
	instanceActive   = "ACTIVE"
	instanceDraining = "DRAINING"
	taskPending      = "PENDING"
)

// catalogEntry is what the catalogue keeps of a task.
type catalogEntry struct {
	// mod is the revision of the record the entry was taken from: an
	// older version never replaces a newer one.
	mod int64
	// instance is the ID of the task's container instance ("" if none).
	instance string
	// last and desired are its statuses (constants when ECS's).
	last, desired string
	// launchType and capacityProvider are its members of those names.
	launchType, capacityProvider string
	// startedBy, group and family (of its task definition) are its members.
	startedBy, group, family string
}

// catalogOf returns the entry of t, as written at revision mod.
func catalogOf(t *record.Task, mod int64) catalogEntry {
	return entryOf(mod, t.Task.ContainerInstanceArn, t.Task.LastStatus, t.Task.DesiredStatus, string(t.Task.LaunchType),
		t.Task.CapacityProviderName, t.Task.StartedBy, t.Task.Group, t.Task.TaskDefinitionArn)
}

// entryOf returns the entry of a task with these members, as written at
// revision mod.
func entryOf(mod int64, instanceArn, last, desired, launchType, capacityProvider, startedBy, group, taskDefArn string) catalogEntry {
	return catalogEntry{mod: mod, instance: record.IDOf(instanceArn), last: known(last), desired: known(desired),
		launchType: known(launchType), capacityProvider: capacityProvider, startedBy: startedBy, group: group,
		family: FamilyOfTaskDefinition(taskDefArn)}
}

// FamilyOfTaskDefinition returns the family of a task definition ARN
// (arn:...:task-definition/FAMILY:REVISION), or "" if arn is not one.
func FamilyOfTaskDefinition(arn string) string {
	_, rest, ok := strings.Cut(arn, ":task-definition/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// LaunchBucket is the launch type a task counts under in a cluster's
// statistics: its own launch type, else FARGATE for the Fargate capacity
// providers, else EC2.
func LaunchBucket(launchType, capacityProvider string) string {
	if launchType != "" {
		return launchType
	}
	if strings.HasPrefix(capacityProvider, "FARGATE") {
		return "FARGATE"
	}
	return "EC2"
}

// catalogPutLocked records e for task id of cluster unless the catalogue
// holds a newer version.
func (v *Views) catalogPutLocked(cluster, id string, e catalogEntry) {
	if v.catalog == nil {
		v.catalog = map[string]map[string]*catalogEntry{}
	}
	c := v.catalog[cluster]
	if c == nil {
		c = map[string]*catalogEntry{}
		v.catalog[cluster] = c
	}
	if old := c[id]; old != nil {
		if old.mod > e.mod {
			return
		}
		*old = e
		return
	}
	c[id] = &e
}

// catalogRemoveLocked forgets task id of cluster (its record is deleted).
func (v *Views) catalogRemoveLocked(cluster, id string) {
	c := v.catalog[cluster]
	delete(c, id)
	if len(c) == 0 {
		delete(v.catalog, cluster)
	}
}

// TaskCounts are the tasks of one launch type of a cluster.
type TaskCounts struct {
	// Running and Pending count the tasks whose last status is RUNNING
	// and PENDING; Live those not STOPPED.
	Running, Pending, Live int32
}

// ClusterCounts returns, once the views reflect every write the store had
// committed when it was called, the number of container instances of
// cluster that are ACTIVE or DRAINING, and its tasks' counts by launch type
// (LaunchBucket).
func (v *Views) ClusterCounts(ctx context.Context, cluster string) (instances int32, tasks map[string]TaskCounts) {
	v.SyncNow(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	prefix := cluster + "/"
	for k, vi := range v.inst {
		if vi.rec == nil || !strings.HasPrefix(k, prefix) {
			continue
		}
		if st := vi.rec.Instance.Status; st == instanceActive || st == instanceDraining {
			instances++
		}
	}
	tasks = map[string]TaskCounts{}
	for _, e := range v.catalog[cluster] {
		b := LaunchBucket(e.launchType, e.capacityProvider)
		n := tasks[b]
		switch e.last {
		case record.TaskRunning:
			n.Running++
		case taskPending:
			n.Pending++
		}
		if e.last != record.TaskStopped {
			n.Live++
		}
		tasks[b] = n
	}
	return instances, tasks
}

// TaskFilter selects tasks of a cluster as ListTasks does.
type TaskFilter struct {
	// DesiredStatus is RUNNING, PENDING (desired RUNNING, not yet RUNNING)
	// or STOPPED.
	DesiredStatus string
	// The rest select only when set: InstanceID is a container
	// instance's ID, Group a task group (service:NAME for a service's
	// tasks), Family a task definition family.
	InstanceID, LaunchType, Family, StartedBy, Group string
}

// keep reports whether e passes f.
func (f *TaskFilter) keep(e *catalogEntry) bool {
	switch f.DesiredStatus {
	case taskPending:
		if e.desired != record.TaskRunning || e.last == record.TaskRunning || taskstatus.Rank(e.last) > taskstatus.Rank(record.TaskRunning) {
			return false
		}
	default:
		if e.desired != f.DesiredStatus {
			return false
		}
	}
	return (f.InstanceID == "" || e.instance == f.InstanceID) &&
		(f.LaunchType == "" || e.launchType == f.LaunchType) &&
		(f.Family == "" || e.family == f.Family) &&
		(f.StartedBy == "" || e.startedBy == f.StartedBy) &&
		(f.Group == "" || e.group == f.Group)
}

// ListTasks returns, once the views reflect every write the store had
// committed when it was called, the IDs of up to limit tasks of cluster
// that f selects, in ID order (the order of their keys), after ID after
// ("" for the first), and whether more follow.
func (v *Views) ListTasks(ctx context.Context, cluster string, f TaskFilter, after string, limit int) ([]string, bool) {
	v.SyncNow(ctx)
	v.mu.Lock()
	var ids []string
	for id, e := range v.catalog[cluster] {
		if id > after && f.keep(e) {
			ids = append(ids, id)
		}
	}
	v.mu.Unlock()
	slices.Sort(ids)
	if len(ids) > limit {
		return ids[:limit], true
	}
	return ids, false
}
