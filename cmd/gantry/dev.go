package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

func runDev(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	cfg := config.DefaultServer()
	cfg.DataDir = ".gantry-dev"
	fs := flag.NewFlagSet("gantry dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry dev [flags]\n\nRuns the control plane on the embedded etcd with the development credentials\n(access key %s, secret %s), on loopback only.\n\nFlags:\n", config.DevAccessKeyID, config.DevSecretAccessKey)
		fs.PrintDefaults()
	}
	serverFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefault(fs); err != nil {
		return err
	}
	cfg.Dev = true
	cfg.Credentials = append(cfg.Credentials, config.Credential(config.DevAccessKeyID, config.DevSecretAccessKey, "gantry", cfg.AccountID))
	srv, err := app.StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("gantry dev ready", "endpoint", srv.URL, "access_key_id", config.DevAccessKeyID)
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-waitErr(srv):
		srv.Close()
		return err
	}
}

func runAgent(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	return fmt.Errorf("gantry agent: not built yet")
}
