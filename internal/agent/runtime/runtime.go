package runtime

import "context"

// Runtime runs the containers of the tasks assigned to one agent. All
// methods are safe for concurrent use. Every error is an *Error.
//
// A Runtime only sees the containers of its own agent (its instance): several
// agents may share one container engine.
type Runtime interface {
	// PrepareTask creates, or finds if they exist, the task's network
	// namespace and volumes and returns them. It refuses a task that uses
	// members the runtime cannot honour (UnsupportedTaskDefinitionError).
	PrepareTask(ctx context.Context, task *Task) (*TaskResources, error)

	// PullImage makes image available locally. An image that is already
	// local is not pulled. A failure is a CannotPullContainerError.
	PullImage(ctx context.Context, image string) error

	// CreateContainer creates spec.Container, labelled with the task's ARN,
	// cluster, family, revision, the container's name and the agent's
	// instance, so ListContainers finds it after an agent restart.
	CreateContainer(ctx context.Context, spec CreateSpec) (ContainerRef, error)

	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error

	// StopContainer sends the container its stop signal (SIGTERM unless the
	// image says otherwise) and SIGKILL once the container's stopTimeout
	// has passed; it returns when the container has stopped. Stopping a
	// stopped container succeeds. ctx must allow for the stopTimeout.
	StopContainer(ctx context.Context, id string) error

	// InspectContainer reports the container's current state. An unknown
	// container is a CannotInspectContainerError wrapping ErrNotFound.
	InspectContainer(ctx context.Context, id string) (ContainerStatus, error)

	// RemoveContainer removes the container, stopping it first if needed
	// (with SIGKILL). Removing an unknown container succeeds.
	RemoveContainer(ctx context.Context, id string) error

	// ListContainers lists the agent's containers, running or not, pause
	// containers included.
	ListContainers(ctx context.Context) ([]ContainerSummary, error)

	// CleanupTask removes every container and task-scoped volume of the
	// task with ARN taskArn that belong to this agent, pause container
	// included. It succeeds when there is nothing left to remove.
	CleanupTask(ctx context.Context, taskArn string) error

	// Events streams the start, die, oom and health_status events of the
	// agent's containers from the moment of the call, until ctx is done; the
	// channel is then closed. A broken stream is re-established.
	Events(ctx context.Context) <-chan Event
}
