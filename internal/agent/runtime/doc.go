// Package runtime is the agent's view of a container runtime: the Runtime
// interface the task engine drives, and the types it exchanges with it.
//
// A task's life on a runtime, one call per ECS transition:
//
//	PrepareTask          network namespace (awsvpc pause container), task volumes
//	  PullImage          per container: pulls only when the image is not local
//	  CreateContainer    per container, in dependency order (links, volumesFrom)
//	  StartContainer
//	  ... Events / InspectContainer report start, die, oom, health changes
//	  StopContainer      SIGTERM (or the image's stop signal), SIGKILL after stopTimeout
//	  RemoveContainer
//	CleanupTask          everything left that carries the task's ARN
//
// Every error a Runtime returns for a container or task is an *Error: it
// carries the ECS agent's error name (CannotPullContainerError, ...), which
// becomes the task's stoppedReason, and whether retrying the same call may
// succeed.
//
// Package runtime/docker implements Runtime on the Docker Engine.
package runtime
