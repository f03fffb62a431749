package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// PrepareTask validates the task (UnsupportedTaskDefinitionError), then
// finds or creates its volumes (CannotCreateVolumeError), a Fargate task's
// cgroup (taskcgroup.go) and, for awsvpc, its pause container on the awsvpc
// network, a warm one if there is one (ResourceInitializationError).
// It is idempotent: called again, even by a restarted agent, it returns the
// same resources. What it created before failing is left for CleanupTask.
func (r *Runtime) PrepareTask(ctx context.Context, task *runtime.Task) (*runtime.TaskResources, error) {
	if err := validateTask(task); err != nil {
		return nil, err
	}
	res := &runtime.TaskResources{NetworkMode: task.NetworkMode()}
	vols, err := r.prepareVolumes(ctx, task)
	if err != nil {
		return nil, err
	}
	res.Volumes = vols
	if res.CgroupParent, err = r.cgroups.ensure(ctx, task); err != nil {
		return nil, err
	}
	if res.NetworkMode == runtime.NetworkModeAWSVPC {
		id, eni, err := r.preparePause(ctx, task)
		if err != nil {
			return nil, err
		}
		res.PauseContainerID, res.Interface = id, eni
	}
	return res, nil
}

// CleanupTask removes the task's containers (pause container included, and
// their anonymous volumes), its task-scoped volumes and its task cgroup,
// all of them of this agent only. Shared volumes and the awsvpc network stay. Failures are a
// retryable ResourceCleanupError.
func (r *Runtime) CleanupTask(ctx context.Context, taskArn string) error {
	f := r.taskFilter(taskArn)
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return runtime.NewError(runtime.ResourceCleanupError, true, err)
	}
	var errs []error
	// A warm pause container the task claimed carries no task label.
	if err := r.cli.ContainerRemove(ctx, claimedPauseName(taskArn), container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("remove pause container: %w", err))
	}
	for _, c := range list {
		err := r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID, err))
		}
	}
	vols, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, err)
	} else {
		for _, v := range vols.Volumes {
			if err := r.cli.VolumeRemove(ctx, v.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			}
		}
	}
	if len(errs) == 0 {
		if err := r.cgroups.remove(ctx, taskArn); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return runtime.NewError(runtime.ResourceCleanupError, true, errors.Join(errs...))
	}
	return nil
}
