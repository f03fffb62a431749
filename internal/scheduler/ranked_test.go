package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestRankedMatchesFullScan drives random views and requests and checks,
// before every task, that the ranked index offers exactly the candidates
// fullScan would tie (the reference: every slot checked, keys compared
// level by level), then places the task on the index's choice. The views
// have instances of few distinct sizes (many ties) or all distinct ones
// (binpack's refills), some draining, disconnected, removed, too small, or
// with reserved ports; some lack the spread attribute. The requests cover
// each strategy list the index serves and some it does not, constraints
// (distinctInstance, memberOf on instance fields and on tasks), required
// attributes, static host ports and zero CPU or memory (a binpack key that
// does not move). Between requests tasks are committed, rolled back or
// stopped, and instances change status.
func TestRankedMatchesFullScan(t *testing.T) {
	covered := [][]ecsapi.PlacementStrategy{
		{strat("binpack", "cpu")},
		{strat("binpack", "memory")},
		{strat("spread", "instanceId")},
		{strat("spread", "host"), strat("random", "")},
		{strat("spread", "attribute:ecs.availability-zone")},
		{strat("spread", "attribute:rack")},
		{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
		{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
		{strat("spread", "attribute:rack"), strat("binpack", "cpu"), strat("random", "")},
	}
	uncovered := [][]ecsapi.PlacementStrategy{
		{strat("binpack", "memory"), strat("spread", "instanceId")},
		{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "attribute:rack")},
		{strat("spread", "instanceId"), strat("binpack", "cpu")},
	}
	constraints := [][]ecsapi.PlacementConstraint{
		nil,
		nil,
		{distinct},
		{memberOf("attribute:ecs.availability-zone != z2")},
		{memberOf("runningTasksCount < 6 or task:group == g1")},
		{memberOf("not(task:group == g2)")},
	}
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	builds, steps := 0, 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 2))
		c := New()
		var arns []string
		distinctSizes := seed%3 == 0
		for i := range 10 + rng.IntN(60) {
			arn := fmt.Sprintf("ci-%03d", i)
			arns = append(arns, arn)
			cpu, mem := int64(512*(1+rng.IntN(4))), int64(1024*(1+rng.IntN(4)))
			if distinctSizes {
				cpu, mem = int64(300+rng.IntN(4000)), int64(600+rng.IntN(8000))
			}
			in := inst(arn, cpu, mem, gpus(int64(rng.IntN(2))))
			if rng.IntN(8) != 0 {
				in.Attributes["ecs.availability-zone"] = fmt.Sprint("z", rng.IntN(4))
			}
			if rng.IntN(2) == 0 {
				in.Attributes["rack"] = fmt.Sprint("r", rng.IntN(3))
			}
			switch rng.IntN(12) {
			case 0:
				in.Status = "DRAINING"
			case 1:
				in.AgentConnected = false
			case 2:
				in.ReservedTCPPorts = []int32{8080}
			}
			if err := c.PutInstance(in); err != nil {
				t.Fatal(err)
			}
		}
		for _, arn := range arns {
			if rng.IntN(10) == 0 {
				c.RemoveInstance(arn) // a vacant slot
			}
		}
		next := 0
		for range 3 * len(arns) { // tasks already there, where they fit
			arn, d := arns[rng.IntN(len(arns))], Demand{CPU: int64(rng.IntN(200)), Memory: int64(rng.IntN(400))}
			if st, ok := c.Instance(arn); !ok || st.RemainingCPU < d.CPU || st.RemainingMemory < d.Memory {
				continue
			}
			id := fmt.Sprint("pre-", next)
			next++
			if err := c.PutTask(Task{ID: id, InstanceARN: arn, Group: []string{"g1", "g2", "g3"}[rng.IntN(3)], Demand: d, Running: rng.IntN(2) == 0}); err != nil {
				t.Fatal(err)
			}
		}
		var tentative []string
		for r := range 40 {
			strategies, cover := covered[rng.IntN(len(covered))], true
			if rng.IntN(5) == 0 {
				strategies, cover = uncovered[rng.IntN(len(uncovered))], false
			}
			pol, err := NewPolicy(strategies, constraints[rng.IntN(len(constraints))])
			if err != nil {
				t.Fatal(err)
			}
			req := Request{Group: []string{"g1", "g2", "g3"}[rng.IntN(3)], Policy: pol, Seed: rng.Uint64()}
			req.Demand = Demand{CPU: int64(rng.IntN(300)), Memory: int64(rng.IntN(600)), GPU: int64(rng.IntN(5) / 4)}
			switch rng.IntN(6) {
			case 0:
				req.Demand.CPU = 0
			case 1:
				req.Demand.Memory = 0
			case 2:
				req.Demand.TCPPorts = []int32{8080}
			case 3:
				req.RequiredAttributes = []ecsapi.Attribute{{Name: "rack"}}
			}
			for range 1 + rng.IntN(40) {
				req.TaskIDs = append(req.TaskIDs, fmt.Sprint("t-", next))
				next++
			}
			where := fmt.Sprintf("seed %d, request %d (%v, %+v)", seed, r, strategies, req.Demand)

			c.mu.Lock()
			s := c.newScan(&req, pol)
			s.rankTried = true
			if built := s.buildRanked(); built != cover {
				c.mu.Unlock()
				t.Fatalf("%s: ranked index built: %v, want %v", where, built, cover)
			}
			if s.rank != nil {
				builds++
			}
			draw := rand.New(rand.NewPCG(req.Seed, 0))
			scratch := rand.New(rand.NewPCG(0, 0))
			for k, id := range req.TaskIDs {
				s.fullScan(scratch)
				want := slices.Sorted(slices.Values(c.ties))
				if s.rank != nil {
					got := slices.Sorted(slices.Values(s.rank.ties(nil)))
					if !slices.Equal(got, want) || s.rank.broken {
						c.mu.Unlock()
						t.Fatalf("%s, task %d: ranked ties %v (broken %v), full scan %v", where, k, got, s.rank.broken, want)
					}
					steps++
				}
				best := s.pick(draw)
				if best < 0 {
					if len(want) > 0 {
						c.mu.Unlock()
						t.Fatalf("%s, task %d: nothing picked from %v", where, k, want)
					}
					break
				}
				if _, ok := slices.BinarySearch(want, best); !ok {
					c.mu.Unlock()
					t.Fatalf("%s, task %d: picked slot %d, not among %v", where, k, best, want)
				}
				tentative = append(tentative, s.reserve(best, id).TaskID)
			}
			c.mu.Unlock()

			// The view moves on between requests.
			if n := rng.IntN(len(tentative) + 1); n > 0 {
				if rng.IntN(3) == 0 {
					c.Rollback(tentative[:n]...)
				} else {
					c.Commit(tentative[:n]...)
					for _, id := range tentative[:n] {
						if rng.IntN(4) == 0 {
							c.RemoveTask(id)
						}
					}
				}
				tentative = tentative[n:]
			}
			if rng.IntN(4) == 0 {
				if st, ok := c.Instance(arns[rng.IntN(len(arns))]); ok {
					in := st.Instance
					in.Status = []string{"ACTIVE", "ACTIVE", "DRAINING"}[rng.IntN(3)]
					in.AgentConnected = rng.IntN(4) != 0
					if err := c.PutInstance(in); err != nil {
						t.Fatal(err)
					}
				}
			}
			checkView(t, c, nil)
		}
	}
	if builds == 0 || steps < 5*builds {
		t.Errorf("%d ranked indexes built, %d tasks compared; the test did not exercise them", builds, steps)
	}
}

// TestRankedDrawsUniformly places requests of two tasks (so the ranked
// index serves them) and checks that the first task of each goes to the
// candidates that tie for best, each about equally often: zones z1 and z2
// tie with no task of the group, and their instances tie within them,
// whatever the zones' sizes; binpack's equal instances all tie. No task
// comes from the full pass.
func TestRankedDrawsUniformly(t *testing.T) {
	var instances []Instance
	var tied []string
	for i := range 20 {
		zone := []string{"z0", "z1", "z1", "z1", "z2"}[i%5] // z1 has 12 instances, z0 and z2 4
		arn := fmt.Sprintf("ci-%02d", i)
		instances = append(instances, inst(arn, 4096, 4096, az(zone)))
		if zone != "z0" {
			tied = append(tied, arn)
		}
	}
	all := make([]string, len(instances))
	for i, in := range instances {
		all[i] = in.ARN
	}
	empty := all[1:] // ci-00 holds a task of the group
	for _, tc := range []struct {
		name       string
		strategies []ecsapi.PlacementStrategy
		fitting    []string
	}{
		{"spread zone+instanceId", []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")}, tied},
		{"spread zone", []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")}, tied},
		{"spread instanceId", []ecsapi.PlacementStrategy{strat("spread", "instanceId")}, empty},
		{"binpack memory", []ecsapi.PlacementStrategy{strat("binpack", "memory")}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, instances, []Task{groupTask("x", "ci-00", "service:web", Demand{})}) // ci-00 is in z0
			pol, err := NewPolicy(tc.strategies, nil)
			if err != nil {
				t.Fatal(err)
			}
			var first []Placement
			for seed := range uint64(4000) {
				plan, err := c.Place(Request{TaskIDs: []string{"a", "b"}, Group: "service:web", Demand: Demand{CPU: 1, Memory: 1}, Policy: pol, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				first = append(first, plan.Placements[0])
				c.Rollback(plan.PlacedIDs()...)
			}
			checkUniform(t, first, tc.fitting)
			if _, scans := pickCounts(c); scans != 0 || c.pickBuilds != 4000 {
				t.Errorf("%d full passes and %d ranked indexes for 4,000 requests of two tasks; want none and 4,000", scans, c.pickBuilds)
			}
		})
	}
}

// TestRankedSingleTaskScans: a request of one task makes the full pass
// instead of building the index, which would cost as much.
func TestRankedSingleTaskScans(t *testing.T) {
	c := newCluster(t, []Instance{inst("a", 1024, 1024), inst("b", 1024, 2048)}, nil)
	pol, err := NewPolicy([]ecsapi.PlacementStrategy{strat("binpack", "memory")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.Place(Request{TaskIDs: []string{"t"}, Group: "g", Demand: Demand{Memory: 512}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Placements[0].InstanceARN != "a" {
		t.Errorf("placed on %s, want a", plan.Placements[0].InstanceARN)
	}
	if _, scans := pickCounts(c); scans != 1 || c.pickBuilds != 0 {
		t.Errorf("%d full passes and %d ranked indexes; want one pass", scans, c.pickBuilds)
	}
}
