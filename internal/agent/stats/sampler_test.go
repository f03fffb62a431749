package stats

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeSource is a runtime whose containers' counters the test sets.
type fakeSource struct {
	mu    sync.Mutex
	list  []runtime.ContainerSummary
	stats map[string]runtime.ContainerStats
}

func (f *fakeSource) ListContainers(context.Context) ([]runtime.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runtime.ContainerSummary(nil), f.list...), nil
}

func (f *fakeSource) ContainerStats(_ context.Context, id string) (runtime.ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.stats[id]
	if !ok {
		return s, runtime.NewError(runtime.CannotGetContainerStatsError, false, runtime.ErrNotFound)
	}
	return s, nil
}

// recordingSink keeps what it is sent.
type recordingSink struct {
	mu   sync.Mutex
	reqs []*ecsapi.GantryPutTaskMetricsRequest
}

func (r *recordingSink) PutTaskMetrics(_ context.Context, req *ecsapi.GantryPutTaskMetricsRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return nil
}

func ctr(id, task, name string, state runtime.State) runtime.ContainerSummary {
	return runtime.ContainerSummary{ContainerRef: runtime.ContainerRef{ID: id}, TaskArn: task, ContainerName: name,
		Pause: name == runtime.PauseContainerName, State: state}
}

func TestSampleAggregatesPerTask(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	src := &fakeSource{
		list: []runtime.ContainerSummary{
			ctr("a1", "task/a", "web", runtime.StateRunning),
			ctr("a2", "task/a", "sidecar", runtime.StateRunning),
			ctr("ap", "task/a", runtime.PauseContainerName, runtime.StateRunning),
			ctr("b1", "task/b", "web", runtime.StateRunning),
			ctr("c1", "task/c", "web", runtime.StateStopped),
		},
		stats: map[string]runtime.ContainerStats{
			"a1": {Time: t0, CPUNanos: 1e9, MemoryBytes: 10 << 20},
			"a2": {Time: t0, CPUNanos: 0, MemoryBytes: 5 << 20},
			"ap": {Time: t0, NetworkRxBytes: 1000, NetworkTxBytes: 500},
			"b1": {Time: t0, CPUNanos: 5e9, BlockReadBytes: 10, BlockWriteBytes: 20},
			"c1": {Time: t0, CPUNanos: 5e9},
		},
	}
	s, err := New(Config{InstanceArn: func() string { return "i" }, Source: src, Sink: &recordingSink{}})
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := s.Sample(context.Background())
	if err != nil || len(got) != 0 || n != 4 {
		t.Fatalf("first sample = %v, %d, %v; want nothing (priming), 4 containers read", got, n, err)
	}
	// 10 s later: a1 used 5 s of CPU (half a core: 512 units), a2 2.5 s
	// (256 units), b1 20 s (two cores: 2,048 units).
	t1 := t0.Add(10 * time.Second)
	src.stats = map[string]runtime.ContainerStats{
		"a1": {Time: t1, CPUNanos: 6e9, MemoryBytes: 12 << 20},
		"a2": {Time: t1, CPUNanos: 2.5e9, MemoryBytes: 4 << 20},
		"ap": {Time: t1, NetworkRxBytes: 3000, NetworkTxBytes: 1500},
		"b1": {Time: t1, CPUNanos: 25e9, BlockReadBytes: 110, BlockWriteBytes: 220, MemoryBytes: 1 << 20},
		"c1": {Time: t1, CPUNanos: 9e9},
	}
	got, _, err = s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []ecsapi.GantryTaskMetrics{
		{Task: "task/a", CpuUsed: 768, MemoryUsedMiB: 16, NetworkRxBytes: 2000, NetworkTxBytes: 1000, Containers: 2},
		{Task: "task/b", CpuUsed: 2048, MemoryUsedMiB: 1, StorageReadBytes: 100, StorageWriteBytes: 200, Containers: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tasks %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if math.Abs(g.CpuUsed-w.CpuUsed) > 1e-6 {
			t.Errorf("%s cpu = %v, want %v", w.Task, g.CpuUsed, w.CpuUsed)
		}
		g.CpuUsed = w.CpuUsed
		if g != w {
			t.Errorf("task %d = %+v, want %+v", i, g, w)
		}
	}
	if l := s.Latest(); len(l) != 2 || l["task/b"].CpuUsed != got[1].CpuUsed {
		t.Errorf("Latest = %+v", l)
	}
}

func TestSampleRestartedContainerPrimesAgain(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	src := &fakeSource{
		list:  []runtime.ContainerSummary{ctr("a1", "task/a", "web", runtime.StateRunning)},
		stats: map[string]runtime.ContainerStats{"a1": {Time: t0, CPUNanos: 9e9}},
	}
	s, _ := New(Config{InstanceArn: func() string { return "i" }, Source: src, Sink: &recordingSink{}})
	_, _, _ = s.Sample(context.Background())
	src.stats["a1"] = runtime.ContainerStats{Time: t0.Add(time.Second), CPUNanos: 1e8}
	if got, _, _ := s.Sample(context.Background()); len(got) != 0 {
		t.Fatalf("a counter that went backwards gave %+v", got)
	}
	src.stats["a1"] = runtime.ContainerStats{Time: t0.Add(2 * time.Second), CPUNanos: 6e8}
	got, _, _ := s.Sample(context.Background())
	if len(got) != 1 || math.Abs(got[0].CpuUsed-512) > 1e-6 {
		t.Fatalf("after priming again: %+v, want 512 units", got)
	}
}

func TestRunShipsEachIntervalOnce(t *testing.T) {
	var clock time.Time
	var mu sync.Mutex
	src := &fakeSource{list: []runtime.ContainerSummary{ctr("a1", "task/a", "web", runtime.StateRunning)},
		stats: map[string]runtime.ContainerStats{}}
	sink := &recordingSink{}
	s, _ := New(Config{Cluster: "c", InstanceArn: func() string { return "arn:i" }, Interval: 20 * time.Millisecond,
		Source: src, Sink: sink, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	// Every reading is 10 ms of CPU later than the previous.
	var cpu uint64
	step := func() {
		src.mu.Lock()
		cpu += 1e7
		src.stats["a1"] = runtime.ContainerStats{Time: time.Unix(0, int64(cpu)*2), CPUNanos: cpu}
		src.mu.Unlock()
	}
	step()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		step()
		sink.mu.Lock()
		n := len(sink.reqs)
		sink.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.reqs) < 3 {
		t.Fatalf("%d requests shipped in 5 s at a 20 ms interval", len(sink.reqs))
	}
	for _, r := range sink.reqs {
		if r.Cluster != "c" || r.ContainerInstance != "arn:i" || r.PeriodSeconds != 0.02 || len(r.Tasks) != 1 || r.Tasks[0].Task != "task/a" {
			t.Fatalf("request %+v", r)
		}
		// CPU time grows at half the wall clock: 512 units.
		if math.Abs(r.Tasks[0].CpuUsed-512) > 1e-6 {
			t.Fatalf("cpu %v, want 512", r.Tasks[0].CpuUsed)
		}
	}
}
