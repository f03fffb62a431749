// Command gantry is the one binary of Gantry, an Amazon ECS-compatible
// container orchestrator: `gantry server` runs the control plane, `gantry
// agent` turns a host into a container instance, `gantry dev` runs both in
// one process for a laptop.
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
	"runtime/debug"
	"syscall"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

// Version is the release of this build.
const Version = "0.1.0"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `gantry: an Amazon ECS-compatible container orchestrator.

Usage:
  gantry server [flags]   run the control plane (the ECS API, state in etcd)
  gantry agent  [flags]   run the agent: register this host into a cluster, run its tasks
  gantry dev    [flags]   run the control plane and one agent in one process, on loopback
  gantry lb     [flags]   run the load balancers' data plane on a host of its own
  gantry version          print the version

Run 'gantry COMMAND --help' for a command's flags. Every flag has an
environment variable equivalent, GANTRY_<FLAG> (e.g. GANTRY_LISTEN).
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
	case "server":
		err = runServer(ctx, args[1:], stderr, logger, false)
	case "dev":
		err = runDev(ctx, args[1:], stderr, logger)
	case "agent":
		err = runAgent(ctx, args[1:], stderr, logger)
	case "lb":
		err = runLB(ctx, args[1:], stderr, logger)
	case "version", "--version":
		fmt.Fprintln(stdout, "gantry", Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "gantry: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gantry:", err)
		return 1
	}
	return 0
}

func runServer(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger, dev bool) error {
	cfg := config.DefaultServer()
	cfg.RegistryListen = config.DefaultRegistryListen
	fs := flag.NewFlagSet("gantry server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry server [flags]\n\nRuns the control plane: the Amazon ECS API on --listen, state in etcd.\nCredentials: GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY, or --credentials-file.\n\nFlags:\n")
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
	cfg.Dev = dev
	setGCPercent(cfg.GCPercent)
	srv, err := app.StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return srv.Close()
	case err := <-waitErr(srv):
		srv.Close()
		return err
	}
}

// setGCPercent sets the process's garbage collector target from
// --gc-percent, unless the GOGC environment variable chose one (or the
// value is invalid: the configuration's validation reports it).
func setGCPercent(p int) {
	if os.Getenv("GOGC") == "" && p >= -1 {
		debug.SetGCPercent(p)
	}
}

func waitErr(srv *app.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Wait() }()
	return ch
}
