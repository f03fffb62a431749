// Command gantry-lbbench measures the load balancer's data plane beside
// HAProxy and nginx proxying to the same backends in the same run, with
// the backends' direct rate as the limit, and then the data plane while a
// target is added or removed every second, counting failed requests:
//
//	go build -o /tmp/gantry-lbbench ./cmd/gantry-lbbench && /tmp/gantry-lbbench
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
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gantry-lbbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long wrk runs against each proxy")
	fs.IntVar(&o.connections, "connections", 64, "wrk's connections (-c)")
	fs.IntVar(&o.threads, "threads", 2, "wrk's threads (-t)")
	fs.IntVar(&o.targets, "targets", 3, "backend ports (targets)")
	fs.BoolVar(&o.churn, "churn", true, "also run Gantry while a target is added or removed every second")
	fs.BoolVar(&o.peers, "peers", true, "run HAProxy and nginx too")
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

// bench runs every subject and prints the table.
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

	var results []result
	measure := func(name string, url string, pid int) error {
		fmt.Fprintf(stderr, "gantry-lbbench: %s: wrk %s against %s\n", name, o.duration, url)
		if err := warm(url); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r, err := runWrk(ctx, o, url, pid)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.name = name
		results = append(results, r)
		return nil
	}

	if err := measure("direct (one backend, the limit)", "http://"+targets[0]+"/", backend.Process.Pid); err != nil {
		return err
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	g, glines, err := startChild(ctx, stderr, self, "gantry", "-port", fmt.Sprint(port), "-targets", strings.Join(targets, ","))
	if err != nil {
		return fmt.Errorf("start gantry: %w", err)
	}
	<-glines
	err = measure("Gantry (internal/lb)", fmt.Sprintf("http://127.0.0.1:%d/", port), g.Process.Pid)
	stopChild(g)
	if err != nil {
		return err
	}

	if o.peers {
		hp, err := startHAProxy(ctx, dir, targets)
		if err != nil {
			return err
		}
		err = measure("HAProxy "+version("haproxy", "-v"), fmt.Sprintf("http://127.0.0.1:%d/", hp.port), hp.cmd.Process.Pid)
		stopChild(hp.cmd)
		if err != nil {
			return err
		}
		ng, err := startNginx(ctx, dir, targets)
		if err != nil {
			return err
		}
		err = measure("nginx "+version("nginx", "-v"), fmt.Sprintf("http://127.0.0.1:%d/", ng.port), ng.cmd.Process.Pid)
		stopChild(ng.cmd)
		if err != nil {
			return err
		}
	}

	if o.churn {
		port, err := freePort()
		if err != nil {
			return err
		}
		g, glines, err := startChild(ctx, stderr, self, "gantry", "-port", fmt.Sprint(port), "-targets", strings.Join(targets, ","), "-churn", "1s")
		if err != nil {
			return fmt.Errorf("start gantry: %w", err)
		}
		<-glines
		err = measure("Gantry, a target added or removed every second", fmt.Sprintf("http://127.0.0.1:%d/", port), g.Process.Pid)
		_ = g.Process.Signal(os.Interrupt)
		changes := <-glines
		stopChild(g)
		if err != nil {
			return err
		}
		results[len(results)-1].note = changes
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
