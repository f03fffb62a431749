package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/runtime/docker"
)

// Agent is a running agent.
type Agent struct {
	// Agent is the agent itself.
	Agent   *agent.Agent
	runtime *docker.Runtime
	cancel  context.CancelFunc
	done    chan error
}

// AgentOptions are what StartAgent needs beyond the agent's Config.
type AgentOptions struct {
	// DockerHost is the Docker Engine's address; empty for the default.
	DockerHost string
}

// StartAgent connects to the Docker Engine, registers the instance with the
// control plane (failing if the control plane refuses the agent's
// credentials) and runs the agent in the background until Close.
func StartAgent(ctx context.Context, cfg agent.Config, opts AgentOptions, logger *slog.Logger) (*Agent, error) {
	cfg.Logger = logger
	instanceID, err := agent.LoadInstanceID(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent data dir: %w", err)
	}
	rt, err := docker.New(docker.Config{InstanceID: instanceID, Host: opts.DockerHost, Logger: logger.With("component", "docker")})
	if err != nil {
		return nil, err
	}
	ver, err := rt.ServerVersion(ctx)
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("the Docker Engine is not reachable: %w", err)
	}
	cfg.DockerVersion = ver
	cfg.DockerAPIVersion = rt.Client().ClientVersion()
	a, err := agent.New(cfg, rt)
	if err != nil {
		rt.Close()
		return nil, err
	}
	if err := a.Register(ctx); err != nil {
		rt.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	h := &Agent{Agent: a, runtime: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- a.Run(rctx) }()
	return h, nil
}

// Close stops the agent, leaving its tasks' containers running, and waits
// for it.
func (h *Agent) Close() error {
	h.cancel()
	err := <-h.done
	h.runtime.Close()
	return err
}

// Done yields the agent's exit error once it stops.
func (h *Agent) Done() <-chan error { return h.done }
