package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// sectionTitle is the heading of the report's section in docs/performance.md.
const sectionTitle = "## Logs: awslogs throughput"

// findingsTitle starts a hand-written subsection that -write keeps at the
// end of the section.
const findingsTitle = "### Findings"

// Goals of issue 12.
const (
	goalEventsPerSec = 100_000
	goalAgentShare   = 0.05
	goalRead         = time.Second
	goalVisible      = 2 * time.Second
)

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// perK is CPU milliseconds per 1,000 events.
func perK(c time.Duration, n int64) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", float64(c)/float64(time.Millisecond)/float64(n)*1000)
}

func share(c, window time.Duration) string {
	return fmt.Sprintf("%.2f%%", 100*float64(c)/float64(window))
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**NOT met**"
}

func format(o options, r *results) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	f, full, st, rd := r.floor, r.full, r.steady, r.reads
	w("%s\n\n", sectionTitle)
	w("Goals (issue 12): at least %d events a second from containers through the\n", goalEventsPerSec)
	w("agent and the server into the log store on 2 cores (100-byte lines, 20\n")
	w("containers); the agent under %.0f%% of a core at 1,000 lines a second;\n", goalAgentShare*100)
	w("GetLogEvents of 10,000 events and FilterLogEvents over 1,000,000 events each\n")
	w("under %v; container print to visible under %v. Beside them, the floor: the\n", goalRead, goalVisible)
	w("same containers writing the same lines to Docker's `local` log driver with\n")
	w("nobody reading them, in the same run.\n\n")
	w("### How to reproduce\n\n```\ngo run ./cmd/gantry-logbench -write docs/performance.md\n```\n\n")
	w("(This run: `gantry-logbench %s`.) The benchmark runs the server's code\n", strings.Join(o.args, " "))
	w("(`gantry server`: embedded etcd, the ECS and CloudWatch Logs APIs, the\n")
	w("Pebble log store) and the agent's (`gantry-agent`) as two child processes\n")
	w("of its own binary, and reads their CPU time, and dockerd's, from\n")
	w("/proc/PID/stat. The test image's `app flood N RATE SIZE [FOR]` prints\n")
	w("numbered lines of %d bytes; all containers of a phase start printing at\n", o.size)
	w("the same instant (START_AT), once all are running, so that container\n")
	w("starts are outside the measured window, and stop at the same instant.\n")
	w("Phases:\n\n")
	w("1. **Floor**: %d containers made with the Docker API, log driver `local`\n", o.containers)
	w("   (20m x 5 files, what the agent gives awslogs containers), printing as\n")
	w("   fast as stdout takes them for %v; lines a second, dockerd's CPU.\n", o.duration)
	w("2. **Full rate**: the same as %d awslogs tasks (RunTask through the ECS\n", o.containers)
	w("   API). Events a second into the store = lines printed / (time from the\n")
	w("   start until the last one is stored, polled with DescribeLogGroups'\n")
	w("   storedBytes). Then every stream is read back with GetLogEvents and\n")
	w("   checked: lines 1..N, each once, in order.\n")
	w("3. **Steady**: %d lines a second in all (%d per container) for %v: the\n", o.steadyRate, o.steadyRate/o.containers, o.steadyDuration)
	w("   agent's and the server's share of a core over the printing, and\n")
	w("   print-to-stored latency: ingestionTime - timestamp of every event\n")
	w("   (timestamp is when dockerd read the line, ingestionTime when the\n")
	w("   server stored it; a `logs tail --follow` sees it at its next poll).\n")
	w("4. **Reads**: %d events put with PutLogEvents (as many a call as fit in 1 MiB) into %d\n", rd.putEvents, readStreams)
	w("   streams of one group; GetLogEvents of 10,000 events from a stream's\n")
	w("   head, and FilterLogEvents of `%s` over the whole group (%d matches),\n", rd.filterPattern, rd.filterMatched)
	w("   all pages, each %d times through the SDK.\n\n", readReps)
	w("### Machine\n\n%s. Load average %s at the start, %s at the end: other\n", r.machine, r.loadStart, r.loadEnd)
	w("work may share the machine, and the containers, dockerd, the agent and\n")
	w("the server all share its cores.\n\n")

	w("### Results\n\nRun of %s.\n\n", r.date.Format("2006-01-02 15:04 UTC"))
	w("| %d containers, %d-byte lines | lines/s printed | events/s stored | dockerd CPU / 1k lines | agent CPU / 1k | server CPU / 1k |\n", o.containers, o.size)
	w("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	w("| Docker `local` driver alone (floor) | %.0f | - | %s | - | - |\n", perSec(f.lines, f.window), perK(f.dockerd, f.lines))
	w("| **Gantry awslogs, full rate** | %.0f | **%.0f** | %s | %s | %s |\n", perSec(full.printed, full.printWindow), perSec(full.printed, full.drain),
		perK(full.cpuAll.dockerd, full.printed), perK(full.cpuAll.agent, full.printed), perK(full.cpuAll.server, full.printed))
	w("| Gantry awslogs, steady %d lines/s | %.0f | %.0f | %s | %s | %s |\n\n", o.steadyRate, perSec(st.printed, st.printWindow), perSec(st.printed, st.printWindow),
		perK(st.cpuPrint.dockerd, st.printed), perK(st.cpuPrint.agent, st.printed), perK(st.cpuPrint.server, st.printed))
	w("Full rate: %d lines printed in %v, %d of them stored by the end of\n", full.printed, full.printWindow, full.storedInWindow)
	w("the printing, the last one %v after the start.\n", full.drain.Round(time.Millisecond))
	w("CPU over that time: agent %v (%s of a core), server %v (%s),\n", full.cpuAll.agent, share(full.cpuAll.agent, full.drain),
		full.cpuAll.server, share(full.cpuAll.server, full.drain))
	w("dockerd %v (%s). Completeness: %d streams read back, %d events stored\n", full.cpuAll.dockerd, share(full.cpuAll.dockerd, full.drain), full.streams, full.stored)
	w("of %d printed: %s.\n", full.printed, completeness(full))
	w("Print-to-stored latency under this load (a backlog): p50 %s, p99 %s, max %s.\n\n", ms(full.lat.p50), ms(full.lat.p99), ms(full.lat.max))
	w("Steady: %d lines in %v; agent %v of CPU (%s of a core),\n", st.printed, st.printWindow, st.cpuPrint.agent, share(st.cpuPrint.agent, st.printWindow))
	w("server %v (%s), dockerd %v (%s).\n", st.cpuPrint.server, share(st.cpuPrint.server, st.printWindow), st.cpuPrint.dockerd, share(st.cpuPrint.dockerd, st.printWindow))
	w("Completeness: %s. Print-to-stored latency over %d events:\n", completeness(st), st.lat.n)
	w("p50 %s, p99 %s, max %s.\n\n", ms(st.lat.p50), ms(st.lat.p99), ms(st.lat.max))
	w("Reads: PutLogEvents took %v for %d events (%.0f events/s, one client).\n", rd.put.Round(time.Millisecond), rd.putEvents, perSec(int64(rd.putEvents), rd.put))
	w("GetLogEvents of %d events (%d calls: a response holds at most 1 MiB):\n", rd.getEvents, rd.getCalls)
	w("median %s, max %s. FilterLogEvents over %d events (%d responses):\n", ms(median(rd.get)), ms(maxOf(rd.get)), rd.filterScanned, rd.filterResponses)
	w("median %s, max %s.\n\n", ms(median(rd.filter)), ms(maxOf(rd.filter)))

	agentShare := float64(st.cpuPrint.agent) / float64(st.printWindow)
	w("| goal | measured | verdict |\n| --- | --- | --- |\n")
	w("| >= %d events/s into the store | %.0f events/s (floor: Docker alone writes %.0f lines/s) | %s |\n", goalEventsPerSec,
		perSec(full.printed, full.drain), perSec(f.lines, f.window), verdict(perSec(full.printed, full.drain) >= goalEventsPerSec))
	w("| agent < %.0f%% of a core at %d lines/s | %.2f%% (server %s) | %s |\n", goalAgentShare*100, o.steadyRate, 100*agentShare,
		share(st.cpuPrint.server, st.printWindow), verdict(agentShare < goalAgentShare))
	w("| GetLogEvents of 10,000 events < 1 s | %s | %s |\n", ms(maxOf(rd.get)), verdict(maxOf(rd.get) < goalRead))
	w("| FilterLogEvents over %d events < 1 s | %s | %s |\n", rd.filterScanned, ms(maxOf(rd.filter)), verdict(maxOf(rd.filter) < goalRead))
	w("| print to stored < 2 s (p99, steady) | %s | %s |\n", ms(st.lat.p99), verdict(st.lat.p99 < goalVisible))
	w("| every line stored once, in order | full: %s; steady: %s | %s |\n\n", completeness(full), completeness(st),
		verdict(len(full.problems) == 0 && len(st.problems) == 0 && full.stored == full.printed && st.stored == st.printed))
	if f.late > 0 || full.late > 0 || st.late > 0 {
		w("Note: some containers started printing late (floor %v, full %v, steady %v\n", f.late.Round(time.Millisecond), full.late.Round(time.Millisecond), st.late.Round(time.Millisecond))
		w("after the common start): their start's CPU falls in the window.\n\n")
	}
	return b.String()
}

// maxOf is the largest of ds.
func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func completeness(p phaseResult) string {
	if len(p.problems) == 0 && p.stored == p.printed {
		return fmt.Sprintf("every line once, in order (%d streams)", p.streams)
	}
	s := fmt.Sprintf("%d of %d stored", p.stored, p.printed)
	if len(p.problems) > 0 {
		s += "; " + strings.Join(p.problems[:min(3, len(p.problems))], "; ")
	}
	return s
}

// writeSection replaces the report's section in path (up to the next "## "
// heading), keeping its hand-written "### Findings" subsection at its end,
// or appends the report.
func writeSection(path, report string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	if i := strings.Index(doc, sectionTitle+"\n"); i >= 0 {
		end := len(doc)
		if j := strings.Index(doc[i+len(sectionTitle):], "\n## "); j >= 0 {
			end = i + len(sectionTitle) + j + 1
		}
		old := doc[i:end]
		if k := strings.Index(old, findingsTitle+"\n"); k >= 0 {
			report = strings.TrimRight(report, "\n") + "\n\n" + strings.TrimRight(old[k:], "\n") + "\n"
		}
		doc = doc[:i] + report + "\n" + strings.TrimLeft(doc[end:], "\n")
		doc = strings.TrimRight(doc, "\n") + "\n"
	} else {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		doc += report
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
