package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// counters are the agent's own metrics that WriteMetrics exposes.
type counters struct {
	logBatchesOK, logBatchesFailed atomic.Int64
	logEvents                      atomic.Int64
	usageOK, usageFailed           atomic.Int64
	usageTasks                     atomic.Int64
	// failovers counts the moves to another server of the control plane.
	failovers atomic.Int64

	mu          sync.Mutex
	rounds      int64
	roundErrors int64
	roundSecs   float64
	lastRead    int
}

// observeRound records one sampling round (stats.Config.OnRound).
func (c *counters) observeRound(d time.Duration, containers int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds++
	c.roundSecs += d.Seconds()
	if err != nil {
		c.roundErrors++
		return
	}
	c.lastRead = containers
}

// WriteMetrics writes the agent's metrics in the Prometheus text
// exposition format (version 0.0.4): its containers by state, the
// utilisation it measured per task, its sampling rounds, the awslogs
// batches and utilisation reports it shipped, and its process's
// goroutines, heap, CPU time and resident memory. The agent writes the
// format itself so that the gantry-agent binary links no Prometheus
// library (internal/archtest keeps it small).
func (a *Agent) WriteMetrics(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := promWriter{w: bw}

	// Containers by state, from the runtime.
	list, err := a.rt.ListContainers(ctx)
	if err == nil {
		byState := map[string]float64{}
		for _, st := range []runtime.State{runtime.StateCreated, runtime.StateRunning, runtime.StateStopped} {
			byState[string(st)] = 0
		}
		for _, c := range list {
			if c.Pause {
				continue
			}
			byState[string(c.State)]++
		}
		p.family("gantry_agent_containers", "gauge", "The agent's task containers (pause containers not counted), by state.")
		for _, st := range sortedKeys(byState) {
			p.sample("gantry_agent_containers", byState[st], "state", st)
		}
	}
	p.family("gantry_agent_up", "gauge", "1 while the agent runs; 0 when it could not list its containers.")
	if err != nil {
		p.sample("gantry_agent_up", 0)
	} else {
		p.sample("gantry_agent_up", 1)
	}

	c := &a.counters
	c.mu.Lock()
	rounds, roundErrors, roundSecs, lastRead := c.rounds, c.roundErrors, c.roundSecs, c.lastRead
	c.mu.Unlock()
	p.family("gantry_agent_stats_rounds_total", "counter", "Sampling rounds of the containers' usage, by result.")
	p.sample("gantry_agent_stats_rounds_total", float64(rounds-roundErrors), "result", "ok")
	p.sample("gantry_agent_stats_rounds_total", float64(roundErrors), "result", "error")
	p.family("gantry_agent_stats_round_seconds_total", "counter", "Time spent in sampling rounds.")
	p.sample("gantry_agent_stats_round_seconds_total", roundSecs)
	p.family("gantry_agent_stats_containers", "gauge", "Containers read in the last sampling round.")
	p.sample("gantry_agent_stats_containers", float64(lastRead))
	p.family("gantry_agent_server_failovers_total", "counter", "Moves to another server of the control plane after a failed call.")
	p.sample("gantry_agent_server_failovers_total", float64(c.failovers.Load()))
	p.family("gantry_agent_usage_reports_total", "counter", "Utilisation reports sent to the control plane (GantryPutTaskMetrics), by result.")
	p.sample("gantry_agent_usage_reports_total", float64(c.usageOK.Load()), "result", "ok")
	p.sample("gantry_agent_usage_reports_total", float64(c.usageFailed.Load()), "result", "error")
	p.family("gantry_agent_usage_task_figures_total", "counter", "Per-task figures in the utilisation reports acknowledged.")
	p.sample("gantry_agent_usage_task_figures_total", float64(c.usageTasks.Load()))
	p.family("gantry_agent_log_batches_total", "counter", "awslogs batches sent to the control plane (GantryPutLogEvents), by result.")
	p.sample("gantry_agent_log_batches_total", float64(c.logBatchesOK.Load()), "result", "ok")
	p.sample("gantry_agent_log_batches_total", float64(c.logBatchesFailed.Load()), "result", "error")
	p.family("gantry_agent_log_events_total", "counter", "awslogs events acknowledged by the control plane.")
	p.sample("gantry_agent_log_events_total", float64(c.logEvents.Load()))

	if a.stats != nil {
		latest := a.stats.Latest()
		arns := sortedKeys(latest)
		p.family("gantry_agent_task_cpu_units", "gauge", "CPU each task used over the last sampling interval, in CPU units (1,024 to a vCPU).")
		for _, arn := range arns {
			p.sample("gantry_agent_task_cpu_units", latest[arn].CpuUsed, "task_arn", arn)
		}
		p.family("gantry_agent_task_memory_bytes", "gauge", "Memory each task used at the last sample, without reclaimable page cache.")
		for _, arn := range arns {
			p.sample("gantry_agent_task_memory_bytes", latest[arn].MemoryUsedMiB*(1<<20), "task_arn", arn)
		}
	}

	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	p.family("go_goroutines", "gauge", "Number of goroutines that currently exist.")
	p.sample("go_goroutines", float64(goruntime.NumGoroutine()))
	p.family("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.")
	p.sample("go_memstats_heap_alloc_bytes", float64(ms.HeapAlloc))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		p.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
		p.sample("process_cpu_seconds_total", float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
		p.family("process_max_resident_memory_bytes", "gauge", "Peak resident memory of the process in bytes.")
		p.sample("process_max_resident_memory_bytes", float64(ru.Maxrss)*1024)
	}
	if p.err != nil {
		return p.err
	}
	return bw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// promWriter writes the Prometheus text format.
type promWriter struct {
	w   *bufio.Writer
	err error
}

func (p *promWriter) family(name, typ, help string) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (p *promWriter) sample(name string, v float64, labels ...string) {
	if p.err != nil {
		return
	}
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	_, p.err = p.w.WriteString(b.String())
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }
