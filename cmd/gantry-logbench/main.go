// Command gantry-logbench measures the awslogs log driver done by Gantry:
// container output through the agent and the server into the log store,
// beside the floor of Docker writing the same lines to its own local
// driver, in one run, and writes the report into docs/performance.md.
//
// Usage:
//
//	go run ./cmd/gantry-logbench [-containers 20] [-size 100] [-duration 20s]
//	    [-steady-rate 1000] [-steady-duration 20s] [-filter-events 1000000]
//	    [-profile DIR] [-phases floor,full,steady,reads] [-write docs/performance.md]
//
// It runs the control plane (`gantry server`'s code: embedded etcd, the ECS
// and CloudWatch Logs APIs, the Pebble log store) and the agent
// (`gantry-agent`'s code) as two child processes of its own binary, so
// that each one's CPU time can be read from /proc/PID/stat, builds the
// test image (internal/testutil/testserver, `app flood`) through the Docker
// API, and measures, in order:
//
//  1. the floor: -containers containers run with `docker` semantics (the
//     Docker API, log driver local, nobody reading their output) each
//     printing -size-byte lines as fast as they can for -duration, all
//     starting at the same instant: lines a second, and dockerd's CPU per
//     1,000 lines;
//  2. Gantry at full rate: the same containers as awslogs tasks (RunTask
//     through the ECS API): events a second into the store (from the
//     common start until the last event is stored, counted with
//     DescribeLogGroups' storedBytes), the agent's, the server's and
//     dockerd's CPU per 1,000 events, and completeness (every stream read
//     back with GetLogEvents: every line once, in order);
//  3. Gantry at a steady -steady-rate lines a second in all: the agent's
//     and the server's CPU as a share of a core, and the print-to-stored
//     latency (ingestionTime - timestamp) p50/p99/max over every event;
//  4. reads through the API: GetLogEvents of 10,000 events, and
//     FilterLogEvents over -filter-events events put with PutLogEvents.
//
// With -profile DIR it writes CPU profiles of the agent and the server
// over the printing of the full-rate and steady phases into DIR
// (full-agent.pprof, full-server.pprof, steady-agent.pprof, ...). It prints
// a markdown report and, with -write FILE, replaces the section
// "## Logs: awslogs throughput" of FILE (appending it when missing).
// Everything it creates (processes, containers, the image, temporary
// directories) is removed at the end. It needs a reachable Docker Engine
// whose processes it can see in /proc (for dockerd's CPU).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the flags.
type options struct {
	containers     int
	size           int
	duration       time.Duration
	rate           int
	steadyRate     int
	steadyDuration time.Duration
	filterEvents   int
	profile        string
	phases         map[string]bool
	write          string
	args           []string
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case childServer, childAgent:
			return runChild(args[0], args[1:], stderr)
		}
	}
	fs := flag.NewFlagSet("gantry-logbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{args: args}
	fs.IntVar(&o.containers, "containers", 20, "containers printing at once")
	fs.IntVar(&o.size, "size", 100, "bytes of each line (its line break not counted)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each container prints in the floor and full-rate phases")
	fs.IntVar(&o.rate, "rate", 0, "lines a second of each container in the floor and full-rate phases; 0 is as fast as they can")
	fs.IntVar(&o.steadyRate, "steady-rate", 1000, "lines a second of all containers together in the steady phase")
	fs.DurationVar(&o.steadyDuration, "steady-duration", 20*time.Second, "how long the steady phase prints")
	fs.IntVar(&o.filterEvents, "filter-events", 1_000_000, "events FilterLogEvents scans")
	fs.StringVar(&o.profile, "profile", "", "directory to write CPU profiles of the agent and the server into (full-rate and steady phases)")
	fs.StringVar(&o.write, "write", "", "markdown file whose section \""+sectionTitle+"\" the report replaces")
	phases := fs.String("phases", "floor,full,steady,reads", "phases to run, for experiments (-write needs them all)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		if p != "floor" && p != "full" && p != "steady" && p != "reads" {
			fmt.Fprintf(stderr, "gantry-logbench: unknown phase %q\n", p)
			return 2
		}
		o.phases[p] = true
	}
	if o.write != "" && len(o.phases) != 4 {
		fmt.Fprintln(stderr, "gantry-logbench: -write needs every phase")
		return 2
	}
	if o.containers < 1 || o.size < 11 || o.duration <= 0 || o.steadyRate < o.containers || o.steadyDuration <= 0 || o.filterEvents < 10_000 {
		fmt.Fprintln(stderr, "gantry-logbench: need -containers >= 1, -size >= 11, -steady-rate >= -containers, -filter-events >= 10000, positive durations")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b := &bench{o: o, log: logger}
	res, err := b.run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "gantry-logbench:", err)
		return 1
	}
	report := format(o, res)
	fmt.Fprint(stdout, report)
	if o.write != "" {
		if err := writeSection(o.write, report); err != nil {
			fmt.Fprintln(stderr, "gantry-logbench:", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.write)
	}
	return 0
}
