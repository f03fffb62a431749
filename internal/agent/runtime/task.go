package runtime

import (
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Network modes, spelled as ECS spells them.
const (
	NetworkModeBridge ecsapi.NetworkMode = "bridge"
	NetworkModeHost   ecsapi.NetworkMode = "host"
	NetworkModeAWSVPC ecsapi.NetworkMode = "awsvpc"
	NetworkModeNone   ecsapi.NetworkMode = "none"
)

// Task is what a runtime needs to know about a task to run its containers:
// its identity, its task definition and the overrides of the RunTask or
// StartTask call that created it. A runtime never modifies a Task.
type Task struct {
	// Arn is the task's ARN; every container and volume of the task carries
	// it as a label.
	Arn string
	// Cluster is the short name or ARN of the task's cluster.
	Cluster string
	// Definition is the task's task definition: family, revision, network
	// mode, volumes and container definitions.
	Definition ecsapi.TaskDefinition
	// Overrides are the task's overrides; only containerOverrides and the
	// task-level memory are used by a runtime.
	Overrides ecsapi.TaskOverride
	// Fargate marks a task of launch type FARGATE on a Fargate pool host:
	// the kernel holds it to its task-level cpu and memory (the hard
	// limits of its containers add up to them).
	Fargate bool
}

// ID returns the task ID, the last segment of the ARN
// (arn:aws:ecs:region:account:task/cluster/ID).
func (t *Task) ID() string {
	if i := strings.LastIndexByte(t.Arn, '/'); i >= 0 {
		return t.Arn[i+1:]
	}
	return t.Arn
}

// NetworkMode returns the task definition's network mode, bridge when it is
// not set (the ECS default for the EC2 launch type on Linux).
func (t *Task) NetworkMode() ecsapi.NetworkMode {
	if t.Definition.NetworkMode == "" {
		return NetworkModeBridge
	}
	return t.Definition.NetworkMode
}

// Container returns the definition of the container called name with the
// task's override for it applied, and whether there is such a container.
func (t *Task) Container(name string) (ecsapi.ContainerDefinition, bool) {
	for _, def := range t.Definition.ContainerDefinitions {
		if def.Name != name {
			continue
		}
		for _, o := range t.Overrides.ContainerOverrides {
			if o.Name == name {
				return ApplyOverride(def, o), true
			}
		}
		return def, true
	}
	return ecsapi.ContainerDefinition{}, false
}

// ApplyOverride returns def with the members of o that ECS lets RunTask
// override: command replaces the command, environment entries replace the
// definition's entries of the same name or are appended, cpu, memory and
// memoryReservation replace the definition's values. def is not modified.
func ApplyOverride(def ecsapi.ContainerDefinition, o ecsapi.ContainerOverride) ecsapi.ContainerDefinition {
	if o.Command != nil {
		def.Command = append([]string(nil), o.Command...)
	}
	if len(o.Environment) > 0 {
		env := make([]ecsapi.KeyValuePair, 0, len(def.Environment)+len(o.Environment))
		index := make(map[string]int, len(def.Environment))
		for _, kv := range def.Environment {
			if i, ok := index[kv.Name]; ok {
				env[i] = kv
				continue
			}
			index[kv.Name] = len(env)
			env = append(env, kv)
		}
		for _, kv := range o.Environment {
			if i, ok := index[kv.Name]; ok {
				env[i] = kv
				continue
			}
			index[kv.Name] = len(env)
			env = append(env, kv)
		}
		def.Environment = env
	}
	if o.Cpu != nil {
		def.Cpu = *o.Cpu
	}
	if o.Memory != nil {
		v := *o.Memory
		def.Memory = &v
	}
	if o.MemoryReservation != nil {
		v := *o.MemoryReservation
		def.MemoryReservation = &v
	}
	if len(o.EnvironmentFiles) > 0 {
		def.EnvironmentFiles = append([]ecsapi.EnvironmentFile(nil), o.EnvironmentFiles...)
	}
	if len(o.ResourceRequirements) > 0 {
		def.ResourceRequirements = append([]ecsapi.ResourceRequirement(nil), o.ResourceRequirements...)
	}
	return def
}
