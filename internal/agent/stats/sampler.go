package stats

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// DefaultInterval is how often the agent samples and ships utilisation:
// often enough for target tracking to react within 30 seconds of a load
// change, rarely enough to cost the host under 1% of a core for 50
// containers (docs/performance.md).
const DefaultInterval = 10 * time.Second

// parallel bounds the stats requests in flight at once. Docker's
// one-shot answer still waits for its stats collector's next tick (once
// a second) when the container has no fresh reading, so requests made
// one after the other would take up to a second each: made together they
// are all answered on the same tick.
const parallel = 64

// Source is the runtime the sampler reads.
type Source interface {
	// ListContainers lists the agent's containers (runtime.Runtime).
	ListContainers(ctx context.Context) ([]runtime.ContainerSummary, error)
	runtime.StatsReader
}

// Sink takes one interval's figures of the instance's tasks to the control
// plane (GantryPutTaskMetrics).
type Sink interface {
	PutTaskMetrics(ctx context.Context, req *ecsapi.GantryPutTaskMetricsRequest) error
}

// Config configures a Sampler.
type Config struct {
	// Cluster is the agent's cluster.
	Cluster string
	// InstanceArn returns the agent's container instance ARN.
	InstanceArn func() string
	// Interval is the sampling and shipping interval; zero means
	// DefaultInterval.
	Interval time.Duration
	Source   Source
	Sink     Sink
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OnRound, if set, is called after each round with its duration and
	// the number of containers read (the agent's Prometheus metrics).
	OnRound func(d time.Duration, containers int, err error)
	Logger  *slog.Logger
}

// Sampler samples the agent's containers and ships their usage per task.
type Sampler struct {
	cfg Config
	log *slog.Logger

	// prev is each running container's previous reading, by runtime ID;
	// only the goroutine running Sample touches it.
	prev map[string]runtime.ContainerStats

	mu     sync.Mutex
	latest map[string]ecsapi.GantryTaskMetrics
}

// New returns a Sampler for cfg.
func New(cfg Config) (*Sampler, error) {
	if cfg.Source == nil || cfg.Sink == nil || cfg.InstanceArn == nil {
		return nil, errors.New("stats: Source, Sink and InstanceArn are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{cfg: cfg, log: cfg.Logger, prev: map[string]runtime.ContainerStats{}, latest: map[string]ecsapi.GantryTaskMetrics{}}, nil
}

// Run samples and ships every Interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	// Prime at once, so that the first figures come one interval later.
	s.round(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.round(ctx)
		}
	}
}

// round samples once and ships what it measured.
func (s *Sampler) round(ctx context.Context) {
	start := time.Now()
	tasks, n, err := s.Sample(ctx)
	if s.cfg.OnRound != nil {
		s.cfg.OnRound(time.Since(start), n, err)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sample container stats", "err", err)
		}
		return
	}
	arn := s.cfg.InstanceArn()
	if len(tasks) == 0 || arn == "" {
		return
	}
	req := &ecsapi.GantryPutTaskMetricsRequest{
		Cluster:           s.cfg.Cluster,
		ContainerInstance: arn,
		Timestamp:         ecsapi.NewTimestamp(s.cfg.Now()),
		PeriodSeconds:     s.cfg.Interval.Seconds(),
		Tasks:             tasks,
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	defer cancel()
	if err := s.cfg.Sink.PutTaskMetrics(sctx, req); err != nil && ctx.Err() == nil {
		// At most once: the next interval carries the next figures.
		s.log.Warn("ship task metrics", "err", err, "tasks", len(tasks))
	}
}

// Sample reads every running container of the agent once and returns the
// usage of each task over the time since the previous Sample, sorted by
// task ARN, and the number of containers read. Containers read for the
// first time only prime the next Sample. It must not be called
// concurrently with itself (Run calls it).
func (s *Sampler) Sample(ctx context.Context) ([]ecsapi.GantryTaskMetrics, int, error) {
	list, err := s.cfg.Source.ListContainers(ctx)
	if err != nil {
		return nil, 0, err
	}
	var running []runtime.ContainerSummary
	for _, c := range list {
		if c.State == runtime.StateRunning && c.TaskArn != "" {
			running = append(running, c)
		}
	}
	readings := make([]runtime.ContainerStats, len(running))
	ok := make([]bool, len(running))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(parallel, len(running)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := s.cfg.Source.ContainerStats(ctx, running[i].ID)
				if err != nil {
					// Gone since the listing, or the engine is busy:
					// measured next time.
					continue
				}
				readings[i], ok[i] = r, true
			}
		}()
	}
	for i := range running {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	cur := make(map[string]runtime.ContainerStats, len(running))
	byTask := map[string]*ecsapi.GantryTaskMetrics{}
	read := 0
	for i, c := range running {
		if !ok[i] {
			continue
		}
		read++
		r := readings[i]
		cur[c.ID] = r
		p, seen := s.prev[c.ID]
		d, valid := delta(p, r)
		if !seen || !valid {
			continue
		}
		t := byTask[c.TaskArn]
		if t == nil {
			t = &ecsapi.GantryTaskMetrics{Task: c.TaskArn, Family: c.Family}
			byTask[c.TaskArn] = t
		}
		t.CpuUsed += d.cpuUnits
		t.MemoryUsedMiB += float64(r.MemoryBytes) / (1 << 20)
		t.NetworkRxBytes += d.rx
		t.NetworkTxBytes += d.tx
		t.StorageReadBytes += d.read
		t.StorageWriteBytes += d.write
		if !c.Pause {
			t.Containers++
		}
	}
	s.prev = cur
	out := make([]ecsapi.GantryTaskMetrics, 0, len(byTask))
	latest := make(map[string]ecsapi.GantryTaskMetrics, len(byTask))
	for arn, t := range byTask {
		out = append(out, *t)
		latest[arn] = *t
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	s.mu.Lock()
	s.latest = latest
	s.mu.Unlock()
	return out, read, nil
}

// Latest returns the figures of each task from the last Sample, by task
// ARN.
func (s *Sampler) Latest() map[string]ecsapi.GantryTaskMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ecsapi.GantryTaskMetrics, len(s.latest))
	for k, v := range s.latest {
		out[k] = v
	}
	return out
}

// usage is what a container used between two readings.
type usage struct {
	cpuUnits            float64
	rx, tx, read, write int64
}

// delta returns the usage between readings a and b of one container;
// false when they cannot be compared (b is not later, or a counter went
// backwards: the container restarted).
func delta(a, b runtime.ContainerStats) (usage, bool) {
	dt := b.Time.Sub(a.Time)
	if dt <= 0 || b.CPUNanos < a.CPUNanos || b.NetworkRxBytes < a.NetworkRxBytes || b.NetworkTxBytes < a.NetworkTxBytes ||
		b.BlockReadBytes < a.BlockReadBytes || b.BlockWriteBytes < a.BlockWriteBytes {
		return usage{}, false
	}
	return usage{
		cpuUnits: float64(b.CPUNanos-a.CPUNanos) / float64(dt.Nanoseconds()) * 1024,
		rx:       int64(b.NetworkRxBytes - a.NetworkRxBytes),
		tx:       int64(b.NetworkTxBytes - a.NetworkTxBytes),
		read:     int64(b.BlockReadBytes - a.BlockReadBytes),
		write:    int64(b.BlockWriteBytes - a.BlockWriteBytes),
	}, true
}
