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
	mu sync.Mutex
	// nodes and hot are indexed by slot. An instance keeps its slot while
	// it is in the view; a removed instance leaves a vacant slot that a
	// later one reuses.
	nodes  []node
	hot    []hot
	vacant []int32
	index  map[string]int32 // instance ARN -> slot
	tasks  map[string]*entry
	// orphans holds tasks whose instance is not (or no longer) in the view,
	// by instance ARN, so they count again if it appears.
	orphans map[string]map[string]*entry
	// groups indexes, per task group, the slots holding tasks of the group
	// and how many: a request reads its group's entries instead of asking
	// every instance.
	groups map[string]map[int32]int32
	// ports indexes, per host port and protocol (portKey), the slots where
	// it is in use.
	ports map[int32]map[int32]struct{}
	// gen changes whenever anything a task-independent filter reads
	// changes: an instance added or removed, or its attributes, EC2 ID,
	// agent or registration time. static caches filter results per gen.
	gen    uint64
	static map[string]*staticResult
	// Scratch for Place, reused under mu.
	ties       []int32
	groupTasks []int32
	portsTaken []bool
	rank       ranked
	// pickDraws, pickScans and pickBuilds count Place's random draws, full
	// passes over the slots and ranked indexes built, for tests.
	pickDraws, pickScans, pickBuilds int
}

// hot is what every placement scan reads of a slot, packed for locality.
type hot struct {
	cpu, memory, gpu int64 // remaining
	// state is fits for an ACTIVE instance with a connected agent, else
	// notActive, agentDisconnected or vacant.
	state verdict
}

// node is one instance's record and accounting.
type node struct {
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
		index:   map[string]int32{},
		tasks:   map[string]*entry{},
		orphans: map[string]map[string]*entry{},
		groups:  map[string]map[int32]int32{},
		ports:   map[int32]map[int32]struct{}{},
		static:  map[string]*staticResult{},
	}
}

func instanceState(inst *Instance) verdict {
	switch {
	case inst.Status != StatusActive:
		return notActive
	case !inst.AgentConnected:
		return agentDisconnected
	}
	return fits
}

// queryFieldsEqual reports whether a and b agree on everything a cluster
// query or a required attribute can read.
func queryFieldsEqual(a, b *Instance) bool {
	return a.EC2InstanceID == b.EC2InstanceID && a.AgentConnected == b.AgentConnected &&
		a.AgentVersion == b.AgentVersion && a.RegisteredAt.Equal(b.RegisteredAt) &&
		maps.Equal(a.Attributes, b.Attributes)
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
	if inst.Attributes == nil {
		inst.Attributes = map[string]string{}
	}
	inst.ReservedTCPPorts = slices.Clone(inst.ReservedTCPPorts)
	inst.ReservedUDPPorts = slices.Clone(inst.ReservedUDPPorts)

	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[inst.ARN]; ok {
		n, h := &c.nodes[i], &c.hot[i]
		if !queryFieldsEqual(&n.Instance, &inst) {
			c.gen++
		}
		h.cpu += inst.CPU - n.CPU
		h.memory += inst.Memory - n.Memory
		h.gpu += inst.GPU - n.GPU
		h.state = instanceState(&inst)
		c.addPorts(i, n.ReservedTCPPorts, n.ReservedUDPPorts, -1)
		c.addPorts(i, inst.ReservedTCPPorts, inst.ReservedUDPPorts, 1)
		n.Instance = inst
		return nil
	}
	c.gen++
	var i int32
	if k := len(c.vacant); k > 0 {
		i = c.vacant[k-1]
		c.vacant = c.vacant[:k-1]
	} else {
		i = int32(len(c.nodes))
		c.nodes = append(c.nodes, node{})
		c.hot = append(c.hot, hot{})
	}
	c.nodes[i] = node{
		Instance: inst,
		tcp:      map[int32]int32{},
		udp:      map[int32]int32{},
		groups:   map[string]int32{},
		tasks:    map[string]*entry{},
	}
	c.hot[i] = hot{cpu: inst.CPU, memory: inst.Memory, gpu: inst.GPU, state: instanceState(&inst)}
	c.index[inst.ARN] = i
	c.addPorts(i, inst.ReservedTCPPorts, inst.ReservedUDPPorts, 1)
	for _, e := range c.orphans[inst.ARN] {
		c.apply(i, e, 1)
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
	c.gen++
	n := &c.nodes[i]
	if len(n.tasks) > 0 {
		c.orphans[arn] = n.tasks
	}
	for g := range n.groups {
		c.unindexGroup(g, i)
	}
	for p := range n.tcp {
		c.unindexPort(portKey(false, p), i)
	}
	for p := range n.udp {
		c.unindexPort(portKey(true, p), i)
	}
	c.nodes[i] = node{}
	c.hot[i] = hot{state: vacant}
	c.vacant = append(c.vacant, i)
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
		c.apply(i, e, 1)
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
		c.apply(i, e, -1)
		return
	}
	if m := c.orphans[e.task.InstanceARN]; m != nil {
		delete(m, e.task.ID)
		if len(m) == 0 {
			delete(c.orphans, e.task.InstanceARN)
		}
	}
}

// apply adds (sign 1) or removes (sign -1) e's usage on slot i.
func (c *Cluster) apply(i int32, e *entry, sign int32) {
	n, h := &c.nodes[i], &c.hot[i]
	d := &e.task.Demand
	s := int64(sign)
	h.cpu -= s * d.CPU
	h.memory -= s * d.Memory
	h.gpu -= s * d.GPU
	c.addPorts(i, d.TCPPorts, d.UDPPorts, sign)
	g := e.task.Group
	if k := n.groups[g] + sign; k > 0 {
		n.groups[g] = k
		slots := c.groups[g]
		if slots == nil {
			slots = map[int32]int32{}
			c.groups[g] = slots
		}
		slots[i] = k
	} else {
		delete(n.groups, g)
		c.unindexGroup(g, i)
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

func (c *Cluster) unindexGroup(g string, i int32) {
	if slots := c.groups[g]; slots != nil {
		delete(slots, i)
		if len(slots) == 0 {
			delete(c.groups, g)
		}
	}
}

// addPorts adds (sign 1) or removes (sign -1) one holder of each port on
// slot i, in the node's port maps and the view's port index.
func (c *Cluster) addPorts(i int32, tcp, udp []int32, sign int32) {
	n := &c.nodes[i]
	for _, p := range tcp {
		c.addPort(n.tcp, portKey(false, p), p, i, sign)
	}
	for _, p := range udp {
		c.addPort(n.udp, portKey(true, p), p, i, sign)
	}
}

func (c *Cluster) addPort(m map[int32]int32, key, p, i, sign int32) {
	if v := m[p] + sign; v > 0 {
		m[p] = v
		slots := c.ports[key]
		if slots == nil {
			slots = map[int32]struct{}{}
			c.ports[key] = slots
		}
		slots[i] = struct{}{}
	} else {
		delete(m, p)
		c.unindexPort(key, i)
	}
}

func (c *Cluster) unindexPort(key, i int32) {
	if slots := c.ports[key]; slots != nil {
		delete(slots, i)
		if len(slots) == 0 {
			delete(c.ports, key)
		}
	}
}

// portKey identifies a host port and protocol in the port index.
func portKey(udp bool, p int32) int32 {
	if udp {
		return 1<<16 | p
	}
	return p
}

// staticResult caches, for one generation of the view, a per-slot result of
// a filter or attribute lookup that does not depend on tasks.
type staticResult struct {
	gen    uint64
	ok     []bool  // a filter's verdict per slot
	values []int32 // an attribute's value number per slot, 0 for none
	count  int     // number of distinct values plus one
}

// maxStatic bounds the static cache; when full it starts over.
const maxStatic = 512

// lookupStatic returns the cached result for key, or a fresh one to fill
// (fresh is true) that is cached for the current generation.
func (c *Cluster) lookupStatic(key string) (r *staticResult, fresh bool) {
	r = c.static[key]
	if r != nil && r.gen == c.gen {
		return r, false
	}
	if r == nil {
		if len(c.static) >= maxStatic {
			clear(c.static)
		}
		r = &staticResult{}
		c.static[key] = r
	}
	r.gen = c.gen
	return r, true
}

// staticFilter returns, per slot, whether the live instance there passes
// pass, evaluating it only when the view changed since the last call with
// the same key.
func (c *Cluster) staticFilter(key string, pass func(n *node) bool) []bool {
	r, fresh := c.lookupStatic(key)
	if fresh {
		r.ok = slices.Grow(r.ok[:0], len(c.nodes))[:len(c.nodes)]
		for i := range c.nodes {
			r.ok[i] = c.hot[i].state != vacant && pass(&c.nodes[i])
		}
	}
	return r.ok
}

// attributeValues numbers the values of attribute name per slot (0 for
// instances without it) and returns the numbers and how many there are.
func (c *Cluster) attributeValues(name string) ([]int32, int) {
	r, fresh := c.lookupStatic("value\x00" + name)
	if fresh {
		index := map[string]int32{}
		r.values = slices.Grow(r.values[:0], len(c.nodes))[:len(c.nodes)]
		for i := range c.nodes {
			r.values[i] = 0
			if c.hot[i].state == vacant {
				continue
			}
			if v, ok := c.nodes[i].Attributes[name]; ok {
				x, seen := index[v]
				if !seen {
					x = int32(len(index) + 1)
					index[v] = x
				}
				r.values[i] = x
			}
		}
		r.count = len(index) + 1
	}
	return r.values, r.count
}

// HasTask reports whether the view holds task id, reserved or committed.
func (c *Cluster) HasTask(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.tasks[id]
	return ok
}

// Len returns the number of instances.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// Instance returns a copy of an instance's record and accounting.
func (c *Cluster) Instance(arn string) (InstanceState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[arn]
	if !ok {
		return InstanceState{}, false
	}
	return c.state(i), true
}

// Instances returns a copy of every instance's record and accounting,
// sorted by ARN.
func (c *Cluster) Instances() []InstanceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]InstanceState, 0, len(c.index))
	for _, i := range c.index {
		out = append(out, c.state(i))
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
	for arn, i := range c.index {
		if e.Eval(target{&c.nodes[i]}) {
			out = append(out, arn)
		}
	}
	slices.Sort(out)
	return out
}

func (c *Cluster) state(i int32) InstanceState {
	n, h := &c.nodes[i], &c.hot[i]
	s := InstanceState{
		Instance:        n.Instance,
		RemainingCPU:    h.cpu,
		RemainingMemory: h.memory,
		RemainingGPU:    h.gpu,
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
