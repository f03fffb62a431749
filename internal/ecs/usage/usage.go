package usage

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/ecs"
)

// Namespaces of the metrics published.
const (
	NamespaceECS      = "AWS/ECS"
	NamespaceInsights = "ECS/ContainerInsights"
)

// Defaults of Config.
const (
	// DefaultPeriod is the window: the agents' default interval, so that
	// target tracking sees a load change within seconds.
	DefaultPeriod = 10 * time.Second
	// DefaultGrace is how long after a window's end its reports are
	// awaited before it is published.
	DefaultGrace = 3 * time.Second
)

// maxDatums is the most datums one Record call carries (PutMetricData's
// limit).
const maxDatums = 1000

// Capacity reads a cluster's registered and reserved resources
// (ecs.API.Capacity).
type Capacity interface {
	Capacity(ctx context.Context, cluster string) (ecs.ClusterCapacity, error)
}

// ServiceCounts are a service's task counts, as DescribeServices shows them.
type ServiceCounts struct {
	Desired, Running, Pending int64
}

// Cluster answers what the metrics need to know of a cluster's settings and
// services.
type Cluster interface {
	// Insights reports whether Container Insights is on for cluster (its
	// containerInsights setting is enabled or enhanced).
	Insights(ctx context.Context, cluster string) (bool, error)
	// Services returns the counts of the named services of cluster, and
	// the number of ACTIVE services in the cluster.
	Services(ctx context.Context, cluster string, names []string) (map[string]ServiceCounts, int, error)
}

// Config configures a Publisher.
type Config struct {
	// Recorder stores the datapoints (CloudWatch). Required.
	Recorder cwlink.Recorder
	// Capacity and Cluster are the ECS state the metrics read. Required.
	Capacity Capacity
	Cluster  Cluster
	// Period is the window; zero means DefaultPeriod. Below a minute the
	// datapoints are high-resolution (StorageResolution 1).
	Period time.Duration
	// Grace is how long reports are awaited after a window ends; zero
	// means DefaultGrace.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnPublish, if set, is called after each publication with the number
	// of datums recorded and the error, if any (Prometheus).
	OnPublish func(datums int, err error)
}

// Publisher gathers task usage into windows and publishes each window's
// metrics. It implements ecs.UsageIngester.
type Publisher struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	windows map[int64]map[string]*window // window start (Unix ns) -> cluster -> usage
	// published is the start of the latest window published: older
	// reports are dropped.
	published int64

	dropped  atomic.Int64
	ingested atomic.Int64
}

var _ ecs.UsageIngester = (*Publisher)(nil)

// New returns a Publisher for cfg; Run publishes.
func New(cfg Config) *Publisher {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, windows: map[int64]map[string]*window{}, published: math.MinInt64}
}

// window is one cluster's reports in one window, by task ARN.
type window struct {
	tasks map[string]*taskAcc
}

// taskAcc accumulates one task's reports in a window.
type taskAcc struct {
	ecs.TaskUsage
	n int // reports; CpuUsed and MemoryUsedMiB hold their sums
}

// Dropped is the number of task reports that came after their window was
// published.
func (p *Publisher) Dropped() int64 { return p.dropped.Load() }

// Ingested is the number of task reports taken.
func (p *Publisher) Ingested() int64 { return p.ingested.Load() }

// IngestTaskUsage adds one agent's report to the window of at.
func (p *Publisher) IngestTaskUsage(cluster string, at time.Time, _ time.Duration, tasks []ecs.TaskUsage) {
	start := at.Truncate(p.cfg.Period).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if start <= p.published {
		p.dropped.Add(int64(len(tasks)))
		return
	}
	byCluster := p.windows[start]
	if byCluster == nil {
		byCluster = map[string]*window{}
		p.windows[start] = byCluster
	}
	w := byCluster[cluster]
	if w == nil {
		w = &window{tasks: map[string]*taskAcc{}}
		byCluster[cluster] = w
	}
	for _, t := range tasks {
		a := w.tasks[t.TaskArn]
		if a == nil {
			w.tasks[t.TaskArn] = &taskAcc{TaskUsage: t, n: 1}
			continue
		}
		a.n++
		a.CpuUsed += t.CpuUsed
		a.MemoryUsedMiB += t.MemoryUsedMiB
		a.NetworkRxBytes += t.NetworkRxBytes
		a.NetworkTxBytes += t.NetworkTxBytes
		a.StorageReadBytes += t.StorageReadBytes
		a.StorageWriteBytes += t.StorageWriteBytes
	}
	p.ingested.Add(int64(len(tasks)))
}

// Run publishes each window once its grace has passed, until ctx ends;
// then it publishes the windows still open (their figures so far), so a
// server that stops loses none of the reports it acknowledged.
func (p *Publisher) Run(ctx context.Context) {
	tick := p.cfg.Period / 4
	if tick > time.Second {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			p.Flush(fctx, time.Unix(0, math.MaxInt64))
			cancel()
			return
		case <-t.C:
			p.Flush(ctx, p.cfg.Now())
		}
	}
}

// Flush publishes every window that ended at least Grace before now.
func (p *Publisher) Flush(ctx context.Context, now time.Time) {
	p.mu.Lock()
	var due []int64
	for start := range p.windows {
		if time.Unix(0, start).Add(p.cfg.Period + p.cfg.Grace).After(now) {
			continue
		}
		due = append(due, start)
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
	ready := make([]map[string]*window, len(due))
	for i, start := range due {
		ready[i] = p.windows[start]
		delete(p.windows, start)
		if start > p.published {
			p.published = start
		}
	}
	p.mu.Unlock()
	for i, start := range due {
		for cluster, w := range ready[i] {
			p.publish(ctx, cluster, time.Unix(0, start), w)
		}
	}
}

// publish computes and records one cluster's metrics of one window.
func (p *Publisher) publish(ctx context.Context, cluster string, at time.Time, w *window) {
	in := Input{Cluster: cluster, Tasks: make([]ecs.TaskUsage, 0, len(w.tasks)), Period: p.cfg.Period}
	for _, a := range w.tasks {
		t := a.TaskUsage
		t.CpuUsed /= float64(a.n)
		t.MemoryUsedMiB /= float64(a.n)
		in.Tasks = append(in.Tasks, t)
	}
	var err error
	if in.Capacity, err = p.cfg.Capacity.Capacity(ctx, cluster); err != nil {
		p.log.Warn("ecs metrics: cluster capacity", "cluster", cluster, "err", err)
	}
	if in.Insights, err = p.cfg.Cluster.Insights(ctx, cluster); err != nil {
		p.log.Warn("ecs metrics: cluster settings", "cluster", cluster, "err", err)
	}
	if in.Insights {
		names := serviceNames(in.Tasks)
		if in.Services, in.ServiceCount, err = p.cfg.Cluster.Services(ctx, cluster, names); err != nil {
			p.log.Warn("ecs metrics: services", "cluster", cluster, "err", err)
		}
	}
	ecsData, insights := Compute(in, at)
	n := 0
	var rerr error
	for _, set := range []struct {
		ns   string
		data []cloudwatchapi.MetricDatum
	}{{NamespaceECS, ecsData}, {NamespaceInsights, insights}} {
		for len(set.data) > 0 {
			chunk := set.data[:min(maxDatums, len(set.data))]
			set.data = set.data[len(chunk):]
			if err := p.cfg.Recorder.Record(ctx, set.ns, chunk); err != nil {
				rerr = err
				p.log.Warn("ecs metrics: record", "namespace", set.ns, "cluster", cluster, "err", err)
				continue
			}
			n += len(chunk)
		}
	}
	if p.cfg.OnPublish != nil {
		p.cfg.OnPublish(n, rerr)
	}
}

// serviceOf returns the service of a task group ("service:NAME").
func serviceOf(group string) (string, bool) {
	name, ok := strings.CutPrefix(group, "service:")
	return name, ok && name != ""
}

func serviceNames(tasks []ecs.TaskUsage) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tasks {
		if s, ok := serviceOf(t.Group); ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Input is what one cluster's metrics of one window are computed from.
type Input struct {
	Cluster string
	// Tasks are the tasks measured in the window, one entry each.
	Tasks []ecs.TaskUsage
	// Capacity is the cluster's instances' registered and reserved
	// resources.
	Capacity ecs.ClusterCapacity
	// Period is the window's length.
	Period time.Duration
	// Insights turns on the ECS/ContainerInsights metrics; Services are
	// then the counts of the services of Tasks, and ServiceCount the
	// cluster's number of services.
	Insights     bool
	Services     map[string]ServiceCounts
	ServiceCount int
}

// Compute returns the AWS/ECS and ECS/ContainerInsights datums of one
// cluster's window starting at at (see the package documentation). It is
// pure: Publisher records what it returns.
func Compute(in Input, at time.Time) (ecsData, insights []cloudwatchapi.MetricDatum) {
	if len(in.Tasks) == 0 {
		return nil, nil
	}
	ts := awstime.NewTimestamp(at)
	res := int32(60)
	if in.Period < time.Minute {
		res = 1
	}
	datum := func(name string, unit cloudwatchapi.StandardUnit, set stats, dims ...string) cloudwatchapi.MetricDatum {
		d := cloudwatchapi.MetricDatum{MetricName: name, Timestamp: ts, Unit: unit, StorageResolution: &res,
			StatisticValues: set.statisticSet()}
		for i := 0; i+1 < len(dims); i += 2 {
			d.Dimensions = append(d.Dimensions, cloudwatchapi.Dimension{Name: dims[i], Value: dims[i+1]})
		}
		return d
	}
	clusterDim := []string{"ClusterName", in.Cluster}

	// Per service: used over reserved.
	services := map[string][]ecs.TaskUsage{}
	var names []string
	var usedCPU, usedMem float64
	for _, t := range in.Tasks {
		usedCPU += t.CpuUsed
		usedMem += t.MemoryUsedMiB
		if s, ok := serviceOf(t.Group); ok {
			if services[s] == nil {
				names = append(names, s)
			}
			services[s] = append(services[s], t)
		}
	}
	sort.Strings(names)
	for _, s := range names {
		dims := append(clusterDim[:2:2], "ServiceName", s)
		if set, ok := utilisation(services[s], func(t ecs.TaskUsage) (float64, int64) { return t.CpuUsed, t.CPUReserved }); ok {
			ecsData = append(ecsData, datum("CPUUtilization", cloudwatchapi.StandardUnit("Percent"), set, dims...))
		}
		if set, ok := utilisation(services[s], func(t ecs.TaskUsage) (float64, int64) { return t.MemoryUsedMiB, t.MemoryReserved }); ok {
			ecsData = append(ecsData, datum("MemoryUtilization", cloudwatchapi.StandardUnit("Percent"), set, dims...))
		}
	}
	// Per cluster: used over registered, reserved over registered.
	c := in.Capacity
	if c.RegisteredCPU > 0 {
		ecsData = append(ecsData,
			datum("CPUUtilization", "Percent", one(100*usedCPU/float64(c.RegisteredCPU)), clusterDim...),
			datum("CPUReservation", "Percent", one(100*float64(c.ReservedCPU)/float64(c.RegisteredCPU)), clusterDim...))
	}
	if c.RegisteredMemory > 0 {
		ecsData = append(ecsData,
			datum("MemoryUtilization", "Percent", one(100*usedMem/float64(c.RegisteredMemory)), clusterDim...),
			datum("MemoryReservation", "Percent", one(100*float64(c.ReservedMemory)/float64(c.RegisteredMemory)), clusterDim...))
	}
	if !in.Insights {
		return ecsData, nil
	}

	// Container Insights: sums per cluster, service and family.
	type group struct {
		dims  []string
		tasks []ecs.TaskUsage
	}
	groups := []group{{dims: clusterDim, tasks: in.Tasks}}
	for _, s := range names {
		groups = append(groups, group{dims: append(clusterDim[:2:2], "ServiceName", s), tasks: services[s]})
	}
	families := map[string][]ecs.TaskUsage{}
	var fams []string
	for _, t := range in.Tasks {
		if t.Family == "" {
			continue
		}
		if families[t.Family] == nil {
			fams = append(fams, t.Family)
		}
		families[t.Family] = append(families[t.Family], t)
	}
	sort.Strings(fams)
	for _, f := range fams {
		groups = append(groups, group{dims: append(clusterDim[:2:2], "TaskDefinitionFamily", f), tasks: families[f]})
	}
	secs := in.Period.Seconds()
	for _, g := range groups {
		var cpu, mem, rx, tx, rd, wr float64
		var cpuRes, memRes int64
		for _, t := range g.tasks {
			cpu += t.CpuUsed
			mem += t.MemoryUsedMiB
			cpuRes += t.CPUReserved
			memRes += t.MemoryReserved
			rx += float64(t.NetworkRxBytes)
			tx += float64(t.NetworkTxBytes)
			rd += float64(t.StorageReadBytes)
			wr += float64(t.StorageWriteBytes)
		}
		insights = append(insights,
			datum("CpuUtilized", "None", one(cpu), g.dims...),
			datum("CpuReserved", "None", one(float64(cpuRes)), g.dims...),
			datum("MemoryUtilized", "Megabytes", one(mem), g.dims...),
			datum("MemoryReserved", "Megabytes", one(float64(memRes)), g.dims...),
			datum("NetworkRxBytes", "Bytes/Second", one(rx/secs), g.dims...),
			datum("NetworkTxBytes", "Bytes/Second", one(tx/secs), g.dims...),
			datum("StorageReadBytes", "Bytes", one(rd), g.dims...),
			datum("StorageWriteBytes", "Bytes", one(wr), g.dims...),
			datum("TaskCount", "Count", one(float64(len(g.tasks))), g.dims...),
		)
	}
	for _, s := range names {
		cnt, ok := in.Services[s]
		if !ok {
			continue
		}
		dims := append(clusterDim[:2:2], "ServiceName", s)
		insights = append(insights,
			datum("DesiredTaskCount", "Count", one(float64(cnt.Desired)), dims...),
			datum("RunningTaskCount", "Count", one(float64(cnt.Running)), dims...),
			datum("PendingTaskCount", "Count", one(float64(cnt.Pending)), dims...),
		)
	}
	insights = append(insights,
		datum("ContainerInstanceCount", "Count", one(float64(c.Instances)), clusterDim...),
		datum("ServiceCount", "Count", one(float64(in.ServiceCount)), clusterDim...),
	)
	return ecsData, insights
}

// stats is a statistic set.
type stats struct {
	n, sum, min, max float64
}

func one(v float64) stats { return stats{n: 1, sum: v, min: v, max: v} }

func (s stats) statisticSet() *cloudwatchapi.StatisticSet {
	n, sum, lo, hi := s.n, s.sum, s.min, s.max
	return &cloudwatchapi.StatisticSet{SampleCount: &n, Sum: &sum, Minimum: &lo, Maximum: &hi}
}

// utilisation returns a service's utilisation statistics of one resource:
// Average 100 x used / reserved over the tasks that reserve some, Minimum
// and Maximum the least and most loaded task's, SampleCount the tasks, Sum
// Average x SampleCount. False when no task reserves the resource.
func utilisation(tasks []ecs.TaskUsage, f func(ecs.TaskUsage) (used float64, reserved int64)) (stats, bool) {
	var used, reserved float64
	s := stats{min: math.Inf(1), max: math.Inf(-1)}
	for _, t := range tasks {
		u, r := f(t)
		if r <= 0 {
			continue
		}
		used += u
		reserved += float64(r)
		pct := 100 * u / float64(r)
		s.min = math.Min(s.min, pct)
		s.max = math.Max(s.max, pct)
		s.n++
	}
	if s.n == 0 {
		return stats{}, false
	}
	avg := 100 * used / reserved
	s.sum = avg * s.n
	return s, true
}
