// Package dockerprov is Gantry's Docker provisioner: it carries out
// managed scaling's actions (capacity.Request, received on an HTTP hook)
// by starting and removing `gantry agent` processes as containers on a
// Docker Engine, each joined to the action's cluster and capacity
// provider. It is not part of the server (which links no Docker SDK): run
// it as cmd/gantry-provisioner and give the server
// --provisioner http://ADDRESS/.
package dockerprov

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/capacity"
)

// Labels of the agent containers.
const (
	LabelProvisioner = "dev.gantry.provisioner"
	LabelCluster     = "dev.gantry.provisioner.cluster"
	LabelProvider    = "dev.gantry.provisioner.capacity-provider"
)

// Config is what the provisioner starts agents with.
type Config struct {
	// Name tells this provisioner's containers from others' (label
	// dev.gantry.provisioner).
	Name string
	// Image holds the agent binary at Entrypoint (gantry or gantry-agent;
	// the image's own when empty); Command is what precedes the agent's
	// flags (["agent"] for gantry, none for gantry-agent).
	Image      string
	Entrypoint []string
	Command    []string
	// Server is the agents' --server; AccessKeyID and SecretAccessKey
	// their credentials (GANTRY_ACCESS_KEY_ID, GANTRY_SECRET_ACCESS_KEY).
	Server, Region               string
	AccessKeyID, SecretAccessKey string
	// CPU and MemoryMiB are each agent's --cpu and --memory (its host's
	// when zero).
	CPU, MemoryMiB int
	// Args are more agent flags.
	Args []string
	// NetworkMode of the agent containers ("host" when empty, so that an
	// agent reaches a server on loopback).
	NetworkMode string
	// StopTimeout is how long an agent has to stop before SIGKILL.
	StopTimeout time.Duration
}

// Provisioner starts and removes agent containers.
type Provisioner struct {
	cfg    Config
	docker client.APIClient
	logger *slog.Logger
	mu     sync.Mutex
}

// New returns a provisioner on docker.
func New(cfg Config, docker client.APIClient, logger *slog.Logger) *Provisioner {
	if cfg.Name == "" {
		cfg.Name = "gantry"
	}
	if cfg.NetworkMode == "" {
		cfg.NetworkMode = "host"
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	return &Provisioner{cfg: cfg, docker: docker, logger: logger}
}

// ServeHTTP takes a capacity.Request as a POSTed JSON body and carries it
// out before it answers 200 (400 for a bad body, 500 when Docker fails).
func (p *Provisioner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a managed scaling action", http.StatusMethodNotAllowed)
		return
	}
	var req capacity.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "bad action: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Cluster == "" || req.CapacityProvider == "" || req.DesiredCount < 0 {
		http.Error(w, "bad action: cluster, capacityProvider and a desiredCount of at least 0 are required", http.StatusBadRequest)
		return
	}
	if err := p.Scale(r.Context(), req); err != nil {
		p.logger.Warn("scale", "cluster", req.Cluster, "capacityProvider", req.CapacityProvider, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Agents returns the names of the agent containers of cluster's provider.
func (p *Provisioner) Agents(ctx context.Context, cluster, provider string) ([]string, error) {
	cs, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelProvisioner+"="+p.cfg.Name), filters.Arg("label", LabelCluster+"="+cluster),
		filters.Arg("label", LabelProvider+"="+provider))})
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	var out []string
	for _, c := range cs {
		if len(c.Names) > 0 {
			out = append(out, c.Names[0][1:])
		}
	}
	slices.Sort(out)
	return out, nil
}

// Scale removes the containers of req.InstancesToRemove (named by their
// gantry.provisioner-id attribute), then starts agents until the
// provider has req.DesiredCount. It never removes an agent it was not
// named: which instance goes is the server's choice (termination
// protection, draining).
func (p *Provisioner) Scale(ctx context.Context, req capacity.Request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	agents, err := p.Agents(ctx, req.Cluster, req.CapacityProvider)
	if err != nil {
		return err
	}
	for _, in := range req.InstancesToRemove {
		name := in.Attributes[capacity.ProvisionerAttribute]
		if !slices.Contains(agents, name) {
			p.logger.Warn("asked to remove an instance this provisioner did not start", "instance", in.ContainerInstanceArn)
			continue
		}
		if err := p.remove(ctx, name); err != nil {
			return err
		}
		agents = slices.DeleteFunc(agents, func(a string) bool { return a == name })
		p.logger.Info("agent removed", "container", name, "instance", in.ContainerInstanceArn)
	}
	for len(agents) < req.DesiredCount {
		name, err := p.start(ctx, req.Cluster, req.CapacityProvider)
		if err != nil {
			return err
		}
		agents = append(agents, name)
		p.logger.Info("agent started", "container", name, "cluster", req.Cluster, "capacityProvider", req.CapacityProvider)
	}
	if len(agents) > req.DesiredCount {
		p.logger.Info("more agents than desired; the server names those to remove", "agents", len(agents), "desired", req.DesiredCount)
	}
	return nil
}

// start creates and starts one agent container.
func (p *Provisioner) start(ctx context.Context, cluster, provider string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s-agent-%s", p.cfg.Name, hex.EncodeToString(b[:]))
	args := append(slices.Clip(p.cfg.Command), "--server", p.cfg.Server, "--cluster", cluster, "--capacity-provider", provider,
		"--data-dir", "/tmp/agent", "--attribute", capacity.ProvisionerAttribute+"="+name, "--task-metadata-listen", "off",
		"--image-pull-behavior", "prefer-cached")
	if p.cfg.Region != "" {
		args = append(args, "--region", p.cfg.Region)
	}
	if p.cfg.CPU > 0 {
		args = append(args, "--cpu", strconv.Itoa(p.cfg.CPU))
	}
	if p.cfg.MemoryMiB > 0 {
		args = append(args, "--memory", strconv.Itoa(p.cfg.MemoryMiB))
	}
	args = append(args, p.cfg.Args...)
	env := []string{"GANTRY_ACCESS_KEY_ID=" + p.cfg.AccessKeyID, "GANTRY_SECRET_ACCESS_KEY=" + p.cfg.SecretAccessKey}
	resp, err := p.docker.ContainerCreate(ctx, &container.Config{Image: p.cfg.Image, Entrypoint: p.cfg.Entrypoint, Cmd: args, Env: env,
		Labels: map[string]string{LabelProvisioner: p.cfg.Name, LabelCluster: cluster, LabelProvider: provider}},
		&container.HostConfig{NetworkMode: container.NetworkMode(p.cfg.NetworkMode), Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}},
		nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create agent %s: %w", name, err)
	}
	if err := p.docker.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		_ = p.docker.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
		return "", fmt.Errorf("start agent %s: %w", name, err)
	}
	return name, nil
}

// remove stops and removes one agent container.
func (p *Provisioner) remove(ctx context.Context, name string) error {
	timeout := int(p.cfg.StopTimeout / time.Second)
	if err := p.docker.ContainerStop(ctx, name, container.StopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop agent %s: %w", name, err)
	}
	if err := p.docker.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove agent %s: %w", name, err)
	}
	return nil
}

// RemoveAll removes every agent container of this provisioner.
func (p *Provisioner) RemoveAll(ctx context.Context) error {
	cs, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelProvisioner+"="+p.cfg.Name))})
	if err != nil {
		return err
	}
	for _, c := range cs {
		_ = p.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	return nil
}
