package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

// The hidden first arguments that make the benchmark's binary one of its
// children: the server (what `gantry server` runs) or the agent (what
// `gantry-agent` runs), each in its own process so that its CPU time can
// be read apart.
const (
	childServer = "_server"
	childAgent  = "_agent"
)

// Environment of the children: the run's access key.
const (
	envAccessKey = "GANTRY_ACCESS_KEY_ID"
	envSecretKey = "GANTRY_SECRET_ACCESS_KEY"
)

// benchAccount is the account of the server's ARNs.
const benchAccount = "123456789012"

// runChild runs a child until SIGTERM.
func runChild(kind string, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	if kind == childServer {
		err = serverChild(ctx, args, logger)
	} else {
		err = agentChild(ctx, args, stderr, logger)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "gantry-logbench %s: %v\n", kind, err)
		return 1
	}
	return 0
}

// serverChild runs the control plane as `gantry server` does, with the
// run's credentials and profiling endpoints on -debug.
func serverChild(ctx context.Context, args []string, logger *slog.Logger) error {
	fs := flag.NewFlagSet(childServer, flag.ContinueOnError)
	cfg := config.DefaultServer()
	fs.StringVar(&cfg.Listen, "listen", "", "")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "")
	fs.StringVar(&cfg.DebugListen, "debug", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Region, cfg.AccountID = region, benchAccount
	cfg.Credentials = append(cfg.Credentials, config.Credential(os.Getenv(envAccessKey), os.Getenv(envSecretKey), "logbench", benchAccount))
	srv, err := app.StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-waitServer(srv):
	}
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	return err
}

func waitServer(srv *app.Server) <-chan error {
	c := make(chan error, 1)
	go func() { c <- srv.Wait() }()
	return c
}

// agentChild runs the agent as gantry-agent does (its flags follow -debug
// ADDR), with Go's profiling endpoints on ADDR.
func agentChild(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	if len(args) < 2 || args[0] != "-debug" {
		return errors.New("usage: _agent -debug ADDR AGENT-FLAGS")
	}
	ln, err := net.Listen("tcp", args[1])
	if err != nil {
		return fmt.Errorf("debug listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dbg := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dbg.Serve(ln)
	}()
	defer func() {
		_ = dbg.Close()
		<-done
	}()
	return agentapp.RunCLI(ctx, "gantry-agent", args[2:], os.LookupEnv, stderr, logger)
}
