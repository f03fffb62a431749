// Package agentapp wires and runs the agent: from its configuration
// (config.Agent, read by RunCLI) it builds the Docker runtime, the agent's
// registration and its task engine. It imports no server code, so the
// gantry-agent binary that uses it stays small.
package agentapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/ecrauth"
	"github.com/gantry-dev/gantry/internal/agent/runtime/docker"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Agent is a running agent.
type Agent struct {
	// Agent is the agent itself.
	Agent   *agent.Agent
	runtime *docker.Runtime
	lock    *agent.DataDirLock
	cancel  context.CancelFunc
	exited  chan error
	doneCh  chan struct{}
	runErr  error

	closeOnce sync.Once
	closeErr  error
	// cleanerDone closes when the image clean-up loop has stopped.
	cleanerDone chan struct{}
}

// AgentOptions are what StartAgent needs beyond the agent's Config.
type AgentOptions struct {
	// DockerHost is the Docker Engine's address; empty for the default.
	DockerHost string
	// StopTimeout is the stop timeout of containers whose definition has
	// none (docker.DefaultStopTimeout when zero).
	StopTimeout time.Duration
	// ImagePullBehavior is the pull behaviour of task images (see
	// docker.Config.PullBehavior); empty is "default".
	ImagePullBehavior string
	// ImageCleanupInterval, when positive, removes every interval up to
	// ImagesPerCleanup images the agent pulled at least
	// ImageMinimumCleanupAge ago that no container uses
	// (docker.Runtime.CleanupImages).
	ImageCleanupInterval   time.Duration
	ImageMinimumCleanupAge time.Duration
	ImagesPerCleanup       int
}

// StartAgent connects to the Docker Engine, registers the instance with the
// control plane (failing if the control plane refuses the agent's
// credentials) and runs the agent in the background until Close.
func StartAgent(ctx context.Context, cfg agent.Config, opts AgentOptions, logger *slog.Logger) (*Agent, error) {
	cfg.Logger = logger
	lock, err := agent.LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			_ = lock.Unlock()
		}
	}()
	instanceID, err := agent.LoadInstanceID(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent data dir: %w", err)
	}
	// Images of the control plane's registry (and ECR names of them) are
	// pulled with a login from ECR's GetAuthorizationToken, asked for
	// with the agent's own credentials.
	images := ecrauth.New(ecsclient.New(cfg.Server, cfg.Region, cfg.AccessKeyID, cfg.SecretAccessKey), nil)
	rt, err := docker.New(docker.Config{InstanceID: instanceID, Host: opts.DockerHost, StopTimeout: opts.StopTimeout, Logger: logger.With("component", "docker"),
		PullBehavior: opts.ImagePullBehavior, Images: images})
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
		if !errors.Is(err, agent.ErrClusterNotFound) {
			rt.Close()
			return nil, err
		}
		// Run keeps trying until the cluster is created.
		logger.Warn("cluster not found: the agent registers once it is created", "cluster", cfg.Cluster)
	}
	rctx, cancel := context.WithCancel(context.Background())
	h := &Agent{Agent: a, runtime: rt, lock: lock, cancel: cancel, exited: make(chan error, 1), doneCh: make(chan struct{}), cleanerDone: make(chan struct{})}
	started = true
	go func() {
		defer close(h.cleanerDone)
		cleanImages(rctx, rt, opts, logger)
	}()
	go func() {
		h.runErr = a.Run(rctx)
		close(h.doneCh)
		h.exited <- h.runErr
	}()
	return h, nil
}

// Close stops the agent, leaving its tasks' containers running, and waits
// for it.
// It is safe to call more than once.
func (h *Agent) Close() error {
	h.closeOnce.Do(func() {
		h.cancel()
		h.closeErr = <-h.exited
		<-h.cleanerDone
		h.runtime.Close()
		_ = h.lock.Unlock()
	})
	return h.closeErr
}

// Done is closed when the agent has stopped on its own or by Close.
func (h *Agent) Done() <-chan struct{} { return h.doneCh }

// Err is the agent's exit error, once Done is closed.
func (h *Agent) Err() error { return h.runErr }

// cleanImages runs the image clean-up every opts.ImageCleanupInterval
// until ctx ends; a non-positive interval turns it off.
func cleanImages(ctx context.Context, rt *docker.Runtime, opts AgentOptions, logger *slog.Logger) {
	if opts.ImageCleanupInterval <= 0 {
		return
	}
	per := opts.ImagesPerCleanup
	if per <= 0 {
		per = docker.DefaultImagesPerCycle
	}
	t := time.NewTicker(opts.ImageCleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := rt.CleanupImages(ctx, now, opts.ImageMinimumCleanupAge, per); err != nil && ctx.Err() == nil {
				logger.Warn("image clean-up", "err", err)
			}
		}
	}
}
