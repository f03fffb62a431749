package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// Warm pause containers. An awsvpc task's start is two container starts:
// its pause container (its network namespace and address on the awsvpc
// network), then its containers. With Config.WarmPause > 0 the runtime
// keeps that many pause containers started ahead of any task (RunWarmPause)
// and PrepareTask claims one instead of starting its own, so the task's
// start is one container start, as `docker run`'s. Fargate does the same:
// it provisions capacity, network interface included, before the task
// needs it.
//
// A warm pause container carries the agent's instance label and
// LabelWarmPause, and no task: ListContainers and the runtime's events
// leave it out. Docker cannot relabel a container, so a claim renames it
// to claimedPauseName(task): PrepareTask (again, after an agent restart)
// finds a task's claimed pause container by that name, and CleanupTask
// removes it by name. At the agent's start, SweepWarmPause adopts the warm
// containers a previous run of the agent left and removes the claimed ones
// whose task has no other container left (a task that stopped while the
// agent was down).

// LabelWarmPause marks a pause container the runtime started before any
// task claimed it.
const LabelWarmPause = "dev.gantry.warm-pause"

// warmPauseName is the Docker name prefix of unclaimed warm pause
// containers.
const warmPauseName = "gantry-warm-pause-"

// claimedPauseName is the Docker name of the warm pause container task
// claimed: its ID makes it unique.
func claimedPauseName(taskArn string) string {
	id := taskArn
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return "ecs-internalecspause-" + invalidName.ReplaceAllString(id, "")
}

// warmEligible reports whether task may take a warm pause container: one
// whose pause container needs nothing of its own (net.* system controls,
// a shareable IPC namespace).
func warmEligible(task *runtime.Task) bool {
	return task.Definition.IpcMode != "task" && len(pauseSysctls(task.Definition)) == 0
}

// pauseConfig is the configuration of a pause container: the pause image
// on the awsvpc network (netID, from ensureNetwork: by ID, which a second
// network of the same name does not make ambiguous), stopped by SIGKILL
// (as PID 1 of its namespace it ignores SIGTERM, and a stop would wait
// for the whole stop timeout).
func (r *Runtime) pauseConfig(netID string, labels map[string]string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	cfg := &container.Config{Image: r.cfg.PauseImage, Labels: labels, StopSignal: "SIGKILL"}
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(netID),
		LogConfig:   container.LogConfig{Type: "json-file"},
	}
	netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netID: {}}}
	return cfg, hc, netcfg
}

// SweepWarmPause adopts the running unclaimed warm pause containers of the
// agent's earlier runs, removes its stopped ones, and removes the claimed
// ones whose task has no other container of this instance left (a task
// that stopped while the agent was down). The agent calls it once at
// start, before its tasks are prepared: a claimed pause container of a
// task being prepared must not be taken for a leftover. It does nothing
// when Config.WarmPause is 0.
func (r *Runtime) SweepWarmPause(ctx context.Context) error {
	if r.cfg.WarmPause <= 0 {
		return nil
	}
	return r.sweepWarmPause(ctx)
}

// RunWarmPause keeps Config.WarmPause pause containers started until ctx
// ends, starting one as soon as a task claims another. It returns at once
// when Config.WarmPause is 0. The warm containers stay when it returns:
// the next run of the agent adopts them (SweepWarmPause).
func (r *Runtime) RunWarmPause(ctx context.Context) {
	if r.cfg.WarmPause <= 0 {
		return
	}
	backoff := time.Second
	for {
		if r.warmCount() < r.cfg.WarmPause {
			id, err := r.startWarmPause(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.log.Warn("warm pause container", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			backoff = time.Second
			r.warmMu.Lock()
			r.warm = append(r.warm, id)
			r.warmMu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.warmKick:
		}
		// The task that claimed one is starting its containers now: a
		// replacement started at once would compete with them for the
		// Engine.
		select {
		case <-ctx.Done():
			return
		case <-time.After(warmRefillDelay):
		}
	}
}

// warmRefillDelay is how long after a claim the replacement warm pause
// container is started.
const warmRefillDelay = 2 * time.Second

func (r *Runtime) warmCount() int {
	r.warmMu.Lock()
	defer r.warmMu.Unlock()
	return len(r.warm)
}

// startWarmPause creates and starts one warm pause container. It is not
// cancelled with ctx: a create the client gave up on could still complete
// in the Engine and leave a container no run of the agent knows.
func (r *Runtime) startWarmPause(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	netID, err := r.ensureNetwork(ctx)
	if err != nil {
		return "", err
	}
	if err := r.ensurePauseImage(ctx); err != nil {
		return "", err
	}
	cfg, hc, netcfg := r.pauseConfig(netID, map[string]string{LabelInstance: r.cfg.InstanceID, LabelWarmPause: "true",
		LabelContainerName: runtime.PauseContainerName})
	name := warmPauseName + randomHex(10)
	resp, err := r.cli.ContainerCreate(ctx, cfg, hc, netcfg, nil, name)
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	if err := r.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		_ = r.cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
		return "", fmt.Errorf("start: %w", err)
	}
	return resp.ID, nil
}

// sweepWarmPause adopts the running unclaimed warm pause containers of this
// instance, removes the stopped ones, and removes the claimed ones whose
// task has no other container of this instance.
func (r *Runtime) sweepWarmPause(ctx context.Context) error {
	all, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelInstance+"="+r.cfg.InstanceID))})
	if err != nil {
		return err
	}
	tasks := map[string]bool{} // IDs of tasks with containers
	for _, c := range all {
		if arn := c.Labels[LabelTaskARN]; arn != "" {
			tasks[claimedPauseName(arn)] = true
		}
	}
	var adopted []string
	for _, c := range all {
		if c.Labels[LabelWarmPause] == "" || len(c.Names) == 0 {
			continue
		}
		name := strings.TrimPrefix(c.Names[0], "/")
		switch {
		case strings.HasPrefix(name, warmPauseName) && c.State == container.StateRunning:
			adopted = append(adopted, c.ID)
			continue
		case !strings.HasPrefix(name, warmPauseName) && tasks[name]:
			continue // claimed by a task that still has containers
		}
		if err := r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		r.log.Info("removed a warm pause container left over", "container", name)
	}
	r.warmMu.Lock()
	r.warm = append(r.warm, adopted...)
	r.warmMu.Unlock()
	if len(adopted) > 0 {
		r.log.Info("adopted warm pause containers", "count", len(adopted))
	}
	return nil
}

// claimWarmPause gives task a warm pause container, renamed to
// claimedPauseName(task), and asks for a new one; "" when there is none
// (or the task cannot take one).
func (r *Runtime) claimWarmPause(ctx context.Context, task *runtime.Task) string {
	if r.cfg.WarmPause <= 0 || !warmEligible(task) {
		return ""
	}
	for {
		r.warmMu.Lock()
		if len(r.warm) == 0 {
			r.warmMu.Unlock()
			return ""
		}
		id := r.warm[0]
		r.warm = r.warm[1:]
		r.warmMu.Unlock()
		select {
		case r.warmKick <- struct{}{}:
		default:
		}
		err := r.cli.ContainerRename(ctx, id, claimedPauseName(task.Arn))
		if err == nil {
			return id
		}
		r.log.Warn("claim warm pause container", "container", id, "err", err)
		_ = r.cli.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true})
		if ctx.Err() != nil {
			return ""
		}
	}
}
