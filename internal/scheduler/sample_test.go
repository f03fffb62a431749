package scheduler

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// checkUniform checks that placements went only to the instances in
// fitting, and to each about equally often: a chi-square test against the
// uniform distribution, with a bound far out in the tail (the test is
// deterministic for its seeds; the bound only keeps it from depending on
// them).
func checkUniform(t *testing.T, placements []Placement, fitting []string) {
	t.Helper()
	counts := map[string]int{}
	for _, p := range placements {
		counts[p.InstanceARN]++
	}
	for arn, n := range counts {
		if !slices.Contains(fitting, arn) {
			t.Errorf("%d tasks placed on %s, which cannot take them", n, arn)
		}
	}
	want := float64(len(placements)) / float64(len(fitting))
	chi2 := 0.0
	for _, arn := range fitting {
		d := float64(counts[arn]) - want
		chi2 += d * d / want
	}
	df := float64(len(fitting) - 1)
	if bound := df + 8*math.Sqrt(2*df) + 10; chi2 > bound {
		t.Errorf("placements over %d fitting instances are not uniform: chi-square %.1f > %.1f (%v)", len(fitting), chi2, bound, counts)
	}
}

// pickCounts returns how many random draws and full passes Place has made
// on c.
func pickCounts(c *Cluster) (draws, scans int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pickDraws, c.pickScans
}

// TestPlaceRandomSamplesUniformly places with random and no strategy on a
// view where most instances fit: every task comes from the sample, without
// a full pass, and each instance that can take tasks gets its share while
// the others (draining, disconnected, too small, without the required
// attribute, excluded by memberOf, vacant slots) get none.
func TestPlaceRandomSamplesUniformly(t *testing.T) {
	var instances []Instance
	var fitting []string
	for i := range 210 {
		arn := fmt.Sprintf("ci-%03d", i)
		in := inst(arn, 1<<20, 1<<20, attr("pool", "ok"), attr("req", "yes"))
		switch {
		case i < 10: // removed below: vacant slots
		case i < 20:
			in.Status = "DRAINING"
		case i < 30:
			in.AgentConnected = false
		case i < 40:
			in.CPU = 10
		case i < 50:
			delete(in.Attributes, "req")
		case i < 60:
			in.Attributes["pool"] = "bad"
		default:
			fitting = append(fitting, arn)
		}
		instances = append(instances, in)
	}
	pol, err := NewPolicy([]ecsapi.PlacementStrategy{strat("random", "")}, []ecsapi.PlacementConstraint{
		memberOf("attribute:pool == ok"),
		memberOf("not(task:group == service:elsewhere)"), // reads tasks
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pol  *Policy
	}{{"no strategy", nil}, {"random with constraints", pol}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, instances, nil)
			for i := range 10 {
				c.RemoveInstance(instances[i].ARN)
			}
			fit, required := fitting, []ecsapi.Attribute{{Name: "req", Value: "yes"}}
			if tc.pol == nil { // nothing required: only resources and state count
				fit, required = slices.Clone(fitting), nil
				for i := 40; i < 60; i++ {
					fit = append(fit, instances[i].ARN)
				}
			}
			const perInstance = 100
			count := perInstance * len(fit)
			plan, err := c.Place(Request{
				TaskIDs: ids("t", count), Group: "service:web", Demand: Demand{CPU: 16, Memory: 16},
				RequiredAttributes: required, Policy: tc.pol, Seed: 7,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Placements) != count {
				t.Fatalf("placed %d of %d tasks", len(plan.Placements), count)
			}
			checkUniform(t, plan.Placements, fit)
			draws, scans := pickCounts(c)
			if scans != 0 {
				t.Errorf("%d full passes for %d tasks with %d of 210 slots fitting; want none", scans, count, len(fit))
			}
			if draws < count || draws > 2*count {
				t.Errorf("%d random draws for %d tasks; want about %d", draws, count, count*210/len(fit))
			}
		})
	}
}

// TestPlaceRandomFallbackIsUniform places at random on a view where 4 of
// 2,000 instances fit: most tasks find none in the sample and come from the
// full pass, the others from the sample, and the fitting instances share
// the tasks equally either way.
func TestPlaceRandomFallbackIsUniform(t *testing.T) {
	var instances []Instance
	var fitting []string
	for i := range 2000 {
		arn := fmt.Sprintf("ci-%04d", i)
		cpu := int64(64)
		if i%500 == 7 {
			cpu = 1 << 20
			fitting = append(fitting, arn)
		}
		instances = append(instances, inst(arn, cpu, 1<<20))
	}
	c := newCluster(t, instances, nil)
	const count = 2000
	plan, err := c.Place(Request{TaskIDs: ids("t", count), Group: "family:web", Demand: Demand{CPU: 128}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Placements) != count {
		t.Fatalf("placed %d of %d tasks", len(plan.Placements), count)
	}
	checkUniform(t, plan.Placements, fitting)
	_, scans := pickCounts(c)
	// A task is sampled with probability 1-(1-4/2000)^64, about 12%.
	if scans < count/2 || scans > count-count/50 {
		t.Errorf("%d of %d tasks came from the full pass; want about 88%%", scans, count)
	}
}

// TestPlaceRandomFillsCapacity places at random until every instance is
// full: the sample serves while many instances have room and the full pass
// the last few, every instance ends up with exactly what it can hold, and
// the first task that fits nowhere ends the request with a failure per
// instance.
func TestPlaceRandomFillsCapacity(t *testing.T) {
	var instances []Instance
	for i := range 300 {
		instances = append(instances, inst(fmt.Sprintf("ci-%03d", i), 300, 1<<20))
	}
	c := newCluster(t, instances, nil)
	plan, err := c.Place(Request{TaskIDs: ids("t", 3*300+5), Group: "family:web", Demand: Demand{CPU: 100}, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, p := range plan.Placements {
		counts[p.InstanceARN]++
	}
	for _, in := range instances {
		if counts[in.ARN] != 3 {
			t.Errorf("%s got %d tasks; it holds 3", in.ARN, counts[in.ARN])
		}
	}
	if !slices.Equal(plan.Unplaced, ids("t", 905)[900:]) {
		t.Errorf("unplaced %v", plan.Unplaced)
	}
	if len(plan.Failures) != 300 || plan.Failures[0].Reason != ReasonCPU {
		t.Errorf("%d failures, first %+v; want 300 for CPU", len(plan.Failures), plan.Failures[0])
	}
	draws, scans := pickCounts(c)
	if draws == 0 || scans == 0 || scans > 300 {
		t.Errorf("%d draws and %d full passes for 900 tasks; want both, and passes only near the end", draws, scans)
	}
	checkView(t, c, nil)
}

// TestPlaceRandomTaskGroupConstraint: a memberOf that reads the request's
// own group sees the tasks placed earlier in the same request when they
// are drawn by the sample, as with the full pass.
func TestPlaceRandomTaskGroupConstraint(t *testing.T) {
	var instances []Instance
	for i := range 100 {
		instances = append(instances, inst(fmt.Sprintf("ci-%03d", i), 1<<20, 1<<20))
	}
	c := newCluster(t, instances, nil)
	pol, err := NewPolicy(nil, []ecsapi.PlacementConstraint{memberOf("not(task:group == family:web)")})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.Place(Request{TaskIDs: ids("t", 101), Group: "family:web", Demand: Demand{CPU: 1}, Policy: pol, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range plan.Placements {
		if seen[p.InstanceARN] {
			t.Errorf("two tasks of family:web on %s", p.InstanceARN)
		}
		seen[p.InstanceARN] = true
	}
	if len(plan.Placements) != 100 || len(plan.Failures) != 100 || plan.Failures[0].Reason != ReasonMemberOf {
		t.Errorf("placed %d, %d failures (%+v); want 100 placed, then 100 memberOf failures", len(plan.Placements), len(plan.Failures), plan.Failures[:1])
	}
	if draws, _ := pickCounts(c); draws == 0 {
		t.Error("no random draws")
	}
}

// TestPlaceSameSeedSamePlan: with the sample and the full pass both in use,
// the same seeds on the same view give the same plans, and other seeds
// other plans.
func TestPlaceSameSeedSamePlan(t *testing.T) {
	var instances []Instance
	for i := range 1000 {
		cpu := int64(1 << 20)
		if i%40 != 0 {
			cpu = 64 // 25 of 1,000 fit: about 80% of the tasks are sampled
		}
		instances = append(instances, inst(fmt.Sprintf("ci-%04d", i), cpu, 1<<20, az(fmt.Sprint("z", i%3))))
	}
	pol, err := NewPolicy([]ecsapi.PlacementStrategy{strat("random", "")}, []ecsapi.PlacementConstraint{memberOf("runningTasksCount < 100")})
	if err != nil {
		t.Fatal(err)
	}
	run := func(seed uint64) ([]Plan, *Cluster) {
		c := newCluster(t, instances, nil)
		var plans []Plan
		for r := range 30 {
			for _, p := range []*Policy{nil, pol} {
				plan, err := c.Place(Request{TaskIDs: ids(fmt.Sprintf("t%d-%p", r, p), 10), Group: "family:web", Demand: Demand{CPU: 128}, Policy: p, Seed: seed + uint64(r)})
				if err != nil {
					t.Fatal(err)
				}
				plans = append(plans, plan)
			}
		}
		return plans, c
	}
	a, c := run(100)
	b, _ := run(100)
	other, _ := run(200)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seeds gave different plans")
	}
	if reflect.DeepEqual(a, other) {
		t.Error("different seeds gave the same plans")
	}
	if draws, scans := pickCounts(c); draws == 0 || scans == 0 || scans > 200 {
		t.Errorf("%d draws and %d full passes for 600 tasks; want both, the sample most often", draws, scans)
	}
}

// TestNewScanGroupCounts: a request reads its group's index into per-slot
// counts only for distinctInstance and spread instanceId (and per-value
// counts for spread attribute); random, binpack and memberOf, even one
// that reads task:group from the instances, do without.
func TestNewScanGroupCounts(t *testing.T) {
	instances := []Instance{
		inst("a", 4096, 4096, az("1a")), inst("b", 4096, 4096, az("1b")),
		inst("c", 4096, 4096, az("1a")), inst("d", 4096, 4096, az("1b")),
	}
	small := Demand{CPU: 1, Memory: 1}
	c := newCluster(t, instances, []Task{
		groupTask("x", "a", "g", small), groupTask("y", "a", "g", small),
		groupTask("z", "c", "g", small), groupTask("w", "b", "other", small),
	})
	tests := []struct {
		name        string
		strategies  []ecsapi.PlacementStrategy
		constraints []ecsapi.PlacementConstraint
		perSlot     bool
		perZone     bool
	}{
		{name: "no policy"},
		{name: "random", strategies: []ecsapi.PlacementStrategy{strat("random", "")}},
		{name: "binpack", strategies: []ecsapi.PlacementStrategy{strat("binpack", "cpu")}},
		{name: "memberOf task:group", constraints: []ecsapi.PlacementConstraint{memberOf("task:group == g")}},
		{name: "distinctInstance", constraints: []ecsapi.PlacementConstraint{distinct}, perSlot: true},
		{name: "spread instanceId", strategies: []ecsapi.PlacementStrategy{strat("spread", "instanceId")}, perSlot: true},
		{name: "spread zone", strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")}, perZone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := NewPolicy(tt.strategies, tt.constraints)
			if err != nil {
				t.Fatal(err)
			}
			req := &Request{TaskIDs: []string{"new"}, Group: "g", Demand: small}
			c.mu.Lock()
			defer c.mu.Unlock()
			s := c.newScan(req, pol)
			if !tt.perSlot {
				if s.groupTasks != nil {
					t.Errorf("per-slot group counts built: %v", s.groupTasks)
				}
			} else {
				got := map[string]int32{}
				for arn, i := range c.index {
					got[arn] = s.groupTasks[i]
				}
				if want := map[string]int32{"a": 2, "b": 0, "c": 1, "d": 0}; !reflect.DeepEqual(got, want) {
					t.Errorf("per-slot group counts %v, want %v", got, want)
				}
			}
			zone := slices.IndexFunc(pol.strategies, func(st strategy) bool { return st.kind == spreadAttribute })
			if tt.perZone {
				values := s.valueOf[zone]
				if got := s.tasksOf[zone][values[c.index["a"]]]; got != 3 {
					t.Errorf("zone 1a has %d tasks of g, want 3", got)
				}
				if got := s.tasksOf[zone][values[c.index["b"]]]; got != 0 {
					t.Errorf("zone 1b has %d tasks of g, want 0", got)
				}
			}
			s.placed(c.index["d"]) // must not need the counts it did not build
			if tt.perSlot && s.groupTasks[c.index["d"]] != 1 {
				t.Errorf("placed did not count the task on d")
			}
			if tt.perZone && s.tasksOf[zone][s.valueOf[zone][c.index["d"]]] != 1 {
				t.Errorf("placed did not count the task in zone 1b")
			}
		})
	}
}
