package scheduler

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

var benchSink int

const (
	benchInstances = 5000
	benchTasks     = 100_000
	benchGroups    = 100
)

// benchCluster returns 5,000 instances over three zones and four instance
// types, each with 4 vCPU and 16 GiB: room for 160,000 of the benchmark's
// tasks (128 CPU units, 512 MiB).
func benchCluster(b *testing.B) *Cluster {
	b.Helper()
	c := New()
	types := []string{"m5.xlarge", "c5.xlarge", "r5.xlarge", "t3.xlarge"}
	for i := range benchInstances {
		in := inst(fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/%05d", i), 4096, 16384,
			az(fmt.Sprint("us-east-1", string(rune('a'+i%3)))),
			attr("ecs.instance-type", types[i%len(types)]),
			attr("ecs.os-type", "linux"),
			reserved([]int32{22, 2375, 2376, 51678, 51679}, nil))
		if err := c.PutInstance(in); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkPlace places 100,000 tasks on 5,000 instances, in requests of
// batch tasks (10 is RunTask's maximum count; a service controller places
// its missing tasks in one request), with 100 groups taking turns, and
// reports tasks placed per second.
func BenchmarkPlace(b *testing.B) {
	cases := []struct {
		name        string
		batch       int
		strategies  []ecsapi.PlacementStrategy
		constraints []ecsapi.PlacementConstraint
		demand      Demand
		ports       bool // each group binds its own static host port
	}{
		{name: "random/batch10", batch: 10},
		{name: "binpack-memory/batch10", batch: 10, strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")}},
		{
			name:        "spread-az+binpack-memory+memberOf/batch10",
			batch:       10,
			strategies:  []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.os-type == linux and attribute:ecs.instance-type =~ .*xlarge")},
		},
		{
			name:        "spread-az+instanceId+distinct/batch10",
			batch:       10,
			strategies:  []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
			constraints: []ecsapi.PlacementConstraint{distinct},
		},
		{
			name:       "binpack-cpu+static-port/batch10",
			batch:      10,
			strategies: []ecsapi.PlacementStrategy{strat("binpack", "cpu")},
			ports:      true,
		},
		{
			name:       "spread-az+binpack-memory/batch1000",
			batch:      1000,
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
		},
	}
	// The floor: one bare pass per task over the same packed records,
	// choosing the fewest-memory instance that fits; what any placer that
	// looks at every instance costs on this machine, in this run.
	b.Run("floor-bare-scan", func(b *testing.B) {
		c := benchCluster(b)
		b.ResetTimer()
		for range b.N {
			for range benchTasks {
				best, bestMem := -1, int64(1<<62)
				for x := range c.hot {
					h := &c.hot[x]
					if h.state == fits && h.cpu >= 128 && h.memory >= 512 && h.gpu >= 0 && h.memory < bestMem {
						best, bestMem = x, h.memory
					}
				}
				benchSink += best
			}
		}
		b.ReportMetric(float64(b.N*benchTasks)/b.Elapsed().Seconds(), "tasks/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTasks), "ns/task")
	})
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			pol, err := NewPolicy(bc.strategies, bc.constraints)
			if err != nil {
				b.Fatal(err)
			}
			demand := bc.demand
			demand.CPU, demand.Memory = 128, 512
			ids := make([]string, benchTasks)
			for i := range ids {
				ids[i] = fmt.Sprint("arn:aws:ecs:us-east-1:123456789012:task/bench/", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				c := benchCluster(b)
				b.StartTimer()
				placed := 0
				for start := 0; start < benchTasks; start += bc.batch {
					g := (start / bc.batch) % benchGroups
					group := fmt.Sprint("service:svc-", g)
					if bc.ports {
						demand.TCPPorts = []int32{int32(8000 + g)}
					}
					plan, err := c.Place(Request{TaskIDs: ids[start:min(start+bc.batch, benchTasks)], Group: group, Demand: demand, Policy: pol, Seed: uint64(start)})
					if err != nil {
						b.Fatal(err)
					}
					placed += len(plan.Placements)
				}
				if placed != benchTasks {
					b.Fatalf("placed %d of %d tasks", placed, benchTasks)
				}
			}
			rate := float64(b.N*benchTasks) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "tasks/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTasks), "ns/task")
			b.Logf("%s: %d tasks on %d instances: %.0f tasks/s", bc.name, benchTasks, benchInstances, rate)
		})
	}
}

const (
	loadedTasks  = 100_000 // tasks already in the view
	loadedGroups = 20      // each on every instance, so each group's index has 5,000 entries
	loadedRare   = 100     // every loadedRare-th instance has the attribute rare
)

// loadedCluster returns benchCluster's 5,000 instances already holding
// 100,000 running tasks (128 CPU units, 512 MiB each) of 20 services, one
// task of each service on every instance: 12 more such tasks fit on each.
// Every 100th instance has the attribute rare.
func loadedCluster(b *testing.B) *Cluster {
	b.Helper()
	c := benchCluster(b)
	for i := 0; i < benchInstances; i += loadedRare {
		st, _ := c.Instance(fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/%05d", i))
		st.Instance.Attributes["rare"] = "yes"
		if err := c.PutInstance(st.Instance); err != nil {
			b.Fatal(err)
		}
	}
	for j := range loadedTasks {
		if err := c.PutTask(Task{
			ID:          fmt.Sprint("arn:aws:ecs:us-east-1:123456789012:task/loaded/", j),
			InstanceARN: fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/%05d", j%benchInstances),
			Group:       fmt.Sprint("service:svc-", j/benchInstances%loadedGroups),
			Demand:      Demand{CPU: 128, Memory: 512},
			Running:     true,
		}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkPlaceLoaded places tasks of the loaded services into
// loadedCluster with the random strategy (RunTask's default) and with
// ranking strategies, in requests of batch tasks, and reports the cost per
// task. Each iteration places count tasks and then rolls them back,
// untimed, so every iteration starts from the same 100,000 tasks.
func BenchmarkPlaceLoaded(b *testing.B) {
	cases := []struct {
		name        string
		batch       int
		count       int
		strategies  []ecsapi.PlacementStrategy
		constraints []ecsapi.PlacementConstraint
		required    []ecsapi.Attribute
	}{
		{name: "random/batch1", batch: 1, count: 10_000},
		{name: "random/batch10", batch: 10, count: 10_000},
		{name: "random/batch1000", batch: 1000, count: 10_000},
		{name: "explicit-random/batch10", batch: 10, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("random", "")}},
		{
			name: "random+memberOf/batch10", batch: 10, count: 10_000,
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.instance-type =~ .*xlarge")},
		},
		{
			name: "random+memberOf-task-group/batch10", batch: 10, count: 10_000,
			constraints: []ecsapi.PlacementConstraint{memberOf("not(task:group == service:other)")},
		},
		{name: "binpack-memory/batch1", batch: 1, count: 2_000, strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")}},
		{name: "binpack-memory/batch10", batch: 10, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")}},
		{name: "binpack-memory/batch1000", batch: 1000, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("binpack", "memory")}},
		{name: "binpack-cpu/batch10", batch: 10, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("binpack", "cpu")}},
		{name: "spread-instanceId/batch10", batch: 10, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("spread", "instanceId")}},
		{name: "spread-az/batch10", batch: 10, count: 10_000, strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone")}},
		{
			name: "spread-az+instanceId/batch1", batch: 1, count: 2_000,
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
		},
		{
			name: "spread-az+instanceId/batch10", batch: 10, count: 10_000,
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
		},
		{
			name: "spread-az+instanceId/batch1000", batch: 1000, count: 10_000,
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("spread", "instanceId")},
		},
		{
			name: "spread-az+binpack-memory/batch10", batch: 10, count: 10_000,
			strategies: []ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")},
		},
		{
			// Two ranking levels the ranked index does not cover: the full
			// scan for every task.
			name: "spread-instanceId+binpack-memory+memberOf/batch10", batch: 10, count: 2_000,
			strategies:  []ecsapi.PlacementStrategy{strat("spread", "instanceId"), strat("binpack", "memory")},
			constraints: []ecsapi.PlacementConstraint{memberOf("attribute:ecs.instance-type =~ .*xlarge")},
		},
		{
			// 1% of the instances fit: about half the draws of the sample
			// miss and fall back to the full scan.
			name: "random+rare-attribute/batch10", batch: 10, count: 500,
			required: []ecsapi.Attribute{{Name: "rare", Value: "yes"}},
		},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c := loadedCluster(b)
			pol, err := NewPolicy(bc.strategies, bc.constraints)
			if err != nil {
				b.Fatal(err)
			}
			demand := Demand{CPU: 128, Memory: 512}
			ids := make([]string, bc.count)
			for i := range ids {
				ids[i] = fmt.Sprint("arn:aws:ecs:us-east-1:123456789012:task/bench/", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := range b.N {
				placed := 0
				for start := 0; start < bc.count; start += bc.batch {
					group := fmt.Sprint("service:svc-", (start/bc.batch)%loadedGroups)
					plan, err := c.Place(Request{
						TaskIDs: ids[start:min(start+bc.batch, bc.count)], Group: group, Demand: demand,
						RequiredAttributes: bc.required, Policy: pol, Seed: uint64(n)<<32 | uint64(start),
					})
					if err != nil {
						b.Fatal(err)
					}
					placed += len(plan.Placements)
				}
				b.StopTimer()
				if placed != bc.count {
					b.Fatalf("placed %d of %d tasks", placed, bc.count)
				}
				c.Rollback(ids...)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.count), "ns/task")
		})
	}
}
