package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func pct(c, wall time.Duration) string {
	if c < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*c.Seconds()/wall.Seconds())
}

func msPer(c time.Duration, n int) string {
	if c < 0 || n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", float64(c)/float64(time.Millisecond)/float64(n))
}

func format(o options, r *results) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	one, st := r.oneShot, r.stream
	w("%s\n\n", sectionTitle)
	w("Goal (issue 13): the agent's sampling of %d containers' CPU, memory, network and block I/O\n", o.containers)
	w("costs under %.0f%% of a core. Beside it, in the same run: dockerd's cost of answering, and the\n", goalShare*100)
	w("alternative of one stats stream per container.\n\n")
	w("```\ngo run ./cmd/gantry-statsbench -write docs/performance.md\n```\n\n")
	w("(This run: `gantry-statsbench %s`; %s; load average at the start %s; %s.) The\n",
		strings.Join(o.args, " "), r.machine, r.load, r.date.Format("2006-01-02 15:04 UTC"))
	w("containers sleep (`app sleep 1h` of the test image); CPU is this process's (getrusage: the sampler,\n")
	w("the Docker runtime and client, and the shipping: JSON, SigV4 and HTTP to an in-process server that\n")
	w("discards the requests, which also counts) and dockerd's (/proc/PID/stat).\n\n")
	w("| way | span | readings | sampler (agent) CPU | agent CPU per round | dockerd CPU |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	w("| one-shot every %v (the agent's way, `--metrics-interval`) | %v | %d in %d rounds | **%s** of a core | %s | %s of a core (%s per round) |\n",
		o.interval, one.wall.Round(time.Millisecond), one.readings, one.rounds, pct(one.self, one.wall),
		msPer(one.self, one.rounds), pct(one.dockerd, one.wall), msPer(one.dockerd, one.rounds))
	w("| one stream per container (a reading a second each) | %v | %d | %s of a core | n/a | %s of a core |\n\n",
		st.wall.Round(time.Millisecond), st.readings, pct(st.self, st.wall), pct(st.dockerd, st.wall))
	share := one.self.Seconds() / one.wall.Seconds()
	verdict := "met"
	if share >= goalShare {
		verdict = "**NOT met**"
	}
	w("Goal: agent under %.0f%% of a core for %d containers: %s (%.2f%%). %d task figures shipped.\n\n",
		goalShare*100, o.containers, verdict, 100*share, one.shipped)
	return b.String()
}

// writeSection replaces the section of path that starts with sectionTitle
// (up to the next "## " heading) with report, appending it when missing.
func writeSection(path, report string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	start := strings.Index(doc, sectionTitle+"\n")
	if start < 0 {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return os.WriteFile(path, []byte(doc+report), 0o644)
	}
	end := len(doc)
	if i := strings.Index(doc[start+len(sectionTitle):], "\n## "); i >= 0 {
		end = start + len(sectionTitle) + i + 1
	}
	return os.WriteFile(path, []byte(doc[:start]+report+doc[end:]), 0o644)
}
