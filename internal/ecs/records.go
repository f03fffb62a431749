package ecs

import "github.com/gantry-dev/gantry/internal/record"

// The records kept in the store (package record).
type (
	taskDefRecord  = record.TaskDef
	instanceRecord = record.Instance
	taskRecord     = record.Task
)

func clusterKey(name string) string { return record.ClusterKey(name) }

func taskDefKey(family string, rev int32) string { return record.TaskDefKey(family, rev) }

func instanceKey(cluster, id string) string { return record.InstanceKey(cluster, id) }

func taskKey(cluster, id string) string { return record.TaskKey(cluster, id) }

func serviceKey(cluster, name string) string { return record.ServiceKey(cluster, name) }

func connectedKey(cluster, id string) string { return record.ConnectedKey(cluster, id) }

// prefixOf returns the prefix of every key of kind (and the given parts).
func prefixOf(kind string, parts ...string) string { return record.PrefixOf(kind, parts...) }
