// Command gantry-bench measures Gantry on the machine it runs on and writes
// the results into docs/performance.md.
//
// Usage:
//
//	go run ./cmd/gantry-bench agent [-n 20] [-tasks 50] [-write docs/performance.md]
//	go run ./cmd/gantry-bench fargate [-n 20] [-write docs/performance.md]
//	go run ./cmd/gantry-bench provisioning [-n 3] [-write docs/performance.md]
//
// `fargate` measures the same start on a warm Fargate pool: the agent is
// started with --capacity-provider FARGATE (a host of the hidden pool
// cluster), the task definition is an awsvpc Fargate one (requiresCompatibilities
// FARGATE, task cpu 256 and memory 512), RunTask asks for launchType
// FARGATE, and the container is probed on its task's own awsvpc address
// instead of a host port. It skips the memory measurement and writes the
// section "## FARGATE: RunTask to RUNNING on a warm pool".
//
// `agent` builds the gantry binary, starts `gantry server` and a separate
// `gantry agent` on loopback (temporary data directories, generated
// credentials, --task-cleanup-wait 1s), builds a tiny HTTP server image
// through the Docker API, and then:
//
//  1. measures, N times after warm-ups, the time from RunTask to the task's
//     lastStatus RUNNING (DescribeTasks polled every 5 ms) and to the
//     container answering HTTP on its host port, interleaved with the same
//     for a plain `docker run -d -p 0:8080 IMAGE` (the docker CLI, until it
//     returns and until the container answers HTTP), and reports
//     p50/p90/mean and the ratio Gantry/docker (goal: at most 1.2);
//  2. runs -tasks tasks at once (RunTask with count 10), waits until all
//     are RUNNING, and reads the agent's and the server's resident memory
//     from /proc/PID/status (goal for the agent: at most 32 MiB); then
//     stops them and checks that their containers are removed;
//  3. prints a markdown report, and with -write FILE replaces the section
//     "## Agent: task start latency and memory" of FILE (appending it when
//     missing, creating FILE when it does not exist). Only that section
//     changes, and its hand-written "### Findings" subsection, if any, is
//     kept at its end.
//
// Everything it creates is removed at the end: processes, containers (by
// label), the image and temporary directories. Progress goes to stderr.
// It needs the go command, the docker CLI and a reachable Docker Engine.
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

const usage = `gantry-bench: measure Gantry on this machine.

Usage:
  go run ./cmd/gantry-bench agent [-n 20] [-tasks 50] [-write docs/performance.md]
  go run ./cmd/gantry-bench fargate [-n 20] [-write docs/performance.md]
  go run ./cmd/gantry-bench provisioning [-n 3] [-write docs/performance.md]

Commands:
  agent   task start latency (Gantry vs docker run) and agent memory with many tasks
  fargate FARGATE task start latency on a warm pool host (Gantry vs docker run)
  provisioning  managed scaling: a task waiting in PROVISIONING to RUNNING when an instance must be added

Run 'gantry-bench agent -h' or 'gantry-bench fargate -h' for their flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	switch args[0] {
	case "agent":
		err = runAgentBench(ctx, args[1:], stdout, stderr, logger)
	case "fargate":
		err = runFargateBench(ctx, args[1:], stdout, stderr, logger)
	case "provisioning":
		err = runProvisioningBench(ctx, args[1:], stdout, stderr, logger)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "gantry-bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gantry-bench:", err)
		return 1
	}
	return 0
}

// config is the configuration of `gantry-bench agent` and `gantry-bench
// fargate`.
type config struct {
	// Fargate runs the tasks on a Fargate pool host (`gantry-bench
	// fargate`) and measures no memory.
	Fargate bool
	// N is the number of measured task starts (and docker runs).
	N int
	// Warmup is the number of unmeasured starts of each kind before them.
	Warmup int
	// Tasks is the number of tasks run at once for the memory measurement.
	Tasks int
	// Poll is the DescribeTasks and HTTP polling interval.
	Poll time.Duration
	// Write is the markdown file whose section the report replaces; empty
	// means print only.
	Write string
	// AgentEnv is extra environment (NAME=VALUE) of the agent process, for
	// experiments such as GOGC=50.
	AgentEnv []string
	// DockerWithPoll polls DescribeTasks every Poll while docker run is
	// measured too, so that both kinds of start carry the polling's load
	// (a diagnostic).
	DockerWithPoll bool
	// AgentBinary, when set, runs the agent from this binary instead of
	// the gantry binary built from the tree (for experiments; it must take
	// gantry agent's flags after its first argument, "agent").
	AgentBinary string
	// LogDir keeps the server's and the agent's logs; empty means they
	// are removed with the temporary directory.
	LogDir string
	// Args are the command-line arguments as given, for the report's
	// command to reproduce.
	Args []string
}

// Validate reports every problem with c.
func (c *config) Validate() error {
	var errs []error
	if c.N < 1 {
		errs = append(errs, fmt.Errorf("-n %d: want at least 1", c.N))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("-warmup %d: want 0 or more", c.Warmup))
	}
	if c.Tasks < 1 {
		errs = append(errs, fmt.Errorf("-tasks %d: want at least 1", c.Tasks))
	}
	if c.Poll <= 0 {
		errs = append(errs, fmt.Errorf("-poll %v: want a positive duration", c.Poll))
	}
	for _, e := range c.AgentEnv {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("-agent-env %q: want NAME=VALUE", e))
		}
	}
	return errors.Join(errs...)
}

// envFlag collects repeated NAME=VALUE flags.
type envFlag []string

func (e *envFlag) String() string     { return strings.Join(*e, " ") }
func (e *envFlag) Set(v string) error { *e = append(*e, v); return nil }

func runAgentBench(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	cfg := config{N: 20, Warmup: 2, Tasks: 50, Poll: 5 * time.Millisecond, Args: args}
	fs := flag.NewFlagSet("gantry-bench agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./cmd/gantry-bench agent [flags]\n\nMeasures task start latency against docker run, and the agent's memory\nwith many tasks; prints a markdown report.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.N, "n", cfg.N, "measured task starts (and as many docker runs, interleaved)")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured starts of each kind first")
	fs.IntVar(&cfg.Tasks, "tasks", cfg.Tasks, "tasks run at once for the memory measurement")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "DescribeTasks and HTTP polling interval")
	fs.StringVar(&cfg.Write, "write", "", "markdown `file` whose \""+sectionHeading+"\" section is replaced with the report")
	env := &envFlag{}
	fs.Var(env, "agent-env", "extra `NAME=VALUE` environment of the agent process (repeatable), e.g. GOGC=50")
	fs.BoolVar(&cfg.DockerWithPoll, "docker-with-poll", false, "poll DescribeTasks every -poll during docker runs too, so both carry the polling's load (diagnostic)")
	fs.StringVar(&cfg.AgentBinary, "agent-binary", "", "run the agent from this `binary` (gantry-agent, or gantry which then gets an \"agent\" argument first) instead of gantry-agent built from the tree")
	fs.StringVar(&cfg.LogDir, "logs", "", "keep the server's and agent's logs in this `dir`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.AgentEnv = *env
	if err := cfg.Validate(); err != nil {
		return err
	}
	b := &bench{cfg: cfg, log: logger}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	report := renderReport(res)
	fmt.Fprint(stdout, report)
	if cfg.Write != "" {
		if err := writeSection(cfg.Write, report); err != nil {
			return fmt.Errorf("-write %s: %w", cfg.Write, err)
		}
		logger.Info("report written", "file", cfg.Write)
	}
	return nil
}

func runFargateBench(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	cfg := config{Fargate: true, N: 20, Warmup: 2, Tasks: 1, Poll: 5 * time.Millisecond, Args: args}
	fs := flag.NewFlagSet("gantry-bench fargate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./cmd/gantry-bench fargate [flags]\n\nMeasures the time from RunTask to RUNNING of a FARGATE task on a warm\nFargate pool host against docker run -d of the same image; prints a\nmarkdown report.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.N, "n", cfg.N, "measured task starts (and as many docker runs, interleaved)")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured starts of each kind first")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "DescribeTasks and HTTP polling interval")
	fs.StringVar(&cfg.Write, "write", "", "markdown `file` whose \""+fargateHeading+"\" section is replaced with the report")
	env := &envFlag{}
	fs.Var(env, "agent-env", "extra `NAME=VALUE` environment of the agent process (repeatable), e.g. GOGC=50")
	fs.StringVar(&cfg.AgentBinary, "agent-binary", "", "run the agent from this `binary` (gantry-agent, or gantry which then gets an \"agent\" argument first) instead of gantry-agent built from the tree")
	fs.StringVar(&cfg.LogDir, "logs", "", "keep the server's and agent's logs in this `dir`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.AgentEnv = *env
	if err := cfg.Validate(); err != nil {
		return err
	}
	b := &bench{cfg: cfg, log: logger}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	report := renderFargateReport(res)
	fmt.Fprint(stdout, report)
	if cfg.Write != "" {
		if err := writeSection(cfg.Write, report); err != nil {
			return fmt.Errorf("-write %s: %w", cfg.Write, err)
		}
		logger.Info("report written", "file", cfg.Write)
	}
	return nil
}
