package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

func runAgent(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	return agentapp.RunCLI(ctx, "gantry agent", args, os.LookupEnv, stderr, logger)
}

func runDev(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	cfg := config.DefaultServer()
	cfg.RegistryListen = config.DefaultRegistryListen
	cfg.DataDir = ".gantry-dev"
	fs := flag.NewFlagSet("gantry dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry dev [flags]\n\nRuns the control plane on the embedded etcd and one agent, in one process, on\nloopback only, with the development credentials:\n  access key %s\n  secret     %s\n\nFlags:\n", config.DevAccessKeyID, config.DevSecretAccessKey)
		fs.PrintDefaults()
	}
	cfg.RegisterFlags(fs)
	acfg := config.DefaultAgent()
	acfg.RegisterFlags(fs, false)
	noAgent := fs.Bool("no-agent", false, "run the control plane only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	cfg.Dev = true
	cfg.Credentials = append(cfg.Credentials, config.Credential(config.DevAccessKeyID, config.DevSecretAccessKey, "gantry", cfg.AccountID))
	setGCPercent(cfg.GCPercent)
	srv, err := app.StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.ECS.EnsureCluster(ctx, acfg.Cluster); err != nil {
		return err
	}
	var agentDone <-chan struct{}
	agentErr := func() error { return nil }
	if !*noAgent {
		acfg.Server, acfg.Region = srv.URL, cfg.Region
		acfg.DataDir = filepath.Join(cfg.DataDir, "agent")
		acfg.AccessKeyID, acfg.SecretAccessKey = config.DevAccessKeyID, config.DevSecretAccessKey
		acfg.Complete()
		if err := acfg.Validate(); err != nil {
			return err
		}
		a, err := agentapp.StartAgent(ctx, agentapp.AgentConfig(acfg), agentapp.AgentOptions{DockerHost: acfg.DockerHost, StopTimeout: acfg.ContainerStopTimeout,
			ImagePullBehavior:    acfg.ImagePullBehavior,
			ImageCleanupInterval: acfg.ImageCleanupInterval, ImageMinimumCleanupAge: acfg.ImageMinimumCleanupAge, ImagesPerCleanup: acfg.ImagesPerCleanup,
			TaskMetadataListen: acfg.TaskMetadataListen}, logger)
		if err != nil {
			return err
		}
		defer a.Close()
		agentDone = a.Done()
		agentErr = a.Err
	}
	logger.Info("gantry dev ready", "endpoint", srv.URL, "cluster", acfg.Cluster,
		"access_key_id", config.DevAccessKeyID, "secret_access_key", config.DevSecretAccessKey)
	fmt.Fprintf(stderr, "\nGantry is ready. Use it with the aws CLI:\n  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s\n  aws ecs list-container-instances --endpoint-url %s\n\n",
		config.DevAccessKeyID, config.DevSecretAccessKey, cfg.Region, srv.URL)
	if srv.ConsoleURL != "" {
		fmt.Fprintf(stderr, "The web console: %s (sign in with the access key pair above)\n\n", srv.ConsoleURL)
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down; task containers keep running")
		return nil
	case <-agentDone:
		return agentErr()
	case err := <-waitErr(srv):
		return err
	}
}
