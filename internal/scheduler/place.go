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
//
// Cost per task: with random or no strategy, Place first draws instances
// at random and takes the first that passes every check: about 1/p draws
// when a fraction p of the instances can take the task, at most 64; only
// when all the draws miss (a nearly full cluster, or a request that few
// instances can take) does it make a pass over the instances, so the
// choice stays uniform over the instances that pass. With strategies that
// rank, a request of two or more tasks whose ranking strategies are
// binpack cpu|memory or spread instanceId|host alone, spread
// attribute:NAME alone, or spread attribute:NAME then one of those (a
// random after them changes nothing) makes one pass for the whole request,
// indexing the instances that pass by rank, and then a few steps per task
// plus one per value of NAME: the instances a placement does not touch keep
// their rank within the request. (Binpack over instances that all differ in
// remaining resource reads the remaining candidates again each time the
// instance it packs fills, and sorts them after a few such reads.) Other
// strategy lists, and a request of one task, make one pass per task. The
// choice is the same either way: uniform over the candidates that tie for
// best, from req.Seed. A task that ends the request costs a pass for
// Failures. Building the request reads the index entries of its group (up
// to one per instance) only for distinctInstance and spread, and clears a
// per-instance array only for distinctInstance, spread instanceId|host and
// static host ports. Nothing depends on the number of tasks in the
// cluster.
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
	s := c.newScan(&req, pol)
	rng := rand.New(rand.NewPCG(req.Seed, req.Seed^0x9e3779b97f4a7c15))
	plan := Plan{Placements: make([]Placement, 0, len(req.TaskIDs))}
	for k, id := range req.TaskIDs {
		best := s.pick(rng)
		if best < 0 {
			plan.Unplaced = slices.Clone(req.TaskIDs[k:])
			plan.Failures = s.failures()
			break
		}
		plan.Placements = append(plan.Placements, s.reserve(best, id))
	}
	return plan, nil
}

// reserve places task id of the request on slot i: a tentative entry in
// the view, counted on the instance, and in the scan's counts.
func (s *scan) reserve(i int32, id string) Placement {
	c, req := s.c, s.req
	n := &c.nodes[i]
	e := &entry{
		task:      Task{ID: id, InstanceARN: n.ARN, Group: req.Group, Demand: req.Demand},
		tentative: true,
	}
	c.tasks[id] = e
	c.apply(i, e, 1)
	s.placed(i)
	return Placement{TaskID: id, InstanceARN: n.ARN, InstanceRevision: n.Revision}
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

// scan is the per-request state of a Place call. Building it reads the
// request group's index entries (the instances holding tasks of the group)
// only when a constraint or strategy needs the group's counts
// (distinctInstance, spread instanceId|host, spread attribute:NAME), and
// clears a per-slot array only for the per-slot group counts and static
// host ports the request needs; task-independent filters come from the
// view's static cache. The view's own hot array is read, and updated by each
// reservation, directly.
type scan struct {
	c   *Cluster
	req *Request
	pol *Policy
	// attrOK is, per slot, whether the instance has the required
	// attributes; nil when none are required.
	attrOK []bool
	// member[k] is, per slot, memberOf constraint k's verdict when its
	// expression does not read tasks; nil otherwise.
	member [][]bool
	// groupTasks is, per slot, the number of tasks of the request's group;
	// nil unless distinctInstance or spread instanceId|host needs it.
	// memberOf expressions read task:group from the node itself (target),
	// not from here.
	groupTasks []int32
	// portsTaken is, per slot, whether one of the request's static host
	// ports is in use there; nil when the request binds none.
	portsTaken []bool
	// For each spread-by-attribute strategy (by strategy index): each
	// slot's value number and the group's task count per value.
	valueOf [][]int32
	tasksOf [][]int32
	keys    [MaxStrategies]int64 // the current best slot's keys
	// For pick: the strategies that rank (a final random only ties); the
	// cached task-independent filters (attrOK and the memberOf verdicts);
	// whether any memberOf reads tasks; whether distinctInstance applies;
	// and whether passes has anything to test.
	levels   []level
	statics  [][]bool
	dynamic  bool
	distinct bool
	filters  bool
	// rank is the request's ranked index once pick has built it (the
	// view's scratch); rankTried says pick has decided whether to.
	rank      *ranked
	rankTried bool
}

// level is one ranking strategy resolved for a request.
type level struct {
	kind   strategyKind
	values []int32 // spreadAttribute: value number per slot
	counts []int32 // spreadAttribute: group tasks per value number
}

func (c *Cluster) newScan(req *Request, pol *Policy) *scan {
	s := &scan{
		c:       c,
		req:     req,
		pol:     pol,
		member:  make([][]bool, len(pol.constraints)),
		valueOf: make([][]int32, len(pol.strategies)),
		tasksOf: make([][]int32, len(pol.strategies)),
	}
	// The group's per-slot counts and per-value counts are what read the
	// group index, which can hold an entry per instance: build them only
	// for the constraint and strategies that rank or filter by them.
	needGroup, spreadAttr := pol.distinct, false
	for j, st := range pol.strategies {
		switch st.kind {
		case spreadInstance:
			needGroup = true
		case spreadAttribute:
			spreadAttr = true
			values, count := c.attributeValues(st.attr)
			s.valueOf[j], s.tasksOf[j] = values, make([]int32, count)
		}
	}
	if needGroup {
		c.groupTasks = slices.Grow(c.groupTasks[:0], len(c.nodes))[:len(c.nodes)]
		clear(c.groupTasks)
		s.groupTasks = c.groupTasks
	}
	if needGroup || spreadAttr {
		for i, k := range c.groups[req.Group] {
			if s.groupTasks != nil {
				s.groupTasks[i] = k
			}
			for j, values := range s.valueOf {
				if values != nil {
					s.tasksOf[j][values[i]] += k
				}
			}
		}
	}
	if d := &req.Demand; len(d.TCPPorts)+len(d.UDPPorts) > 0 {
		c.portsTaken = slices.Grow(c.portsTaken[:0], len(c.nodes))[:len(c.nodes)]
		clear(c.portsTaken)
		s.portsTaken = c.portsTaken
		for _, p := range d.TCPPorts {
			for i := range c.ports[portKey(false, p)] {
				s.portsTaken[i] = true
			}
		}
		for _, p := range d.UDPPorts {
			for i := range c.ports[portKey(true, p)] {
				s.portsTaken[i] = true
			}
		}
	}
	if len(req.RequiredAttributes) > 0 {
		s.attrOK = c.staticFilter(requiredKey(req.RequiredAttributes), func(n *node) bool {
			return missingAttribute(n, req.RequiredAttributes) == ""
		})
		s.statics = append(s.statics, s.attrOK)
	}
	for k, con := range pol.constraints {
		switch {
		case con.distinct:
		case con.expr.UsesTasks():
			s.dynamic = true
		default:
			s.member[k] = c.staticFilter("memberOf\x00"+con.key, func(n *node) bool {
				return con.expr.Eval(target{n})
			})
			s.statics = append(s.statics, s.member[k])
		}
	}
	s.distinct = pol.distinct
	s.filters = s.distinct || s.portsTaken != nil || len(s.statics) > 0
	for j, st := range pol.strategies {
		if st.kind != random {
			s.levels = append(s.levels, level{kind: st.kind, values: s.valueOf[j], counts: s.tasksOf[j]})
		}
	}
	return s
}

// requiredKey identifies a set of required attributes in the static cache.
func requiredKey(attrs []ecsapi.Attribute) string {
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a.Name + "\x01" + a.Value
	}
	slices.Sort(parts)
	return "requires\x00" + strings.Join(parts, "\x00")
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

// check runs every check of slot i for the next task, in the order that
// decides the failure reason. With memberOfFalse it also returns the index
// of the constraint.
func (s *scan) check(i int32) (verdict, int) {
	h := &s.c.hot[i]
	if h.state != fits {
		return h.state, -1
	}
	if s.attrOK != nil && !s.attrOK[i] {
		return attributeMissing, -1
	}
	d := &s.req.Demand
	switch {
	case h.cpu < d.CPU:
		return noCPU, -1
	case h.memory < d.Memory:
		return noMemory, -1
	}
	if v := s.checkPorts(i); v != fits {
		return v, -1
	}
	if h.gpu < d.GPU {
		return noGPU, -1
	}
	return s.checkConstraints(i)
}

func (s *scan) checkPorts(i int32) verdict {
	d := &s.req.Demand
	if len(d.TCPPorts)+len(d.UDPPorts) == 0 {
		return fits
	}
	n := &s.c.nodes[i]
	for _, p := range d.TCPPorts {
		if n.tcp[p] > 0 {
			return noPorts
		}
	}
	for _, p := range d.UDPPorts {
		if n.udp[p] > 0 {
			return noUDPPorts
		}
	}
	return fits
}

func (s *scan) checkConstraints(i int32) (verdict, int) {
	for k, con := range s.pol.constraints {
		switch {
		case con.distinct:
			if s.groupTasks[i] > 0 {
				return distinctTaken, k
			}
		case s.member[k] != nil:
			if !s.member[k][i] {
				return memberOfFalse, k
			}
		default:
			if !con.expr.Eval(target{&s.c.nodes[i]}) {
				return memberOfFalse, k
			}
		}
	}
	return fits, -1
}

// passesDynamic reports whether slot i satisfies the memberOf constraints
// whose expressions read tasks.
func (s *scan) passesDynamic(i int32) bool {
	for k, con := range s.pol.constraints {
		if !con.distinct && s.member[k] == nil && !con.expr.Eval(target{&s.c.nodes[i]}) {
			return false
		}
	}
	return true
}

// key returns slot i's rank under strategy j; lower is better.
func (s *scan) key(j int, i int32) int64 {
	l := &s.levels[j]
	if l.kind == spreadAttribute {
		return int64(l.counts[l.values[i]])
	}
	return s.slotKey(l.kind, i)
}

// slotKey returns slot i's rank under a strategy that ranks instances by
// their own state (binpack, spread by instance); lower is better. 0 for
// the others.
func (s *scan) slotKey(kind strategyKind, i int32) int64 {
	switch kind {
	case binpackCPU:
		return s.c.hot[i].cpu
	case binpackMemory:
		return s.c.hot[i].memory
	case spreadInstance:
		return int64(s.groupTasks[i])
	}
	return 0
}

// maxDraws bounds the random draws pick makes, when no strategy ranks,
// before it falls back to a full pass over the slots; a view with fewer
// slots gets as many draws as it has slots. When a fraction p of the slots
// fit, the draws all miss with probability (1-p)^64: under 0.2% for p =
// 10%, so the pass is left to views that are nearly full for the request,
// where it costs 64 draws more than it did.
const maxDraws = 64

// roomFor reports whether hot record h is a live instance with the CPU,
// memory and GPUs a task needs: the checks every request makes, first.
func roomFor(h *hot, cpu, memory, gpu int64) bool {
	return h.state == fits && h.cpu >= cpu && h.memory >= memory && h.gpu >= gpu
}

// admits reports whether slot i, which roomFor accepts, passes the
// request's other filters: together with roomFor it is exactly what check
// accepts. It is passes, then the memberOf expressions that read tasks.
// sample calls it; fullScan spells it out, so that passes inlines into the
// hot loop.
func (s *scan) admits(i int32) bool {
	return (!s.filters || s.passes(i)) && (!s.dynamic || s.passesDynamic(i))
}

// passes reports whether slot i passes the request's filters that need no
// expression evaluation: distinctInstance, static host ports and the
// cached task-independent filters (required attributes, and memberOf
// expressions that read only instance fields). It is meant to inline, and
// is right whether or not s.filters says there is any such filter.
func (s *scan) passes(i int32) bool {
	if s.distinct && s.groupTasks[i] > 0 || s.portsTaken != nil && s.portsTaken[i] {
		return false
	}
	for _, ok := range s.statics {
		if !ok[i] {
			return false
		}
	}
	return true
}

// pick returns the best slot for the next task, or -1 if none fits: the
// candidates are those check would pass, the slots that tie for best under
// the strategies are collected, and one is drawn at random.
//
// When no strategy ranks (random, or none), every candidate ties, and pick
// first samples: it draws up to maxDraws slots uniformly at random, with
// replacement, among all slots (vacant ones included), and returns the
// first candidate drawn. That is still a uniform choice among the
// candidates. Let C be the candidates, m = |C| > 0 and n the slots: each
// draw is a candidate with probability m/n and, given that it is one, each
// candidate with probability 1/m, whatever the earlier draws were (they are
// independent, and C does not change within a pick). So the first candidate
// drawn, on whichever draw it comes, is uniform over C. If no draw hits a
// candidate (probability (1-m/n)^draws, or 1 when C is empty), pick makes
// the full pass (fullScan), which collects all of C and draws one
// uniformly.
// The result is a mixture of two uniform distributions over C, hence
// uniform over C; and -1 still means that no slot fits, since only the
// full pass returns it. Every draw comes from rng, so a seed still gives
// one plan. When a fair share of the slots fit, as in a cluster that is
// not nearly full, placing a task costs a few draws instead of a pass.
//
// When strategies rank, pick builds the request's ranked index on its
// first call, if the strategies are ones it covers and the request has
// more than one task, and draws from it: the same set of tied candidates
// as the full pass, uniformly, with one pass over the slots for the whole
// request (see ranked). A request of one task, or with other strategies,
// makes the full pass for each task. If the index has no candidate, or
// could not follow a placement, pick makes the full pass, so -1 still
// comes only from the full pass.
func (s *scan) pick(rng *rand.Rand) int32 {
	if len(s.levels) == 0 {
		if i := s.sample(rng); i >= 0 {
			return i
		}
		return s.fullScan(rng)
	}
	if !s.rankTried {
		s.rankTried = true
		if len(s.req.TaskIDs) > 1 {
			s.buildRanked()
		}
	}
	if s.rank != nil && !s.rank.broken {
		if i := s.rank.pick(rng); i >= 0 {
			return i
		}
	}
	return s.fullScan(rng)
}

// sample draws up to maxDraws slots (no more than there are) uniformly at
// random and returns the first that fits, or -1; see pick.
func (s *scan) sample(rng *rand.Rand) int32 {
	hot := s.c.hot
	d := &s.req.Demand
	for range min(maxDraws, len(hot)) {
		s.c.pickDraws++
		i := int32(rng.IntN(len(hot)))
		if roomFor(&hot[i], d.CPU, d.Memory, d.GPU) && s.admits(i) {
			return i
		}
	}
	return -1
}

// fullScan is pick's full pass: it visits every slot, collects the
// candidates that tie for best under the strategies (left in c.ties, in
// slot order), and draws one. It is the reference the ranked index is
// tested against. This is the hot loop of placement when the index does
// not serve the request: it tests roomFor and passes inline, on locals,
// and calls out only for task-dependent expressions; the test after
// roomFor is admits, spelled out so that passes inlines, and skipped as a
// whole when the request has no filter beyond roomFor.
func (s *scan) fullScan(rng *rand.Rand) int32 {
	s.c.pickScans++
	hot, groupTasks := s.c.hot, s.groupTasks
	d := &s.req.Demand
	cpu, memory, gpu := d.CPU, d.Memory, d.GPU
	flags, dynamic := s.filters || s.dynamic, s.dynamic
	levels := s.levels
	keys := &s.keys
	ties := s.c.ties[:0]
slots:
	for x := range hot {
		h := &hot[x]
		if !roomFor(h, cpu, memory, gpu) {
			continue
		}
		i := int32(x)
		if flags && !(s.passes(i) && (!dynamic || s.passesDynamic(i))) {
			continue
		}
		if len(ties) == 0 {
			ties = append(ties, i)
			for j := range levels {
				keys[j] = s.key(j, i)
			}
			continue
		}
		for j := range levels {
			var k int64
			switch l := &levels[j]; l.kind {
			case binpackCPU:
				k = h.cpu
			case binpackMemory:
				k = h.memory
			case spreadInstance:
				k = int64(groupTasks[i])
			default:
				k = int64(l.counts[l.values[i]])
			}
			if k < keys[j] {
				ties = append(ties[:0], i)
				for j := range levels {
					keys[j] = s.key(j, i)
				}
				continue slots
			}
			if k > keys[j] {
				continue slots
			}
		}
		ties = append(ties, i)
	}
	s.c.ties = ties
	switch len(ties) {
	case 0:
		return -1
	case 1:
		return ties[0]
	}
	return ties[rng.IntN(len(ties))]
}

// placed updates the scan after a task of the request went to slot i; the
// reservation itself has already updated the view, including the node's
// group counts that memberOf expressions read.
func (s *scan) placed(i int32) {
	if s.groupTasks != nil {
		s.groupTasks[i]++
	}
	if s.portsTaken != nil {
		s.portsTaken[i] = true
	}
	for j, values := range s.valueOf {
		if values != nil {
			s.tasksOf[j][values[i]]++
		}
	}
	if s.rank != nil {
		s.rank.placed(s, i)
	}
}

// failures reports why each instance refuses the next task.
func (s *scan) failures() []ecsapi.Failure {
	out := make([]ecsapi.Failure, 0, len(s.c.index))
	for i := range int32(len(s.c.hot)) {
		v, k := s.check(i)
		if v == vacant {
			continue
		}
		n := &s.c.nodes[i]
		extra := ""
		switch v {
		case attributeMissing:
			extra = missingAttribute(n, s.req.RequiredAttributes)
		case memberOfFalse:
			extra = s.pol.constraints[k].expr.String()
		}
		reason, detail := v.failure(n, &s.c.hot[i], &s.req.Demand, extra)
		out = append(out, ecsapi.Failure{Arn: n.ARN, Reason: reason, Detail: detail})
	}
	slices.SortFunc(out, func(a, b ecsapi.Failure) int { return strings.Compare(a.Arn, b.Arn) })
	return out
}
