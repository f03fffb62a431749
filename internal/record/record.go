// Package record owns the shapes Gantry keeps in the store and their keys:
// each record is the ECS wire shape plus what Gantry needs beside it (the
// shape's own Tags member holds tags where ECS has one). The ECS
// operations (package ecs) and the server's live state (package state)
// both read and write them.
package record

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// TaskDef is one revision of a task definition.
type TaskDef struct {
	TaskDefinition ecsapi.TaskDefinition `json:"taskDefinition"`
	Tags           []ecsapi.Tag          `json:"tags,omitempty"`
}

// Instance is a container instance.
type Instance struct {
	Instance ecsapi.ContainerInstance `json:"containerInstance"`
	// LastSeen is when the agent last registered (unix milliseconds).
	LastSeen int64 `json:"lastSeen,omitempty"`
}

// Task is a task.
type Task struct {
	Task ecsapi.Task `json:"task"`
	// Demand is what the task takes from its instance until it stops.
	Demand *scheduler.Demand `json:"demand,omitempty"`
	// ProtectedUntil is when the task's scale-in protection
	// (UpdateTaskProtection) expires; nil when it has none. Protection has
	// ended once it is past.
	ProtectedUntil *ecsapi.Timestamp `json:"protectedUntil,omitempty"`
	// Deactivating is set on a RUNNING task of a service behind a load
	// balancer that was asked to stop (desiredStatus STOPPED): its
	// targets are being deregistered and drained, and until the service
	// controller clears it (FinishDeactivation) the task's agent is told
	// to keep it running. DescribeTasks shows it as lastStatus
	// DEACTIVATING, as ECS does.
	Deactivating bool `json:"deactivating,omitempty"`
	// PlacementConstraints and PlacementStrategy are those RunTask was
	// given, kept on a task that waits in PROVISIONING so that it is
	// placed by them once capacity arrives; empty on any other task.
	PlacementConstraints []ecsapi.PlacementConstraint `json:"placementConstraints,omitempty"`
	PlacementStrategy    []ecsapi.PlacementStrategy   `json:"placementStrategy,omitempty"`
}

// AgentDesiredStatus is the desired status the agent of the task is told:
// RUNNING while the task is deactivating, else its own.
func (t *Task) AgentDesiredStatus() string {
	if t.Deactivating && t.Task.DesiredStatus == TaskStopped {
		return TaskRunning
	}
	return t.Task.DesiredStatus
}

// Family counts the revisions of a task definition family.
type Family struct {
	LastRevision int32 `json:"lastRevision"`
}

// ClusterKey is the key of cluster name.
func ClusterKey(name string) string { return store.Key("clusters", name) }

// FamilyKey is the key of a family's revision counter.
func FamilyKey(family string) string { return store.Key("families", family) }

// TaskDefKey is the key of revision rev of family.
func TaskDefKey(family string, rev int32) string {
	return store.Key("taskdefs", family, fmt.Sprintf("%010d", rev))
}

// InstanceKey is the key of container instance id of cluster.
func InstanceKey(cluster, id string) string { return store.Key("instances", cluster, id) }

// TaskKey is the key of task id of cluster.
func TaskKey(cluster, id string) string { return store.Key("tasks", cluster, id) }

// ServiceKey is the key of service name of cluster.
func ServiceKey(cluster, name string) string { return store.Key("services", cluster, name) }

// ConnectedKey is the key that exists while the agent of instance id of
// cluster is connected (on the lease of the server it calls).
func ConnectedKey(cluster, id string) string { return store.Key("connected", cluster, id) }

// SlotKey is the key of the placement version of a shard of cluster's
// instances (see package state).
func SlotKey(cluster, shard string) string { return store.Key("slots", cluster, shard) }

// PrefixOf returns the prefix of every key of kind (and the given parts).
func PrefixOf(kind string, parts ...string) string {
	return store.Key(append([]string{kind}, parts...)...) + "/"
}

// ParseTaskDefKey splits taskdefs/<family>/<revision>.
func ParseTaskDefKey(key string) (family string, rev int32, ok bool) {
	rest, ok := strings.CutPrefix(key, PrefixOf("taskdefs"))
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return rest[:i], int32(n), true
}

// IDOf is the ID at the end of an ARN (a task's or an instance's) or the
// ID itself.
func IDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// Statuses the records hold, spelled as ECS does.
const (
	TaskRunning      = "RUNNING"
	TaskStopped      = "STOPPED"
	InstanceInactive = "INACTIVE"
	TaskDefActive    = ecsapi.TaskDefinitionStatus("ACTIVE")
)
