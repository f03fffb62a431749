package state

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
)

// The index of the tasks of services: per cluster, the tasks whose group is
// service:NAME, by service, which the service controller reads instead of
// listing and describing tasks. The views' watch feeds it with the task
// records of services written by others (an agent's report, a stop,
// another server's placement). This server's own placements, which the
// watch skips undecoded, are indexed from the records in hand: each
// placement's caller indexes its tasks once their commit is written,
// before the placement returns. A task leaves the index when its record
// is deleted (a STOPPED task whose retention lease expired).
//
// The other tasks cost the watch nothing more: a record is decoded for the
// index only when it holds a service's group, and then once, for the views
// and the index together.
//
// To keep memory (and the collector's work) modest the index holds a
// compact summary of each task (taskSummary): what the controller reads,
// few pointers, times as integers, statuses as constants.

// serviceIndex is the index of the tasks of services. It has a lock of
// its own, taken inside Views.mu when the watch feeds it, alone when a
// placement's caller or a reader uses it: the placements' callers index
// their tasks in parallel, off the committer's single flight.
type serviceIndex struct {
	mu sync.Mutex
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
	mod int64
	sum taskSummary
}

// taskSummary is what the index keeps of a task.
type taskSummary struct {
	arn, taskDef, instance, startedBy, group, stoppedReason string
	// capacityProvider is the task's capacityProviderName.
	capacityProvider string
	// last, desired, health, stopCode and launchType are constants
	// (known) when the value is one of ECS's.
	last, desired, health, stopCode, launchType string
	// The times, in Unix nanoseconds; 0 when not set.
	created, started, stopping, stopped int64
	version                             int64
	// protectedUntil is when the task's scale-in protection expires (0:
	// none).
	protectedUntil int64
	// deactivating: a task behind a load balancer asked to stop, whose
	// targets are draining (shown as lastStatus DEACTIVATING).
	deactivating bool
	// ipv4 is the task's own address (awsvpc), if any.
	ipv4       string
	containers []containerSummary
}

// portSummary is a container port published on a host port.
type portSummary struct{ container, host int32 }

// containerSummary is what the index keeps of a container.
type containerSummary struct {
	name, last, health, reason string
	exitCode                   int32
	exited                     bool
	// ports are its TCP network bindings.
	ports []portSummary
}

// summarizeNetwork adds c's TCP bindings to cs and returns c's address
// (awsvpc), if any.
func summarizeNetwork(cs *containerSummary, bindings []ecsapi.NetworkBinding, nis []ecsapi.NetworkInterface) string {
	for _, b := range bindings {
		if b.ContainerPort != nil && b.HostPort != nil && (b.Protocol == "" || b.Protocol == "tcp") {
			cs.ports = append(cs.ports, portSummary{container: *b.ContainerPort, host: *b.HostPort})
		}
	}
	for _, ni := range nis {
		if ni.PrivateIpv4Address != "" {
			return ni.PrivateIpv4Address
		}
	}
	return ""
}

// known returns the constant equal to s when s is one of the values of
// statuses, health and stop codes, else s: the index then holds no copy of
// them.
func known(s string) string {
	switch s {
	case "":
		return ""
	case "PROVISIONING":
		return "PROVISIONING"
	case "PENDING":
		return "PENDING"
	case "ACTIVATING":
		return "ACTIVATING"
	case "RUNNING":
		return "RUNNING"
	case "DEACTIVATING":
		return "DEACTIVATING"
	case "STOPPING":
		return "STOPPING"
	case "DEPROVISIONING":
		return "DEPROVISIONING"
	case "STOPPED":
		return "STOPPED"
	case "HEALTHY":
		return "HEALTHY"
	case "UNHEALTHY":
		return "UNHEALTHY"
	case "UNKNOWN":
		return "UNKNOWN"
	case "EC2":
		return "EC2"
	case "EXTERNAL":
		return "EXTERNAL"
	case "TaskFailedToStart":
		return "TaskFailedToStart"
	case "EssentialContainerExited":
		return "EssentialContainerExited"
	case "UserInitiated":
		return "UserInitiated"
	case "ServiceSchedulerInitiated":
		return "ServiceSchedulerInitiated"
	case "SpotInterruption":
		return "SpotInterruption"
	case "TerminationNotice":
		return "TerminationNotice"
	}
	return s
}

func nanos(t *ecsapi.Timestamp) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timestamp(ns int64) *ecsapi.Timestamp {
	if ns == 0 {
		return nil
	}
	return &ecsapi.Timestamp{Time: time.Unix(0, ns).UTC()}
}

// summarize returns the summary of t.
func summarize(t *ecsapi.Task) taskSummary {
	s := taskSummary{arn: t.TaskArn, taskDef: t.TaskDefinitionArn, instance: t.ContainerInstanceArn, startedBy: t.StartedBy,
		group: t.Group, stoppedReason: t.StoppedReason, last: known(t.LastStatus), desired: known(t.DesiredStatus),
		health: known(string(t.HealthStatus)), stopCode: known(string(t.StopCode)), launchType: known(string(t.LaunchType)),
		created: nanos(t.CreatedAt), started: nanos(t.StartedAt), stopping: nanos(t.StoppingAt), stopped: nanos(t.StoppedAt),
		version: t.Version, capacityProvider: t.CapacityProviderName}
	if len(t.Containers) > 0 {
		s.containers = make([]containerSummary, len(t.Containers))
		for i := range t.Containers {
			c := &t.Containers[i]
			cs := containerSummary{name: c.Name, last: known(c.LastStatus), health: known(string(c.HealthStatus)), reason: c.Reason}
			if c.ExitCode != nil {
				cs.exitCode, cs.exited = *c.ExitCode, true
			}
			if ip := summarizeNetwork(&cs, c.NetworkBindings, c.NetworkInterfaces); ip != "" {
				s.ipv4 = ip
			}
			s.containers[i] = cs
		}
	}
	return s
}

// task returns the task s summarizes, as ServiceTasks shows it.
func (s *taskSummary) task() ecsapi.Task {
	t := ecsapi.Task{TaskArn: s.arn, TaskDefinitionArn: s.taskDef, ContainerInstanceArn: s.instance, StartedBy: s.startedBy,
		Group: s.group, StoppedReason: s.stoppedReason, LastStatus: s.last, DesiredStatus: s.desired,
		HealthStatus: ecsapi.HealthStatus(s.health), StopCode: ecsapi.TaskStopCode(s.stopCode), LaunchType: ecsapi.LaunchType(s.launchType),
		CreatedAt: timestamp(s.created), StartedAt: timestamp(s.started), StoppingAt: timestamp(s.stopping),
		StoppedAt: timestamp(s.stopped), Version: s.version, CapacityProviderName: s.capacityProvider}
	if s.deactivating && t.LastStatus == record.TaskRunning {
		t.LastStatus = "DEACTIVATING"
	}
	if len(s.containers) > 0 {
		t.Containers = make([]ecsapi.Container, len(s.containers))
		for i, cs := range s.containers {
			c := ecsapi.Container{TaskArn: s.arn, Name: cs.name, LastStatus: cs.last, HealthStatus: ecsapi.HealthStatus(cs.health), Reason: cs.reason}
			if cs.exited {
				c.ExitCode = new(cs.exitCode)
			}
			for _, p := range cs.ports {
				c.NetworkBindings = append(c.NetworkBindings, ecsapi.NetworkBinding{ContainerPort: new(p.container), HostPort: new(p.host), Protocol: "tcp"})
			}
			if s.ipv4 != "" {
				c.NetworkInterfaces = []ecsapi.NetworkInterface{{PrivateIpv4Address: s.ipv4}}
			}
			t.Containers[i] = c
		}
	}
	return t
}

func newServiceIndex() *serviceIndex {
	x := &serviceIndex{}
	x.reset()
	return x
}

// reset empties the index.
func (x *serviceIndex) reset() {
	x.mu.Lock()
	x.tasks, x.service = map[serviceKey]map[string]*indexedTask{}, map[taskKey]string{}
	x.mu.Unlock()
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
	sum := summarize(t)
	x.mu.Lock()
	x.putLocked(cluster, id, &sum, mod)
	x.mu.Unlock()
}

// putCommitted indexes the tasks of services among recs, which one
// placement commit wrote at revision mod.
func (x *serviceIndex) putCommitted(cluster string, recs []*record.Task, mod int64) {
	var sums []taskSummary
	for _, rec := range recs {
		if _, ok := serviceOf(rec.Task.Group); ok {
			sum := summarize(&rec.Task)
			sum.protectedUntil = nanos(rec.ProtectedUntil)
			sums = append(sums, sum)
		}
	}
	if len(sums) == 0 {
		return
	}
	x.mu.Lock()
	for i := range sums {
		x.putLocked(cluster, record.IDOf(sums[i].arn), &sums[i], mod)
	}
	x.mu.Unlock()
}

// putLocked is put of a summary.
func (x *serviceIndex) putLocked(cluster, id string, s *taskSummary, mod int64) {
	name, ok := serviceOf(s.group)
	if !ok {
		x.removeLocked(cluster, id)
		return
	}
	tk := taskKey{cluster, id}
	if prev, had := x.service[tk]; had && prev != name {
		x.removeLocked(cluster, id)
	}
	sk := serviceKey{cluster, name}
	ts := x.tasks[sk]
	if ts == nil {
		ts = map[string]*indexedTask{}
		x.tasks[sk] = ts
	}
	if cur := ts[id]; cur != nil {
		if cur.mod <= mod {
			cur.mod, cur.sum = mod, *s
		}
		return
	}
	ts[id] = &indexedTask{mod: mod, sum: *s}
	x.service[tk] = name
}

// putRecord indexes the record value of a task of a service, decoding it.
func (x *serviceIndex) putRecord(cluster, id string, value []byte, mod int64) {
	var rec serviceTaskRecord
	if json.Unmarshal(value, &rec) != nil {
		return
	}
	sum := rec.Task.summary()
	sum.protectedUntil = nanos(rec.ProtectedUntil)
	sum.deactivating = rec.Deactivating
	x.mu.Lock()
	x.putLocked(cluster, id, &sum, mod)
	x.mu.Unlock()
}

// remove drops task id of cluster, if indexed.
func (x *serviceIndex) remove(cluster, id string) {
	x.mu.Lock()
	x.removeLocked(cluster, id)
	x.mu.Unlock()
}

func (x *serviceIndex) removeLocked(cluster, id string) {
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

// list returns the tasks of service name of cluster, by ARN.
func (x *serviceIndex) list(cluster, name string) []ecsapi.Task {
	x.mu.Lock()
	ts := x.tasks[serviceKey{cluster, name}]
	sums := make([]taskSummary, 0, len(ts))
	for _, it := range ts {
		sums = append(sums, it.sum)
	}
	x.mu.Unlock()
	slices.SortFunc(sums, func(a, b taskSummary) int { return strings.Compare(a.arn, b.arn) })
	out := make([]ecsapi.Task, len(sums))
	for i := range sums {
		out[i] = sums[i].task()
	}
	return out
}

// serviceGroupJSON is how json.Marshal writes the group of a service's
// task (without the key's opening quote: searching from a g rather than
// from a quote, JSON's commonest byte, is ten times faster). The watch
// decodes a task record for the index only when it holds this (and,
// should a record be written otherwise, when the part the views decode
// anyway says so); another key ending in group is only a needless decode.
var serviceGroupJSON = []byte(`group":"service:`)

// serviceTaskRecord is a task record decoded for both the views and the
// index: the members the summary drops are left undecoded.
type serviceTaskRecord struct {
	Task           slimTask          `json:"task"`
	Demand         *scheduler.Demand `json:"demand"`
	ProtectedUntil *ecsapi.Timestamp `json:"protectedUntil"`
	Deactivating   bool              `json:"deactivating"`
}

// slimTask is ecsapi.Task decoded without the members the summary drops;
// the containers' are decoded as slimContainer.
type slimTask struct {
	ecsapi.Task
	Overrides             skipJSON        `json:"overrides"`
	Tags                  skipJSON        `json:"tags"`
	Attributes            skipJSON        `json:"attributes"`
	Attachments           skipJSON        `json:"attachments"`
	InferenceAccelerators skipJSON        `json:"inferenceAccelerators"`
	ClusterArn            skipJSON        `json:"clusterArn"`
	AvailabilityZone      skipJSON        `json:"availabilityZone"`
	Containers            []slimContainer `json:"containers"`
}

// slimContainer is the part of a container the summary keeps.
type slimContainer struct {
	NetworkBindings   []ecsapi.NetworkBinding   `json:"networkBindings"`
	NetworkInterfaces []ecsapi.NetworkInterface `json:"networkInterfaces"`
	ExitCode          *int32                    `json:"exitCode"`
	HealthStatus      ecsapi.HealthStatus       `json:"healthStatus"`
	LastStatus        string                    `json:"lastStatus"`
	Name              string                    `json:"name"`
	Reason            string                    `json:"reason"`
}

// skipJSON decodes any value to nothing.
type skipJSON struct{}

// UnmarshalJSON ignores b.
func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// summary returns the summary of t.
func (t *slimTask) summary() taskSummary {
	s := summarize(&t.Task)
	if len(t.Containers) > 0 {
		s.containers = make([]containerSummary, len(t.Containers))
		for i, c := range t.Containers {
			cs := containerSummary{name: c.Name, last: known(c.LastStatus), health: known(string(c.HealthStatus)), reason: c.Reason}
			if c.ExitCode != nil {
				cs.exitCode, cs.exited = *c.ExitCode, true
			}
			if ip := summarizeNetwork(&cs, c.NetworkBindings, c.NetworkInterfaces); ip != "" {
				s.ipv4 = ip
			}
			s.containers[i] = cs
		}
	}
	return s
}

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
	rec.Task.LaunchType, rec.Task.CapacityProviderName, rec.Task.StartedBy, rec.Task.TaskDefinitionArn =
		string(t.LaunchType), t.CapacityProviderName, t.StartedBy, t.TaskDefinitionArn
	rec.Demand = full.Demand
	rec.Deactivating = full.Deactivating
	if _, ok := serviceOf(t.Group); ok {
		sum := full.Task.summary()
		sum.protectedUntil = nanos(full.ProtectedUntil)
		sum.deactivating = full.Deactivating
		v.svcTasks.mu.Lock()
		v.svcTasks.putLocked(cluster, id, &sum, mod)
		v.svcTasks.mu.Unlock()
	}
	return true
}

// ServiceTasks returns the tasks of service name of cluster (group
// service:NAME), of every status, the STOPPED ones whose records are still
// kept too, sorted by ARN, once the views reflect every write the store
// had committed when it was called (SyncNow): a caller reads its own
// writes and those of other servers. Each task holds what the index keeps
// (taskSummary): its ARN, task definition, instance, group, startedBy,
// statuses (last, desired, health), stop code and reason, launch type,
// times (created, started, stopping, stopped), version, and its
// containers' names, statuses, health, exit codes and reasons; no tags,
// overrides, attributes or network details. The caller owns the result.
func (v *Views) ServiceTasks(ctx context.Context, cluster, name string) []ecsapi.Task {
	v.SyncNow(ctx)
	return v.svcTasks.list(cluster, name)
}

// protections returns when the scale-in protection of each task of service
// name of cluster expires, for the tasks that have one, by task ARN.
func (x *serviceIndex) protections(cluster, name string) map[string]time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out map[string]time.Time
	for _, it := range x.tasks[serviceKey{cluster, name}] {
		if it.sum.protectedUntil == 0 {
			continue
		}
		if out == nil {
			out = map[string]time.Time{}
		}
		out[it.sum.arn] = time.Unix(0, it.sum.protectedUntil).UTC()
	}
	return out
}

// ServiceTaskProtections returns when the scale-in protection
// (UpdateTaskProtection) of each task of service name of cluster expires,
// for the tasks that have one (expired ones too), by task ARN, once the
// views reflect every write the store had committed when it was called.
func (v *Views) ServiceTaskProtections(ctx context.Context, cluster, name string) map[string]time.Time {
	v.SyncNow(ctx)
	return v.svcTasks.protections(cluster, name)
}
