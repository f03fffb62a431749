package state

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
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
	// tasks are the tasks of each service, by ID.
	tasks map[serviceKey]map[string]*indexedTask
	// service is the service of each indexed task, to find it again when
	// its record is deleted.
	service map[taskKey]string
}

// serviceKey names a service: its cluster and name.
type serviceKey struct{ cluster, name string }

// taskKey names a task: its cluster and ID.
type taskKey struct{ cluster, id string }

// indexedTask is a task of a service and the revision of its record.
type indexedTask struct {
	mod  int64
	task ecsapi.Task
}

func newServiceIndex() serviceIndex {
	return serviceIndex{tasks: map[serviceKey]map[string]*indexedTask{}, service: map[taskKey]string{}}
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
	x.putSummary(cluster, id, slim(t), mod)
}

// putSummary is put of a summary (slim) already made.
func (x *serviceIndex) putSummary(cluster, id string, t ecsapi.Task, mod int64) {
	name, ok := serviceOf(t.Group)
	if !ok {
		x.remove(cluster, id)
		return
	}
	tk := taskKey{cluster, id}
	if prev, had := x.service[tk]; had && prev != name {
		x.remove(cluster, id)
	}
	sk := serviceKey{cluster, name}
	ts := x.tasks[sk]
	if ts == nil {
		ts = map[string]*indexedTask{}
		x.tasks[sk] = ts
	}
	if cur := ts[id]; cur != nil {
		if cur.mod <= mod {
			cur.mod, cur.task = mod, t
		}
		return
	}
	ts[id] = &indexedTask{mod: mod, task: t}
	x.service[tk] = name
}

// putRecord indexes the record value of a task of a service, decoding it.
func (x *serviceIndex) putRecord(cluster, id string, value []byte, mod int64) {
	var rec serviceTaskRecord
	if json.Unmarshal(value, &rec) != nil {
		return
	}
	x.putSlim(cluster, id, &rec.Task, mod)
}

// putSlim indexes t as put does; t was decoded as the summary it becomes.
func (x *serviceIndex) putSlim(cluster, id string, t *slimTask, mod int64) {
	task := t.Task
	if len(t.Containers) > 0 {
		task.Containers = make([]ecsapi.Container, len(t.Containers))
		for i, c := range t.Containers {
			task.Containers[i] = ecsapi.Container(c)
		}
	}
	x.putSummary(cluster, id, task, mod)
}

// remove drops task id of cluster, if indexed.
func (x *serviceIndex) remove(cluster, id string) {
	tk := taskKey{cluster, id}
	name, ok := x.service[tk]
	if !ok {
		return
	}
	delete(x.service, tk)
	sk := serviceKey{cluster, name}
	ts := x.tasks[sk]
	delete(ts, id)
	if len(ts) == 0 {
		delete(x.tasks, sk)
	}
}

// list returns copies of the tasks of service name of cluster, by ARN.
func (x *serviceIndex) list(cluster, name string) []ecsapi.Task {
	ts := x.tasks[serviceKey{cluster, name}]
	out := make([]ecsapi.Task, 0, len(ts))
	for _, it := range ts {
		out = append(out, it.task)
	}
	slices.SortFunc(out, func(a, b ecsapi.Task) int { return strings.Compare(a.TaskArn, b.TaskArn) })
	return out
}

// serviceGroupJSON is how json.Marshal writes the group of a service's
// task: the watch decodes a task record for the index only when it holds
// this (and, should a record be written otherwise, when the part the views
// decode anyway says so).
var serviceGroupJSON = []byte(`"group":"service:`)

// serviceTaskRecord is a task record decoded for both the views and the
// index: the members the summary drops are left undecoded.
type serviceTaskRecord struct {
	Task   slimTask          `json:"task"`
	Demand *scheduler.Demand `json:"demand"`
}

// slimTask is ecsapi.Task decoded without the members slim drops; the
// containers are decoded as slimContainer.
type slimTask struct {
	ecsapi.Task
	Overrides             skipJSON        `json:"overrides"`
	Tags                  skipJSON        `json:"tags"`
	Attributes            skipJSON        `json:"attributes"`
	Attachments           skipJSON        `json:"attachments"`
	InferenceAccelerators skipJSON        `json:"inferenceAccelerators"`
	Containers            []slimContainer `json:"containers"`
}

// slimContainer is what slim keeps of a container, in the order of
// ecsapi.Container's members (the two convert).
type slimContainer struct {
	ContainerArn      string                    `json:"containerArn,omitempty"`
	Cpu               string                    `json:"-"`
	ExitCode          *int32                    `json:"exitCode,omitempty"`
	GpuIds            []string                  `json:"-"`
	HealthStatus      ecsapi.HealthStatus       `json:"healthStatus,omitempty"`
	Image             string                    `json:"-"`
	ImageDigest       string                    `json:"-"`
	LastStatus        string                    `json:"lastStatus,omitempty"`
	ManagedAgents     []ecsapi.ManagedAgent     `json:"-"`
	Memory            string                    `json:"-"`
	MemoryReservation string                    `json:"-"`
	Name              string                    `json:"name,omitempty"`
	NetworkBindings   []ecsapi.NetworkBinding   `json:"networkBindings,omitzero"`
	NetworkInterfaces []ecsapi.NetworkInterface `json:"-"`
	Reason            string                    `json:"reason,omitempty"`
	RuntimeId         string                    `json:"-"`
	TaskArn           string                    `json:"-"`
}

// skipJSON decodes any value to nothing.
type skipJSON struct{}

// UnmarshalJSON ignores b.
func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// putServiceTaskLocked decodes the record value of a task, likely a
// service's, once: into the index if its group is a service's, and into
// the part the views read (rec). It reports whether the record decoded.
func (v *Views) putServiceTaskLocked(cluster, id string, value []byte, mod int64, rec *placedTask) bool {
	var full serviceTaskRecord
	if json.Unmarshal(value, &full) != nil {
		return false
	}
	t := &full.Task.Task
	rec.Task.ContainerInstanceArn, rec.Task.LastStatus, rec.Task.DesiredStatus, rec.Task.Group =
		t.ContainerInstanceArn, t.LastStatus, t.DesiredStatus, t.Group
	rec.Demand = full.Demand
	if _, ok := serviceOf(t.Group); ok {
		v.svcTasks.putSlim(cluster, id, &full.Task, mod)
	}
	return true
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
