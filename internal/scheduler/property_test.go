package scheduler

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// checkView recomputes every instance's accounting from the tasks the view
// holds and compares it with the incremental one (remaining resources, port
// holders, group counts and the group index, task counts, slots); it also
// checks that no instance is over-committed: CPU, memory and GPUs within
// the registered capacity, no host port held twice, and at most one task
// per instance of any group in distinctGroups.
func checkView(t *testing.T, c *Cluster, distinctGroups map[string]bool) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	type usage struct {
		cpu, mem, gpu    int64
		tcp, udp         map[int32]int32
		groups           map[string]int32
		running, pending int32
	}
	use := map[string]*usage{}
	live := 0
	for i := range c.nodes {
		n := &c.nodes[i]
		if c.hot[i].state == vacant {
			if n.ARN != "" || !slices.Contains(c.vacant, int32(i)) {
				t.Fatalf("slot %d is vacant but holds %q or is not listed as vacant", i, n.ARN)
			}
			continue
		}
		live++
		if c.index[n.ARN] != int32(i) {
			t.Fatalf("index of %s is %d, want %d", n.ARN, c.index[n.ARN], i)
		}
		if want := instanceState(&n.Instance); c.hot[i].state != want {
			t.Fatalf("%s: state %d, want %d", n.ARN, c.hot[i].state, want)
		}
		u := &usage{tcp: map[int32]int32{}, udp: map[int32]int32{}, groups: map[string]int32{}}
		for _, p := range n.ReservedTCPPorts {
			u.tcp[p]++
		}
		for _, p := range n.ReservedUDPPorts {
			u.udp[p]++
		}
		use[n.ARN] = u
	}
	if live != len(c.index) {
		t.Fatalf("%d live slots, %d indexed instances", live, len(c.index))
	}
	for id, e := range c.tasks {
		if id != e.task.ID {
			t.Fatalf("task %s stored under %s", e.task.ID, id)
		}
		u := use[e.task.InstanceARN]
		if u == nil {
			if c.orphans[e.task.InstanceARN][id] != e {
				t.Fatalf("task %s on unknown instance %s is not kept aside", id, e.task.InstanceARN)
			}
			continue
		}
		d := e.task.Demand
		u.cpu += d.CPU
		u.mem += d.Memory
		u.gpu += d.GPU
		for _, p := range d.TCPPorts {
			u.tcp[p]++
		}
		for _, p := range d.UDPPorts {
			u.udp[p]++
		}
		u.groups[e.task.Group]++
		if e.task.Running {
			u.running++
		} else {
			u.pending++
		}
	}
	indexed := map[string]map[int32]int32{}
	for arn, u := range use {
		i := c.index[arn]
		n, h := &c.nodes[i], &c.hot[i]
		if h.cpu != n.CPU-u.cpu || h.memory != n.Memory-u.mem || h.gpu != n.GPU-u.gpu {
			t.Fatalf("%s: remaining cpu/mem/gpu %d/%d/%d, recomputed %d/%d/%d", arn, h.cpu, h.memory, h.gpu, n.CPU-u.cpu, n.Memory-u.mem, n.GPU-u.gpu)
		}
		if h.cpu < 0 || h.memory < 0 || h.gpu < 0 {
			t.Fatalf("%s over-committed: remaining cpu/mem/gpu %d/%d/%d", arn, h.cpu, h.memory, h.gpu)
		}
		if !maps.Equal(n.tcp, u.tcp) || !maps.Equal(n.udp, u.udp) || !maps.Equal(n.groups, u.groups) {
			t.Fatalf("%s: ports/groups %v %v %v, recomputed %v %v %v", arn, n.tcp, n.udp, n.groups, u.tcp, u.udp, u.groups)
		}
		for p, holders := range n.tcp {
			if holders > 1 {
				t.Fatalf("%s: tcp port %d held %d times", arn, p, holders)
			}
		}
		for p, holders := range n.udp {
			if holders > 1 {
				t.Fatalf("%s: udp port %d held %d times", arn, p, holders)
			}
		}
		for g := range distinctGroups {
			if n.groups[g] > 1 {
				t.Fatalf("%s: %d tasks of distinct group %s", arn, n.groups[g], g)
			}
		}
		if n.running != u.running || n.pending != u.pending || len(n.tasks) != int(u.running+u.pending) {
			t.Fatalf("%s: running/pending/tasks %d/%d/%d, recomputed %d/%d", arn, n.running, n.pending, len(n.tasks), u.running, u.pending)
		}
		for g, k := range u.groups {
			if indexed[g] == nil {
				indexed[g] = map[int32]int32{}
			}
			indexed[g][i] = k
		}
	}
	if !maps.EqualFunc(c.groups, indexed, func(a, b map[int32]int32) bool { return maps.Equal(a, b) }) {
		t.Fatalf("group index %v, recomputed %v", c.groups, indexed)
	}
	portIndex := map[int32]map[int32]struct{}{}
	for arn, u := range use {
		i := c.index[arn]
		for udp, m := range map[bool]map[int32]int32{false: u.tcp, true: u.udp} {
			for p := range m {
				k := portKey(udp, p)
				if portIndex[k] == nil {
					portIndex[k] = map[int32]struct{}{}
				}
				portIndex[k][i] = struct{}{}
			}
		}
	}
	if !maps.EqualFunc(c.ports, portIndex, func(a, b map[int32]struct{}) bool { return maps.Equal(a, b) }) {
		t.Fatalf("port index %v, recomputed %v", c.ports, portIndex)
	}
}

// TestPlaceNeverOvercommits drives random workloads (placements with random
// demands, strategies and constraints; commits, rollbacks, task stops and
// status changes; instances growing, draining, leaving and returning) and
// checks after every step that the incremental accounting matches a
// recomputation and that no instance holds more than it registered.
func TestPlaceNeverOvercommits(t *testing.T) {
	policies := [][]ecsapi.PlacementStrategy{
		nil,
		{strat("binpack", "cpu")},
		{strat("binpack", "memory"), strat("spread", "instanceId")},
		{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
		{strat("spread", "instanceId"), strat("random", "")},
	}
	constraints := [][]ecsapi.PlacementConstraint{
		nil,
		{memberOf("attribute:ecs.availability-zone != z2")},
		{memberOf("runningTasksCount < 6 or task:group == g1")},
	}
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			c := New()
			var arns []string
			for i := range 12 + rng.IntN(20) {
				arn := fmt.Sprint("ci-", i)
				arns = append(arns, arn)
				in := inst(arn, int64(256+rng.IntN(4096)), int64(256+rng.IntN(8192)), az(fmt.Sprint("z", rng.IntN(3))), gpus(int64(rng.IntN(3))))
				if rng.IntN(2) == 0 {
					in.ReservedTCPPorts = []int32{22, 8080}
				}
				if err := c.PutInstance(in); err != nil {
					t.Fatal(err)
				}
			}
			distinctGroups := map[string]bool{"d": true}
			var tentative, committed []string
			next := 0
			for step := range 400 {
				switch op := rng.IntN(10); {
				case op < 5: // place
					group := []string{"g1", "g2", "d"}[rng.IntN(3)]
					cons := constraints[rng.IntN(len(constraints))]
					if group == "d" {
						cons = append(slices.Clone(cons), distinct)
					}
					pol, err := NewPolicy(policies[rng.IntN(len(policies))], cons)
					if err != nil {
						t.Fatal(err)
					}
					d := Demand{CPU: int64(rng.IntN(600)), Memory: int64(rng.IntN(1200)), GPU: int64(rng.IntN(2))}
					if rng.IntN(3) == 0 {
						d.TCPPorts = []int32{int32(8080 + rng.IntN(3))}
					}
					if rng.IntN(4) == 0 {
						d.UDPPorts = []int32{53}
					}
					count := 1 + rng.IntN(10)
					req := Request{Group: group, Demand: d, Policy: pol, Seed: rng.Uint64()}
					for range count {
						req.TaskIDs = append(req.TaskIDs, fmt.Sprint("t", next))
						next++
					}
					plan, err := c.Place(req)
					if err != nil {
						t.Fatal(err)
					}
					if len(plan.Placements)+len(plan.Unplaced) != count {
						t.Fatalf("step %d: %d placed + %d unplaced != %d", step, len(plan.Placements), len(plan.Unplaced), count)
					}
					if len(plan.Unplaced) > 0 && len(plan.Failures) != c.Len() {
						t.Fatalf("step %d: %d failures for %d instances", step, len(plan.Failures), c.Len())
					}
					for _, f := range plan.Failures {
						if f.Reason == "" { // pick refused an instance check accepts
							t.Fatalf("step %d: failure without a reason: %+v", step, f)
						}
					}
					tentative = append(tentative, plan.PlacedIDs()...)
				case op < 7 && len(tentative) > 0: // the store accepts or refuses the oldest pending write
					n := 1 + rng.IntN(len(tentative))
					if rng.IntN(3) == 0 {
						c.Rollback(tentative[:n]...)
					} else {
						c.Commit(tentative[:n]...)
						committed = append(committed, tentative[:n]...)
					}
					tentative = tentative[n:]
				case op < 8 && len(committed) > 0: // a task starts running, or stops
					k := rng.IntN(len(committed))
					id := committed[k]
					if rng.IntN(2) == 0 {
						c.RemoveTask(id)
						committed = slices.Delete(committed, k, k+1)
						break
					}
					st := taskOf(c, id)
					st.Running = true
					if err := c.PutTask(st); err != nil {
						t.Fatal(err)
					}
				case op < 9: // an instance grows, drains, or loses its agent
					arn := arns[rng.IntN(len(arns))]
					if st, ok := c.Instance(arn); ok {
						in := st.Instance
						in.CPU += int64(rng.IntN(256))
						in.Status = []string{"ACTIVE", "ACTIVE", "DRAINING"}[rng.IntN(3)]
						in.AgentConnected = rng.IntN(4) != 0
						if err := c.PutInstance(in); err != nil {
							t.Fatal(err)
						}
					}
				default: // an instance leaves and comes back
					arn := arns[rng.IntN(len(arns))]
					if st, ok := c.Instance(arn); ok {
						c.RemoveInstance(arn)
						checkView(t, c, distinctGroups)
						if err := c.PutInstance(st.Instance); err != nil {
							t.Fatal(err)
						}
					}
				}
				checkView(t, c, distinctGroups)
			}
		})
	}
}

func taskOf(c *Cluster, id string) Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tasks[id].task
}

// TestConcurrentUse runs placements, commits, rollbacks and watch updates
// from several goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	c := New()
	for i := range 50 {
		if err := c.PutInstance(inst(fmt.Sprint("ci-", i), 4096, 4096, az(fmt.Sprint("z", i%3)))); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := NewPolicy([]ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")}, []ecsapi.PlacementConstraint{memberOf("task:group != nope")})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := range 100 {
				plan, err := c.Place(Request{TaskIDs: []string{fmt.Sprintf("w%d-%d-a", w, k), fmt.Sprintf("w%d-%d-b", w, k)}, Group: fmt.Sprint("g", w), Demand: Demand{CPU: 16, Memory: 16}, Policy: pol, Seed: uint64(k)})
				if err != nil {
					t.Error(err)
					return
				}
				if k%3 == 0 {
					c.Rollback(plan.PlacedIDs()...)
					continue
				}
				c.Commit(plan.PlacedIDs()...)
				for _, p := range plan.Placements {
					if err := c.PutTask(Task{ID: p.TaskID, InstanceARN: p.InstanceARN, Group: fmt.Sprint("g", w), Demand: Demand{CPU: 16, Memory: 16}, Running: true}); err != nil {
						t.Error(err)
					}
				}
				if k%5 == 0 {
					c.RemoveTask(plan.Placements[0].TaskID)
				}
			}
		})
	}
	wg.Go(func() {
		for k := range 200 {
			arn := fmt.Sprint("ci-", k%50)
			if st, ok := c.Instance(arn); ok {
				_ = c.PutInstance(st.Instance)
			}
			_ = c.Instances()
		}
	})
	wg.Wait()
	checkView(t, c, nil)
}
