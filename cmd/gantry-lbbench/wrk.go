package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
)

// result is one subject's measurement.
type result struct {
	name      string
	rate      float64
	p50, p99  time.Duration
	requests  int64
	failed    int64 // socket errors and non-2xx/3xx answers
	cpuPerReq time.Duration
	note      string
	rates     []float64 // each round's
}

// warm sends a few requests so that pools and health checks settle.
func warm(url string) error {
	for range 20 {
		resp, err := http.Get(url)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("warm-up: status %d", resp.StatusCode)
		}
	}
	return nil
}

// runWrk runs wrk against url and measures the CPU time of pid and its
// descendants meanwhile.
func runWrk(ctx context.Context, o options, url string, pid int) (result, error) {
	before := treeCPU(pid)
	out, err := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", o.duration.String(), "--latency", url).CombinedOutput()
	after := treeCPU(pid)
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return result{}, err
	}
	if r.requests > 0 {
		r.cpuPerReq = (after - before) / time.Duration(r.requests)
	}
	return r, nil
}

var (
	reRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reP50      = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)`)
	reP99      = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report.
func parseWrk(out string) (result, error) {
	var r result
	m := reRate.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no rate in wrk's output:\n%s", out)
	}
	r.rate, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	r.p50 = wrkDuration(reP50.FindStringSubmatch(out))
	r.p99 = wrkDuration(reP99.FindStringSubmatch(out))
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.failed += n
		}
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.failed += n
	}
	return r, nil
}

func wrkDuration(m []string) time.Duration {
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit))
}

// treeCPU is the user+system CPU time of pid and every process below it.
func treeCPU(pid int) time.Duration {
	var total time.Duration
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if d, err := benchproc.ProcCPU(p); err == nil {
			total += d
		}
		stack = append(stack, benchproc.ChildPIDs(p)...)
	}
	return total
}

// combine sums a subject's rounds: requests, failures and CPU over all of
// them; the rate and latencies are the median round's (by rate).
func combine(rs []result) result {
	var out result
	var cpu time.Duration
	for _, r := range rs {
		out.requests += r.requests
		out.failed += r.failed
		cpu += r.cpuPerReq * time.Duration(r.requests)
	}
	sorted := append([]result(nil), rs...)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.rate, b.rate) })
	mid := sorted[len(sorted)/2]
	out.rate, out.p50, out.p99 = mid.rate, mid.p50, mid.p99
	for _, r := range rs {
		out.rates = append(out.rates, r.rate)
	}
	if out.requests > 0 {
		out.cpuPerReq = cpu / time.Duration(out.requests)
	}
	return out
}

// printTable prints the results as Markdown.
func printTable(w io.Writer, o options, rs []result) {
	fmt.Fprintf(w, "wrk -t%d -c%d -d%s --latency, %d rounds; %d targets\n\n", o.threads, o.connections, o.duration, o.rounds, o.targets)
	fmt.Fprintln(w, "| subject | requests/s (median round) | each round | p50 | p99 | failed | CPU/request | requests/s the CPU allows on 2 cores |")
	fmt.Fprintln(w, "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		name := r.name
		if r.note != "" {
			name += " (" + r.note + ")"
		}
		var each []string
		for _, x := range r.rates {
			each = append(each, fmt.Sprintf("%.0f", x))
		}
		perCore := 0.0
		if r.cpuPerReq > 0 {
			perCore = 2 / r.cpuPerReq.Seconds()
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %d of %d | %.1f µs | %.0f |\n", name, r.rate, strings.Join(each, ", "),
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.failed, r.requests,
			float64(r.cpuPerReq)/float64(time.Microsecond), perCore)
	}
}
