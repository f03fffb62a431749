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
	"strings"
	"syscall"

	"github.com/gantry-dev/gantry/internal/agentapp"
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

// envDefault applies GANTRY_<NAME> environment variables to the flags of fs
// that were not set on the command line.
func envDefault(fs *flag.FlagSet) error { return agentapp.EnvDefault(fs) }

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func serverFlags(fs *flag.FlagSet, cfg *config.Server) *listFlag {
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP address of the ECS API (loopback unless you ask otherwise)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded etcd member's data")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region of ARNs and of SigV4 signatures")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "12-digit account ID of ARNs")
	fs.StringVar(&cfg.CredentialsFile, "credentials-file", "", "file of access keys the API accepts, one a line: ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME]")
	fs.DurationVar(&cfg.LostInstanceGrace, "lost-instance-grace", cfg.LostInstanceGrace, "how long a service's tasks stay on an instance whose agent is disconnected before they are replaced elsewhere")
	fs.DurationVar(&cfg.LeaderTTL, "leader-ttl", cfg.LeaderTTL, "etcd session TTL of the service controller's leader: how soon another server takes over when it dies")
	fs.StringVar(&cfg.DebugListen, "debug-listen", "", "loopback address to serve Go's profiling endpoints (/debug/pprof/) on; off when empty")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "garbage collector target of the process (GOGC; Go's default is 100): higher spends memory to save CPU; the GOGC environment variable wins when set")
	eps := &listFlag{}
	fs.Var(eps, "etcd-endpoints", "comma-separated client URLs of an external etcd cluster (instead of the embedded member)")
	return eps
}

func loadCredentials(cfg *config.Server) error {
	if cfg.CredentialsFile != "" {
		creds, err := config.ReadCredentialsFile(cfg.CredentialsFile, cfg.AccountID)
		if err != nil {
			return fmt.Errorf("--credentials-file: %w", err)
		}
		cfg.Credentials = append(cfg.Credentials, creds...)
	}
	akid, secret := os.Getenv("GANTRY_ACCESS_KEY_ID"), os.Getenv("GANTRY_SECRET_ACCESS_KEY")
	if akid != "" || secret != "" {
		cfg.Credentials = append(cfg.Credentials, config.Credential(akid, secret, "gantry", cfg.AccountID))
	}
	return nil
}

func runServer(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger, dev bool) error {
	cfg := config.DefaultServer()
	fs := flag.NewFlagSet("gantry server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry server [flags]\n\nRuns the control plane: the Amazon ECS API on --listen, state in etcd.\nCredentials: GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY, or --credentials-file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	eps := serverFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefault(fs); err != nil {
		return err
	}
	cfg.EtcdEndpoints = *eps
	if err := loadCredentials(&cfg); err != nil {
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
