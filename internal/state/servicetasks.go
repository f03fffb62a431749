package state

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
)

// The index of the tasks of services: per cluster, the tasks whose group is
// service:NAME, by service, which the service controller reads instead of
// listing and describing tasks. The views' watch feeds it (a task record
// of a service group written by another writer: an agent's report, a stop,
// another server's placement), and so does the committer for this server's
// own placements, which the watch skips undecoded: it has the records in
// hand. A task leaves the index when its record is deleted (a STOPPED task
// whose retention lease expired). The other tasks cost the watch nothing
// more: the group is in the part of the record the views decode anyway,
// and only a service task's record is decoded whole.
//
// To keep memory modest the index holds a summary of each task (slim): the
// members the controller reads, without tags, overrides, attributes and
// the containers' details.

// serviceIndex is the index of the tasks of services. Its methods are
// called with Views.mu held.
type serviceIndex struct {
	// tasks are cluster -> service name -> task ID -> task.
	tasks map[string]map[string]map[string]*indexedTask
	// service is the service of each indexed task (cluster/id), to find it
	// again when its record is deleted.
	service map[string]string
}

// indexedTask is a task of a service and the revision of its record.
type indexedTask struct {
	mod  int64
	task ecsapi.Task
}

func newServiceIndex() serviceIndex {
	return serviceIndex{tasks: map[string]map[string]map[string]*indexedTask{}, service: map[string]string{}}
}

// serviceOf returns the service a task of group belongs to, if any.
func serviceOf(group string) (string, bool) {
	name, ok := strings.CutPrefix(group, "service:")
	return name, ok && name != ""
}

// put indexes t, task id of cluster, as written at revision mod, unless the
// index holds a newer version. A task whose group is not a service's is
// removed (a group does not change, but a record may be rewritten).
func (x *serviceIndex) put(cluster, id string, t *ecsapi.Task, mod int64) {
	name, ok := serviceOf(t.Group)
	if !ok {
		x.remove(cluster, id)
		return
	}
	k := cluster + "/" + id
	if prev, had := x.service[k]; had && prev != name {
		x.remove(cluster, id)
	}
	byService := x.tasks[cluster]
	if byService == nil {
		byService = map[string]map[string]*indexedTask{}
		x.tasks[cluster] = byService
	}
	ts := byService[name]
	if ts == nil {
		ts = map[string]*indexedTask{}
		byService[name] = ts
	}
	if cur := ts[id]; cur != nil && cur.mod > mod {
		return
	}
	ts[id] = &indexedTask{mod: mod, task: slim(t)}
	x.service[k] = name
}

// putRecord indexes the record value of a task of a service, decoding it.
func (x *serviceIndex) putRecord(cluster, id string, value []byte, mod int64) {
	var rec record.Task
	if json.Unmarshal(value, &rec) != nil {
		return
	}
	x.put(cluster, id, &rec.Task, mod)
}

// remove drops task id of cluster, if indexed.
func (x *serviceIndex) remove(cluster, id string) {
	k := cluster + "/" + id
	name, ok := x.service[k]
	if !ok {
		return
	}
	delete(x.service, k)
	byService := x.tasks[cluster]
	ts := byService[name]
	delete(ts, id)
	if len(ts) == 0 {
		delete(byService, name)
		if len(byService) == 0 {
			delete(x.tasks, cluster)
		}
	}
}

// list returns copies of the tasks of service name of cluster, by ARN.
func (x *serviceIndex) list(cluster, name string) []ecsapi.Task {
	ts := x.tasks[cluster][name]
	out := make([]ecsapi.Task, 0, len(ts))
	for _, it := range ts {
		out = append(out, it.task)
	}
	slices.SortFunc(out, func(a, b ecsapi.Task) int { return strings.Compare(a.TaskArn, b.TaskArn) })
	return out
}

// slim is the summary of t the index keeps: every scalar member, the
// containers' names, statuses, health, exit codes, reasons and network
// bindings; no tags, overrides, attributes, attachments or accelerators.
// The containers are copied: the summary shares nothing with t.
func slim(t *ecsapi.Task) ecsapi.Task {
	s := *t
	s.Tags, s.Overrides, s.Attributes, s.Attachments, s.InferenceAccelerators = nil, nil, nil, nil, nil
	s.Containers = nil
	if len(t.Containers) > 0 {
		s.Containers = make([]ecsapi.Container, len(t.Containers))
		for i := range t.Containers {
			c := &t.Containers[i]
			s.Containers[i] = ecsapi.Container{Name: c.Name, LastStatus: c.LastStatus, HealthStatus: c.HealthStatus,
				ExitCode: c.ExitCode, Reason: c.Reason, NetworkBindings: c.NetworkBindings, ContainerArn: c.ContainerArn}
		}
	}
	return s
}

// ServiceTasks returns the tasks of service name of cluster (group
// service:NAME), of every status, the STOPPED ones whose records are still
// kept too, sorted by ARN, once the views reflect every write the store
// had committed when it was called (SyncNow): a caller reads its own
// writes and those of other servers. Each task is a summary (see slim);
// the caller may change the slice, not the pointers it holds (exit codes,
// network bindings) which the index shares.
func (v *Views) ServiceTasks(ctx context.Context, cluster, name string) []ecsapi.Task {
	v.SyncNow(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.svcTasks.list(cluster, name)
}
