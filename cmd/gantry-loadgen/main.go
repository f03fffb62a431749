// Command gantry-loadgen measures how fast Gantry places tasks at scale,
// through the real ECS API, and writes the result into docs/performance.md.
//
// Usage:
//
//	go run ./cmd/gantry-loadgen [-instances 5000] [-tasks 100000] [-concurrency 64]
//	    [-az 3] [-strategy none|binpack|spread] [-heartbeat=true] [-ack]
//	    [-server URL] [-write docs/performance.md]
//
// Without -server it builds the gantry binary (from the module it is run
// in, or -gantry PATH), starts `gantry server` on a free loopback port with
// a temporary data directory and generated credentials, and kills it at the
// end. With -server it drives that server, with the credentials of
// GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY; only loopback servers
// are accepted.
//
// A run, in a new cluster of its own:
//
//  1. registers one task definition (one container, cpu 128, memory 256,
//     no host ports) and -instances simulated container instances (CPU
//     4096, MEMORY 8192, spread round-robin over -az availability zones),
//     -concurrency at a time;
//  2. with -heartbeat (the default: registration counts an instance
//     connected for only 10 seconds), keeps every instance connected as an
//     agent does, from its registration to the end of the placement: one
//     heartbeat per instance every 5 seconds, the instances spread evenly
//     over the 5 seconds (GantryPollTasks with the revision of its previous
//     answer and omitTasks: the ARNs only; the tasks' payloads are fetched
//     by -ack);
//  3. places -tasks tasks with RunTask (count -count, default 10) from
//     -concurrency callers, printing every second the tasks placed so far,
//     the rate over the last second, and the server's memory and CPU;
//     throttling, conflict and server errors are retried (-retries times)
//     and counted;
//  4. verifies through the API that what RunTask returned is what was
//     written: ListTasks (every page, startedBy the run) lists exactly the
//     tasks RunTask returned, and DescribeContainerInstances shows every
//     instance with the tasks RunTask put there and no instance
//     over-committed (remaining CPU and memory never negative, and equal to
//     the registered amounts minus the tasks' needs);
//  5. with -ack, acknowledges the tasks as simulated agents do, without
//     Docker: each instance polls its tasks once and reports each RUNNING
//     with GantrySubmitTaskState; measured separately, then verified
//     (every instance's runningTasksCount);
//  6. prints a report (per-second rates of the whole run, RunTask latency
//     p50/p99/max, failures and retries, total time, and, when it knows the
//     server's process, its VmRSS and VmHWM, its CPU time and the time its
//     threads waited for a CPU taken by other processes) and, with -write
//     FILE, replaces the section "## Scheduler: placement at scale" of FILE
//     (appending it when missing), keeping its hand-written subsection
//     "### Where the time goes".
//
// -perf FILE records the CPU of the server it starts during the placement
// with `perf record -g` (read it with `perf report -i FILE`); for Go's own
// profiles, run `gantry server --debug-listen 127.0.0.1:PORT` yourself,
// point -server at it and read /debug/pprof/profile while it places.
// -cpuprofile FILE profiles the load generator itself.
//
// Everything is bounded: at most -timeout in all, and traffic only to
// loopback. The cluster it creates on a -server is left there (its name is
// printed). It exits 1 when a task could not be placed or a check failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Resources of the simulated instances and of the load's tasks.
const (
	instanceCPU    = 4096
	instanceMemory = 8192
	taskCPU        = 128
	taskMemory     = 256
)

// config is everything a run needs, from flags and the environment.
type config struct {
	Server          string
	ServerPID       int
	Gantry          string
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Instances       int
	Tasks           int
	Concurrency     int
	Count           int
	AZ              int
	Strategy        string
	Heartbeat       bool
	Ack             bool
	Retries         int
	Timeout         time.Duration
	Write           string
	Perf            string
	CPUProfile      string
	// Args are the command-line arguments, reported as the command run.
	Args []string
}

func defaultConfig() config {
	return config{
		Region:      "us-east-1",
		Instances:   5000,
		Tasks:       100000,
		Concurrency: 64,
		Count:       10,
		AZ:          3,
		Strategy:    "none",
		Heartbeat:   true,
		Retries:     5,
		Timeout:     15 * time.Minute,
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("gantry-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry-loadgen [flags]\n\nRegisters simulated container instances and places tasks on them through\nGantry's ECS API, measuring the placement rate. See `go doc ./cmd/gantry-loadgen`.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Server, "server", "", "URL of a running gantry server on loopback (credentials from GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY); empty: build and start one")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "process ID of the -server, to report its memory and CPU")
	fs.StringVar(&cfg.Gantry, "gantry", "", "gantry binary to start when -server is empty (default: go build ./cmd/gantry)")
	fs.IntVar(&cfg.Instances, "instances", cfg.Instances, "simulated container instances to register")
	fs.IntVar(&cfg.Tasks, "tasks", cfg.Tasks, "tasks to place")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent RunTask callers (and registration and acknowledgement callers)")
	fs.IntVar(&cfg.Count, "count", cfg.Count, "tasks per RunTask call (1 to 10)")
	fs.IntVar(&cfg.AZ, "az", cfg.AZ, "availability zones to spread the instances over")
	fs.StringVar(&cfg.Strategy, "strategy", cfg.Strategy, "placementStrategy of RunTask: none, binpack (memory) or spread (availability zone, then instance)")
	fs.BoolVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "keep every instance connected: one GantryPollTasks per instance every 5s, spread evenly")
	fs.BoolVar(&cfg.Ack, "ack", cfg.Ack, "after placing, acknowledge every task as the simulated agents: poll once per instance, report each task RUNNING")
	fs.IntVar(&cfg.Retries, "retries", cfg.Retries, "retries of a call refused by throttling, a conflict or a server error")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on the whole run")
	fs.StringVar(&cfg.Write, "write", "", "markdown file whose section \"## Scheduler: placement at scale\" to replace (or append)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator itself (runtime/pprof) into this file")
	fs.StringVar(&cfg.Perf, "perf", "", "record a CPU profile of the server during placement with `perf record -g` into this file (needs the server's PID)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Args = args
	if cfg.Server != "" {
		cfg.AccessKeyID = os.Getenv("GANTRY_ACCESS_KEY_ID")
		cfg.SecretAccessKey = os.Getenv("GANTRY_SECRET_ACCESS_KEY")
	}
	return cfg, cfg.Validate()
}

// perInstance is how many of the load's tasks one instance holds.
func perInstance() int { return min(instanceCPU/taskCPU, instanceMemory/taskMemory) }

// Validate reports every problem with c at once.
func (c *config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Instances < 1 || c.Instances > 100000 {
		bad("-instances %d: want 1 to 100000", c.Instances)
	}
	if c.Tasks < 1 || c.Tasks > 1000000 {
		bad("-tasks %d: want 1 to 1000000", c.Tasks)
	}
	if c.Instances >= 1 && c.Tasks > c.Instances*perInstance() {
		bad("-tasks %d: %d instances hold at most %d tasks of cpu %d memory %d", c.Tasks, c.Instances, c.Instances*perInstance(), taskCPU, taskMemory)
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("-concurrency %d: want 1 to 1024", c.Concurrency)
	}
	if c.Count < 1 || c.Count > 10 {
		bad("-count %d: want 1 to 10", c.Count)
	}
	if c.AZ < 1 || c.AZ > 26 {
		bad("-az %d: want 1 to 26", c.AZ)
	}
	if _, ok := placementStrategy(c.Strategy); !ok {
		bad("-strategy %q: want none, binpack or spread", c.Strategy)
	}
	if c.Retries < 0 || c.Retries > 100 {
		bad("-retries %d: want 0 to 100", c.Retries)
	}
	if c.Timeout <= 0 {
		bad("-timeout %v: want a positive duration", c.Timeout)
	}
	if c.Perf != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			bad("-perf: %v", err)
		}
	}
	if c.Server != "" {
		if err := checkLoopback(c.Server); err != nil {
			bad("-server: %v", err)
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			bad("-server: set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY to the server's credentials")
		}
		if c.Gantry != "" {
			bad("-gantry: only without -server")
		}
		if c.Perf != "" && c.ServerPID == 0 {
			bad("-perf: with -server, give -server-pid")
		}
	} else if c.ServerPID != 0 {
		bad("-server-pid: only with -server")
	}
	return errors.Join(errs...)
}

// checkLoopback accepts only http URLs of a loopback host.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: the load generator only talks to loopback", raw)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gantry-loadgen:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "gantry-loadgen:", err)
			return 1
		}
		defer stop()
	}
	res, err := execute(ctx, &cfg, stderr)
	if res != nil {
		fmt.Fprint(stdout, res.text())
		if cfg.Write != "" && err == nil {
			if werr := writeSection(cfg.Write, res.markdown()); werr != nil {
				fmt.Fprintln(stderr, "gantry-loadgen:", werr)
				return 1
			}
			fmt.Fprintf(stderr, "gantry-loadgen: wrote %q of %s\n", sectionTitle, cfg.Write)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "gantry-loadgen:", err)
		return 1
	}
	if problems := res.problems(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "gantry-loadgen: FAILED:", p)
		}
		return 1
	}
	return 0
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
