package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// placementStrategy is RunTask's placementStrategy for -strategy name.
func placementStrategy(name string) ([]ecsapi.PlacementStrategy, bool) {
	switch name {
	case "none":
		return nil, true
	case "binpack":
		return []ecsapi.PlacementStrategy{{Type: "binpack", Field: "memory"}}, true
	case "spread":
		return []ecsapi.PlacementStrategy{{Type: "spread", Field: "attribute:ecs.availability-zone"}, {Type: "spread", Field: "instanceId"}}, true
	}
	return nil, false
}

// runTaskAnswer is the part of RunTaskResponse the load generator reads:
// decoding only these members keeps its CPU off the server's cores.
type runTaskAnswer struct {
	Tasks []struct {
		TaskArn              string `json:"taskArn"`
		ContainerInstanceArn string `json:"containerInstanceArn"`
	} `json:"tasks"`
	Failures []struct {
		Reason string `json:"reason"`
	} `json:"failures"`
}

// placedTask is a task RunTask returned.
type placedTask struct {
	ARN, Instance string
}

// attemptRecord is one RunTask call as sent.
type attemptRecord struct {
	End     time.Duration // since the placement started
	Latency time.Duration
	Tasks   int // placed by the call
}

// second is one second of the placement.
type second struct {
	Span      time.Duration // 1s, except the last
	Tasks     int           // placed in the span (RunTask answered)
	Calls     int           // attempts that ended in the span
	P99       time.Duration // of those attempts
	ServerCPU float64       // cores the server used, 0 if unknown
	// ServerWait is the cores' worth of time the server's threads spent
	// runnable but waiting for a CPU (taken by other processes).
	ServerWait float64
	ServerRSS  int64
	SelfCPU    float64 // cores the load generator used
}

// Rate is the span's tasks a second.
func (s second) Rate() float64 { return float64(s.Tasks) / s.Span.Seconds() }

// placement is the result of placing the tasks.
type placement struct {
	Requested int
	Placed    int // tasks RunTask returned
	// Unplaced counts tasks RunTask answered without placing (with
	// failures); Failed the tasks of calls that failed for good.
	Unplaced, Failed int
	Calls            int // RunTask calls (not counting retries)
	Reasons          map[string]int
	Errors           map[string]int
	Duration         time.Duration // first call sent to last answer
	Latency          latencies     // every attempt
	Seconds          []second
	// HalfAt is when RunTask had returned half of the tasks placed: the
	// rates of the two halves show whether placement slows as the
	// cluster fills.
	HalfAt     time.Duration
	ServerCPU  time.Duration // during the placement; 0 if unknown
	ServerWait time.Duration // runnable, waiting for a CPU; 0 if unknown
	SelfCPU    time.Duration

	tasks []placedTask
}

// placer places the run's tasks.
type placer struct {
	cfg     *config
	cluster string
	taskDef string
	runID   string
	callers []*caller // RunTask callers share them round-robin
	retries *tally    // the callers'
	pid     int       // the server's, 0 if unknown
	out     io.Writer // progress
}

// run places cfg.Tasks tasks with RunTask calls of cfg.Count from
// cfg.Concurrency callers, printing progress every second.
func (p *placer) run(ctx context.Context) *placement {
	cfg := p.cfg
	calls := (cfg.Tasks + cfg.Count - 1) / cfg.Count
	var next, placed, attempts, unplaced, failed atomic.Int64
	var reasons, errs tally
	var mu sync.Mutex
	var records []attemptRecord
	var tasks []placedTask
	pl := &placement{Requested: cfg.Tasks, Calls: calls}
	start := time.Now()
	serverCPU0, _ := p.serverCPU()
	serverWait0, _ := p.serverWait()
	selfCPU0 := benchproc.SelfCPU()
	done := make(chan struct{})
	strategy, _ := placementStrategy(cfg.Strategy)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		c := p.callers[w%len(p.callers)]
		wg.Go(func() {
			var myRecords []attemptRecord
			var myTasks []placedTask
			defer func() {
				mu.Lock()
				records = append(records, myRecords...)
				tasks = append(tasks, myTasks...)
				mu.Unlock()
			}()
			for {
				n := int(next.Add(1) - 1)
				if n >= calls || ctx.Err() != nil {
					return
				}
				count := int32(min(cfg.Count, cfg.Tasks-n*cfg.Count))
				in := &ecsapi.RunTaskRequest{
					Cluster:           p.cluster,
					TaskDefinition:    p.taskDef,
					Count:             &count,
					StartedBy:         p.runID,
					PlacementStrategy: strategy,
					// A token per call, the same on its retries: a
					// server that honours it places the tasks once.
					ClientToken: p.runID + "-" + strconv.Itoa(n),
				}
				var out runTaskAnswer
				err := c.call(ctx, "RunTask", in, &out, func(d time.Duration, err error) {
					attempts.Add(1)
					// out is decoded by now: the tasks are the answer's.
					myRecords = append(myRecords, attemptRecord{End: time.Since(start), Latency: d, Tasks: len(out.Tasks)})
				})
				if err != nil {
					if ctx.Err() == nil {
						errs.add(errCode(err), 1)
					}
					failed.Add(int64(count))
					continue
				}
				for _, t := range out.Tasks {
					myTasks = append(myTasks, placedTask{ARN: t.TaskArn, Instance: t.ContainerInstanceArn})
				}
				placed.Add(int64(len(out.Tasks)))
				if short := int(count) - len(out.Tasks); short > 0 {
					unplaced.Add(int64(short))
					for _, f := range out.Failures {
						reasons.add(f.Reason, 1)
					}
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()

	// Progress: a sample every second, and one when the last call ends.
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	type sample struct {
		at        time.Duration
		placed    int64
		serverCPU time.Duration
		wait      time.Duration
		selfCPU   time.Duration
		rss       int64
	}
	last := sample{serverCPU: serverCPU0, wait: serverWait0, selfCPU: selfCPU0}
	var samples []sample
	take := func() sample {
		s := sample{at: time.Since(start), placed: placed.Load(), selfCPU: benchproc.SelfCPU()}
		s.serverCPU, _ = p.serverCPU()
		s.wait, _ = p.serverWait()
		if p.pid != 0 {
			if m, err := readMemory(p.pid); err == nil {
				s.rss = m.RSS
			}
		}
		return s
	}
	show := func(s sample) {
		span := (s.at - last.at).Seconds()
		line := fmt.Sprintf("place %6.1fs  placed %7d  rate %7.0f/s  calls %6d  retries %d  errors %d  unplaced %d",
			s.at.Seconds(), s.placed, float64(s.placed-last.placed)/span, attempts.Load(), p.retried(), errs.total(), unplaced.Load())
		if p.pid != 0 {
			line += fmt.Sprintf("  server %.2f cores (%.2f waiting) %s", (s.serverCPU-last.serverCPU).Seconds()/span, (s.wait-last.wait).Seconds()/span, mib(s.rss))
		}
		line += fmt.Sprintf("  loadgen %.2f cores", (s.selfCPU-last.selfCPU).Seconds()/span)
		fmt.Fprintln(p.out, line)
	}
	for running := true; running; {
		select {
		case <-ticker.C:
		case <-done:
			running = false
		}
		s := take()
		show(s)
		samples = append(samples, s)
		last = s
	}
	pl.Duration = last.at
	pl.Placed = int(placed.Load())
	pl.Unplaced = int(unplaced.Load())
	pl.Failed = int(failed.Load())
	pl.Reasons = reasons.snapshot()
	pl.Errors = errs.snapshot()
	pl.tasks = tasks
	if p.pid != 0 {
		pl.ServerCPU = last.serverCPU - serverCPU0
		pl.ServerWait = last.wait - serverWait0
	}
	pl.SelfCPU = last.selfCPU - selfCPU0

	// Per second: tasks from the samples, latency from the attempts.
	lat := make([]time.Duration, len(records))
	for i, r := range records {
		lat[i] = r.Latency
	}
	pl.Latency = summarize(lat)
	pl.HalfAt = halfway(records, pl.Placed)
	prev := sample{serverCPU: serverCPU0, wait: serverWait0, selfCPU: selfCPU0}
	for _, s := range samples {
		span := s.at - prev.at
		if span <= 0 {
			continue
		}
		sec := second{Span: span, Tasks: int(s.placed - prev.placed), ServerRSS: s.rss,
			SelfCPU: (s.selfCPU - prev.selfCPU).Seconds() / span.Seconds()}
		if p.pid != 0 {
			sec.ServerCPU = (s.serverCPU - prev.serverCPU).Seconds() / span.Seconds()
			sec.ServerWait = (s.wait - prev.wait).Seconds() / span.Seconds()
		}
		var in []time.Duration
		for _, r := range records {
			if r.End > prev.at && r.End <= s.at {
				in = append(in, r.Latency)
			}
		}
		sec.Calls = len(in)
		sec.P99 = summarize(in).P99
		pl.Seconds = append(pl.Seconds, sec)
		prev = s
	}
	return pl
}

// halfway is the end of the call that brought the tasks returned to half
// of placed.
func halfway(records []attemptRecord, placed int) time.Duration {
	sorted := slices.Clone(records)
	slices.SortFunc(sorted, func(a, b attemptRecord) int { return cmp.Compare(a.End, b.End) })
	n := 0
	for _, r := range sorted {
		n += r.Tasks
		if 2*n >= placed {
			return r.End
		}
	}
	return 0
}

// serverCPU is the server's CPU time so far, if its PID is known.
func (p *placer) serverCPU() (time.Duration, error) {
	if p.pid == 0 {
		return 0, nil
	}
	return benchproc.ProcCPU(p.pid)
}

// serverWait is the server's run-queue wait so far, if its PID is known.
func (p *placer) serverWait() (time.Duration, error) {
	if p.pid == 0 {
		return 0, nil
	}
	return readRunqueueWait(p.pid)
}

// retried counts the RunTask attempts that were retried.
func (p *placer) retried() int {
	n := 0
	for k, v := range p.retries.snapshot() {
		if strings.HasPrefix(k, "RunTask ") {
			n += v
		}
	}
	return n
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%d MiB", (b+(1<<19))>>20) }
