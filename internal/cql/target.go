package cql

import (
	"iter"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Target is the container instance an expression is evaluated against.
// Implementations must not change while Eval runs.
type Target interface {
	// Attribute returns the value of the attribute called name and whether
	// the instance has it. An attribute set without a value is present with
	// the value "".
	Attribute(name string) (value string, ok bool)
	// EC2InstanceID returns the instance's EC2 (or host) ID, "" if unknown.
	EC2InstanceID() string
	// AgentConnected reports whether the instance's agent is connected.
	AgentConnected() bool
	// AgentVersion returns the agent's version, "" if unknown.
	AgentVersion() string
	// RegisteredAt returns when the instance registered; the zero time if
	// unknown, which makes every registeredAt comparison false.
	RegisteredAt() time.Time
	// RunningTasksCount returns the number of tasks in the RUNNING state on
	// the instance.
	RunningTasksCount() int
	// TaskGroups yields the distinct groups of the tasks on the instance.
	TaskGroups() iter.Seq[string]
}

// InstanceTarget adapts an ECS container instance record to Target, for
// callers (ListContainerInstances) that hold the wire shape. Groups lists the
// groups of the tasks placed on the instance; RunningTasksCount comes from
// the record.
type InstanceTarget struct {
	Instance *ecsapi.ContainerInstance
	Groups   []string
}

// Attribute returns the value of the record's attribute called name.
func (t InstanceTarget) Attribute(name string) (string, bool) {
	for _, a := range t.Instance.Attributes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// EC2InstanceID returns the record's ec2InstanceId.
func (t InstanceTarget) EC2InstanceID() string { return t.Instance.Ec2InstanceId }

// AgentConnected returns the record's agentConnected.
func (t InstanceTarget) AgentConnected() bool { return t.Instance.AgentConnected }

// AgentVersion returns the record's versionInfo.agentVersion.
func (t InstanceTarget) AgentVersion() string {
	if t.Instance.VersionInfo == nil {
		return ""
	}
	return t.Instance.VersionInfo.AgentVersion
}

// RegisteredAt returns the record's registeredAt.
func (t InstanceTarget) RegisteredAt() time.Time {
	if t.Instance.RegisteredAt == nil {
		return time.Time{}
	}
	return t.Instance.RegisteredAt.Time
}

// RunningTasksCount returns the record's runningTasksCount.
func (t InstanceTarget) RunningTasksCount() int { return int(t.Instance.RunningTasksCount) }

// TaskGroups yields Groups.
func (t InstanceTarget) TaskGroups() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, g := range t.Groups {
			if !yield(g) {
				return
			}
		}
	}
}
