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
		"GantryPutLogEvents":    {"GantryPutLogEventsRequest", "GantryPutLogEventsResponse"},
		"GantryPutTaskMetrics":  {"GantryPutTaskMetricsRequest", "GantryPutTaskMetricsResponse"},
		// Agent identity (gantry_identity.go).
		"GantryIssueInstanceCredentials": {"GantryIssueInstanceCredentialsRequest", "GantryIssueInstanceCredentialsResponse"},
		// The control plane's live servers (gantry_discover.go).
		"GantryDiscoverPollEndpoints": {"GantryDiscoverPollEndpointsRequest", "GantryDiscoverPollEndpointsResponse"},
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
	case "GantryPutLogEventsRequest":
		return reflect.TypeFor[GantryPutLogEventsRequest]()
	case "GantryPutLogEventsResponse":
		return reflect.TypeFor[GantryPutLogEventsResponse]()
	case "GantryPutTaskMetricsRequest":
		return reflect.TypeFor[GantryPutTaskMetricsRequest]()
	case "GantryPutTaskMetricsResponse":
		return reflect.TypeFor[GantryPutTaskMetricsResponse]()
	case "GantryIssueInstanceCredentialsRequest":
		return reflect.TypeFor[GantryIssueInstanceCredentialsRequest]()
	case "GantryIssueInstanceCredentialsResponse":
		return reflect.TypeFor[GantryIssueInstanceCredentialsResponse]()
	case "GantryDiscoverPollEndpointsRequest":
		return reflect.TypeFor[GantryDiscoverPollEndpointsRequest]()
	case "GantryDiscoverPollEndpointsResponse":
		return reflect.TypeFor[GantryDiscoverPollEndpointsResponse]()
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
	// Session identifies the polling agent process (random, chosen at its
	// start): while one session polls an instance, the control plane
	// refuses another's polls for it.
	Session string `json:"session,omitempty"`
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

// GantryPutLogEventsRequest carries one batch of the output of a container
// whose log driver is awslogs, captured by the agent, to the control
// plane's log store.
//
// Delivery is exactly once and in order per producer: the agent numbers
// its batches with BatchSeq (1, 2, 3, ... per Producer, kept across agent
// restarts) and sends batch n+1 only after batch n was acknowledged; a batch
// it re-sends (after a timeout or a restart) has the same BatchSeq and the
// same events. The server stores a batch whose BatchSeq is greater than the
// last one it stored for Producer, appending its events to the stream in
// the order given, and acknowledges without storing again one whose BatchSeq
// it has already stored. The stored batch and the producer's last BatchSeq
// must be written together (atomically).
//
// With CreateGroup the log group LogGroupName is created if it does not
// exist (awslogs-create-group); without it a missing group is a
// ResourceNotFoundException. The stream LogStreamName is created if it
// does not exist. A request without events only creates the group and
// stream (or reports that the group does not exist) and carries BatchSeq 0.
//
// Events follow PutLogEvents' rules: at most 10,000 events and 1,048,576
// bytes (each message's UTF-8 length plus 26), in chronological order,
// spanning at most 24 hours.
type GantryPutLogEventsRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance" required:"true"`
	// Task and ContainerName name the container whose output this is.
	Task          string `json:"task" required:"true"`
	ContainerName string `json:"containerName" required:"true"`
	// LogGroupName and LogStreamName are the destination (awslogs-group, and
	// PREFIX/CONTAINER/TASK_ID with awslogs-stream-prefix or the container's
	// runtime ID without it).
	LogGroupName  string `json:"logGroupName" required:"true"`
	LogStreamName string `json:"logStreamName" required:"true"`
	// Region is awslogs-region, for information: the server stores the
	// events in its own log store whatever the region.
	Region      string `json:"region,omitempty"`
	CreateGroup bool   `json:"createGroup,omitempty"`
	// Producer identifies the sender of the batches: the container instance,
	// the task and the container.
	Producer string `json:"producer" required:"true"`
	// BatchSeq numbers the producer's batches from 1, one more per batch;
	// a batch the server refused with a client error is not sent again,
	// so the server may see a gap after it.
	BatchSeq int64 `json:"batchSeq"`
	// Events are the batch's log events, in order.
	Events []GantryLogEvent `json:"events"`
}

// GantryLogEvent is one log event of a GantryPutLogEventsRequest: Timestamp
// in milliseconds since the Unix epoch and the message, as CloudWatch Logs'
// InputLogEvent.
type GantryLogEvent struct {
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// GantryPutLogEventsResponse acknowledges a GantryPutLogEventsRequest. Its
// members are informational; a successful answer is the acknowledgement.
type GantryPutLogEventsResponse struct {
	// Duplicate is set when the batch had already been stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

// GantryPutTaskMetricsRequest carries one sampling interval's utilisation
// of the tasks running on a container instance, measured by its agent from
// the container engine's statistics, to the control plane, which computes
// the AWS/ECS (and ECS/ContainerInsights) metrics from them.
//
// Delivery is at most once: the agent sends each interval's figures once
// and does not send them again after an error, so a sample is never
// counted twice (a lost interval is a gap, as a missed datapoint is on
// AWS). The agent talks to one server at a time.
type GantryPutTaskMetricsRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance" required:"true"`
	// Timestamp is the end of the interval, in seconds since the Unix epoch.
	Timestamp *Timestamp `json:"timestamp" required:"true"`
	// PeriodSeconds is the interval's length: the figures below are
	// averages (CPU) or totals (bytes) over it.
	PeriodSeconds float64 `json:"periodSeconds"`
	// Tasks are the tasks with at least one running container.
	Tasks []GantryTaskMetrics `json:"tasks"`
}

// GantryTaskMetrics is one task's utilisation over an interval: the sums
// over its running containers (an awsvpc task's pause container included,
// which carries its network).
type GantryTaskMetrics struct {
	Task string `json:"task" required:"true"`
	// Family is the family of the task's task definition, as the agent
	// labelled its containers (the ECS/ContainerInsights
	// TaskDefinitionFamily dimension).
	Family string `json:"family,omitempty"`
	// CpuUsed is the CPU used, in CPU units (1,024 to a vCPU), averaged
	// over the interval.
	CpuUsed float64 `json:"cpuUsed"`
	// MemoryUsedMiB is the memory in use at the end of the interval, in
	// MiB, without the page cache the kernel may reclaim (what `docker
	// stats` shows).
	MemoryUsedMiB float64 `json:"memoryUsedMiB"`
	// NetworkRxBytes and NetworkTxBytes are the bytes received and sent in
	// the interval; StorageReadBytes and StorageWriteBytes the bytes read
	// and written by block I/O.
	NetworkRxBytes    int64 `json:"networkRxBytes"`
	NetworkTxBytes    int64 `json:"networkTxBytes"`
	StorageReadBytes  int64 `json:"storageReadBytes"`
	StorageWriteBytes int64 `json:"storageWriteBytes"`
	// Containers is the number of containers measured (pause containers
	// not counted).
	Containers int32 `json:"containers"`
}

// GantryPutTaskMetricsResponse acknowledges a GantryPutTaskMetricsRequest.
type GantryPutTaskMetricsResponse struct {
	// Accepted is the number of tasks whose figures were taken; the others
	// were unknown to the server or not on the instance.
	Accepted int32 `json:"accepted"`
}
