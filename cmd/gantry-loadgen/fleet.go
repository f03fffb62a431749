package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Heartbeat timing: agents poll at least this often; Gantry counts an agent
// connected for 10 seconds after its last call.
const (
	heartbeatPeriod  = 5 * time.Second
	agentTTL         = 10 * time.Second
	heartbeatWorkers = 64
)

// fleet is the simulated container instances of a run.
type fleet struct {
	cluster string
	region  string
	zones   int

	mu   sync.RWMutex
	arns []string // by index; "" until registered
	// lastSeen is when each instance last told the server it is alive
	// (registration, then heartbeats), in Unix nanoseconds.
	lastSeen []atomic.Int64
	// queued marks the instances whose heartbeat waits for a worker.
	queued []atomic.Bool
	// revs holds each instance's revision of its last poll answer, which
	// the next poll sends, as an agent does, so the answer only carries
	// the tasks that changed.
	revs []atomic.Int64
}

func newFleet(cluster, region string, n, zones int) *fleet {
	return &fleet{cluster: cluster, region: region, zones: zones, arns: make([]string, n),
		lastSeen: make([]atomic.Int64, n), queued: make([]atomic.Bool, n), revs: make([]atomic.Int64, n)}
}

// zone is the availability zone of instance i: round-robin over the zones.
func (f *fleet) zone(i int) string { return f.region + string(rune('a'+i%f.zones)) }

func (f *fleet) arn(i int) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.arns[i]
}

// all returns the ARNs of the registered instances.
func (f *fleet) all() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]string, 0, len(f.arns))
	for _, a := range f.arns {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// registration is what registering the fleet took.
type registration struct {
	Instances int
	Duration  time.Duration
	Latency   latencies
}

// register registers every instance, workers at a time. It fails on the
// first instance that cannot be registered.
func (f *fleet) register(ctx context.Context, c *caller, workers int) (registration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range min(workers, len(f.arns)) {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(f.arns) || ctx.Err() != nil {
					return
				}
				in := &ecsapi.RegisterContainerInstanceRequest{
					Cluster: f.cluster,
					TotalResources: []ecsapi.Resource{
						{Name: "CPU", Type: "INTEGER", IntegerValue: instanceCPU},
						{Name: "MEMORY", Type: "INTEGER", IntegerValue: instanceMemory},
					},
					Attributes: []ecsapi.Attribute{{Name: "ecs.availability-zone", Value: f.zone(i)}},
				}
				var out ecsapi.RegisterContainerInstanceResponse
				err := c.call(ctx, "RegisterContainerInstance", in, &out, func(d time.Duration, err error) {
					if err == nil {
						mine = append(mine, d)
					}
				})
				if err == nil && (out.ContainerInstance == nil || out.ContainerInstance.ContainerInstanceArn == "") {
					err = fmt.Errorf("answer without a containerInstanceArn")
				}
				if err != nil {
					cancel(fmt.Errorf("register instance %d: %w", i, err))
					return
				}
				f.lastSeen[i].Store(time.Now().UnixNano())
				f.mu.Lock()
				f.arns[i] = out.ContainerInstance.ContainerInstanceArn
				f.mu.Unlock()
			}
		})
	}
	wg.Wait()
	r := registration{Instances: len(f.all()), Duration: time.Since(start), Latency: summarize(lat)}
	if err := context.Cause(ctx); err != nil {
		return r, err
	}
	return r, nil
}

// heartbeats records the polls that keep the fleet connected; safe for
// concurrent use.
type heartbeats struct {
	mu      sync.Mutex
	polls   int
	errors  map[string]int
	latency []time.Duration
	maxLag  time.Duration
	maxGap  time.Duration
	lapsed  map[int]bool // instances once silent for longer than agentTTL
	skipped int
}

func (h *heartbeats) record(i int, lat, lag, gap time.Duration) {
	h.mu.Lock()
	h.polls++
	h.latency = append(h.latency, lat)
	h.maxLag = max(h.maxLag, lag)
	h.maxGap = max(h.maxGap, gap)
	if gap > agentTTL {
		if h.lapsed == nil {
			h.lapsed = map[int]bool{}
		}
		h.lapsed[i] = true
	}
	h.mu.Unlock()
}

func (h *heartbeats) skip() {
	h.mu.Lock()
	h.skipped++
	h.mu.Unlock()
}

func (h *heartbeats) fail(code string) {
	h.mu.Lock()
	h.polls++
	if h.errors == nil {
		h.errors = map[string]int{}
	}
	h.errors[code]++
	h.mu.Unlock()
}

// heartbeatStats is what keeping the fleet connected took, up to a moment.
type heartbeatStats struct {
	Polls   int
	Errors  map[string]int
	Latency latencies
	// MaxLag is the longest a poll started after its slot; MaxGap the
	// longest an instance went without telling the server it is alive,
	// counting the silences still running; Lapsed how many instances were
	// once silent for longer than agentTTL (and looked disconnected from
	// then until their next poll); Skipped how
	// many slots found the instance's previous poll still waiting for a
	// worker (the server answered fewer polls than the period asks).
	MaxLag, MaxGap  time.Duration
	Lapsed, Skipped int
}

// stats summarises the heartbeats so far, counting as silences the time
// since each instance of f last told the server it is alive.
func (h *heartbeats) stats(f *fleet) heartbeatStats {
	now := time.Now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	st := heartbeatStats{Polls: h.polls, Errors: maps.Clone(h.errors), Latency: summarize(slices.Clone(h.latency)),
		MaxLag: h.maxLag, MaxGap: h.maxGap, Lapsed: len(h.lapsed), Skipped: h.skipped}
	for i := range f.lastSeen {
		if seen := f.lastSeen[i].Load(); seen != 0 {
			gap := time.Duration(now - seen)
			st.MaxGap = max(st.MaxGap, gap)
			if gap > agentTTL && !h.lapsed[i] {
				st.Lapsed++
			}
		}
	}
	return st
}

// heartbeat keeps every registered instance connected until ctx ends: one
// GantryPollTasks (revision of its previous answer, omitTasks: a heartbeat
// that fetches no task payload) per instance every heartbeatPeriod, the
// instances spread evenly over the period (instance i at i/N of it).
// Instances not registered yet are skipped: registration counts as a
// heartbeat. When the server answers fewer polls than that, an instance
// whose previous poll still waits is not queued again: the polls go round
// the instances at the rate the server sustains.
func (f *fleet) heartbeat(ctx context.Context, c *caller, h *heartbeats) {
	type job struct {
		i   int
		arn string
		due time.Time
	}
	jobs := make(chan job, len(f.arns))
	var wg sync.WaitGroup
	for range heartbeatWorkers {
		wg.Go(func() {
			for j := range jobs {
				f.queued[j.i].Store(false)
				start := time.Now()
				in := &ecsapi.GantryPollTasksRequest{Cluster: f.cluster, ContainerInstance: j.arn, Revision: f.revs[j.i].Load(), OmitTasks: true}
				// Only the revision of the answer is needed.
				var out struct {
					Revision int64 `json:"revision"`
				}
				err := c.cli.Call(ctx, "GantryPollTasks", in, &out)
				if err == nil {
					f.revs[j.i].Store(out.Revision)
				}
				if ctx.Err() != nil {
					continue
				}
				if err != nil {
					h.fail(errCode(err))
					continue
				}
				now := time.Now()
				prev := f.lastSeen[j.i].Swap(now.UnixNano())
				h.record(j.i, now.Sub(start), start.Sub(j.due), time.Duration(now.UnixNano()-prev))
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	n := len(f.arns)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for round := 0; ; round++ {
		for i := range n {
			due := start.Add(time.Duration(round)*heartbeatPeriod + time.Duration(i)*heartbeatPeriod/time.Duration(n))
			if d := time.Until(due); d > time.Millisecond {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			arn := f.arn(i)
			if arn == "" {
				continue
			}
			if f.queued[i].Swap(true) {
				h.skip()
				continue
			}
			select {
			case jobs <- job{i: i, arn: arn, due: due}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// acknowledgement is what the simulated agents' acknowledgement took.
type acknowledgement struct {
	Polls    int
	Acked    int
	Errors   map[string]int
	Duration time.Duration
	Latency  latencies // GantrySubmitTaskState
}

// ack acknowledges every task as the instances' agents would, without
// Docker: each instance polls its tasks once and reports each task that is
// not RUNNING yet as RUNNING, with its containers. workers instances at a
// time, printing progress to out every second.
func (f *fleet) ack(ctx context.Context, c *caller, workers int, out io.Writer) acknowledgement {
	arns := f.all()
	var next atomic.Int64
	var polls, acked atomic.Int64
	var errs tally
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range min(workers, len(arns)) {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(arns) || ctx.Err() != nil {
					return
				}
				var poll ecsapi.GantryPollTasksResponse
				err := c.call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: f.cluster, ContainerInstance: arns[i]}, &poll, nil)
				if err != nil {
					errs.add("GantryPollTasks "+errCode(err), 1)
					continue
				}
				polls.Add(1)
				for _, at := range poll.Tasks {
					t := &at.Task
					if t.DesiredStatus != "RUNNING" || t.LastStatus == "RUNNING" {
						continue
					}
					in := &ecsapi.GantrySubmitTaskStateRequest{Cluster: f.cluster, Task: t.TaskArn, Status: "RUNNING"}
					for _, ct := range t.Containers {
						in.Containers = append(in.Containers, ecsapi.GantryContainerState{
							ContainerName: ct.Name, Status: "RUNNING", RuntimeId: "loadgen-" + taskIDOf(t.TaskArn),
						})
					}
					err := c.call(ctx, "GantrySubmitTaskState", in, &ecsapi.GantrySubmitTaskStateResponse{}, func(d time.Duration, err error) {
						if err == nil {
							mine = append(mine, d)
						}
					})
					if err != nil {
						errs.add("GantrySubmitTaskState "+errCode(err), 1)
						continue
					}
					acked.Add(1)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	last, lastAt := int64(0), start
	for running := true; running; {
		select {
		case <-ticker.C:
		case <-done:
			running = false
		}
		now, n := time.Now(), acked.Load()
		fmt.Fprintf(out, "ack   %6.1fs  acked %7d  rate %7.0f/s  polls %d  errors %d\n",
			now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), polls.Load(), errs.total())
		last, lastAt = n, now
	}
	return acknowledgement{Polls: int(polls.Load()), Acked: int(acked.Load()), Errors: errs.snapshot(),
		Duration: time.Since(start), Latency: summarize(lat)}
}

// taskIDOf is the last part of a task ARN.
func taskIDOf(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
