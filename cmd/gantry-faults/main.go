// Command gantry-faults is Gantry's fault harness (issue 19): three
// `gantry server` containers whose embedded etcd members form one cluster,
// and agents each in a container of its own, on private Docker networks
// (one for the etcd peers, one for the API); API load recorded as a
// history, a service running; then faults injected one at a time and in
// combination, each followed by the checks: the history is linearizable
// (porcupine), no task was started twice, the service never ran above its
// maximumPercent, no acknowledged write was lost, no container restarted
// needlessly. It prints a report (and writes it as JSON with -out) and
// exits 1 when a check failed.
//
// The images are built locally from a static gantry binary (no registry is
// reached): run it from the repository's root, or give -src.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.src, "src", ".", "the Gantry repository to build the gantry binary from")
	flag.BoolVar(&o.quick, "quick", false, "a short schedule (CI): fewer faults, shorter load between them")
	flag.IntVar(&o.agents, "agents", 2, "agents, each in a container of its own")
	flag.DurationVar(&o.grace, "lost-instance-grace", 8*time.Second, "the servers' --lost-instance-grace")
	flag.StringVar(&o.out, "out", "", "write the report as JSON to this file")
	flag.DurationVar(&o.placements, "placements", 0, "after the faults, measure tasks placed a second through all three servers and through one, each this long, twice (0: skip)")
	flag.StringVar(&o.only, "only", "", "run only the faults of the schedule whose name contains this")
	flag.BoolVar(&o.keep, "keep", false, "leave the containers and networks when done (for a post-mortem)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o, logger)
	if rep != nil {
		rep.print(os.Stdout)
		if o.out != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(o.out, b, 0o644); werr != nil {
				logger.Error("write the report", "err", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry-faults:", err)
		os.Exit(1)
	}
	if rep != nil && !rep.Passed {
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	src    string
	quick  bool
	agents int
	grace  time.Duration
	out    string
	keep   bool
	only   string
	// placements is how long each placement measure runs (0: none).
	placements time.Duration
}
