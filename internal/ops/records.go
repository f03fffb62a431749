package ops

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// The records kept in etcd. Each is the ECS shape plus what Gantry needs
// beside it; the shape's own Tags member holds tags where ECS has one.

// taskDefRecord is one revision of a task definition.
type taskDefRecord struct {
	TaskDefinition ecsapi.TaskDefinition `json:"taskDefinition"`
	Tags           []ecsapi.Tag          `json:"tags,omitempty"`
}

// instanceRecord is a container instance.
type instanceRecord struct {
	Instance ecsapi.ContainerInstance `json:"containerInstance"`
	// LastSeen is when the agent last registered (unix milliseconds).
	LastSeen int64 `json:"lastSeen,omitempty"`
}

// taskRecord is a task.
type taskRecord struct {
	Task ecsapi.Task `json:"task"`
	// Demand is what the task takes from its instance until it stops.
	Demand *scheduler.Demand `json:"demand,omitempty"`
}

// familyRecord counts the revisions of a task definition family.
type familyRecord struct {
	LastRevision int32 `json:"lastRevision"`
}

func clusterKey(name string) string { return store.Key("clusters", name) }

func familyKey(family string) string { return store.Key("families", family) }

func taskDefKey(family string, rev int32) string {
	return store.Key("taskdefs", family, fmt.Sprintf("%010d", rev))
}

func instanceKey(cluster, id string) string { return store.Key("instances", cluster, id) }

func taskKey(cluster, id string) string { return store.Key("tasks", cluster, id) }

func serviceKey(cluster, name string) string { return store.Key("services", cluster, name) }

// prefixOf returns the prefix of every key of kind (and the given parts).
func prefixOf(kind string, parts ...string) string {
	return store.Key(append([]string{kind}, parts...)...) + "/"
}
