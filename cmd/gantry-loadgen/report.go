package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// sectionTitle is the heading of the section -write replaces; keptTitle
// the heading of its hand-written subsection, carried over.
const (
	sectionTitle = "## Scheduler: placement at scale"
	keptTitle    = "### Where the time goes"
)

// Goal of the issue.
const (
	goalTasks     = 100000
	goalInstances = 5000
	goalSeconds   = 10
)

// result is everything a run measured.
type result struct {
	Date          time.Time
	Machine       machine
	Cfg           config
	RunID         string
	Cluster       string
	StartedServer bool
	ServerPID     int

	Registration registration
	Placement    *placement
	Checked      bool // Listing and Census were taken
	Listing      listing
	Census       census
	Ack          *acknowledgement
	AckCensus    *census // after the acknowledgement
	// Heartbeat covers registration and placement (with -heartbeat).
	Heartbeat *heartbeatStats
	Retried   map[string]int // every retried call, by operation and code

	MemoryAfterPlacement *memory
	Memory               *memory       // at the end
	ServerCPU            time.Duration // the server's whole life, at the end
	Perf                 string        // perf data file
	LoadEnd              string
}

// problems lists what went wrong: tasks not placed, checks that failed.
func (r *result) problems() []string {
	var out []string
	p := r.Placement
	if p == nil {
		return []string{"no placement"}
	}
	if p.Placed != p.Requested {
		out = append(out, fmt.Sprintf("%d of %d tasks placed (%d refused by RunTask, %d in calls that failed)", p.Placed, p.Requested, p.Unplaced, p.Failed))
	}
	if !r.Checked {
		return append(out, "the run ended before its checks")
	}
	l := r.Listing
	if l.Listed != p.Placed || l.Missing > 0 || l.Extra > 0 {
		out = append(out, fmt.Sprintf("ListTasks lists %d tasks of the run, RunTask returned %d (%d of those missing, %d listed but never returned)", l.Listed, p.Placed, l.Missing, l.Extra))
	}
	check := func(when string, c *census, wantRunning bool) {
		if c.Instances != r.Registration.Instances {
			out = append(out, fmt.Sprintf("%s: %d instances described, %d registered", when, c.Instances, r.Registration.Instances))
		}
		if c.Pending+c.Running != p.Placed {
			out = append(out, fmt.Sprintf("%s: the instances count %d tasks, RunTask returned %d", when, c.Pending+c.Running, p.Placed))
		}
		if c.Overcommitted > 0 || c.Inconsistent > 0 || c.Mismatched > 0 {
			out = append(out, fmt.Sprintf("%s: %d instances over-committed, %d with remaining resources not matching their tasks, %d with other tasks than RunTask returned", when, c.Overcommitted, c.Inconsistent, c.Mismatched))
		}
		if wantRunning && c.Running != p.Placed {
			out = append(out, fmt.Sprintf("%s: %d tasks RUNNING of %d placed", when, c.Running, p.Placed))
		}
	}
	check("after placement", &r.Census, false)
	if r.AckCensus != nil {
		check("after acknowledgement", r.AckCensus, true)
	}
	return out
}

// fullSeconds are the per-second rates of the whole seconds of the run (the
// last, partial second left out when there is more than one).
func (p *placement) fullSeconds() []second {
	s := p.Seconds
	if len(s) > 1 && s[len(s)-1].Span < 900*time.Millisecond {
		s = s[:len(s)-1]
	}
	return s
}

// Rate is the tasks placed a second over the whole placement.
func (p *placement) Rate() float64 {
	if p.Duration <= 0 {
		return 0
	}
	return float64(p.Placed) / p.Duration.Seconds()
}

// halfRates are the tasks a second of the first and the second half of
// the tasks placed.
func (p *placement) halfRates() (first, second float64) {
	if p.HalfAt <= 0 || p.HalfAt >= p.Duration {
		return 0, 0
	}
	half := float64(p.Placed) / 2
	return half / p.HalfAt.Seconds(), half / (p.Duration - p.HalfAt).Seconds()
}

// rateRange is the lowest and highest per-second rate of the full seconds.
func (p *placement) rateRange() (lo, hi float64) {
	for i, s := range p.fullSeconds() {
		r := s.Rate()
		if i == 0 || r < lo {
			lo = r
		}
		hi = max(hi, r)
	}
	return lo, hi
}

// text is the report printed at the end of a run.
func (r *result) text() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p := r.Placement
	w("")
	w("gantry-loadgen %s: cluster %s", r.Date.Format(time.RFC3339), r.Cluster)
	w("machine: %s, %d cores, %s memory, Linux %s, %s; load average %s at start, %s at end",
		r.Machine.CPU, r.Machine.Cores, gib(r.Machine.Memory), r.Machine.Kernel, r.Machine.Go, r.Machine.LoadStart, r.LoadEnd)
	w("registered %d instances in %.2fs (%.0f/s; p50 %v p99 %v)", r.Registration.Instances, r.Registration.Duration.Seconds(),
		float64(r.Registration.Instances)/r.Registration.Duration.Seconds(), ms(r.Registration.Latency.P50), ms(r.Registration.Latency.P99))
	if p == nil {
		return b.String()
	}
	w("placed %d of %d tasks in %.2fs: %.0f tasks/s (strategy %s, %d callers, count %d)",
		p.Placed, p.Requested, p.Duration.Seconds(), p.Rate(), r.Cfg.Strategy, r.Cfg.Concurrency, r.Cfg.Count)
	lo, hi := p.rateRange()
	h1, h2 := p.halfRates()
	w("per-second rates (tasks/s): %s; full seconds %.0f to %.0f; first half of the tasks %.0f/s, second half %.0f/s", rateList(p.Seconds), lo, hi, h1, h2)
	w("RunTask: %d calls, %d attempts; latency p50 %v p99 %v max %v", p.Calls, p.Latency.N, ms(p.Latency.P50), ms(p.Latency.P99), ms(p.Latency.Max))
	w("refused by RunTask: %d tasks (failures[] entries by reason: %s); calls failed: %s; retried: %s", p.Unplaced, counts(p.Reasons), counts(p.Errors), counts(r.Retried))
	if r.ServerPID != 0 {
		w("server threads waited %.2fs runnable for a CPU during placement (%.2f cores' worth)", p.ServerWait.Seconds(), p.ServerWait.Seconds()/p.Duration.Seconds())
		w("server CPU during placement: %.2f core-seconds (%.0f us a task, %.2f cores); load generator %.2f core-seconds; the CPU allows %d tasks/s on %d cores (%d with the load generator's)",
			p.ServerCPU.Seconds(), perTask(p.ServerCPU, p.Placed), p.ServerCPU.Seconds()/p.Duration.Seconds(), p.SelfCPU.Seconds(),
			cpuRate(p.ServerCPU, p.Placed, r.Machine.Cores), r.Machine.Cores, cpuRate(p.ServerCPU+p.SelfCPU, p.Placed, r.Machine.Cores))
	} else {
		w("load generator CPU during placement: %.2f core-seconds", p.SelfCPU.Seconds())
	}
	if m := r.MemoryAfterPlacement; m != nil {
		w("server memory after placement: VmRSS %s, VmHWM %s", mib(m.RSS), mib(m.HWM))
	}
	if !r.Checked {
		w("checks: not run")
		return b.String()
	}
	l := r.Listing
	w("ListTasks (startedBy %s): %d tasks in %d pages (%.1fs); missing %d, extra %d", r.RunID, l.Listed, l.Pages, l.Duration.Seconds(), l.Missing, l.Extra)
	w("DescribeContainerInstances: %s", r.Census.summary())
	if a := r.Ack; a != nil {
		w("acknowledged %d tasks RUNNING in %.2fs (%.0f/s; %d polls; GantrySubmitTaskState p50 %v p99 %v max %v); errors %s",
			a.Acked, a.Duration.Seconds(), float64(a.Acked)/a.Duration.Seconds(), a.Polls, ms(a.Latency.P50), ms(a.Latency.P99), ms(a.Latency.Max), counts(a.Errors))
		w("after acknowledgement: %s", r.AckCensus.summary())
	}
	if st := r.Heartbeat; st != nil {
		w("heartbeats during registration and placement: %d polls (p50 %v p99 %v), errors %s; %d slots skipped (previous poll still queued); latest start %v after its slot; longest silence of an instance %v; %d instances silent above %v at least once",
			st.Polls, ms(st.Latency.P50), ms(st.Latency.P99), counts(st.Errors), st.Skipped, ms(st.MaxLag), ms(st.MaxGap), st.Lapsed, agentTTL)
	}
	if m := r.Memory; m != nil {
		w("server at the end: VmRSS %s, VmHWM %s, CPU %.1f core-seconds since it started", mib(m.RSS), mib(m.HWM), r.ServerCPU.Seconds())
	}
	if r.Perf != "" {
		w("server CPU profile of the placement: perf report -i %s", r.Perf)
	}
	if probs := r.problems(); len(probs) > 0 {
		w("checks: FAILED")
		for _, s := range probs {
			w("  - %s", s)
		}
	} else {
		w("checks: passed (every task RunTask returned is written, listed once and counted on its instance; no instance over-committed)")
	}
	return b.String()
}

func (c *census) summary() string {
	return fmt.Sprintf("%d instances (%d disconnected; the heartbeats end with the placement), %d tasks pending, %d running, %d to %d an instance, by zone %s; over-committed %d, inconsistent %d, mismatched %d (%.1fs)",
		c.Instances, c.Disconnected, c.Pending, c.Running, c.MinTasks, c.MaxTasks, counts(c.Zones), c.Overcommitted, c.Inconsistent, c.Mismatched, c.Duration.Seconds())
}

// markdown is the section of docs/performance.md for this run.
func (r *result) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p := r.Placement
	w("%s", sectionTitle)
	w("")
	w("Goal (issue): place %s tasks on %s container instances in at most", num(goalTasks), num(goalInstances))
	w("%d seconds on 2 cores, through the real API, every task durably written:", goalSeconds)
	w("%s tasks a second, at a near-constant rate from the first task to the", num(goalTasks/goalSeconds))
	w("last. Peers:")
	w("Nomad's Million Container Challenge (C1M, 2016) placed 1,000,000 containers")
	w("on 5,000 hosts with five servers at 3,750 containers a second")
	w("(<https://www.hashicorp.com/c1m>); the Kubernetes scheduler places hundreds")
	w("of pods a second.")
	w("")
	w("### How to reproduce")
	w("")
	w("```")
	w("%s", commandLine(r.Cfg.Args))
	w("```")
	w("")
	w("`cmd/gantry-loadgen` builds `gantry`, starts `gantry server` on a loopback")
	w("port (embedded etcd in a temporary directory), registers the instances")
	w("through `RegisterContainerInstance` (CPU %d, MEMORY %d, zone attribute", instanceCPU, instanceMemory)
	w("`ecs.availability-zone` round-robin over %d zones), keeps each connected as an", r.Cfg.AZ)
	w("agent does (one heartbeat per instance every 5 s, spread evenly: a")
	w("`GantryPollTasks` with the revision of its previous answer and `omitTasks`),")
	w("and places the tasks (one task definition: one container, cpu %d, memory", taskCPU)
	w("%d, no host ports) with `RunTask` of count %d from %d concurrent callers.", taskMemory, r.Cfg.Count, r.Cfg.Concurrency)
	w("It prints the rate every second, then checks through the API that")
	w("`ListTasks` lists exactly the tasks `RunTask` returned and that")
	w("`DescribeContainerInstances` counts each on its instance, with no instance")
	w("over-committed. `-ack` then makes the simulated agents poll once and report")
	w("every task RUNNING. `-strategy binpack|spread` adds a placement strategy;")
	w("`-server URL` drives a running server; `-perf FILE` records a CPU profile")
	w("of the server with `perf record -g`. `go doc ./cmd/gantry-loadgen` has the rest.")
	w("")
	w("### Machine")
	w("")
	w("%s, %d cores,", r.Machine.CPU, r.Machine.Cores)
	w("%s of memory, Linux %s, %s, GOMAXPROCS %d. The load generator runs on the", gib(r.Machine.Memory), r.Machine.Kernel, r.Machine.Go, r.Machine.GOMAXPROCS)
	w("same cores as the server (its CPU is reported below). Load average")
	w("(1, 5, 15 minutes) %s at the start, %s at the end.", r.Machine.LoadStart, r.LoadEnd)
	w("")
	w("### Results")
	w("")
	if p == nil {
		w("The run did not place tasks.")
		return b.String()
	}
	w("Run of %s UTC, strategy `%s`.", r.Date.Format("2006-01-02 15:04"), r.Cfg.Strategy)
	w("")
	w("| measure | Gantry | goal / peers |")
	w("| --- | ---: | --- |")
	w("| tasks placed, durably written | %s of %s on %s instances | %s on %s |", num(p.Placed), num(p.Requested), num(r.Registration.Instances), num(goalTasks), num(goalInstances))
	w("| time, first `RunTask` sent to last answered | %.2f s | at most %d s |", p.Duration.Seconds(), goalSeconds)
	w("| tasks placed a second | **%s** | %s (goal); Nomad C1M 3,750 (five servers); Kubernetes: hundreds |", num(int(p.Rate()+0.5)), num(goalTasks/goalSeconds))
	lo, hi := p.rateRange()
	w("| per-second rate, lowest to highest full second | %s to %s | near-constant |", num(int(lo+0.5)), num(int(hi+0.5)))
	h1, h2 := p.halfRates()
	w("| rate of the first and of the second half of the tasks | %s; %s | near-constant |", num(int(h1+0.5)), num(int(h2+0.5)))
	w("| `RunTask` latency (count %d): p50 / p99 / max | %s / %s / %s ms | |", r.Cfg.Count, msf(p.Latency.P50), msf(p.Latency.P99), msf(p.Latency.Max))
	w("| `RunTask` calls; retried; failed | %s; %s; %s | |", num(p.Calls), num(sumRunTask(r.Retried)), num(sumCounts(p.Errors)))
	w("| tasks refused by `RunTask` (`failures[]` entries by reason) | %s (%s) | 0 |", num(p.Unplaced), counts(p.Reasons))
	if r.ServerPID != 0 {
		w("| server CPU during placement | %.1f core-s (%.0f us a task, %.2f cores busy) | |", p.ServerCPU.Seconds(), perTask(p.ServerCPU, p.Placed), p.ServerCPU.Seconds()/p.Duration.Seconds())
		w("| server threads runnable but waiting for a CPU (taken by other processes) | %.1f s (%.2f cores' worth) | |", p.ServerWait.Seconds(), p.ServerWait.Seconds()/p.Duration.Seconds())
	}
	w("| load generator CPU during placement | %.1f core-s (%.2f cores) | |", p.SelfCPU.Seconds(), p.SelfCPU.Seconds()/p.Duration.Seconds())
	if r.ServerPID != 0 && p.Placed > 0 {
		w("| rate the measured CPU allows on %d cores: server alone; server and load generator | %s; %s tasks a second | %s |",
			r.Machine.Cores, num(cpuRate(p.ServerCPU, p.Placed, r.Machine.Cores)), num(cpuRate(p.ServerCPU+p.SelfCPU, p.Placed, r.Machine.Cores)), num(goalTasks/goalSeconds))
	}
	if m := r.MemoryAfterPlacement; m != nil {
		w("| server memory after placement: VmRSS / VmHWM | %s / %s | |", mib(m.RSS), mib(m.HWM))
	}
	if m := r.Memory; m != nil {
		w("| server memory at the end: VmRSS / VmHWM | %s / %s | |", mib(m.RSS), mib(m.HWM))
	}
	w("| instances registered | %s in %.1f s (%s a second) | |", num(r.Registration.Instances), r.Registration.Duration.Seconds(), num(int(float64(r.Registration.Instances)/r.Registration.Duration.Seconds()+0.5)))
	if h := r.Heartbeat; h != nil {
		w("| heartbeats (`GantryPollTasks`) until placement ended: polls (of %s asked), p99, longest silence of an instance | %s, %s ms, %.1f s (%s instances silent above the 10 s TTL at least once) | every instance every 5 s |",
			num(h.Polls+h.Skipped), num(h.Polls), msf(h.Latency.P99), h.MaxGap.Seconds(), num(h.Lapsed))
	}
	if a := r.Ack; a != nil {
		w("| acknowledged RUNNING (`-ack`), after placement | %s in %.1f s (%s a second; p99 %s ms) | |", num(a.Acked), a.Duration.Seconds(), num(int(float64(a.Acked)/a.Duration.Seconds()+0.5)), msf(a.Latency.P99))
	}
	w("")
	w("%s", r.verdict())
	w("")
	rows, merged := bucket(p.Seconds, maxRows)
	if merged > 1 {
		w("Every %d seconds (the last row ends with the partial last second; p99 is the worst second's):", merged)
	} else {
		w("Second by second (the last row is the partial last second):")
	}
	w("")
	w("| until second | tasks placed | tasks a second | `RunTask` p99 ms | server cores | server waiting for a CPU, cores | server VmRSS | load generator cores |")
	w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var at time.Duration
	for _, s := range rows {
		at += s.Span
		srv, wait, rss := "", "", ""
		if r.ServerPID != 0 {
			srv, wait, rss = fmt.Sprintf("%.2f", s.ServerCPU), fmt.Sprintf("%.2f", s.ServerWait), mib(s.ServerRSS)
		}
		w("| %.1f | %s | %s | %s | %s | %s | %s | %.2f |", at.Seconds(), num(s.Tasks), num(int(s.Rate()+0.5)), msf(s.P99), srv, wait, rss, s.SelfCPU)
	}
	w("")
	w("Checks through the API after the run:")
	w("")
	l := r.Listing
	w("- `ListTasks` (startedBy the run, %s pages of 100): %s tasks; returned by", num(l.Pages), num(l.Listed))
	w("  `RunTask` but not listed: %d; listed but never returned: %d.", l.Missing, l.Extra)
	c := r.Census
	w("- `DescribeContainerInstances` (%s instances): %s tasks counted on", num(c.Instances), num(c.Pending+c.Running))
	w("  them; %d to %d an instance; by zone %s; over-committed: %d;", c.MinTasks, c.MaxTasks, counts(c.Zones), c.Overcommitted)
	w("  remaining resources not equal to registered minus tasks: %d; task count", c.Inconsistent)
	w("  not the one `RunTask` returned: %d.", c.Mismatched)
	if ac := r.AckCensus; ac != nil {
		w("- After `-ack`: %s tasks RUNNING, %s pending.", num(ac.Running), num(ac.Pending))
	}
	if probs := r.problems(); len(probs) > 0 {
		w("- **Failed**: %s.", strings.Join(probs, "; "))
	}
	return b.String()
}

// verdict says how the run compares with the goal.
func (r *result) verdict() string {
	p := r.Placement
	rate := p.Rate()
	lo, hi := p.rateRange()
	shape := fmt.Sprintf("the full seconds ran at %s to %s tasks a second", num(int(lo+0.5)), num(int(hi+0.5)))
	if p.Requested != goalTasks || r.Registration.Instances != goalInstances {
		return fmt.Sprintf("This run is smaller than the goal's (%s tasks on %s instances): %s tasks a second, %.0f%% of the goal's rate; %s.",
			num(goalTasks), num(goalInstances), num(int(rate+0.5)), 100*rate/(goalTasks/goalSeconds), shape)
	}
	if p.Placed == p.Requested && p.Duration <= goalSeconds*time.Second && len(r.problems()) == 0 {
		return fmt.Sprintf("Goal met: %s tasks in %.1f s, %s tasks a second (%.1fx Nomad's C1M rate); %s.",
			num(p.Placed), p.Duration.Seconds(), num(int(rate+0.5)), rate/3750, shape)
	}
	return fmt.Sprintf("Goal not met: %s of %s tasks in %.1f s, %s tasks a second, %.0f%% of the goal's rate (%.1fx Nomad's C1M rate); %s.",
		num(p.Placed), num(p.Requested), p.Duration.Seconds(), num(int(rate+0.5)), 100*rate/(goalTasks/goalSeconds), rate/3750, shape)
}

// maxRows bounds the per-second table of the section.
const maxRows = 40

// bucket merges consecutive seconds k at a time so that at most rows
// remain, returning them and k. Rates and cores are averaged over the
// merged time; p99 is the worst of the seconds; RSS the last.
func bucket(ss []second, rows int) ([]second, int) {
	k := (len(ss) + rows - 1) / rows
	if k <= 1 {
		return ss, 1
	}
	var out []second
	for i := 0; i < len(ss); i += k {
		var m second
		for _, s := range ss[i:min(i+k, len(ss))] {
			m.ServerCPU += s.ServerCPU * s.Span.Seconds()
			m.SelfCPU += s.SelfCPU * s.Span.Seconds()
			m.ServerWait += s.ServerWait * s.Span.Seconds()
			m.Span += s.Span
			m.Tasks += s.Tasks
			m.Calls += s.Calls
			m.P99 = max(m.P99, s.P99)
			m.ServerRSS = s.ServerRSS
		}
		m.ServerCPU /= m.Span.Seconds()
		m.SelfCPU /= m.Span.Seconds()
		m.ServerWait /= m.Span.Seconds()
		out = append(out, m)
	}
	return out, k
}

// writeSection replaces the section sectionTitle of the markdown file path
// with body (appending it when missing, creating the file when it does not
// exist), keeping the section's subsection keptTitle if it has one. Other
// sections are left byte for byte.
func writeSection(path, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	info, statErr := os.Stat(path)
	out := spliceSection(string(old), body)
	mode := fs.FileMode(0o644)
	if statErr == nil {
		mode = info.Mode().Perm()
	}
	tmp := path + ".loadgen.tmp"
	if err := os.WriteFile(tmp, []byte(out), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// spliceSection puts body in place of doc's section sectionTitle, which
// runs to the next level-2 heading or the end; see writeSection.
func spliceSection(doc, body string) string {
	body = strings.TrimRight(body, "\n") + "\n"
	start := headingAt(doc, sectionTitle, 0)
	if start < 0 {
		if doc == "" {
			return body
		}
		return strings.TrimRight(doc, "\n") + "\n\n" + body
	}
	end := nextHeading(doc, "## ", start+len(sectionTitle))
	if kept := keptPart(doc[start:end]); kept != "" {
		body += "\n" + kept
	}
	rest := doc[end:]
	if rest != "" {
		body += "\n"
	}
	return doc[:start] + body + rest
}

// keptPart is the subsection keptTitle of section, to its next level-2 or
// level-3 heading, without trailing blank lines; "" if there is none.
func keptPart(section string) string {
	i := headingAt(section, keptTitle, 0)
	if i < 0 {
		return ""
	}
	end := min(nextHeading(section, "## ", i+len(keptTitle)), nextHeading(section, "### ", i+len(keptTitle)))
	return strings.TrimRight(section[i:end], "\n") + "\n"
}

// headingAt is the offset of the line that is exactly title, from offset
// from, or -1. Lines inside fenced code blocks do not count.
func headingAt(doc, title string, from int) int {
	for off, line := range lines(doc, from) {
		if strings.TrimRight(line, " \r") == title {
			return off
		}
	}
	return -1
}

// nextHeading is the offset of the next line starting with prefix after
// offset from (outside code blocks), or len(doc).
func nextHeading(doc, prefix string, from int) int {
	for off, line := range lines(doc, from) {
		if off > from && strings.HasPrefix(line, prefix) {
			return off
		}
	}
	return len(doc)
}

// lines yields the offset and text of each line of doc that starts at or
// after from, skipping fenced code blocks.
func lines(doc string, from int) func(func(int, string) bool) {
	return func(yield func(int, string) bool) {
		fenced := false
		for off := 0; off < len(doc); {
			end := strings.IndexByte(doc[off:], '\n')
			next := len(doc)
			if end >= 0 {
				next = off + end + 1
			} else {
				end = len(doc) - off
			}
			line := doc[off : off+end]
			if strings.HasPrefix(line, "```") {
				fenced = !fenced
			} else if !fenced && off >= from && !yield(off, line) {
				return
			}
			off = next
		}
	}
}

// Formatting helpers.

func ms(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func msf(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return num(int(v + 0.5))
}

func gib(b int64) string { return fmt.Sprintf("%.0f GiB", float64(b)/(1<<30)) }

// cpuRate is the tasks a second cores could place if placing n tasks costs
// d of CPU and nothing else limits it.
func cpuRate(d time.Duration, n, cores int) int {
	if d <= 0 {
		return 0
	}
	return int(float64(n)*float64(cores)/d.Seconds() + 0.5)
}

func perTask(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// num writes n with thousands separators.
func num(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// counts formats a tally: "none", or "A 3, B 1".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %s", k, num(m[k])))
	}
	return strings.Join(parts, ", ")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sumRunTask(m map[string]int) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, "RunTask ") {
			n += v
		}
	}
	return n
}

// rateList is the per-second rates, comma-separated.
func rateList(ss []second) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%.0f", s.Rate())
	}
	return strings.Join(parts, ", ")
}
