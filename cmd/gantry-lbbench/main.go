// Command gantry-lbbench measures the load balancer's data plane beside
// HAProxy and nginx proxying to the same backends in the same run, with
// the backends' direct rate as the limit, and then the data plane while a
// target is added or removed every second, counting failed requests:
//
//	go run ./cmd/gantry-lbbench
//
// Each subject is measured once a round, in turn, for -rounds rounds, so
// that a change in what else runs on a shared machine falls on all alike.
//
// It needs wrk, haproxy and nginx on PATH (Debian packages wrk, haproxy,
// nginx-light or nginx; scripts/ensure-deps installs them with
// GANTRY_BENCH_DEPS=1) and prints a Markdown table: requests per second,
// p50 and p99 latency as wrk measures them, failed requests, and CPU time
// per request of the proxy's processes (from /proc). The backends are one
// process of this program serving three ports; Gantry's data plane runs
// in a process of its own (this program again), with a fixed in-memory
// configuration, so its CPU is measured alone like the others'.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backend":
			os.Exit(runBackend(os.Args[2:]))
		case "gantry":
			os.Exit(runGantry(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options of a benchmark run.
type options struct {
	duration    time.Duration
	connections int
	threads     int
	targets     int
	churn       bool
	peers       bool
	rounds      int
	workers     int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gantry-lbbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long wrk runs against each subject each round")
	fs.IntVar(&o.connections, "connections", 64, "wrk's connections (-c)")
	fs.IntVar(&o.threads, "threads", 2, "wrk's threads (-t)")
	fs.IntVar(&o.targets, "targets", 3, "backend ports (targets)")
	fs.BoolVar(&o.churn, "churn", true, "also run Gantry while a target is added or removed every second")
	fs.BoolVar(&o.peers, "peers", true, "run HAProxy and nginx too")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds: each subject is measured once a round, in turn")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "also run Gantry as this many worker processes on one port, as gantry lb --workers (1: not)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	need := []string{"wrk"}
	if o.peers {
		need = append(need, "haproxy", "nginx")
	}
	for _, bin := range need {
		if _, err := exec.LookPath(bin); err != nil {
			fmt.Fprintf(stderr, "gantry-lbbench: %s is not installed (apt-get install wrk haproxy nginx-light, or GANTRY_BENCH_DEPS=1 scripts/ensure-deps)\n", bin)
			return 2
		}
	}
	if err := bench(context.Background(), o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "gantry-lbbench:", err)
		return 1
	}
	return 0
}

// subject is one thing measured: a URL and the process whose CPU counts.
type subject struct {
	name string
	url  string
	pid  int
	note func() string
}

// bench starts every subject, measures them in turn, round after round
// (so that a change in what else runs on the machine falls on all of
// them alike), and prints the table.
func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "gantry-lbbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend, lines, err := startChild(ctx, stderr, self, "backend", "-ports", fmt.Sprint(o.targets))
	if err != nil {
		return fmt.Errorf("start the backends: %w", err)
	}
	defer stopChild(backend)
	targets := strings.Fields(<-lines)
	if len(targets) != o.targets {
		return fmt.Errorf("backends said %q", targets)
	}
	subjects := []subject{{name: "direct (one backend, the limit)", url: "http://" + targets[0] + "/", pid: backend.Process.Pid}}
	var stops []func()

	startGantry := func(name string, extra ...string) error {
		port, err := freePort()
		if err != nil {
			return err
		}
		args := append([]string{"gantry", "-port", fmt.Sprint(port), "-targets", strings.Join(targets, ",")}, extra...)
		g, glines, err := startChild(ctx, stderr, self, args...)
		if err != nil {
			return fmt.Errorf("start gantry: %w", err)
		}
		if _, ok := <-glines; !ok {
			return errors.New("gantry did not start")
		}
		sub := subject{name: name, url: fmt.Sprintf("http://127.0.0.1:%d/", port), pid: g.Process.Pid}
		if len(extra) > 0 && extra[0] == "-churn" {
			sub.note = func() string {
				_ = g.Process.Signal(os.Interrupt)
				return <-glines
			}
		}
		subjects = append(subjects, sub)
		stops = append(stops, func() { stopChild(g) })
		return nil
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	if err := startGantry("Gantry, one process (the data plane of gantry server)"); err != nil {
		return err
	}
	if o.workers > 1 {
		if err := startGantry(fmt.Sprintf("Gantry, %d workers (gantry lb --workers %d)", o.workers, o.workers), "-workers", strconv.Itoa(o.workers)); err != nil {
			return err
		}
	}
	if o.peers {
		for _, alb := range []bool{false, true} {
			suffix := ""
			if alb {
				suffix = " adding ALB's request headers"
			}
			hp, err := startHAProxy(ctx, dir, targets, alb)
			if err != nil {
				return err
			}
			stops = append(stops, func() { stopChild(hp.cmd) })
			subjects = append(subjects, subject{name: "HAProxy " + version("haproxy", "-v") + suffix, url: fmt.Sprintf("http://127.0.0.1:%d/", hp.port), pid: hp.cmd.Process.Pid})
			ng, err := startNginx(ctx, dir, targets, alb)
			if err != nil {
				return err
			}
			stops = append(stops, func() { stopChild(ng.cmd) })
			subjects = append(subjects, subject{name: "nginx " + version("nginx", "-v") + suffix, url: fmt.Sprintf("http://127.0.0.1:%d/", ng.port), pid: ng.cmd.Process.Pid})
		}
	}
	if o.churn {
		if err := startGantry("Gantry while a target changes every second", "-churn", "1s"); err != nil {
			return err
		}
	}
	for _, sub := range subjects {
		if err := warm(sub.url); err != nil {
			return fmt.Errorf("%s: %w", sub.name, err)
		}
	}
	runs := make([][]result, len(subjects))
	for round := range o.rounds {
		for i, sub := range subjects {
			fmt.Fprintf(stderr, "gantry-lbbench: round %d: %s: wrk %s\n", round+1, sub.name, o.duration)
			r, err := runWrk(ctx, o, sub.url, sub.pid)
			if err != nil {
				return fmt.Errorf("%s: %w", sub.name, err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	var results []result
	for i, sub := range subjects {
		r := combine(runs[i])
		r.name = sub.name
		if sub.note != nil {
			r.note = sub.note()
		}
		results = append(results, r)
	}
	printTable(stdout, o, results)
	return nil
}

// startChild starts this program in another role and returns the lines
// it prints on stdout.
func startChild(ctx context.Context, stderr io.Writer, name string, args ...string) (*exec.Cmd, <-chan string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines, nil
}

// stopChild interrupts a child and waits for it.
func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// version is the first line a program prints about its version.
func version(bin string, arg string) string {
	out, _ := exec.Command(bin, arg).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	for _, f := range strings.Fields(line) {
		if strings.ContainsAny(f, "0123456789") && strings.Contains(f, ".") {
			return strings.TrimPrefix(f, "nginx/")
		}
	}
	return ""
}

// tmpPath joins the run's directory.
func tmpPath(dir, name string) string { return filepath.Join(dir, name) }
