package usage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecs"
)

type discard struct{}

func (discard) Record(context.Context, string, []cloudwatchapi.MetricDatum) error { return nil }

// fleet is 100 agents' reports of 50 tasks each, in 100 services.
func fleet() [][]ecs.TaskUsage {
	out := make([][]ecs.TaskUsage, 100)
	for a := range out {
		for i := range 50 {
			n := a*50 + i
			out[a] = append(out[a], task(fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/c/%032d", n),
				fmt.Sprintf("service:svc%03d", n%100), fmt.Sprintf("fam%03d", n%100), 300, 100, 512, 256))
		}
	}
	return out
}

// BenchmarkWindow: one window of 100 agents x 50 tasks (5,000 tasks in
// 100 services) ingested and published with Container Insights on; ns/op
// is the server's CPU for a window of the whole fleet.
func BenchmarkWindow(b *testing.B) {
	reports := fleet()
	p := New(Config{Recorder: discard{}, Capacity: fakeECS{}, Cluster: fakeECS{insights: true}, Period: 10 * time.Second})
	t0 := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		for _, r := range reports {
			p.IngestTaskUsage("c", at, 10*time.Second, r)
		}
		p.Flush(context.Background(), at.Add(time.Minute))
	}
}
