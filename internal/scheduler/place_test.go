package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// inst builds an ACTIVE, connected instance.
func inst(arn string, cpu, mem int64, opts ...func(*Instance)) Instance {
	i := Instance{ARN: arn, EC2InstanceID: "i-" + arn, Status: StatusActive, AgentConnected: true, CPU: cpu, Memory: mem, Attributes: map[string]string{}}
	for _, o := range opts {
		o(&i)
	}
	return i
}

func attr(name, value string) func(*Instance) {
	return func(i *Instance) { i.Attributes[name] = value }
}

func az(zone string) func(*Instance) { return attr("ecs.availability-zone", zone) }

func status(s string) func(*Instance) { return func(i *Instance) { i.Status = s } }

func disconnected(i *Instance) { i.AgentConnected = false }

func gpus(n int64) func(*Instance) { return func(i *Instance) { i.GPU = n } }

func reserved(tcp, udp []int32) func(*Instance) {
	return func(i *Instance) { i.ReservedTCPPorts, i.ReservedUDPPorts = tcp, udp }
}

func strat(typ, field string) ecsapi.PlacementStrategy {
	return ecsapi.PlacementStrategy{Type: ecsapi.PlacementStrategyType(typ), Field: field}
}

func memberOf(expr string) ecsapi.PlacementConstraint {
	return ecsapi.PlacementConstraint{Type: ConstraintMemberOf, Expression: expr}
}

var distinct = ecsapi.PlacementConstraint{Type: ConstraintDistinct}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func newCluster(t testing.TB, instances []Instance, tasks []Task) *Cluster {
	t.Helper()
	c := New()
	for _, i := range instances {
		if err := c.PutInstance(i); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range tasks {
		if err := c.PutTask(tk); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// placeCase is one placement scenario: a view, a request of count tasks,
// and what must come of it. wantCounts gives tasks placed per instance, or,
// with countBy, per value of that attribute.
type placeCase struct {
	name         string
	instances    []Instance
	tasks        []Task
	strategies   []ecsapi.PlacementStrategy
	constraints  []ecsapi.PlacementConstraint
	required     []ecsapi.Attribute
	demand       Demand
	group        string
	count        int
	countBy      string
	wantCounts   map[string]int
	wantFailures map[string]string // instance ARN -> reason, when tasks are left unplaced
}

func runPlaceCases(t *testing.T, cases []placeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(0); seed < 8; seed++ { // outcomes must not depend on the tie-breaks
				c := newCluster(t, tc.instances, tc.tasks)
				pol, err := NewPolicy(tc.strategies, tc.constraints)
				if err != nil {
					t.Fatal(err)
				}
				group := tc.group
				if group == "" {
					group = "family:web"
				}
				plan, err := c.Place(Request{TaskIDs: ids("t", tc.count), Group: group, Demand: tc.demand, RequiredAttributes: tc.required, Policy: pol, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int{}
				for _, p := range plan.Placements {
					key := p.InstanceARN
					if tc.countBy != "" {
						st, _ := c.Instance(p.InstanceARN)
						key = st.Attributes[tc.countBy]
					}
					got[key]++
				}
				if tc.wantCounts == nil {
					tc.wantCounts = map[string]int{}
				}
				if !maps.Equal(got, tc.wantCounts) {
					t.Fatalf("seed %d: placed %v, want %v", seed, got, tc.wantCounts)
				}
				placed := len(plan.Placements)
				if len(plan.Unplaced) != tc.count-placed || !slices.Equal(plan.Unplaced, ids("t", tc.count)[placed:]) {
					t.Fatalf("seed %d: unplaced %v after %d placements of %d", seed, plan.Unplaced, placed, tc.count)
				}
				gotFailures := map[string]string{}
				for _, f := range plan.Failures {
					if _, dup := gotFailures[f.Arn]; dup {
						t.Fatalf("two failures for %s", f.Arn)
					}
					gotFailures[f.Arn] = f.Reason
					if f.Detail == "" {
						t.Errorf("failure %+v has no detail", f)
					}
				}
				if tc.wantFailures == nil {
					tc.wantFailures = map[string]string{}
				}
				if !maps.Equal(gotFailures, tc.wantFailures) {
					t.Fatalf("seed %d: failures %v, want %v", seed, gotFailures, tc.wantFailures)
				}
				if !slices.IsSortedFunc(plan.Failures, func(a, b ecsapi.Failure) int { return compareARN(a.Arn, b.Arn) }) {
					t.Errorf("failures not sorted by ARN: %v", plan.Failures)
				}
			}
		})
	}
}

func compareARN(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func groupTask(id, instance, group string, d Demand) Task {
	return Task{ID: id, InstanceARN: instance, Group: group, Demand: d, Running: true}
}

func TestPlaceStrategies(t *testing.T) {
	small := Demand{CPU: 128, Memory: 512}
	runPlaceCases(t, []placeCase{
		{
			name:       "binpack memory fills the fullest instance first",
			instances:  []Instance{inst("a", 4096, 1024), inst("b", 4096, 2048), inst("c", 4096, 4096)},
			strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")},
			demand:     small, count: 3,
			wantCounts: map[string]int{"a": 2, "b": 1},
		},
		{
			name:       "binpack memory counts existing tasks",
			instances:  []Instance{inst("a", 4096, 4096), inst("b", 4096, 4096)},
			tasks:      []Task{groupTask("x", "b", "other", Demand{Memory: 3072})},
			strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")},
			demand:     small, count: 3,
			wantCounts: map[string]int{"b": 2, "a": 1},
		},
		{
			name:       "binpack cpu",
			instances:  []Instance{inst("a", 1024, 8192), inst("b", 256, 8192), inst("c", 512, 8192)},
			strategies: []ecsapi.PlacementStrategy{strat("binpack", "cpu")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"b": 2, "c": 2},
		},
		{
			name:       "binpack cpu ties broken by binpack memory",
			instances:  []Instance{inst("a", 1024, 4096), inst("b", 1024, 1024), inst("c", 2048, 512)},
			strategies: []ecsapi.PlacementStrategy{strat("binpack", "cpu"), strat("binpack", "memory")},
			demand:     small, count: 1,
			wantCounts: map[string]int{"b": 1},
		},
		{
			name:       "spread instanceId evens out the group",
			instances:  []Instance{inst("a", 8192, 8192), inst("b", 8192, 8192), inst("c", 8192, 8192)},
			tasks:      []Task{groupTask("x1", "a", "family:web", small), groupTask("x2", "a", "family:web", small), groupTask("x3", "c", "family:web", small), groupTask("y", "b", "other", small)},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "instanceId")},
			demand:     small, count: 3,
			wantCounts: map[string]int{"b": 2, "c": 1},
		},
		{
			name:       "spread host is instanceId",
			instances:  []Instance{inst("a", 8192, 8192), inst("b", 8192, 8192)},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "host")},
			demand:     small, count: 6,
			wantCounts: map[string]int{"a": 3, "b": 3},
		},
		{
			name:       "spread by availability zone",
			instances:  []Instance{inst("a1", 8192, 8192, az("1a")), inst("a2", 8192, 8192, az("1a")), inst("b1", 8192, 8192, az("1b")), inst("c1", 8192, 8192, az("1c"))},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")},
			demand:     small, count: 6, countBy: "ecs.availability-zone",
			wantCounts: map[string]int{"1a": 2, "1b": 2, "1c": 2},
		},
		{
			name:       "spread by zone counts the group's existing tasks",
			instances:  []Instance{inst("a1", 8192, 8192, az("1a")), inst("b1", 8192, 8192, az("1b"))},
			tasks:      []Task{groupTask("x1", "a1", "family:web", small), groupTask("x2", "a1", "family:web", small), groupTask("y", "b1", "other", small)},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"b1": 3, "a1": 1},
		},
		{
			name:       "spread by zone then by instance",
			instances:  []Instance{inst("a1", 8192, 8192, az("1a")), inst("a2", 8192, 8192, az("1a")), inst("b1", 8192, 8192, az("1b"))},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"a1": 1, "a2": 1, "b1": 2},
		},
		{
			name:       "spread by zone then binpack memory",
			instances:  []Instance{inst("a1", 8192, 8192, az("1a")), inst("a2", 8192, 2048, az("1a")), inst("b1", 8192, 8192, az("1b"))},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"a2": 2, "b1": 2},
		},
		{
			name:       "instances without the spread attribute form one value",
			instances:  []Instance{inst("a", 8192, 8192, az("1a")), inst("n1", 8192, 8192), inst("n2", 8192, 8192)},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"a": 2, "n1": 1, "n2": 1},
		},
		{
			name:       "spread is best effort: full instances are skipped",
			instances:  []Instance{inst("a", 128, 8192, az("1a")), inst("b", 8192, 8192, az("1b"))},
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"a": 1, "b": 3},
		},
		{
			name:       "random places every task that fits",
			instances:  []Instance{inst("a", 256, 8192), inst("b", 256, 8192)},
			strategies: []ecsapi.PlacementStrategy{strat("random", "")},
			demand:     small, count: 4,
			wantCounts: map[string]int{"a": 2, "b": 2},
		},
		{
			name:      "no strategy places every task that fits",
			instances: []Instance{inst("a", 384, 8192), inst("b", 128, 8192)},
			demand:    small, count: 5,
			wantCounts:   map[string]int{"a": 3, "b": 1},
			wantFailures: map[string]string{"a": ReasonCPU, "b": ReasonCPU},
		},
	})
}

func TestPlaceConstraints(t *testing.T) {
	small := Demand{CPU: 128, Memory: 128}
	three := []Instance{
		inst("a", 8192, 8192, attr("ecs.instance-type", "t2.small"), attr("family", "t2"), az("1a")),
		inst("b", 8192, 8192, attr("ecs.instance-type", "m5.large"), attr("family", "m5"), az("1b")),
		inst("c", 8192, 8192, attr("ecs.instance-type", "t2.micro"), attr("family", "t2"), az("1c")),
	}
	runPlaceCases(t, []placeCase{
		{
			name:        "distinctInstance: one task of the group per instance",
			instances:   three,
			constraints: []ecsapi.PlacementConstraint{distinct},
			demand:      small, count: 5,
			wantCounts:   map[string]int{"a": 1, "b": 1, "c": 1},
			wantFailures: map[string]string{"a": ReasonDistinctInstance, "b": ReasonDistinctInstance, "c": ReasonDistinctInstance},
		},
		{
			name:        "distinctInstance counts existing tasks of the group only",
			instances:   three,
			tasks:       []Task{groupTask("x", "a", "family:web", small), groupTask("y", "b", "family:db", small)},
			constraints: []ecsapi.PlacementConstraint{distinct},
			demand:      small, count: 2,
			wantCounts: map[string]int{"b": 1, "c": 1},
		},
		{
			name:        "memberOf attribute match",
			instances:   three,
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.instance-type =~ t2.*")},
			demand:      small, count: 4, countBy: "family",
			wantCounts: map[string]int{"t2": 4},
		},
		{
			name:        "memberOf attribute equality, bare ecs name",
			instances:   three,
			constraints: []ecsapi.PlacementConstraint{memberOf("ecs.instance-type == m5.large")},
			demand:      small, count: 2,
			wantCounts: map[string]int{"b": 2},
		},
		{
			name:        "memberOf selecting nothing",
			instances:   three,
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.instance-type in [g2.xlarge]")},
			demand:      small, count: 1,
			wantFailures: map[string]string{"a": ReasonMemberOf, "b": ReasonMemberOf, "c": ReasonMemberOf},
		},
		{
			name:        "memberOf task group affinity",
			instances:   three,
			tasks:       []Task{groupTask("db", "c", "service:db", small)},
			constraints: []ecsapi.PlacementConstraint{memberOf("task:group == service:db")},
			demand:      small, count: 3,
			wantCounts: map[string]int{"c": 3},
		},
		{
			name:        "memberOf anti-affinity with the request's own group acts per placement",
			instances:   three,
			constraints: []ecsapi.PlacementConstraint{memberOf("not(task:group == family:web)")},
			demand:      small, count: 4,
			wantCounts:   map[string]int{"a": 1, "b": 1, "c": 1},
			wantFailures: map[string]string{"a": ReasonMemberOf, "b": ReasonMemberOf, "c": ReasonMemberOf},
		},
		{
			name:        "memberOf runningTasksCount",
			instances:   three,
			tasks:       []Task{groupTask("x", "a", "other", small), groupTask("y", "b", "other", small)},
			constraints: []ecsapi.PlacementConstraint{memberOf("runningTasksCount == 0")},
			demand:      small, count: 2,
			wantCounts: map[string]int{"c": 2},
		},
		{
			name:      "memberOf and distinctInstance together",
			instances: three,
			constraints: []ecsapi.PlacementConstraint{
				memberOf("attribute:family == t2"),
				distinct,
			},
			demand: small, count: 3,
			wantCounts:   map[string]int{"a": 1, "c": 1},
			wantFailures: map[string]string{"a": ReasonDistinctInstance, "b": ReasonMemberOf, "c": ReasonDistinctInstance},
		},
		{
			name:        "constraints bind strategies: spread cannot reach an excluded zone",
			instances:   three,
			strategies:  []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")},
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.availability-zone != 1b")},
			demand:      small, count: 4,
			wantCounts: map[string]int{"a": 2, "c": 2},
		},
	})
}

func TestPlaceFailureReasons(t *testing.T) {
	d := Demand{CPU: 512, Memory: 512, TCPPorts: []int32{80}, UDPPorts: []int32{53}, GPU: 1}
	ok := func(arn string, opts ...func(*Instance)) Instance {
		return inst(arn, 1024, 1024, append([]func(*Instance){gpus(1), attr("ecs.capability.task-eni", ""), attr("os", "linux")}, opts...)...)
	}
	required := []ecsapi.Attribute{{Name: "ecs.capability.task-eni"}, {Name: "os", Value: "linux"}}
	runPlaceCases(t, []placeCase{
		{name: "draining", instances: []Instance{ok("a", status("DRAINING"))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": "DRAINING"}},
		{name: "other status", instances: []Instance{ok("a", status("REGISTERING"))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": "REGISTERING"}},
		{name: "agent disconnected", instances: []Instance{ok("a", disconnected)}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonAgent}},
		{name: "required attribute missing", instances: []Instance{inst("a", 1024, 1024, gpus(1), attr("os", "linux"))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonAttribute}},
		{name: "required attribute value differs", instances: []Instance{ok("a", attr("os", "windows"))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonAttribute}},
		{name: "cpu", instances: []Instance{ok("a", func(i *Instance) { i.CPU = 511 })}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonCPU}},
		{name: "memory", instances: []Instance{ok("a", func(i *Instance) { i.Memory = 100 })}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonMemory}},
		{name: "reserved tcp port", instances: []Instance{ok("a", reserved([]int32{22, 80}, nil))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonPorts}},
		{name: "tcp port of a task", instances: []Instance{ok("a")}, tasks: []Task{groupTask("x", "a", "other", Demand{TCPPorts: []int32{80}})}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonPorts}},
		{name: "udp port", instances: []Instance{ok("a", reserved([]int32{53}, []int32{53}))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonPortsUDP}},
		{name: "gpu", instances: []Instance{ok("a", gpus(0))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonGPU}},
		{name: "status comes before resources", instances: []Instance{ok("a", status("DRAINING"), disconnected, func(i *Instance) { i.CPU = 0 })}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": "DRAINING"}},
		{name: "agent comes before attributes", instances: []Instance{inst("a", 0, 0, disconnected)}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonAgent}},
		{name: "cpu comes before memory and ports", instances: []Instance{inst("a", 0, 0, gpus(0), attr("ecs.capability.task-eni", ""), attr("os", "linux"), reserved([]int32{80}, nil))}, required: required, demand: d, count: 1,
			wantFailures: map[string]string{"a": ReasonCPU}},
		{name: "resources come before constraints", instances: []Instance{ok("a", func(i *Instance) { i.Memory = 0 })}, required: required, demand: d, count: 1,
			constraints:  []ecsapi.PlacementConstraint{memberOf("attribute:nope exists")},
			wantFailures: map[string]string{"a": ReasonMemory}},
		{name: "one failure per instance, each its own reason",
			instances: []Instance{
				ok("e", func(i *Instance) { i.CPU = 0 }),
				ok("a", status("DRAINING")),
				ok("d", disconnected),
				ok("c", reserved([]int32{80}, nil)),
				ok("b"),
			},
			tasks:       []Task{groupTask("x", "b", "family:web", Demand{})},
			constraints: []ecsapi.PlacementConstraint{distinct},
			required:    required, demand: d, count: 2,
			wantFailures: map[string]string{"a": "DRAINING", "b": ReasonDistinctInstance, "c": ReasonPorts, "d": ReasonAgent, "e": ReasonCPU}},
		{name: "no instances: no failures", demand: d, count: 2},
		{name: "count beyond capacity stops at the first task that does not fit",
			instances: []Instance{inst("a", 1024, 8192), inst("b", 600, 8192)},
			demand:    Demand{CPU: 300}, count: 10,
			wantCounts:   map[string]int{"a": 3, "b": 2},
			wantFailures: map[string]string{"a": ReasonCPU, "b": ReasonCPU}},
		{name: "count beyond free ports",
			instances: []Instance{inst("a", 8192, 8192), inst("b", 8192, 8192)},
			demand:    Demand{TCPPorts: []int32{8080}}, count: 3,
			wantCounts:   map[string]int{"a": 1, "b": 1},
			wantFailures: map[string]string{"a": ReasonPorts, "b": ReasonPorts}},
		{name: "count beyond gpus",
			instances: []Instance{inst("a", 8192, 8192, gpus(4))},
			demand:    Demand{GPU: 3}, count: 2,
			wantCounts:   map[string]int{"a": 1},
			wantFailures: map[string]string{"a": ReasonGPU}},
	})
}

func TestPlaceFailureDetail(t *testing.T) {
	c := newCluster(t, []Instance{inst("a", 100, 1024), inst("b", 1024, 1024, attr("x", "1"))}, nil)
	pol, err := NewPolicy(nil, []ecsapi.PlacementConstraint{memberOf("attribute:x == 2")})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.Place(Request{TaskIDs: []string{"t"}, Group: "g", Demand: Demand{CPU: 512}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	want := []ecsapi.Failure{
		{Arn: "a", Reason: ReasonCPU, Detail: "task needs 512 CPU units; 100 remain"},
		{Arn: "b", Reason: ReasonMemberOf, Detail: "container instance does not match attribute:x == 2"},
	}
	if !reflect.DeepEqual(plan.Failures, want) {
		t.Errorf("failures = %+v, want %+v", plan.Failures, want)
	}
}

func TestPlaceRandomIsSeededAndUniform(t *testing.T) {
	var instances []Instance
	for i := range 8 {
		instances = append(instances, inst(fmt.Sprint("i", i), 1<<20, 1<<20))
	}
	place := func(seed uint64) []Placement {
		c := newCluster(t, instances, nil)
		plan, err := c.Place(Request{TaskIDs: ids("t", 800), Group: "g", Demand: Demand{CPU: 1}, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return plan.Placements
	}
	a, b, other := place(42), place(42), place(43)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different plans")
	}
	if reflect.DeepEqual(a, other) {
		t.Error("different seeds gave the same plan")
	}
	counts := map[string]int{}
	for _, p := range a {
		counts[p.InstanceARN]++
	}
	for _, i := range instances {
		if n := counts[i.ARN]; n < 60 || n > 140 { // expected 100 each
			t.Errorf("instance %s got %d of 800 random placements", i.ARN, n)
		}
	}
}

func TestPlaceBinpackTiesAreRandom(t *testing.T) {
	instances := []Instance{inst("a", 4096, 4096), inst("b", 4096, 4096)}
	pol, _ := NewPolicy([]ecsapi.PlacementStrategy{strat("binpack", "memory")}, nil)
	first := map[string]int{}
	for seed := range uint64(64) {
		c := newCluster(t, instances, nil)
		plan, err := c.Place(Request{TaskIDs: ids("t", 4), Group: "g", Demand: Demand{Memory: 512}, Policy: pol, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		first[plan.Placements[0].InstanceARN]++
		for _, p := range plan.Placements[1:] {
			if p.InstanceARN != plan.Placements[0].InstanceARN {
				t.Fatalf("seed %d: binpack did not pack: %+v", seed, plan.Placements)
			}
		}
	}
	if first["a"] == 0 || first["b"] == 0 {
		t.Errorf("ties between equal instances always went the same way: %v", first)
	}
}

func TestPlaceInvalidRequests(t *testing.T) {
	c := newCluster(t, []Instance{inst("a", 1024, 1024)}, []Task{groupTask("known", "a", "g", Demand{})})
	tests := []struct {
		name string
		req  Request
	}{
		{"no tasks", Request{Group: "g"}},
		{"no group", Request{TaskIDs: []string{"t"}}},
		{"empty id", Request{TaskIDs: []string{""}, Group: "g"}},
		{"repeated id", Request{TaskIDs: []string{"t", "t"}, Group: "g"}},
		{"known id", Request{TaskIDs: []string{"t", "known"}, Group: "g"}},
		{"negative demand", Request{TaskIDs: []string{"t"}, Group: "g", Demand: Demand{CPU: -1}}},
		{"bad port", Request{TaskIDs: []string{"t"}, Group: "g", Demand: Demand{UDPPorts: []int32{0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Place(tt.req); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("Place() error = %v, want ErrInvalidInput", err)
			}
		})
	}
	if st, _ := c.Instance("a"); st.PendingTasks+st.RunningTasks != 1 {
		t.Errorf("an invalid request changed the view: %+v", st)
	}
}

func TestInvalidInstancesAndTasks(t *testing.T) {
	c := New()
	for _, i := range []Instance{{}, {ARN: "a", CPU: -1}} {
		if err := c.PutInstance(i); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("PutInstance(%+v) error = %v, want ErrInvalidInput", i, err)
		}
	}
	for _, tk := range []Task{{InstanceARN: "a"}, {ID: "t"}, {ID: "t", InstanceARN: "a", Demand: Demand{Memory: -1}}} {
		if err := c.PutTask(tk); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("PutTask(%+v) error = %v, want ErrInvalidInput", tk, err)
		}
	}
}

// state returns the instance's accounting, failing the test if it is
// missing.
func state(t *testing.T, c *Cluster, arn string) InstanceState {
	t.Helper()
	st, ok := c.Instance(arn)
	if !ok {
		t.Fatalf("instance %s missing", arn)
	}
	return st
}

func TestReserveCommitRollback(t *testing.T) {
	c := newCluster(t, []Instance{inst("a", 1024, 1024)}, nil)
	d := Demand{CPU: 512, Memory: 256, TCPPorts: []int32{80}}
	req := func(id string) Request { return Request{TaskIDs: []string{id}, Group: "g", Demand: d} }

	p1, err := c.Place(req("t1"))
	if err != nil || len(p1.Placements) != 1 {
		t.Fatalf("Place t1 = %+v, %v", p1, err)
	}
	if st := state(t, c, "a"); st.RemainingCPU != 512 || st.PendingTasks != 1 || !slices.Equal(st.UsedTCPPorts, []int32{80}) {
		t.Fatalf("after a tentative placement: %+v", st)
	}
	// The tentative reservation is visible to the next placement.
	p2, _ := c.Place(req("t2"))
	if len(p2.Placements) != 0 || p2.Failures[0].Reason != ReasonPorts {
		t.Fatalf("second placement on a reserved port = %+v", p2)
	}
	// Rollback releases it.
	c.Rollback(p1.PlacedIDs()...)
	if st := state(t, c, "a"); st.RemainingCPU != 1024 || st.PendingTasks != 0 || len(st.UsedTCPPorts) != 0 {
		t.Fatalf("after rollback: %+v", st)
	}
	// Place, commit, and a rollback after the commit changes nothing.
	p3, _ := c.Place(req("t3"))
	c.Commit(p3.PlacedIDs()...)
	c.Rollback(p3.PlacedIDs()...)
	if st := state(t, c, "a"); st.RemainingCPU != 512 {
		t.Fatalf("rollback after commit released the task: %+v", st)
	}
	// The watch delivering the committed task does not count it twice.
	if err := c.PutTask(Task{ID: "t3", InstanceARN: "a", Group: "g", Demand: d, Running: true}); err != nil {
		t.Fatal(err)
	}
	if st := state(t, c, "a"); st.RemainingCPU != 512 || st.RunningTasks != 1 || st.PendingTasks != 0 {
		t.Fatalf("after the watch delivered the task: %+v", st)
	}
	// The watch can also overtake the commit; the later commit and
	// rollback do nothing.
	p4, _ := c.Place(Request{TaskIDs: []string{"t4"}, Group: "g", Demand: Demand{CPU: 256}})
	if err := c.PutTask(Task{ID: "t4", InstanceARN: "a", Group: "g", Demand: Demand{CPU: 256}}); err != nil {
		t.Fatal(err)
	}
	c.Rollback(p4.PlacedIDs()...)
	c.Commit(p4.PlacedIDs()...)
	if st := state(t, c, "a"); st.RemainingCPU != 256 || st.PendingTasks != 1 {
		t.Fatalf("after the watch overtook the commit: %+v", st)
	}
	// Stopping releases.
	c.RemoveTask("t3")
	c.RemoveTask("t4")
	c.RemoveTask("unknown")
	if st := state(t, c, "a"); st.RemainingCPU != 1024 || st.RemainingMemory != 1024 || st.RunningTasks+st.PendingTasks != 0 || len(st.TaskGroups) != 0 {
		t.Fatalf("after the tasks stopped: %+v", st)
	}
}

func TestViewUpdates(t *testing.T) {
	c := New()
	d := Demand{CPU: 100, Memory: 200, GPU: 1, TCPPorts: []int32{8080}, UDPPorts: []int32{53}}
	// A task can arrive before its instance.
	if err := c.PutTask(Task{ID: "t1", InstanceARN: "a", Group: "service:web", Demand: d, Running: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutInstance(inst("a", 1000, 1000, gpus(2), reserved([]int32{22}, nil), attr("k", "v"))); err != nil {
		t.Fatal(err)
	}
	st := state(t, c, "a")
	want := InstanceState{
		Instance:        inst("a", 1000, 1000, gpus(2), reserved([]int32{22}, nil), attr("k", "v")),
		RemainingCPU:    900,
		RemainingMemory: 800,
		RemainingGPU:    1,
		UsedTCPPorts:    []int32{22, 8080},
		UsedUDPPorts:    []int32{53},
		RunningTasks:    1,
		TaskGroups:      []string{"service:web"},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Instance() = %+v\nwant %+v", st, want)
	}
	// A capacity change keeps the tasks; reserved ports are replaced.
	if err := c.PutInstance(inst("a", 2000, 500, gpus(2), reserved([]int32{2375}, nil))); err != nil {
		t.Fatal(err)
	}
	st = state(t, c, "a")
	if st.RemainingCPU != 1900 || st.RemainingMemory != 300 || !slices.Equal(st.UsedTCPPorts, []int32{2375, 8080}) {
		t.Fatalf("after the capacity change: %+v", st)
	}
	// Replacing a task replaces its usage.
	if err := c.PutTask(Task{ID: "t1", InstanceARN: "a", Group: "service:web", Demand: Demand{CPU: 10}}); err != nil {
		t.Fatal(err)
	}
	st = state(t, c, "a")
	if st.RemainingCPU != 1990 || st.RemainingMemory != 500 || st.RemainingGPU != 2 || st.PendingTasks != 1 || st.RunningTasks != 0 || !slices.Equal(st.UsedTCPPorts, []int32{2375}) {
		t.Fatalf("after replacing the task: %+v", st)
	}
	// Removing the instance keeps the task aside; it counts again on return.
	if err := c.PutInstance(inst("b", 10, 10)); err != nil {
		t.Fatal(err)
	}
	c.RemoveInstance("a")
	c.RemoveInstance("a")
	if _, ok := c.Instance("a"); ok || c.Len() != 1 {
		t.Fatal("instance a still in the view")
	}
	if st := state(t, c, "b"); st.RemainingCPU != 10 {
		t.Fatalf("instance b after removing a: %+v", st)
	}
	if err := c.PutInstance(inst("a", 2000, 500)); err != nil {
		t.Fatal(err)
	}
	if st := state(t, c, "a"); st.RemainingCPU != 1990 {
		t.Fatalf("task did not count again when its instance returned: %+v", st)
	}
	// A task removed while its instance is away is gone for good.
	c.RemoveInstance("a")
	c.RemoveTask("t1")
	_ = c.PutInstance(inst("a", 2000, 500))
	if st := state(t, c, "a"); st.RemainingCPU != 2000 {
		t.Fatalf("removed task still counted: %+v", st)
	}
	got := c.Instances()
	if len(got) != 2 || got[0].ARN != "a" || got[1].ARN != "b" {
		t.Fatalf("Instances() = %+v", got)
	}
}

func TestInstanceStateIsACopy(t *testing.T) {
	attrs := map[string]string{"k": "v"}
	c := New()
	_ = c.PutInstance(Instance{ARN: "a", Attributes: attrs, ReservedTCPPorts: []int32{22}})
	attrs["k"] = "changed"
	st := state(t, c, "a")
	st.Attributes["k"] = "mine"
	st.ReservedTCPPorts[0] = 1
	if again := state(t, c, "a"); again.Attributes["k"] != "v" || again.ReservedTCPPorts[0] != 22 {
		t.Fatalf("the view shares memory with its callers: %+v", again)
	}
}

func TestMatch(t *testing.T) {
	c := newCluster(t, []Instance{
		inst("a", 1, 1, attr("ecs.instance-type", "t2.small")),
		inst("b", 1, 1, attr("ecs.instance-type", "m5.large")),
		inst("c", 1, 1, attr("ecs.instance-type", "t2.micro"), disconnected),
	}, []Task{groupTask("x", "b", "service:db", Demand{})})
	tests := map[string][]string{
		"attribute:ecs.instance-type =~ t2.*":               {"a", "c"},
		"agentConnected == false":                           {"c"},
		"task:group == service:db or runningTasksCount > 5": {"b"},
		"ec2InstanceId in [i-a, i-b]":                       {"a", "b"},
		"attribute:nope exists":                             nil,
	}
	for expr, want := range tests {
		e, err := cql.Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match(e); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestInstanceFromECS(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ci := &ecsapi.ContainerInstance{
		ContainerInstanceArn: "arn:aws:ecs:us-east-1:123456789012:container-instance/c/1",
		Ec2InstanceId:        "i-1",
		Status:               "ACTIVE",
		AgentConnected:       true,
		VersionInfo:          &ecsapi.VersionInfo{AgentVersion: "1.80.0"},
		RegisteredAt:         ecsapi.NewTimestamp(at),
		Attributes:           []ecsapi.Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.capability.task-eni"}},
		RegisteredResources: []ecsapi.Resource{
			{Name: "CPU", Type: "INTEGER", IntegerValue: 2048},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: 7680},
			{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "2375", "51678"}},
			{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}},
			{Name: "GPU", Type: "STRINGSET", StringSetValue: []string{"GPU-a", "GPU-b"}},
		},
	}
	got, err := InstanceFromECS(ci)
	if err != nil {
		t.Fatal(err)
	}
	want := Instance{
		ARN: ci.ContainerInstanceArn, EC2InstanceID: "i-1", Status: "ACTIVE", AgentConnected: true,
		AgentVersion: "1.80.0", RegisteredAt: at,
		Attributes: map[string]string{"ecs.os-type": "linux", "ecs.capability.task-eni": "", LaunchTypeAttribute: "EC2"},
		CPU:        2048, Memory: 7680, GPU: 2,
		ReservedTCPPorts: []int32{22, 2375, 51678}, ReservedUDPPorts: []int32{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("InstanceFromECS() = %+v\nwant %+v", got, want)
	}
	// An external (ECS Anywhere) instance: an mi- ID.
	ext := *ci
	ext.Ec2InstanceId = "mi-0123456789abcdef0"
	if got, err := InstanceFromECS(&ext); err != nil || got.Attributes[LaunchTypeAttribute] != "EXTERNAL" {
		t.Fatalf("external instance: %v, %v", got.Attributes, err)
	}
	ci.RegisteredResources = append(ci.RegisteredResources, ecsapi.Resource{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"http"}})
	if _, err := InstanceFromECS(ci); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("InstanceFromECS with a bad port: error = %v", err)
	}
	ci.RegisteredResources = []ecsapi.Resource{{Name: "CPU", Type: "LONG", LongValue: 4096}, {Name: "MEMORY", Type: "DOUBLE", DoubleValue: 1024.9}, {Name: "GPU", Type: "INTEGER", IntegerValue: 1}}
	got, err = InstanceFromECS(ci)
	if err != nil || got.CPU != 4096 || got.Memory != 1024 || got.GPU != 1 {
		t.Errorf("InstanceFromECS with LONG/DOUBLE = %+v, %v", got, err)
	}
	ci.RegisteredResources = []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: -5}}
	if _, err := InstanceFromECS(ci); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("InstanceFromECS with negative CPU: error = %v", err)
	}
}

func TestRemainingResources(t *testing.T) {
	st := InstanceState{RemainingCPU: 1024, RemainingMemory: 1 << 40, UsedTCPPorts: []int32{22, 80}, UsedUDPPorts: nil}
	want := []ecsapi.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 1024},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: 1<<31 - 1},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "80"}},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}},
	}
	if got := st.RemainingResources(); !reflect.DeepEqual(got, want) {
		t.Errorf("RemainingResources() = %+v, want %+v", got, want)
	}
}

// TestStaticCacheFollowsChanges checks that cached task-independent results
// (memberOf, requiresAttributes, spread values) follow instance changes.
func TestStaticCacheFollowsChanges(t *testing.T) {
	c := newCluster(t, []Instance{inst("a", 1024, 1024, attr("tier", "gold"), az("1a")), inst("b", 1024, 1024, attr("tier", "bronze"), az("1a"))}, nil)
	pol, err := NewPolicy([]ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")}, []ecsapi.PlacementConstraint{memberOf("attribute:tier == gold and agentVersion >= 1.2")})
	if err != nil {
		t.Fatal(err)
	}
	required := []ecsapi.Attribute{{Name: "ready"}}
	n := 0
	place := func() Plan {
		t.Helper()
		n++
		plan, err := c.Place(Request{TaskIDs: []string{fmt.Sprint("t", n)}, Group: "g", Demand: Demand{CPU: 1}, Policy: pol, RequiredAttributes: required})
		if err != nil {
			t.Fatal(err)
		}
		c.Rollback(plan.PlacedIDs()...)
		return plan
	}
	reasons := func(p Plan) map[string]string {
		m := map[string]string{}
		for _, f := range p.Failures {
			m[f.Arn] = f.Reason
		}
		return m
	}
	if got := reasons(place()); !maps.Equal(got, map[string]string{"a": ReasonAttribute, "b": ReasonAttribute}) {
		t.Fatalf("before the attribute: %v", got)
	}
	_ = c.PutInstance(inst("a", 1024, 1024, attr("tier", "gold"), attr("ready", ""), az("1a")))
	_ = c.PutInstance(inst("b", 1024, 1024, attr("tier", "bronze"), attr("ready", ""), az("1a")))
	if got := reasons(place()); !maps.Equal(got, map[string]string{"a": ReasonMemberOf, "b": ReasonMemberOf}) {
		t.Fatalf("without agent versions: %v", got)
	}
	_ = c.PutInstance(inst("a", 1024, 1024, attr("tier", "gold"), attr("ready", ""), az("1a"), func(i *Instance) { i.AgentVersion = "1.10" }))
	if p := place(); len(p.Placements) != 1 || p.Placements[0].InstanceARN != "a" {
		t.Fatalf("after a's agent version: %+v", p)
	}
	// b leaves; c takes its slot with the attributes a query selects.
	c.RemoveInstance("b")
	c.RemoveInstance("a")
	_ = c.PutInstance(inst("c", 1024, 1024, attr("tier", "gold"), attr("ready", ""), az("1b"), func(i *Instance) { i.AgentVersion = "2" }))
	if p := place(); len(p.Placements) != 1 || p.Placements[0].InstanceARN != "c" || len(p.Failures) != 0 {
		t.Fatalf("after c took a vacant slot: %+v", p)
	}
	// Spread values follow a zone change: with a task of g in 1b, the
	// next goes to the other zone.
	_ = c.PutInstance(inst("d", 1024, 1024, attr("tier", "gold"), attr("ready", ""), az("1b"), func(i *Instance) { i.AgentVersion = "2" }))
	_ = c.PutTask(Task{ID: "x", InstanceARN: "c", Group: "g"})
	_ = c.PutInstance(inst("d", 1024, 1024, attr("tier", "gold"), attr("ready", ""), az("1c"), func(i *Instance) { i.AgentVersion = "2" }))
	for range 5 {
		if p := place(); p.Placements[0].InstanceARN != "d" {
			t.Fatalf("spread ignored d's new zone: %+v", p)
		}
	}
}

func TestClusterTaskLookup(t *testing.T) {
	c := New()
	if err := c.PutInstance(Instance{ARN: "i1", Status: "ACTIVE", CPU: 1024, Memory: 1024}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutTask(Task{ID: "t1", InstanceARN: "i1", Group: "service:web", Demand: Demand{CPU: 256, Memory: 128}, Running: true}); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Task("t1")
	if !ok || got.Group != "service:web" || got.Demand.CPU != 256 || got.Demand.Memory != 128 || got.InstanceARN != "i1" || !got.Running {
		t.Fatalf("Task(t1) = %+v, %v", got, ok)
	}
	c.RemoveTask("t1")
	if _, ok := c.Task("t1"); ok {
		t.Fatal("a removed task is still found")
	}
}
