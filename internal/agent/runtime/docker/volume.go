package docker

import (
	"context"
	"fmt"
	"maps"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// prepareVolumes resolves the task definition's volumes: host paths are
// bind mounts; shared Docker volumes are found, or created when
// autoprovision is set; task-scoped Docker volumes (and volumes with
// neither host nor dockerVolumeConfiguration, for which the ECS agent too
// creates a local Docker volume) are found by label or created, labelled
// with the task so CleanupTask removes them.
func (r *Runtime) prepareVolumes(ctx context.Context, task *runtime.Task) (map[string]runtime.VolumeSource, error) {
	out := make(map[string]runtime.VolumeSource, len(task.Definition.Volumes))
	var existing map[string]string // task volumes already created: definition name -> Docker name
	for _, v := range task.Definition.Volumes {
		c := v.DockerVolumeConfiguration
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			out[v.Name] = runtime.VolumeSource{Kind: runtime.VolumeBind, Source: v.Host.SourcePath}
		case c != nil && c.Scope == "shared":
			if err := r.sharedVolume(ctx, v.Name, c); err != nil {
				return nil, err
			}
			out[v.Name] = runtime.VolumeSource{Kind: runtime.VolumeNamed, Source: v.Name}
		default:
			if existing == nil {
				var err error
				if existing, err = r.taskVolumes(ctx, task.Arn); err != nil {
					return nil, err
				}
			}
			name, ok := existing[v.Name]
			if !ok {
				var err error
				if name, err = r.createTaskVolume(ctx, task, v); err != nil {
					return nil, err
				}
			}
			out[v.Name] = runtime.VolumeSource{Kind: runtime.VolumeNamed, Source: name, TaskScoped: true}
		}
	}
	return out, nil
}

// sharedVolume checks that the shared volume name exists, creating it when
// autoprovision is set.
func (r *Runtime) sharedVolume(ctx context.Context, name string, c *ecsapi.DockerVolumeConfiguration) error {
	_, err := r.cli.VolumeInspect(ctx, name)
	switch {
	case err == nil:
		return nil
	case !cerrdefs.IsNotFound(err):
		return wrap(runtime.CannotCreateVolumeError, err)
	case c.Autoprovision == nil || !*c.Autoprovision:
		return errorf(runtime.CannotCreateVolumeError, "shared volume %s does not exist and autoprovision is not set", name)
	}
	_, err = r.cli.VolumeCreate(ctx, volume.CreateOptions{
		Name: name, Driver: c.Driver, DriverOpts: maps.Clone(c.DriverOpts), Labels: maps.Clone(c.Labels),
	})
	if err != nil {
		return wrap(runtime.CannotCreateVolumeError, fmt.Errorf("create shared volume %s: %w", name, err))
	}
	return nil
}

// taskVolumes returns the task's volumes that exist, by definition name.
func (r *Runtime) taskVolumes(ctx context.Context, taskArn string) (map[string]string, error) {
	resp, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: r.taskFilter(taskArn)})
	if err != nil {
		return nil, wrap(runtime.CannotCreateVolumeError, err)
	}
	out := make(map[string]string, len(resp.Volumes))
	for _, v := range resp.Volumes {
		out[v.Labels[LabelVolume]] = v.Name
	}
	return out, nil
}

// createTaskVolume creates a task-scoped volume for v.
func (r *Runtime) createTaskVolume(ctx context.Context, task *runtime.Task, v ecsapi.Volume) (string, error) {
	opts := volume.CreateOptions{Name: runtimeName(task, v.Name), Labels: map[string]string{}}
	if c := v.DockerVolumeConfiguration; c != nil {
		opts.Driver = c.Driver
		opts.DriverOpts = maps.Clone(c.DriverOpts)
		maps.Copy(opts.Labels, c.Labels)
	}
	opts.Labels[LabelTaskARN] = task.Arn
	opts.Labels[LabelCluster] = task.Cluster
	opts.Labels[LabelInstance] = r.cfg.InstanceID
	opts.Labels[LabelVolume] = v.Name
	vol, err := r.cli.VolumeCreate(ctx, opts)
	if err != nil {
		return "", wrap(runtime.CannotCreateVolumeError, fmt.Errorf("create volume %s: %w", v.Name, err))
	}
	return vol.Name, nil
}

// taskFilter selects the objects of this agent labelled with taskArn.
func (r *Runtime) taskFilter(taskArn string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelInstance+"="+r.cfg.InstanceID),
		filters.Arg("label", LabelTaskARN+"="+taskArn),
	)
}
