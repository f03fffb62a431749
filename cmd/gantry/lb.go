package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/workers"
)

// runLB runs `gantry lb`: the load balancers' data plane on a host of its
// own, configured from the control plane's etcd.
func runLB(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	cfg := config.DefaultLB()
	fs := flag.NewFlagSet("gantry lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry lb [flags]\n\nRuns the ELBv2 load balancers' data plane on this host: binds every listener,\nproxies to the targets, health-checks them, reports their health and sends its\nmetrics to the control plane. Its configuration comes from the control plane's\netcd by watch (changes apply within a second). Several may serve the same load\nbalancers (listeners are bound with SO_REUSEPORT). Run the servers with\n--lb-data-plane=false when only dedicated hosts should serve.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := cfg.LoadCredentials(os.LookupEnv); err != nil {
		return err
	}
	if _, worker := os.LookupEnv(envLBWorker); !worker && cfg.Workers > 1 {
		if err := cfg.Validate(); err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		logger.Info("starting workers", "workers", cfg.Workers, "gomaxprocs", workers.GOMAXPROCS(cfg.Workers))
		return workers.Supervise(ctx, cfg.Workers, func(i int) *exec.Cmd {
			return lbWorkerCommand(exe, args, cfg.Name, i, cfg.Workers)
		}, 30*time.Second, logger)
	}
	h, err := app.StartLB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- h.Wait() }()
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return h.Close()
	case err := <-errc:
		h.Close()
		return err
	}
}
