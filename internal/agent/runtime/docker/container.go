package docker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskdefcheck"
)

// CreateContainer creates spec.Container of spec.Task, named
// ecs-<family>-<revision>-<container>-<random> and labelled with the task
// ARN, cluster, family, revision, container name and this agent's
// instance. The task must pass taskdefcheck.TaskDefinition and taskdefcheck.Overrides
// (UnsupportedTaskDefinitionError otherwise); failures of Docker are
// CannotCreateContainerError.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (runtime.ContainerRef, error) {
	task := spec.Task
	if err := validateTask(task); err != nil {
		return runtime.ContainerRef{}, err
	}
	def, ok := task.Container(spec.Container)
	if !ok {
		return runtime.ContainerRef{}, errorf(runtime.CannotCreateContainerError, "task definition %s:%d has no container %q",
			task.Definition.Family, task.Definition.Revision, spec.Container)
	}
	// The container runs the image as it was pulled: an ECR host name
	// maps to the Gantry registry's.
	ref, _, err := r.resolve(ctx, def.Image)
	if err != nil {
		return runtime.ContainerRef{}, runtime.NewError(runtime.CannotCreateContainerError, false, err)
	}
	def.Image = ref
	cc, err := mapContainer(mapInput{
		Task:        task,
		Def:         def,
		Resources:   spec.Resources,
		Peers:       spec.Peers,
		Labels:      r.taskLabels(task, def.Name),
		StopTimeout: r.cfg.StopTimeout,
		Env:         spec.Env,
	})
	if err != nil {
		return runtime.ContainerRef{}, runtime.NewError(runtime.CannotCreateContainerError, false, err)
	}
	name := runtimeName(task, def.Name)
	resp, err := r.cli.ContainerCreate(ctx, cc.Config, cc.HostConfig, cc.Networking, nil, name)
	if err != nil {
		return runtime.ContainerRef{}, wrap(runtime.CannotCreateContainerError, err)
	}
	for _, w := range resp.Warnings {
		r.log.Warn("docker warning on create", "task", task.Arn, "container", def.Name, "warning", w)
	}
	return runtime.ContainerRef{ID: resp.ID, RuntimeName: name}, nil
}

// StartContainer starts the container. Failures are CannotStartContainerError.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return wrap(runtime.CannotStartContainerError, err)
	}
	return nil
}

// StopContainer stops the container with its stop signal, then SIGKILL
// after the stopTimeout it was created with (the definition's stopTimeout,
// else Config.StopTimeout). Failures are CannotStopContainerError; an
// unknown container is not retryable and matches runtime.ErrNotFound.
func (r *Runtime) StopContainer(ctx context.Context, id string) error {
	// No timeout in the request: the daemon uses the container's own.
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{}); err != nil {
		return wrap(runtime.CannotStopContainerError, err)
	}
	return nil
}

// StopContainerWithin is StopContainer with timeout, rounded up to whole
// seconds, between the stop signal and SIGKILL in place of the container's
// own stopTimeout: a Fargate Spot reclamation's warning.
func (r *Runtime) StopContainerWithin(ctx context.Context, id string, timeout time.Duration) error {
	secs := int((timeout + time.Second - 1) / time.Second)
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return wrap(runtime.CannotStopContainerError, err)
	}
	return nil
}

// RemoveContainer removes the container and its anonymous volumes, killing
// it first if it runs. An unknown container is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err): // removal already in progress
		return runtime.NewError(runtime.CannotRemoveContainerError, true, err)
	default:
		return wrap(runtime.CannotRemoveContainerError, err)
	}
}

// InspectContainer reports the container's state, exit code, health,
// times and network bindings. Failures are CannotInspectContainerError; an
// unknown container matches runtime.ErrNotFound.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.ContainerStatus{}, wrap(runtime.CannotInspectContainerError, err)
	}
	return containerStatus(c), nil
}

// ListContainers lists every container labelled with this agent's instance,
// running or not.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.ContainerSummary, error) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+r.cfg.InstanceID)),
	})
	if err != nil {
		return nil, wrap(runtime.CannotListContainersError, err)
	}
	out := make([]runtime.ContainerSummary, 0, len(list))
	for _, c := range list {
		if c.Labels[LabelWarmPause] != "" {
			continue // no task's, or one whose pause it is by name only
		}
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, runtime.ContainerSummary{
			ContainerRef:  runtime.ContainerRef{ID: c.ID, RuntimeName: name},
			TaskArn:       c.Labels[LabelTaskARN],
			Cluster:       c.Labels[LabelCluster],
			Family:        c.Labels[LabelFamily],
			Revision:      c.Labels[LabelRevision],
			ContainerName: c.Labels[LabelContainerName],
			Pause:         c.Labels[LabelContainerName] == runtime.PauseContainerName,
			State:         state(c.State),
			RuntimeState:  c.State,
		})
	}
	return out, nil
}

// containerStatus maps Docker's inspect output.
func containerStatus(c container.InspectResponse) runtime.ContainerStatus {
	s := runtime.ContainerStatus{}
	if c.ContainerJSONBase != nil {
		s.ID = c.ID
		s.RuntimeName = strings.TrimPrefix(c.Name, "/")
		s.ImageID = c.Image
	}
	var labels map[string]string
	if c.Config != nil {
		labels = c.Config.Labels
	}
	s.Labels = labels
	s.TaskArn = labels[LabelTaskARN]
	s.ContainerName = labels[LabelContainerName]
	if c.ContainerJSONBase == nil || c.State == nil {
		return s
	}
	st := c.State
	s.RuntimeState = st.Status
	s.State = state(st.Status)
	s.OOMKilled = st.OOMKilled
	s.Error = st.Error
	s.CreatedAt = parseTime(c.Created)
	s.StartedAt = parseTime(st.StartedAt)
	s.FinishedAt = parseTime(st.FinishedAt)
	if s.State == runtime.StateStopped {
		code := int32(st.ExitCode)
		s.ExitCode = &code
	}
	if st.Health != nil {
		s.Health = health(st.Health.Status)
	}
	s.NetworkBindings = networkBindings(c)
	if c.HostConfig != nil {
		s.NetworkMode = string(c.HostConfig.NetworkMode)
	}
	if c.NetworkSettings != nil {
		for name, ep := range c.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			s.Networks = append(s.Networks, runtime.ContainerNetwork{Name: name, IPv4Address: ep.IPAddress, IPv6Address: ep.GlobalIPv6Address})
		}
		slices.SortFunc(s.Networks, func(a, b runtime.ContainerNetwork) int { return cmp.Compare(a.Name, b.Name) })
	}
	return s
}

// state maps Docker's state word.
func state(s string) runtime.State {
	switch s {
	case container.StateCreated:
		return runtime.StateCreated
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtime.StateRunning
	default: // exited, dead, removing
		return runtime.StateStopped
	}
}

// health maps Docker's health status to ECS's.
func health(s container.HealthStatus) ecsapi.HealthStatus {
	switch s {
	case container.Healthy:
		return "HEALTHY"
	case container.Unhealthy:
		return "UNHEALTHY"
	case container.NoHealthcheck:
		return ""
	default: // starting
		return "UNKNOWN"
	}
}

// networkBindings reports the ports Docker published (bridge mode), with
// the host ports it actually bound, or the exposed ports in host mode,
// where each container port is its own host port. Sorted by container
// port, protocol and bind address.
func networkBindings(c container.InspectResponse) []ecsapi.NetworkBinding {
	var out []ecsapi.NetworkBinding
	add := func(port nat.Port, hostIP, hostPort string) {
		cp, hp := port.Int(), 0
		if n, err := strconv.Atoi(hostPort); err == nil {
			hp = n
		}
		if cp <= 0 || hp <= 0 {
			return
		}
		cp32, hp32 := int32(cp), int32(hp)
		out = append(out, ecsapi.NetworkBinding{
			BindIP: hostIP, ContainerPort: &cp32, HostPort: &hp32, Protocol: ecsapi.TransportProtocol(port.Proto()),
		})
	}
	switch {
	case c.HostConfig != nil && c.HostConfig.NetworkMode.IsHost():
		if c.Config != nil {
			for port := range c.Config.ExposedPorts {
				add(port, "0.0.0.0", port.Port())
			}
		}
	case c.NetworkSettings != nil:
		for port, bindings := range c.NetworkSettings.Ports {
			for _, b := range bindings {
				add(port, b.HostIP, b.HostPort)
			}
		}
	}
	slices.SortFunc(out, func(a, b ecsapi.NetworkBinding) int {
		return cmp.Or(
			cmp.Compare(*a.ContainerPort, *b.ContainerPort),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.BindIP, b.BindIP),
		)
	})
	return out
}

// parseTime parses Docker's RFC 3339 times; Docker's zero time and bad
// input give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// validateTask runs taskdefcheck.TaskDefinition and taskdefcheck.Overrides on task, as an
// UnsupportedTaskDefinitionError.
func validateTask(task *runtime.Task) error {
	if err := errors.Join(taskdefcheck.TaskDefinition(task.Definition), taskdefcheck.Overrides(task.Definition, task.Overrides)); err != nil {
		return runtime.NewError(runtime.UnsupportedTaskDefinitionError, false, err)
	}
	return nil
}
