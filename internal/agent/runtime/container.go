package runtime

import (
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// State is a container's state as the runtime sees it, spelled as the ECS
// container statuses it corresponds to.
type State string

// The states a container can be in.
const (
	// StateCreated: created, never started.
	StateCreated State = "CREATED"
	// StateRunning: its process runs (or is paused or being restarted).
	StateRunning State = "RUNNING"
	// StateStopped: it ran and exited, or is dead.
	StateStopped State = "STOPPED"
)

// PauseContainerName is the container-name label of the pause container that
// holds an awsvpc task's network namespace, the name the ECS agent gives its
// own pause container.
const PauseContainerName = "~internal~ecs~pause"

// ContainerRef names a container the runtime created.
type ContainerRef struct {
	// ID is the runtime's ID of the container (Docker's 64-hex-digit ID).
	ID string
	// RuntimeName is the runtime's name of the container, for example
	// ecs-web-3-nginx-a1b2c3d4e5f6a7b8c9d0.
	RuntimeName string
}

// CreateSpec is what CreateContainer needs to create one container of a task.
type CreateSpec struct {
	// Task is the task the container belongs to.
	Task *Task
	// Container is the container's name in the task definition.
	Container string
	// Resources are the task's resources returned by PrepareTask.
	Resources *TaskResources
	// Peers are the task's containers already created, by name in the task
	// definition. Every container this one names in links or volumesFrom
	// must be here.
	Peers map[string]ContainerRef
	// Env are variables the agent adds to the container's environment
	// (the task metadata endpoint's ECS_CONTAINER_METADATA_URI_V4 and
	// friends); they win over the definition's entries of the same name.
	Env []ecsapi.KeyValuePair
}

// ContainerStatus is what InspectContainer reports about a container.
type ContainerStatus struct {
	ContainerRef
	// TaskArn and ContainerName are read from the container's labels.
	TaskArn       string
	ContainerName string
	// State is the container's state; RuntimeState is the runtime's own word
	// for it ("created", "running", "exited", ...).
	State        State
	RuntimeState string
	// ExitCode is set once the container has stopped.
	ExitCode *int32
	// Health is HEALTHY, UNHEALTHY or UNKNOWN (checks not yet conclusive);
	// empty when the container has no health check.
	Health ecsapi.HealthStatus
	// CreatedAt is when the runtime created the container. StartedAt and
	// FinishedAt are zero until the container has started and stopped
	// respectively.
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// OOMKilled is set when the kernel killed the container's process for
	// exceeding its memory limit (ECS reports OutOfMemoryError).
	OOMKilled bool
	// Error is the runtime's error message about the container, if any.
	Error string
	// ImageID is the ID (digest) of the image the container runs.
	ImageID string
	// NetworkBindings are the container's published ports, with the host
	// ports the runtime actually bound (bridge and host network modes).
	NetworkBindings []ecsapi.NetworkBinding
	// Networks are the networks the container is attached to, with its
	// addresses on each; a container sharing another's network namespace
	// (an awsvpc task's containers) has none of its own.
	Networks []ContainerNetwork
	// Labels are the container's labels.
	Labels map[string]string
	// NetworkMode is the runtime's network mode of the container
	// ("bridge", "host", "none", "container:ID", or a network's name).
	NetworkMode string
}

// ContainerNetwork is a container's attachment to one network.
type ContainerNetwork struct {
	// Name is the network's name ("bridge" for Docker's default one).
	Name string
	// IPv4Address and IPv6Address are the container's addresses on it
	// ("" when it has none).
	IPv4Address string
	IPv6Address string
}

// ContainerSummary is one container in ListContainers' answer, read from
// its labels.
type ContainerSummary struct {
	ContainerRef
	TaskArn       string
	Cluster       string
	Family        string
	Revision      string
	ContainerName string
	// Pause is set for an awsvpc task's pause container
	// (ContainerName is PauseContainerName).
	Pause bool
	// State is the container's state; RuntimeState the runtime's own word.
	State        State
	RuntimeState string
}

// EventType is the kind of an Event.
type EventType string

// The events a runtime reports for the agent's containers.
const (
	// EventStart: the container's process started.
	EventStart EventType = "start"
	// EventDie: the container's process exited; ExitCode is set.
	EventDie EventType = "die"
	// EventOOM: the kernel killed a process of the container for exceeding
	// its memory limit; a die event follows.
	EventOOM EventType = "oom"
	// EventHealthStatus: the container's health status changed; Health is set.
	EventHealthStatus EventType = "health_status"
	// EventReconnected: the event stream broke and was re-established;
	// events of the gap were replayed where the runtime still had them, but
	// the consumer should inspect its containers again. Only Time is set.
	EventReconnected EventType = "reconnected"
)

// Event is a change of one of the agent's containers.
type Event struct {
	Type          EventType
	ContainerID   string
	TaskArn       string
	ContainerName string
	Time          time.Time
	// ExitCode is set for EventDie.
	ExitCode *int32
	// Health is set for EventHealthStatus.
	Health ecsapi.HealthStatus
}
