package scheduler

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func BenchmarkTmpSpread(b *testing.B) {
	c := benchCluster(b)
	pol, _ := NewPolicy([]ecsapi.PlacementStrategy{strat("spread", "attribute:ecs.availability-zone"), strat("binpack", "memory")}, nil)
	n := 0
	for start := 0; start < 50000; start += 10 {
		var ids []string
		for k := 0; k < 10; k++ { ids = append(ids, fmt.Sprint("f", n)); n++ }
		if _, err := c.Place(Request{TaskIDs: ids, Group: fmt.Sprint("service:svc-", (start/10)%100), Demand: Demand{CPU: 128, Memory: 512}, Seed: uint64(start), Policy: pol}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		var ids []string
		for k := 0; k < 10; k++ { ids = append(ids, fmt.Sprint("t", i, "-", k)) }
		p, err := c.Place(Request{TaskIDs: ids, Group: "service:svc-1", Demand: Demand{CPU: 1, Memory: 1}, Seed: uint64(i), Policy: pol})
		if err != nil {
			b.Fatal(err)
		}
		c.Rollback(p.PlacedIDs()...)
	}
}
