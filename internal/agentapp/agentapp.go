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
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/ecrauth"
	"github.com/gantry-dev/gantry/internal/agent/runtime/docker"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Agent is a running agent.
type Agent struct {
	// Agent is the agent itself.
	Agent *agent.Agent
	// MetricsURL is the URL of the agent's Prometheus metrics when
	// AgentOptions.DebugListen was set.
	MetricsURL string
	debug      *http.Server
	runtime    *docker.Runtime
	lock       *agent.DataDirLock
	cancel     context.CancelFunc
	exited     chan error
	doneCh     chan struct{}
	runErr     error

	closeOnce sync.Once
	closeErr  error
	// cleanerDone closes when the image clean-up loop and the warm pause
	// containers' loop (warmDone) have stopped.
	cleanerDone chan struct{}
	warmDone    chan struct{}
}

// AgentOptions are what StartAgent needs beyond the agent's Config.
type AgentOptions struct {
	// DockerHost is the Docker Engine's address; empty for the default.
	DockerHost string
	// DebugListen, when set, is the loopback address the agent serves its
	// Prometheus metrics (/metrics) on.
	DebugListen string
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
	// TaskMetadataListen is where the task metadata endpoint listens
	// (config.Agent.TaskMetadataListen): empty for the host's address on
	// Docker's default bridge network at a port kept in the data dir,
	// "off" for none, else HOST or HOST:PORT.
	TaskMetadataListen string
}

// fargateWarmPause is how many pause containers a Fargate pool host keeps
// started ahead of its tasks (docker.Config.WarmPause): enough for a burst
// of two starts while the next is being made.
const fargateWarmPause = 2

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
	warm := 0
	if cfg.CapacityProvider == "FARGATE" || cfg.CapacityProvider == "FARGATE_SPOT" {
		// A Fargate pool host keeps network namespaces ready for its tasks.
		warm = fargateWarmPause
	}
	rt, err := docker.New(docker.Config{InstanceID: instanceID, Host: opts.DockerHost, StopTimeout: opts.StopTimeout, Logger: logger.With("component", "docker"),
		PullBehavior: opts.ImagePullBehavior, Images: images, WarmPause: warm, TaskCgroups: true})
	if err != nil {
		return nil, err
	}
	ver, err := rt.ServerVersion(ctx)
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("the Docker Engine is not reachable: %w", err)
	}
	cfg.DockerVersion = ver
	// What an earlier run left of tasks that stopped meanwhile, before any
	// task is prepared.
	if err := rt.SweepWarmPause(ctx); err != nil {
		logger.Warn("warm pause containers: sweep", "err", err)
	}
	rt.SweepTaskCgroups(ctx)
	cfg.DockerAPIVersion = rt.Client().ClientVersion()
	ln, err := metadataListener(ctx, rt, cfg.DataDir, opts.TaskMetadataListen, logger)
	if err != nil {
		rt.Close()
		return nil, err
	}
	cfg.TaskMetadataListener = ln
	a, err := agent.New(cfg, rt)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
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
	h := &Agent{Agent: a, runtime: rt, lock: lock, cancel: cancel, exited: make(chan error, 1), doneCh: make(chan struct{}), cleanerDone: make(chan struct{}),
		warmDone: make(chan struct{})}
	if opts.DebugListen != "" {
		if err := h.serveMetrics(opts.DebugListen, logger); err != nil {
			cancel()
			rt.Close()
			return nil, err
		}
	}
	started = true
	go func() {
		defer close(h.cleanerDone)
		go func() {
			defer close(h.warmDone)
			rt.RunWarmPause(rctx)
		}()
		cleanImages(rctx, rt, opts, logger)
		<-h.warmDone
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
		if h.debug != nil {
			h.debug.Close()
		}
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

// serveMetrics serves the agent's Prometheus metrics on addr, without
// authentication: the configuration keeps addr on loopback.
func (h *Agent) serveMetrics(addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := h.Agent.WriteMetrics(r.Context(), w); err != nil {
			logger.Warn("write agent metrics", "err", err)
		}
	})
	h.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	h.MetricsURL = "http://" + ln.Addr().String() + "/metrics"
	go func() { _ = h.debug.Serve(ln) }()
	logger.Info("agent metrics", "url", h.MetricsURL)
	return nil
}

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

// metadataListener opens the task metadata endpoint's listener for
// --task-metadata-listen: nil for "off"; by default the host's address on
// Docker's default bridge network (reachable from bridge, awsvpc and
// host-mode containers; see package tmds) at the port kept in the data
// dir. When the default address cannot be found (an Engine on another
// host), the agent runs without the endpoint and says so.
func metadataListener(ctx context.Context, rt *docker.Runtime, dataDir, listen string, logger *slog.Logger) (net.Listener, error) {
	switch listen {
	case "off":
		return nil, nil
	case "":
		gw, err := rt.BridgeGateway(ctx)
		if err != nil {
			logger.Warn("no task metadata endpoint: the host's address on Docker's bridge network is unknown", "err", err)
			return nil, nil
		}
		ln, err := tmds.Listen(dataDir, gw.String(), 0)
		if err != nil {
			logger.Warn("no task metadata endpoint", "err", err)
			return nil, nil
		}
		return ln, nil
	}
	host, port := listen, 0
	if h, p, err := net.SplitHostPort(listen); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("--task-metadata-listen %q: %w", listen, err)
		}
		host, port = h, n
	}
	return tmds.Listen(dataDir, host, port)
}
