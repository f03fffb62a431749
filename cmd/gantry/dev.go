package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

// attrFlag collects --attribute k=v.
type attrFlag map[string]string

func (a attrFlag) String() string { return fmt.Sprint(map[string]string(a)) }
func (a attrFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	a[k] = val
	return nil
}

type agentFlags struct {
	cfg        agent.Config
	dockerHost string
	attrs      attrFlag
	cpu, mem   int
	reserve    int
}

func addAgentFlags(fs *flag.FlagSet, f *agentFlags, withServer bool) {
	f.attrs = attrFlag{}
	if withServer {
		fs.StringVar(&f.cfg.Server, "server", "http://127.0.0.1:8845", "URL of the control plane")
		fs.StringVar(&f.cfg.DataDir, "data-dir", "gantry-agent", "directory of the agent's identity")
		fs.StringVar(&f.cfg.Region, "region", "us-east-1", "region the agent signs its requests for")
	}
	fs.StringVar(&f.cfg.Cluster, "cluster", "default", "cluster to join")
	fs.IntVar(&f.cpu, "cpu", 0, "CPU units to register (default: cores x 1024)")
	fs.IntVar(&f.mem, "memory", 0, "memory in MiB to register (default: the host's, less --reserved-memory)")
	fs.IntVar(&f.reserve, "reserved-memory", 256, "MiB of the host's memory kept for the system")
	fs.StringVar(&f.cfg.AvailabilityZone, "availability-zone", "", "ecs.availability-zone attribute (default: REGION + \"a\")")
	fs.StringVar(&f.cfg.InstanceType, "instance-type", "gantry.host", "ecs.instance-type attribute")
	fs.Var(f.attrs, "attribute", "custom attribute NAME=VALUE (repeatable)")
	fs.DurationVar(&f.cfg.CleanupDelay, "task-cleanup-wait", 3*time.Hour, "how long a stopped task's containers are kept before removal")
	fs.StringVar(&f.dockerHost, "docker-host", "", "Docker Engine address (default: DOCKER_HOST or the local socket)")
}

func (f *agentFlags) finish() {
	f.cfg.CPU = int32(f.cpu)
	f.cfg.MemoryMiB = int32(f.mem)
	f.cfg.ReservedMemoryMiB = int32(f.reserve)
	f.cfg.Attributes = f.attrs
	if f.cfg.AvailabilityZone == "" {
		f.cfg.AvailabilityZone = f.cfg.Region + "a"
	}
}

func runAgent(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	var f agentFlags
	fs := flag.NewFlagSet("gantry agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry agent [flags]\n\nRegisters this host as a container instance of --cluster and runs the tasks\nthe control plane assigns to it as Docker containers.\nCredentials: GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	addAgentFlags(fs, &f, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefault(fs); err != nil {
		return err
	}
	f.finish()
	f.cfg.AccessKeyID, f.cfg.SecretAccessKey = os.Getenv("GANTRY_ACCESS_KEY_ID"), os.Getenv("GANTRY_SECRET_ACCESS_KEY")
	if f.cfg.AccessKeyID == "" || f.cfg.SecretAccessKey == "" {
		return errors.New("set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY to credentials the server accepts")
	}
	a, err := app.StartAgent(ctx, f.cfg, app.AgentOptions{DockerHost: f.dockerHost}, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("agent shutting down; containers keep running")
		return a.Close()
	case <-a.Done():
		return a.Err()
	}
}

func runDev(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	cfg := config.DefaultServer()
	cfg.DataDir = ".gantry-dev"
	var f agentFlags
	fs := flag.NewFlagSet("gantry dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gantry dev [flags]\n\nRuns the control plane on the embedded etcd and one agent, in one process, on\nloopback only, with the development credentials:\n  access key %s\n  secret     %s\n\nFlags:\n", config.DevAccessKeyID, config.DevSecretAccessKey)
		fs.PrintDefaults()
	}
	serverFlags(fs, &cfg)
	addAgentFlags(fs, &f, false)
	noAgent := fs.Bool("no-agent", false, "run the control plane only")
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
	defer srv.Close()
	if err := srv.Ops.EnsureCluster(ctx, f.cfg.Cluster); err != nil {
		return err
	}
	var agentDone <-chan struct{}
	agentErr := func() error { return nil }
	if !*noAgent {
		f.cfg.Server, f.cfg.Region = srv.URL, cfg.Region
		f.cfg.DataDir = filepath.Join(cfg.DataDir, "agent")
		f.cfg.AccessKeyID, f.cfg.SecretAccessKey = config.DevAccessKeyID, config.DevSecretAccessKey
		f.finish()
		a, err := app.StartAgent(ctx, f.cfg, app.AgentOptions{DockerHost: f.dockerHost}, logger)
		if err != nil {
			return err
		}
		defer a.Close()
		agentDone = a.Done()
		agentErr = a.Err
	}
	logger.Info("gantry dev ready", "endpoint", srv.URL, "cluster", f.cfg.Cluster,
		"access_key_id", config.DevAccessKeyID, "secret_access_key", config.DevSecretAccessKey)
	fmt.Fprintf(stderr, "\nGantry is ready. Use it with the aws CLI:\n  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s\n  aws ecs list-container-instances --endpoint-url %s\n\n",
		config.DevAccessKeyID, config.DevSecretAccessKey, cfg.Region, srv.URL)
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
