package scheduler

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cql"
)

// ErrInvalidInput is wrapped by the errors Cluster methods return for
// malformed instances, tasks and requests: a caller bug, not a client's.
var ErrInvalidInput = errors.New("scheduler: invalid input")

// Instance is a container instance as placement sees it: identity, health,
// attributes and registered capacity. What remains is derived from the
// tasks on it.
type Instance struct {
	// ARN is the container instance ARN; it identifies the instance.
	ARN            string
	EC2InstanceID  string
	Status         string // ACTIVE, DRAINING, ...; only ACTIVE takes tasks
	AgentConnected bool
	AgentVersion   string
	RegisteredAt   time.Time
	// Attributes maps attribute names to values; an attribute without a
	// value maps to "".
	Attributes map[string]string
	// CPU (units), Memory (MiB) and GPU (count) are the registered
	// resources.
	CPU, Memory, GPU int64
	// ReservedTCPPorts and ReservedUDPPorts are the host ports the instance
	// registered as unavailable to tasks (the PORTS and PORTS_UDP
	// resources).
	ReservedTCPPorts, ReservedUDPPorts []int32
	// Revision is the store revision the record was read at. The scheduler
	// only carries it into each Placement, for the commit's guard.
	Revision int64
}

// Task is a task holding resources on an instance: from its placement until
// it stops.
type Task struct {
	// ID is the task ARN.
	ID          string
	InstanceARN string
	// Group is the task group (service:NAME, family:NAME or the group given
	// to RunTask), used by spread, distinctInstance and task:group.
	Group  string
	Demand Demand
	// Running is true once the task is RUNNING; the instance's
	// runningTasksCount counts it, pendingTasksCount counts the others.
	Running bool
}

// InstanceState is a copy of an instance's record and accounting.
type InstanceState struct {
	Instance
	RemainingCPU, RemainingMemory, RemainingGPU int64
	// UsedTCPPorts and UsedUDPPorts are the reserved ports and the static
	// host ports of the tasks on the instance, sorted. ECS reports them as
	// the PORTS and PORTS_UDP of remainingResources.
	UsedTCPPorts, UsedUDPPorts []int32
	RunningTasks, PendingTasks int
	// TaskGroups are the distinct groups of the tasks on the instance,
	// sorted.
	TaskGroups []string
}

// Cluster is the in-memory view one cluster's placement works on: its
// container instances and the tasks holding resources on them, with each
// instance's remaining resources, used ports and group counts kept
// incrementally. All methods are safe for concurrent use. See the package
// documentation for how the server keeps it current and commits placements.
type Cluster struct {
	mu    sync.Mutex
	nodes []node         // dense, for scanning; order changes on removal
	index map[string]int // instance ARN -> position in nodes
	tasks map[string]*entry
	// orphans holds tasks whose instance is not (or no longer) in the view,
	// by instance ARN, so they count again if it appears.
	orphans map[string]map[string]*entry
}

// node is one instance and its accounting. The fields read on every
// placement scan come first.
type node struct {
	freeCPU, freeMemory, freeGPU int64
	Instance
	tcp, udp map[int32]int32 // host port -> holders; a reserved port is one
	groups   map[string]int32
	running  int32
	pending  int32
	tasks    map[string]*entry
}

type entry struct {
	task      Task
	tentative bool
}

// New returns an empty Cluster.
func New() *Cluster {
	return &Cluster{
		index:   map[string]int{},
		tasks:   map[string]*entry{},
		orphans: map[string]map[string]*entry{},
	}
}

// PutInstance adds an instance or replaces its record; tasks already on it
// keep their resources, so remaining resources follow a change of
// registered capacity. Errors wrap ErrInvalidInput.
func (c *Cluster) PutInstance(inst Instance) error {
	if inst.ARN == "" {
		return fmt.Errorf("%w: instance without ARN", ErrInvalidInput)
	}
	if inst.CPU < 0 || inst.Memory < 0 || inst.GPU < 0 {
		return fmt.Errorf("%w: instance %s: negative capacity", ErrInvalidInput, inst.ARN)
	}
	inst.Attributes = maps.Clone(inst.Attributes)
	inst.ReservedTCPPorts = slices.Clone(inst.ReservedTCPPorts)
	inst.ReservedUDPPorts = slices.Clone(inst.ReservedUDPPorts)

	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[inst.ARN]; ok {
		n := &c.nodes[i]
		n.freeCPU += inst.CPU - n.CPU
		n.freeMemory += inst.Memory - n.Memory
		n.freeGPU += inst.GPU - n.GPU
		addPorts(n.tcp, n.ReservedTCPPorts, -1)
		addPorts(n.udp, n.ReservedUDPPorts, -1)
		addPorts(n.tcp, inst.ReservedTCPPorts, 1)
		addPorts(n.udp, inst.ReservedUDPPorts, 1)
		n.Instance = inst
		return nil
	}
	c.nodes = append(c.nodes, node{
		freeCPU:    inst.CPU,
		freeMemory: inst.Memory,
		freeGPU:    inst.GPU,
		Instance:   inst,
		tcp:        map[int32]int32{},
		udp:        map[int32]int32{},
		groups:     map[string]int32{},
		tasks:      map[string]*entry{},
	})
	c.index[inst.ARN] = len(c.nodes) - 1
	n := &c.nodes[len(c.nodes)-1]
	addPorts(n.tcp, inst.ReservedTCPPorts, 1)
	addPorts(n.udp, inst.ReservedUDPPorts, 1)
	for _, e := range c.orphans[inst.ARN] {
		n.apply(e, 1)
	}
	delete(c.orphans, inst.ARN)
	return nil
}

// RemoveInstance removes an instance. Its tasks stay known, holding no
// resources, until RemoveTask; they count again if the instance returns.
func (c *Cluster) RemoveInstance(arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[arn]
	if !ok {
		return
	}
	if len(c.nodes[i].tasks) > 0 {
		c.orphans[arn] = c.nodes[i].tasks
	}
	last := len(c.nodes) - 1
	if i != last {
		c.nodes[i] = c.nodes[last]
		c.index[c.nodes[i].ARN] = i
	}
	c.nodes[last] = node{}
	c.nodes = c.nodes[:last]
	delete(c.index, arn)
}

// PutTask records a task holding resources, or replaces its record (a new
// status, say); a tentative reservation under the same ID becomes this
// committed task. The task's instance need not be known yet. Errors wrap
// ErrInvalidInput.
func (c *Cluster) PutTask(t Task) error {
	if err := t.validate(); err != nil {
		return err
	}
	t.Demand.TCPPorts = slices.Clone(t.Demand.TCPPorts)
	t.Demand.UDPPorts = slices.Clone(t.Demand.UDPPorts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.tasks[t.ID]; ok {
		c.detach(old)
	}
	e := &entry{task: t}
	c.tasks[t.ID] = e
	c.attach(e)
	return nil
}

func (t *Task) validate() error {
	if t.ID == "" || t.InstanceARN == "" {
		return fmt.Errorf("%w: task %q on instance %q: ID and instance ARN are required", ErrInvalidInput, t.ID, t.InstanceARN)
	}
	if err := t.Demand.validate(); err != nil {
		return fmt.Errorf("%w: task %s: %v", ErrInvalidInput, t.ID, err)
	}
	return nil
}

// RemoveTask releases a task's resources, committed or tentative. Call it
// when the task stops or is deleted.
func (c *Cluster) RemoveTask(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.tasks[id]; ok {
		c.detach(e)
		delete(c.tasks, id)
	}
}

// Commit marks tentative reservations made by Place as committed: the
// store accepted them. IDs that are not tentative are ignored, so Commit may
// race with the watch delivering the same tasks.
func (c *Cluster) Commit(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e, ok := c.tasks[id]; ok {
			e.tentative = false
		}
	}
}

// Rollback releases tentative reservations made by Place whose commit
// failed. IDs that are not tentative (already committed, or delivered by the
// watch) are left alone.
func (c *Cluster) Rollback(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e, ok := c.tasks[id]; ok && e.tentative {
			c.detach(e)
			delete(c.tasks, id)
		}
	}
}

// attach counts e on its instance, or keeps it as an orphan.
func (c *Cluster) attach(e *entry) {
	if i, ok := c.index[e.task.InstanceARN]; ok {
		c.nodes[i].apply(e, 1)
		return
	}
	m := c.orphans[e.task.InstanceARN]
	if m == nil {
		m = map[string]*entry{}
		c.orphans[e.task.InstanceARN] = m
	}
	m[e.task.ID] = e
}

// detach undoes attach.
func (c *Cluster) detach(e *entry) {
	if i, ok := c.index[e.task.InstanceARN]; ok {
		c.nodes[i].apply(e, -1)
		return
	}
	if m := c.orphans[e.task.InstanceARN]; m != nil {
		delete(m, e.task.ID)
		if len(m) == 0 {
			delete(c.orphans, e.task.InstanceARN)
		}
	}
}

// apply adds (sign 1) or removes (sign -1) e's usage on n.
func (n *node) apply(e *entry, sign int32) {
	d := &e.task.Demand
	s := int64(sign)
	n.freeCPU -= s * d.CPU
	n.freeMemory -= s * d.Memory
	n.freeGPU -= s * d.GPU
	addPorts(n.tcp, d.TCPPorts, sign)
	addPorts(n.udp, d.UDPPorts, sign)
	if g := n.groups[e.task.Group] + sign; g > 0 {
		n.groups[e.task.Group] = g
	} else {
		delete(n.groups, e.task.Group)
	}
	if e.task.Running {
		n.running += sign
	} else {
		n.pending += sign
	}
	if sign > 0 {
		n.tasks[e.task.ID] = e
	} else {
		delete(n.tasks, e.task.ID)
	}
}

func addPorts(m map[int32]int32, ports []int32, sign int32) {
	for _, p := range ports {
		if v := m[p] + sign; v > 0 {
			m[p] = v
		} else {
			delete(m, p)
		}
	}
}

// Len returns the number of instances.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Instance returns a copy of an instance's record and accounting.
func (c *Cluster) Instance(arn string) (InstanceState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[arn]
	if !ok {
		return InstanceState{}, false
	}
	return c.nodes[i].state(), true
}

// Instances returns a copy of every instance's record and accounting,
// sorted by ARN.
func (c *Cluster) Instances() []InstanceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]InstanceState, len(c.nodes))
	for i := range c.nodes {
		out[i] = c.nodes[i].state()
	}
	slices.SortFunc(out, func(a, b InstanceState) int { return strings.Compare(a.ARN, b.ARN) })
	return out
}

// Match returns the ARNs of the instances that satisfy e, sorted: the
// filter of ListContainerInstances.
func (c *Cluster) Match(e *cql.Expr) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i := range c.nodes {
		if e.Eval(target{&c.nodes[i]}) {
			out = append(out, c.nodes[i].ARN)
		}
	}
	slices.Sort(out)
	return out
}

func (n *node) state() InstanceState {
	s := InstanceState{
		Instance:        n.Instance,
		RemainingCPU:    n.freeCPU,
		RemainingMemory: n.freeMemory,
		RemainingGPU:    n.freeGPU,
		UsedTCPPorts:    slices.Sorted(maps.Keys(n.tcp)),
		UsedUDPPorts:    slices.Sorted(maps.Keys(n.udp)),
		RunningTasks:    int(n.running),
		PendingTasks:    int(n.pending),
		TaskGroups:      slices.Sorted(maps.Keys(n.groups)),
	}
	s.Attributes = maps.Clone(n.Attributes)
	s.ReservedTCPPorts = slices.Clone(n.ReservedTCPPorts)
	s.ReservedUDPPorts = slices.Clone(n.ReservedUDPPorts)
	return s
}

// target presents a node to cluster query expressions. It is one pointer,
// so converting it to cql.Target does not allocate.
type target struct{ n *node }

func (t target) Attribute(name string) (string, bool) {
	v, ok := t.n.Attributes[name]
	return v, ok
}
func (t target) EC2InstanceID() string   { return t.n.EC2InstanceID }
func (t target) AgentConnected() bool    { return t.n.AgentConnected }
func (t target) AgentVersion() string    { return t.n.AgentVersion }
func (t target) RegisteredAt() time.Time { return t.n.RegisteredAt }
func (t target) RunningTasksCount() int  { return int(t.n.running) }
func (t target) TaskGroups() iter.Seq[string] {
	return maps.Keys(t.n.groups)
}
