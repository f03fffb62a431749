package ecsapi

import "reflect"

// Gantry's extensions of the ECS API: operations the agent uses to learn its
// tasks and report their full state. They are served under the same target
// prefix, named Gantry*, and change no ECS shape.

// ExtensionOperations lists the extension operations with the names of their
// input and output shapes, like Operations.
func ExtensionOperations() map[string][2]string {
	return map[string][2]string{
		"GantryPollTasks":       {"GantryPollTasksRequest", "GantryPollTasksResponse"},
		"GantrySubmitTaskState": {"GantrySubmitTaskStateRequest", "GantrySubmitTaskStateResponse"},
	}
}

// ExtensionShapeType is ShapeType for the extension shapes.
func ExtensionShapeType(name string) reflect.Type {
	switch name {
	case "GantryPollTasksRequest":
		return reflect.TypeFor[GantryPollTasksRequest]()
	case "GantryPollTasksResponse":
		return reflect.TypeFor[GantryPollTasksResponse]()
	case "GantrySubmitTaskStateRequest":
		return reflect.TypeFor[GantrySubmitTaskStateRequest]()
	case "GantrySubmitTaskStateResponse":
		return reflect.TypeFor[GantrySubmitTaskStateResponse]()
	}
	return nil
}

// GantryPollTasksRequest asks for the tasks assigned to a container instance.
// With Revision set (from the previous response) the answer holds in full
// only the tasks changed since, and with WaitSeconds too the call waits up
// to that long for a change before answering. With OmitTasks the answer
// holds the ARNs only (Tasks is empty): a heartbeat, like the one ECS's
// agent sends on its ACS connection, that keeps the agent connected
// without fetching task payloads.
type GantryPollTasksRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance" required:"true"`
	Revision          int64  `json:"revision,omitempty"`
	WaitSeconds       int32  `json:"waitSeconds,omitempty"`
	OmitTasks         bool   `json:"omitTasks,omitempty"`
}

// GantryPollTasksResponse lists the tasks assigned to the instance:
// TaskArns all of them, Tasks in full those that changed after the
// request's Revision (all of them when it had none).
type GantryPollTasksResponse struct {
	Revision int64                `json:"revision"`
	TaskArns []string             `json:"taskArns"`
	Tasks    []GantryAssignedTask `json:"tasks"`
	// InstanceStatus is the container instance's status (INACTIVE once
	// deregistered).
	InstanceStatus string `json:"instanceStatus"`
}

// GantryAssignedTask is a task with the task definition it runs.
type GantryAssignedTask struct {
	Task           Task           `json:"task"`
	TaskDefinition TaskDefinition `json:"taskDefinition"`
}

// GantryContainerState is what the agent knows of one container.
type GantryContainerState struct {
	ContainerName   string           `json:"containerName"`
	RuntimeId       string           `json:"runtimeId,omitempty"`
	Status          string           `json:"status,omitempty"`
	ExitCode        *int32           `json:"exitCode,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	NetworkBindings []NetworkBinding `json:"networkBindings,omitempty"`
	HealthStatus    HealthStatus     `json:"healthStatus,omitempty"`
	ImageDigest     string           `json:"imageDigest,omitempty"`
}

// GantrySubmitTaskStateRequest reports a task's state, its containers' and
// their health in one call.
type GantrySubmitTaskStateRequest struct {
	Cluster            string                  `json:"cluster,omitempty"`
	Task               string                  `json:"task" required:"true"`
	Status             string                  `json:"status,omitempty"`
	Reason             string                  `json:"reason,omitempty"`
	StopCode           TaskStopCode            `json:"stopCode,omitempty"`
	HealthStatus       HealthStatus            `json:"healthStatus,omitempty"`
	Containers         []GantryContainerState  `json:"containers,omitempty"`
	Attachments        []AttachmentStateChange `json:"attachments,omitempty"`
	PullStartedAt      *Timestamp              `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *Timestamp              `json:"pullStoppedAt,omitempty"`
	ExecutionStoppedAt *Timestamp              `json:"executionStoppedAt,omitempty"`
	StartedAt          *Timestamp              `json:"startedAt,omitempty"`
	// NetworkAttachments are the task's network interfaces (awsvpc), shown
	// as the task's attachments.
	NetworkAttachments []Attachment `json:"networkAttachments,omitempty"`
}

// GantrySubmitTaskStateResponse acknowledges a GantrySubmitTaskStateRequest.
type GantrySubmitTaskStateResponse struct {
	Acknowledgment string `json:"acknowledgment"`
}
