package agentapp

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/config"
)

func noEnv(string) (string, bool) { return "", false }

func TestRunCLIRefusesBeforeStarting(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name string
		args []string
		want string // in the error
		help bool
	}{
		{name: "help", args: []string{"--help"}, help: true},
		{name: "no credentials", args: nil, want: "GANTRY_ACCESS_KEY_ID"},
		{name: "bad flag value", args: []string{"--cpu", "many"}, want: "many"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := RunCLI(context.Background(), "gantry-agent", tc.args, noEnv, &stderr, logger)
			if tc.help {
				if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-cluster string") {
					t.Fatalf("err %v, usage %q", err, stderr.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestAgentConfig(t *testing.T) {
	c := config.DefaultAgent()
	c.AccessKeyID, c.SecretAccessKey = "AKID", "secret"
	c.CPU, c.MemoryMiB = 2048, 4096
	c.Attributes["stack"] = "blue"
	c.Complete()
	got := AgentConfig(c)
	want := agent.Config{Server: "http://127.0.0.1:8845", Cluster: "default", DataDir: "gantry-agent", Region: "us-east-1",
		AccessKeyID: "AKID", SecretAccessKey: "secret", CPU: 2048, MemoryMiB: 4096, ReservedMemoryMiB: 256,
		AvailabilityZone: "us-east-1a", InstanceType: "gantry.host", HostAddress: "127.0.0.1", Attributes: map[string]string{"stack": "blue"},
		CleanupDelay: 3 * time.Hour, MetricsInterval: 10 * time.Second, SpotWarning: 2 * time.Minute, LogSpoolSize: 1 << 30}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AgentConfig() = %+v\nwant %+v", got, want)
	}
	c.MetricsInterval = 0
	if got := AgentConfig(c).MetricsInterval; got >= 0 {
		t.Errorf("--metrics-interval 0 gives the agent %v, want a negative interval (off)", got)
	}
}

func TestECSContainerStopTimeout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, config.DefaultContainerStopTimeout},
		{"ECS variable", nil, map[string]string{"ECS_CONTAINER_STOP_TIMEOUT": "45s"}, 45 * time.Second},
		{"GANTRY variable wins", nil, map[string]string{"ECS_CONTAINER_STOP_TIMEOUT": "45s", "GANTRY_CONTAINER_STOP_TIMEOUT": "5s"}, 5 * time.Second},
		{"flag wins", []string{"--container-stop-timeout", "7s"}, map[string]string{"ECS_CONTAINER_STOP_TIMEOUT": "45s"}, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultAgent()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			cfg.RegisterFlags(fs, true)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := config.ApplyEnv(fs, env); err != nil {
				t.Fatal(err)
			}
			if err := applyECSStopTimeout(fs, env, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.ContainerStopTimeout != tt.want {
				t.Fatalf("stop timeout %v, want %v", cfg.ContainerStopTimeout, tt.want)
			}
		})
	}
	cfg := config.DefaultAgent()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs, true)
	bad := func(k string) (string, bool) { return "soon", k == config.EnvECSContainerStopTimeout }
	if err := applyECSStopTimeout(fs, bad, &cfg); err == nil {
		t.Fatal("a malformed ECS_CONTAINER_STOP_TIMEOUT was accepted")
	}
}

func TestECSImageEnv(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(config.Agent) bool
	}{
		{"defaults", nil, nil, func(c config.Agent) bool {
			return c.ImagePullBehavior == "default" && c.ImageCleanupInterval == 30*time.Minute && c.ImagesPerCleanup == 5
		}},
		{"ECS variables", nil, map[string]string{"ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached", "ECS_IMAGE_CLEANUP_INTERVAL": "10m",
			"ECS_IMAGE_MINIMUM_CLEANUP_AGE": "2h", "ECS_NUM_IMAGES_DELETE_PER_CYCLE": "9"}, func(c config.Agent) bool {
			return c.ImagePullBehavior == "prefer-cached" && c.ImageCleanupInterval == 10*time.Minute &&
				c.ImageMinimumCleanupAge == 2*time.Hour && c.ImagesPerCleanup == 9
		}},
		{"disabled", nil, map[string]string{"ECS_DISABLE_IMAGE_CLEANUP": "true"}, func(c config.Agent) bool { return c.ImageCleanupInterval == 0 }},
		{"task cleanup variables", nil, map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10m", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER": "1m"},
			func(c config.Agent) bool { return c.CleanupDelay == 10*time.Minute && c.CleanupJitter == time.Minute }},
		{"task cleanup default", nil, nil, func(c config.Agent) bool { return c.CleanupDelay == 3*time.Hour && c.CleanupJitter == 0 }},
		{"--task-cleanup-wait wins", []string{"--task-cleanup-wait", "1h"}, map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10m"},
			func(c config.Agent) bool { return c.CleanupDelay == time.Hour }},
		{"flag wins", []string{"--image-pull-behavior", "always"}, map[string]string{"ECS_IMAGE_PULL_BEHAVIOR": "once"},
			func(c config.Agent) bool { return c.ImagePullBehavior == "always" }},
		{"GANTRY variable wins", nil, map[string]string{"ECS_IMAGE_PULL_BEHAVIOR": "once", "GANTRY_IMAGE_PULL_BEHAVIOR": "always"},
			func(c config.Agent) bool { return c.ImagePullBehavior == "always" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultAgent()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			cfg.RegisterFlags(fs, true)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := config.ApplyEnv(fs, env); err != nil {
				t.Fatal(err)
			}
			if err := applyECSImageEnv(fs, env); err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
	cfg := config.DefaultAgent()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs, true)
	bad := func(k string) (string, bool) { return "soon", k == "ECS_IMAGE_CLEANUP_INTERVAL" }
	if err := applyECSImageEnv(fs, bad); err == nil {
		t.Fatal("a malformed ECS_IMAGE_CLEANUP_INTERVAL was accepted")
	}
}
