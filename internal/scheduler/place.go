package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Request asks for tasks that are alike (same definition, group and policy)
// to be placed: RunTask's count, or a service's missing tasks.
type Request struct {
	// TaskIDs are the ARNs the new tasks will have, one per task; Place
	// reserves resources under them.
	TaskIDs []string
	// Group is the tasks' group: service:NAME for a service's tasks, the
	// RunTask group, or family:NAME by default. Required.
	Group  string
	Demand Demand
	// RequiredAttributes are the task definition's requiresAttributes: the
	// instance must have each name, with the value when one is given.
	RequiredAttributes []ecsapi.Attribute
	// Policy holds the strategies and constraints; nil places at random
	// with no constraints.
	Policy *Policy
	// Seed seeds the random choices: the same seed and the same view give
	// the same plan.
	Seed uint64
}

// Placement is one task placed on one instance.
type Placement struct {
	TaskID      string
	InstanceARN string
	// InstanceRevision is the Revision of the instance record the
	// placement was decided on: the commit's guard.
	InstanceRevision int64
}

// Plan is the outcome of Place.
type Plan struct {
	// Placements are the placed tasks, in the order of Request.TaskIDs.
	// Each holds a tentative reservation until Commit or Rollback.
	Placements []Placement
	// Unplaced are the IDs of the tasks that could not be placed: once one
	// task does not fit, no later one of the same request does.
	Unplaced []string
	// Failures, when Unplaced is not empty, say why each instance refused
	// the first unplaced task, one per instance as RunTask reports them,
	// sorted by ARN. Empty when the cluster has no instances; RunTask then
	// fails with "No Container Instances were found in your cluster."
	Failures []ecsapi.Failure
}

// PlacedIDs returns the IDs of the placed tasks, for Commit or Rollback.
func (p Plan) PlacedIDs() []string {
	ids := make([]string, len(p.Placements))
	for i, pl := range p.Placements {
		ids[i] = pl.TaskID
	}
	return ids
}

// Place chooses an instance for each task of req and reserves the task's
// resources there tentatively, so that later tasks of the same request, and
// later requests, see them taken. The caller then writes the tasks to the
// store and calls Commit, or Rollback if the write fails.
//
// For each task, every instance is checked in this order, and the first
// check it fails is its failure reason: status ACTIVE, agent connected,
// required attributes, CPU, memory, TCP ports, UDP ports, GPUs, then the
// constraints in order. Of the instances that pass, the strategies pick:
// each ranks the candidates and the next breaks its ties; remaining ties,
// and the random strategy, are broken uniformly at random from req.Seed.
// The cost is O(instances) per task and never depends on the number of
// tasks in the cluster.
//
// Errors wrap ErrInvalidInput: an invalid request, or a task ID the view
// already holds.
func (c *Cluster) Place(req Request) (Plan, error) {
	if err := req.validate(); err != nil {
		return Plan{}, err
	}
	req.Demand.TCPPorts = slices.Clone(req.Demand.TCPPorts)
	req.Demand.UDPPorts = slices.Clone(req.Demand.UDPPorts)
	pol := req.Policy
	if pol == nil {
		pol = &Policy{}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.TaskIDs {
		if _, ok := c.tasks[id]; ok {
			return Plan{}, fmt.Errorf("%w: task %s is already in the view", ErrInvalidInput, id)
		}
	}
	s := newScan(c.nodes, &req, pol)
	rng := rand.New(rand.NewPCG(req.Seed, req.Seed^0x9e3779b97f4a7c15))
	plan := Plan{Placements: make([]Placement, 0, len(req.TaskIDs))}
	for k, id := range req.TaskIDs {
		best := s.pick(rng)
		if best < 0 {
			plan.Unplaced = slices.Clone(req.TaskIDs[k:])
			plan.Failures = s.failures()
			break
		}
		n := &c.nodes[best]
		e := &entry{
			task:      Task{ID: id, InstanceARN: n.ARN, Group: req.Group, Demand: req.Demand},
			tentative: true,
		}
		c.tasks[id] = e
		n.apply(e, 1)
		s.placed(best)
		plan.Placements = append(plan.Placements, Placement{TaskID: id, InstanceARN: n.ARN, InstanceRevision: n.Revision})
	}
	return plan, nil
}

func (r *Request) validate() error {
	if len(r.TaskIDs) == 0 {
		return fmt.Errorf("%w: no task IDs to place", ErrInvalidInput)
	}
	if r.Group == "" {
		return fmt.Errorf("%w: a task group is required", ErrInvalidInput)
	}
	seen := make(map[string]bool, len(r.TaskIDs))
	for _, id := range r.TaskIDs {
		if id == "" || seen[id] {
			return fmt.Errorf("%w: task ID %q is empty or repeated", ErrInvalidInput, id)
		}
		seen[id] = true
	}
	if err := r.Demand.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	return nil
}

// hot is what the scan reads of each instance on every task, packed for
// locality: remaining resources, the verdict of the checks that do not
// depend on tasks, and the number of the request's group's tasks.
type hot struct {
	cpu, memory, gpu int64
	groupTasks       int32
	pre              verdict
}

// scan is the per-request state of a Place call, built in one pass over the
// instances and updated as tasks are placed.
type scan struct {
	nodes []node
	hot   []hot
	req   *Request
	pol   *Policy
	// member[k] caches, per instance, memberOf constraint k when its
	// expression does not read tasks; nil otherwise.
	member [][]bool
	// For each spread-by-attribute strategy (by strategy index): each
	// instance's value (0 for none) and the group's task count per value.
	valueOf [][]int32
	tasksOf [][]int32
	keys    [MaxStrategies]int64 // the current best instance's keys
}

func newScan(nodes []node, req *Request, pol *Policy) *scan {
	s := &scan{
		nodes:   nodes,
		hot:     make([]hot, len(nodes)),
		req:     req,
		pol:     pol,
		member:  make([][]bool, len(pol.constraints)),
		valueOf: make([][]int32, len(pol.strategies)),
		tasksOf: make([][]int32, len(pol.strategies)),
	}
	for i := range nodes {
		n := &nodes[i]
		h := &s.hot[i]
		h.cpu, h.memory, h.gpu = n.freeCPU, n.freeMemory, n.freeGPU
		h.groupTasks = n.groups[req.Group]
		switch {
		case n.Status != StatusActive:
			h.pre = notActive
		case !n.AgentConnected:
			h.pre = agentDisconnected
		case missingAttribute(n, req.RequiredAttributes) != "":
			h.pre = attributeMissing
		}
	}
	for k, con := range pol.constraints {
		if con.expr == nil || con.expr.UsesTasks() {
			continue
		}
		ok := make([]bool, len(nodes))
		for i := range nodes {
			if s.hot[i].pre == fits {
				ok[i] = con.expr.Eval(target{&nodes[i]})
			}
		}
		s.member[k] = ok
	}
	for j, st := range pol.strategies {
		if st.kind != spreadAttribute {
			continue
		}
		index := map[string]int32{}
		values := make([]int32, len(nodes))
		counts := []int32{0} // value 0: instances without the attribute
		for i := range nodes {
			v, ok := nodes[i].Attributes[st.attr]
			if ok {
				x, seen := index[v]
				if !seen {
					x = int32(len(counts))
					index[v] = x
					counts = append(counts, 0)
				}
				values[i] = x
			}
			counts[values[i]] += s.hot[i].groupTasks
		}
		s.valueOf[j], s.tasksOf[j] = values, counts
	}
	return s
}

// missingAttribute returns the first required attribute n lacks, as name or
// name=value, or "".
func missingAttribute(n *node, required []ecsapi.Attribute) string {
	for _, a := range required {
		v, ok := n.Attributes[a.Name]
		if !ok || a.Value != "" && v != a.Value {
			if a.Value != "" {
				return a.Name + "=" + a.Value
			}
			return a.Name
		}
	}
	return ""
}

// check runs every check of instance i for the next task. With
// memberOfFalse it also returns the index of the constraint.
func (s *scan) check(i int) (verdict, int) {
	h := &s.hot[i]
	if h.pre != fits {
		return h.pre, -1
	}
	d := &s.req.Demand
	if h.cpu < d.CPU {
		return noCPU, -1
	}
	if h.memory < d.Memory {
		return noMemory, -1
	}
	n := &s.nodes[i]
	for _, p := range d.TCPPorts {
		if n.tcp[p] > 0 {
			return noPorts, -1
		}
	}
	for _, p := range d.UDPPorts {
		if n.udp[p] > 0 {
			return noUDPPorts, -1
		}
	}
	if h.gpu < d.GPU {
		return noGPU, -1
	}
	for k, con := range s.pol.constraints {
		switch {
		case con.distinct:
			if h.groupTasks > 0 {
				return distinctTaken, k
			}
		case s.member[k] != nil:
			if !s.member[k][i] {
				return memberOfFalse, k
			}
		default:
			if !con.expr.Eval(target{n}) {
				return memberOfFalse, k
			}
		}
	}
	return fits, -1
}

// key returns instance i's rank under strategy j; lower is better.
func (s *scan) key(j, i int) int64 {
	switch s.pol.strategies[j].kind {
	case binpackCPU:
		return s.hot[i].cpu
	case binpackMemory:
		return s.hot[i].memory
	case spreadInstance:
		return int64(s.hot[i].groupTasks)
	case spreadAttribute:
		return int64(s.tasksOf[j][s.valueOf[j][i]])
	}
	return 0 // random: every candidate ties
}

// pick returns the best instance for the next task, or -1 if none fits.
func (s *scan) pick(rng *rand.Rand) int {
	best, ties := -1, 0
	levels := len(s.pol.strategies)
	for i := range s.hot {
		if v, _ := s.check(i); v != fits {
			continue
		}
		cmp := 0
		if best < 0 {
			cmp = -1
		} else {
			for j := 0; j < levels && cmp == 0; j++ {
				k := s.key(j, i)
				switch {
				case k < s.keys[j]:
					cmp = -1
				case k > s.keys[j]:
					cmp = 1
				}
			}
		}
		switch cmp {
		case -1:
			best, ties = i, 1
			for j := 0; j < levels; j++ {
				s.keys[j] = s.key(j, i)
			}
		case 0:
			ties++
			if rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// placed updates the scan after a task of the request went to instance i.
func (s *scan) placed(i int) {
	h := &s.hot[i]
	d := &s.req.Demand
	h.cpu -= d.CPU
	h.memory -= d.Memory
	h.gpu -= d.GPU
	h.groupTasks++
	for j, values := range s.valueOf {
		if values != nil {
			s.tasksOf[j][values[i]]++
		}
	}
}

// failures reports why each instance refuses the next task.
func (s *scan) failures() []ecsapi.Failure {
	out := make([]ecsapi.Failure, 0, len(s.nodes))
	for i := range s.nodes {
		n := &s.nodes[i]
		v, k := s.check(i)
		extra := ""
		switch v {
		case attributeMissing:
			extra = missingAttribute(n, s.req.RequiredAttributes)
		case memberOfFalse:
			extra = s.pol.constraints[k].expr.String()
		}
		reason, detail := v.failure(n, &s.req.Demand, extra)
		out = append(out, ecsapi.Failure{Arn: n.ARN, Reason: reason, Detail: detail})
	}
	slices.SortFunc(out, func(a, b ecsapi.Failure) int { return strings.Compare(a.Arn, b.Arn) })
	return out
}
