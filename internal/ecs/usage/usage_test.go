package usage

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func task(arn, group, family string, cpu, mem float64, cpuRes, memRes int64) ecs.TaskUsage {
	return ecs.TaskUsage{TaskArn: arn, Group: group, CPUReserved: cpuRes, MemoryReserved: memRes,
		GantryTaskMetrics: ecsapi.GantryTaskMetrics{Task: arn, Family: family, CpuUsed: cpu, MemoryUsedMiB: mem,
			NetworkRxBytes: 1000, NetworkTxBytes: 500, StorageReadBytes: 10, StorageWriteBytes: 20}}
}

// key names a datum: metric and dimensions.
func key(d cloudwatchapi.MetricDatum) string {
	parts := []string{d.MetricName}
	for _, dim := range d.Dimensions {
		parts = append(parts, dim.Name+"="+dim.Value)
	}
	return strings.Join(parts, " ")
}

func index(t *testing.T, data []cloudwatchapi.MetricDatum) map[string]cloudwatchapi.MetricDatum {
	t.Helper()
	out := map[string]cloudwatchapi.MetricDatum{}
	for _, d := range data {
		if _, dup := out[key(d)]; dup {
			t.Fatalf("two datums %s", key(d))
		}
		out[key(d)] = d
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func checkSet(t *testing.T, data map[string]cloudwatchapi.MetricDatum, k string, n, sum, lo, hi float64) {
	t.Helper()
	d, ok := data[k]
	if !ok {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("no datum %q; have %q", k, keys)
	}
	s := d.StatisticValues
	if s == nil || !near(*s.SampleCount, n) || !near(*s.Sum, sum) || !near(*s.Minimum, lo) || !near(*s.Maximum, hi) {
		t.Errorf("%s = %+v, want n %v sum %v min %v max %v", k, s, n, sum, lo, hi)
		if s != nil {
			t.Logf("got n %v sum %v min %v max %v", *s.SampleCount, *s.Sum, *s.Minimum, *s.Maximum)
		}
	}
}

func TestComputeServiceAndClusterUtilisation(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	in := Input{
		Cluster: "prod",
		Period:  10 * time.Second,
		Tasks: []ecs.TaskUsage{
			// web: 3 tasks of 512 units / 1,024 MiB; using 256, 512 and
			// 1,024 units (50%, 100%, 200%) and 256, 512, 512 MiB.
			task("t1", "service:web", "web", 256, 256, 512, 1024),
			task("t2", "service:web", "web", 512, 512, 512, 1024),
			task("t3", "service:web", "web", 1024, 512, 512, 1024),
			// api: one task reserving 1,024 units (task level) using 102.4.
			task("t4", "service:api", "api", 102.4, 100, 1024, 200),
			// a standalone task without CPU reservation.
			task("t5", "family:batch", "batch", 2048, 50, 0, 100),
		},
		Capacity: ecs.ClusterCapacity{Instances: 2, RegisteredCPU: 8192, RegisteredMemory: 8000,
			ReservedCPU: 2560, ReservedMemory: 3400, RunningTasks: 5},
	}
	ecsData, insights := Compute(in, at)
	if insights != nil {
		t.Fatalf("Container Insights off, yet %d datums", len(insights))
	}
	d := index(t, ecsData)
	// Average = 100 x (256+512+1024) / (3 x 512) = 116.67; Sum = Average x 3.
	avg := 100 * 1792.0 / 1536
	checkSet(t, d, "CPUUtilization ClusterName=prod ServiceName=web", 3, avg*3, 50, 200)
	memAvg := 100 * 1280.0 / 3072
	checkSet(t, d, "MemoryUtilization ClusterName=prod ServiceName=web", 3, memAvg*3, 25, 50)
	checkSet(t, d, "CPUUtilization ClusterName=prod ServiceName=api", 1, 10, 10, 10)
	checkSet(t, d, "MemoryUtilization ClusterName=prod ServiceName=api", 1, 50, 50, 50)
	// Cluster: every task's use over the registered resources.
	cpu := 100 * (1792 + 102.4 + 2048) / 8192.0
	checkSet(t, d, "CPUUtilization ClusterName=prod", 1, cpu, cpu, cpu)
	mem := 100 * (1280 + 100 + 50) / 8000.0
	checkSet(t, d, "MemoryUtilization ClusterName=prod", 1, mem, mem, mem)
	checkSet(t, d, "CPUReservation ClusterName=prod", 1, 31.25, 31.25, 31.25)
	checkSet(t, d, "MemoryReservation ClusterName=prod", 1, 42.5, 42.5, 42.5)
	if len(d) != 8 {
		t.Errorf("%d AWS/ECS datums, want 8", len(d))
	}
	for _, x := range ecsData {
		if !x.Timestamp.Equal(at) || x.Unit != "Percent" || x.StorageResolution == nil || *x.StorageResolution != 1 {
			t.Errorf("%s: timestamp %v unit %q resolution %v", key(x), x.Timestamp, x.Unit, x.StorageResolution)
		}
	}
}

func TestComputeContainerInsights(t *testing.T) {
	in := Input{
		Cluster: "prod", Period: 10 * time.Second, Insights: true,
		Tasks: []ecs.TaskUsage{
			task("t1", "service:web", "web", 256, 100, 512, 1024),
			task("t2", "service:web", "web", 512, 300, 512, 1024),
		},
		Capacity:     ecs.ClusterCapacity{Instances: 1, RegisteredCPU: 4096, RegisteredMemory: 4096, ReservedCPU: 1024, ReservedMemory: 2048},
		Services:     map[string]ServiceCounts{"web": {Desired: 3, Running: 2, Pending: 1}},
		ServiceCount: 4,
	}
	_, insights := Compute(in, time.Unix(1_800_000_000, 0))
	d := index(t, insights)
	for _, dims := range []string{"ClusterName=prod", "ClusterName=prod ServiceName=web", "ClusterName=prod TaskDefinitionFamily=web"} {
		checkSet(t, d, "CpuUtilized "+dims, 1, 768, 768, 768)
		checkSet(t, d, "CpuReserved "+dims, 1, 1024, 1024, 1024)
		checkSet(t, d, "MemoryUtilized "+dims, 1, 400, 400, 400)
		checkSet(t, d, "MemoryReserved "+dims, 1, 2048, 2048, 2048)
		// 2 x 1,000 bytes in 10 s.
		checkSet(t, d, "NetworkRxBytes "+dims, 1, 200, 200, 200)
		checkSet(t, d, "NetworkTxBytes "+dims, 1, 100, 100, 100)
		checkSet(t, d, "StorageReadBytes "+dims, 1, 20, 20, 20)
		checkSet(t, d, "TaskCount "+dims, 1, 2, 2, 2)
	}
	checkSet(t, d, "DesiredTaskCount ClusterName=prod ServiceName=web", 1, 3, 3, 3)
	checkSet(t, d, "RunningTaskCount ClusterName=prod ServiceName=web", 1, 2, 2, 2)
	checkSet(t, d, "PendingTaskCount ClusterName=prod ServiceName=web", 1, 1, 1, 1)
	checkSet(t, d, "ContainerInstanceCount ClusterName=prod", 1, 1, 1, 1)
	checkSet(t, d, "ServiceCount ClusterName=prod", 1, 4, 4, 4)
	if u := d["NetworkRxBytes ClusterName=prod"].Unit; u != "Bytes/Second" {
		t.Errorf("NetworkRxBytes unit %q", u)
	}
}

// recorder is a cwlink.Recorder that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	data map[string][]cloudwatchapi.MetricDatum
}

func (r *recorder) Record(_ context.Context, ns string, data []cloudwatchapi.MetricDatum) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		r.data = map[string][]cloudwatchapi.MetricDatum{}
	}
	r.data[ns] = append(r.data[ns], data...)
	return nil
}

type fakeECS struct{ insights bool }

func (f fakeECS) Capacity(context.Context, string) (ecs.ClusterCapacity, error) {
	return ecs.ClusterCapacity{Instances: 1, RegisteredCPU: 2048, RegisteredMemory: 2048, ReservedCPU: 1024, ReservedMemory: 1024}, nil
}

func (f fakeECS) Insights(context.Context, string) (bool, error) { return f.insights, nil }

func (f fakeECS) Services(_ context.Context, _ string, names []string) (map[string]ServiceCounts, int, error) {
	out := map[string]ServiceCounts{}
	for _, n := range names {
		out[n] = ServiceCounts{Desired: 1, Running: 1}
	}
	return out, len(names), nil
}

func TestPublisherWindows(t *testing.T) {
	rec := &recorder{}
	p := New(Config{Recorder: rec, Capacity: fakeECS{}, Cluster: fakeECS{}, Period: 10 * time.Second, Grace: 5 * time.Second})
	t0 := time.Unix(1_800_000_000, 0) // a multiple of 10 s
	// Two reports of t1 in the window [t0, t0+10s): averaged.
	p.IngestTaskUsage("c", t0.Add(2*time.Second), 10*time.Second, []ecs.TaskUsage{task("t1", "service:web", "web", 256, 100, 512, 512)})
	p.IngestTaskUsage("c", t0.Add(8*time.Second), 10*time.Second, []ecs.TaskUsage{task("t1", "service:web", "web", 768, 300, 512, 512)})
	// The next window.
	p.IngestTaskUsage("c", t0.Add(12*time.Second), 10*time.Second, []ecs.TaskUsage{task("t1", "service:web", "web", 512, 100, 512, 512)})
	ctx := context.Background()
	p.Flush(ctx, t0.Add(14*time.Second))
	if len(rec.data) != 0 {
		t.Fatalf("published before the grace passed: %v", rec.data)
	}
	p.Flush(ctx, t0.Add(15*time.Second))
	d := index(t, rec.data[NamespaceECS])
	// (256+768)/2 = 512 of 512 units: 100%.
	checkSet(t, d, "CPUUtilization ClusterName=c ServiceName=web", 1, 100, 100, 100)
	checkSet(t, d, "MemoryUtilization ClusterName=c ServiceName=web", 1, 200.0/512*100, 200.0/512*100, 200.0/512*100)
	if got := d["CPUUtilization ClusterName=c ServiceName=web"].Timestamp; !got.Equal(t0) {
		t.Errorf("timestamp %v, want the window's start %v", got, t0)
	}
	if len(rec.data[NamespaceInsights]) != 0 {
		t.Errorf("Container Insights off, yet published %d", len(rec.data[NamespaceInsights]))
	}
	// A late report for the published window is dropped; the second
	// window is published once.
	p.IngestTaskUsage("c", t0.Add(9*time.Second), 10*time.Second, []ecs.TaskUsage{task("t1", "service:web", "web", 1, 1, 512, 512)})
	if p.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", p.Dropped())
	}
	rec.data = nil
	p.Flush(ctx, t0.Add(25*time.Second))
	p.Flush(ctx, t0.Add(60*time.Second))
	d = index(t, rec.data[NamespaceECS])
	checkSet(t, d, "CPUUtilization ClusterName=c ServiceName=web", 1, 100, 100, 100)
	if p.Ingested() != 3 {
		t.Errorf("Ingested = %d, want 3", p.Ingested())
	}
}

func TestRunPublishesOpenWindowsWhenStopped(t *testing.T) {
	rec := &recorder{}
	now := time.Unix(1_800_000_000, 0)
	p := New(Config{Recorder: rec, Capacity: fakeECS{}, Cluster: fakeECS{}, Period: time.Minute, Now: func() time.Time { return now }})
	p.IngestTaskUsage("c", now, time.Minute, []ecs.TaskUsage{task("t1", "service:web", "web", 256, 100, 512, 512)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	rec.mu.Lock()
	early := len(rec.data)
	rec.mu.Unlock()
	if early != 0 {
		t.Fatalf("published an open window while running")
	}
	cancel()
	<-done
	d := index(t, rec.data[NamespaceECS])
	checkSet(t, d, "CPUUtilization ClusterName=c ServiceName=web", 1, 50, 50, 50)
	if *d["CPUUtilization ClusterName=c ServiceName=web"].StorageResolution != 60 {
		t.Errorf("a one-minute period gives standard-resolution datapoints")
	}
}

// TestDatumsAreValidPutMetricData: every datum Compute returns is one
// PutMetricData accepts: a unit of the model's enumeration, a statistic
// set with SampleCount > 0 and Minimum <= Sum/SampleCount <= Maximum, at
// most 30 dimensions with non-empty values, a storage resolution of 1 or
// 60.
func TestDatumsAreValidPutMetricData(t *testing.T) {
	units := map[cloudwatchapi.StandardUnit]bool{}
	for _, u := range cloudwatchapi.StandardUnit("").Values() {
		units[u] = true
	}
	in := Input{Cluster: "prod", Period: 10 * time.Second, Insights: true,
		Tasks: []ecs.TaskUsage{
			task("t1", "service:web", "web", 256, 100, 512, 1024),
			task("t2", "service:web", "web", 0, 0, 0, 0),
			task("t3", "family:job", "", 10, 10, 128, 128),
		},
		Capacity: ecs.ClusterCapacity{Instances: 1, RegisteredCPU: 4096, RegisteredMemory: 4096, ReservedCPU: 640, ReservedMemory: 1152},
		Services: map[string]ServiceCounts{"web": {Desired: 2, Running: 2}}}
	ecsData, insights := Compute(in, time.Unix(1_800_000_000, 0))
	for _, d := range append(ecsData, insights...) {
		s := d.StatisticValues
		avg := *s.Sum / *s.SampleCount
		if !units[d.Unit] || *s.SampleCount <= 0 || *s.Minimum > avg+1e-9 || avg > *s.Maximum+1e-9 || len(d.Dimensions) > 30 ||
			d.Value != nil || d.Timestamp == nil || (*d.StorageResolution != 1 && *d.StorageResolution != 60) {
			t.Errorf("invalid datum %s: unit %q stats n %v sum %v min %v max %v", key(d), d.Unit, *s.SampleCount, *s.Sum, *s.Minimum, *s.Maximum)
		}
		for _, dim := range d.Dimensions {
			if dim.Value == "" || dim.Name == "" {
				t.Errorf("%s: empty dimension", key(d))
			}
		}
	}
	// t2 reserves nothing: left out of the service's utilisation.
	d := index(t, ecsData)
	checkSet(t, d, "CPUUtilization ClusterName=prod ServiceName=web", 1, 50, 50, 50)
}

// TestConcurrentIngestAndFlush: agents report while windows are
// published; every report is either published once or counted as dropped
// (run with -race).
func TestConcurrentIngestAndFlush(t *testing.T) {
	rec := &recorder{}
	p := New(Config{Recorder: rec, Capacity: fakeECS{}, Cluster: fakeECS{}, Period: time.Second, Grace: time.Millisecond})
	t0 := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	const agents, reports = 4, 200
	for a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reports {
				// Each report is its own task, so that published tasks
				// can be counted.
				arn := "t" + string(rune('a'+a)) + time.Duration(i).String()
				p.IngestTaskUsage("c", t0.Add(time.Duration(i)*10*time.Millisecond), time.Second,
					[]ecs.TaskUsage{task(arn, "service:web", "web", 1, 1, 1, 1)})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			p.Flush(context.Background(), t0.Add(time.Duration(i)*40*time.Millisecond))
		}
	}()
	wg.Wait()
	p.Flush(context.Background(), t0.Add(time.Hour))
	var published float64
	for _, d := range rec.find("CPUUtilization", "ClusterName", "c", "ServiceName", "web") {
		published += *d.StatisticValues.SampleCount
	}
	if int64(published)+p.Dropped() != agents*reports || p.Ingested()+p.Dropped() != agents*reports {
		t.Fatalf("published %v + dropped %d, ingested %d; want %d reports in all", published, p.Dropped(), p.Ingested(), agents*reports)
	}
}

func (r *recorder) find(name string, dims ...string) []cloudwatchapi.MetricDatum {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloudwatchapi.MetricDatum
	for _, d := range r.data[NamespaceECS] {
		if d.MetricName != name || len(d.Dimensions)*2 != len(dims) {
			continue
		}
		ok := true
		for i, dim := range d.Dimensions {
			ok = ok && dim.Name == dims[2*i] && dim.Value == dims[2*i+1]
		}
		if ok {
			out = append(out, d)
		}
	}
	return out
}
