package agentapp

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/config"
)

// RunCLI is `gantry agent` (and the gantry-agent binary): it reads the
// agent's configuration from args and env (config.Agent), starts the agent
// and runs it until ctx ends, leaving the tasks' containers running.
func RunCLI(ctx context.Context, name string, args []string, env config.LookupEnv, stderr io.Writer, logger *slog.Logger) error {
	cfg := config.DefaultAgent()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRegisters this host as a container instance of --cluster and runs the tasks\nthe control plane assigns to it as Docker containers.\nCredentials: GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY.\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	cfg.RegisterFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, env); err != nil {
		return err
	}
	if err := applyECSStopTimeout(fs, env, &cfg); err != nil {
		return err
	}
	if err := applyECSImageEnv(fs, env); err != nil {
		return err
	}
	cfg.LoadCredentials(env)
	cfg.Complete()
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := StartAgent(ctx, AgentConfig(cfg), AgentOptions{DockerHost: cfg.DockerHost, StopTimeout: cfg.ContainerStopTimeout,
		ImagePullBehavior:    cfg.ImagePullBehavior,
		ImageCleanupInterval: cfg.ImageCleanupInterval, ImageMinimumCleanupAge: cfg.ImageMinimumCleanupAge, ImagesPerCleanup: cfg.ImagesPerCleanup, DebugListen: cfg.DebugListen,
		TaskMetadataListen: cfg.TaskMetadataListen}, logger)
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

// AgentConfig turns the agent's configuration into the agent's run-time
// configuration; StartAgent fills in the rest (logger, Docker versions).
// c must have passed Validate.
func AgentConfig(c config.Agent) agent.Config {
	return agent.Config{
		Server:            c.Server,
		CACert:            c.CACert,
		Cluster:           c.JoinCluster(),
		DataDir:           c.DataDir,
		Region:            c.Region,
		AccessKeyID:       c.AccessKeyID,
		SecretAccessKey:   c.SecretAccessKey,
		CPU:               int32(c.CPU),
		MemoryMiB:         int32(c.MemoryMiB),
		ReservedMemoryMiB: int32(c.ReservedMemoryMiB),
		AvailabilityZone:  c.AvailabilityZone,
		InstanceType:      c.InstanceType,
		HostAddress:       c.HostAddress,
		Attributes:        c.Attributes,
		CapacityProvider:  c.CapacityProvider,
		External:          c.External,
		SpotWarning:       c.SpotWarning,
		CleanupDelay:      c.CleanupDelay,
		CleanupJitter:     c.CleanupJitter,
		MetricsInterval:   metricsInterval(c.MetricsInterval),
		LogSpoolSize:      logSpoolSize(c.LogSpoolSize),
	}
}

// logSpoolSize maps the flag's 0 (off) to logship's negative.
func logSpoolSize(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// metricsInterval maps the flag's 0 (off) to the agent's negative.
func metricsInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// applyECSStopTimeout reads the ECS agent's ECS_CONTAINER_STOP_TIMEOUT (a
// Go duration such as 30s, as the ECS agent takes it) into cfg when
// neither --container-stop-timeout nor GANTRY_CONTAINER_STOP_TIMEOUT is
// set.
func applyECSStopTimeout(fs *flag.FlagSet, env config.LookupEnv, cfg *config.Agent) error {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "container-stop-timeout" })
	if _, ok := env(config.EnvName("container-stop-timeout")); ok || set {
		return nil
	}
	v, ok := env(config.EnvECSContainerStopTimeout)
	if !ok || v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s %q: %w", config.EnvECSContainerStopTimeout, v, err)
	}
	cfg.ContainerStopTimeout = d
	return nil
}

// ecsImageEnv are the ECS agent's variables of the image flags.
var ecsImageEnv = []struct{ flag, env string }{
	{"image-pull-behavior", "ECS_IMAGE_PULL_BEHAVIOR"},
	{"image-cleanup-interval", "ECS_IMAGE_CLEANUP_INTERVAL"},
	{"image-minimum-cleanup-age", "ECS_IMAGE_MINIMUM_CLEANUP_AGE"},
	{"images-per-cleanup", "ECS_NUM_IMAGES_DELETE_PER_CYCLE"},
	{"task-cleanup-wait", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION"},
	{"task-cleanup-wait-jitter", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER"},
}

// applyECSImageEnv reads the ECS agent's image and task cleanup variables
// (ECS_IMAGE_PULL_BEHAVIOR, ECS_IMAGE_CLEANUP_INTERVAL,
// ECS_IMAGE_MINIMUM_CLEANUP_AGE, ECS_NUM_IMAGES_DELETE_PER_CYCLE,
// ECS_DISABLE_IMAGE_CLEANUP=true, ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION and
// its _JITTER) into the flags that neither the command line nor their
// GANTRY_ variable set.
func applyECSImageEnv(fs *flag.FlagSet, env config.LookupEnv) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, e := range ecsImageEnv {
		if _, ok := env(config.EnvName(e.flag)); ok || set[e.flag] {
			continue
		}
		if v, ok := env(e.env); ok && v != "" {
			if err := fs.Set(e.flag, v); err != nil {
				return fmt.Errorf("%s %q: %w", e.env, v, err)
			}
		}
	}
	if v, ok := env("ECS_DISABLE_IMAGE_CLEANUP"); ok && v == "true" && !set["image-cleanup-interval"] {
		if _, ok := env(config.EnvName("image-cleanup-interval")); !ok {
			return fs.Set("image-cleanup-interval", "0")
		}
	}
	return nil
}
