package scheduler

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// The ECS resource names placement accounts for.
const (
	ResourceCPU      = "CPU"
	ResourceMemory   = "MEMORY"
	ResourcePorts    = "PORTS"
	ResourcePortsUDP = "PORTS_UDP"
	ResourceGPU      = "GPU"
)

// LaunchTypeAttribute is the attribute InstanceFromECS gives every instance:
// the launch type whose tasks it takes, EXTERNAL for an external (ECS
// Anywhere) instance, whose ID has the mi- form of a managed instance, and
// EC2 for the others. A request requires it to keep EC2 tasks off external
// instances and EXTERNAL tasks on them. Its ':' is not allowed in the
// attributes of the API, so no attribute set by an agent or PutAttributes
// can take its place.
const LaunchTypeAttribute = "gantry:launch-type"

// InstanceFromECS converts a container instance record to an Instance,
// reading its registeredResources: CPU and MEMORY as numbers, PORTS and
// PORTS_UDP as sets of reserved ports, GPU as a set of GPU IDs (or a
// number). Revision is left 0 for the caller to set. Errors wrap
// ErrInvalidInput.
func InstanceFromECS(ci *ecsapi.ContainerInstance) (Instance, error) {
	inst := Instance{
		ARN:            ci.ContainerInstanceArn,
		EC2InstanceID:  ci.Ec2InstanceId,
		Status:         ci.Status,
		AgentConnected: ci.AgentConnected,
		Attributes:     make(map[string]string, len(ci.Attributes)),
	}
	if ci.VersionInfo != nil {
		inst.AgentVersion = ci.VersionInfo.AgentVersion
	}
	if ci.RegisteredAt != nil {
		inst.RegisteredAt = ci.RegisteredAt.Time
	}
	for _, a := range ci.Attributes {
		inst.Attributes[a.Name] = a.Value
	}
	inst.Attributes[LaunchTypeAttribute] = "EC2"
	if strings.HasPrefix(ci.Ec2InstanceId, "mi-") {
		inst.Attributes[LaunchTypeAttribute] = "EXTERNAL"
	}
	for _, r := range ci.RegisteredResources {
		var err error
		switch r.Name {
		case ResourceCPU:
			inst.CPU, err = resourceNumber(r)
		case ResourceMemory:
			inst.Memory, err = resourceNumber(r)
		case ResourceGPU:
			if len(r.StringSetValue) > 0 {
				inst.GPU = int64(len(r.StringSetValue))
			} else {
				inst.GPU, err = resourceNumber(r)
			}
		case ResourcePorts:
			inst.ReservedTCPPorts, err = resourcePorts(r)
		case ResourcePortsUDP:
			inst.ReservedUDPPorts, err = resourcePorts(r)
		}
		if err != nil {
			return Instance{}, fmt.Errorf("%w: container instance %s: registered resource %s: %v", ErrInvalidInput, ci.ContainerInstanceArn, r.Name, err)
		}
	}
	return inst, nil
}

func resourceNumber(r ecsapi.Resource) (int64, error) {
	var v int64
	switch r.Type {
	case "LONG":
		v = r.LongValue
	case "DOUBLE":
		if math.IsNaN(r.DoubleValue) || math.Abs(r.DoubleValue) > 1<<53 {
			return 0, fmt.Errorf("value %v is out of range", r.DoubleValue)
		}
		v = int64(r.DoubleValue)
	default: // INTEGER, and records that omit the type
		v = int64(r.IntegerValue)
		if v == 0 {
			v = r.LongValue
		}
	}
	if v < 0 {
		return 0, fmt.Errorf("value %d is negative", v)
	}
	return v, nil
}

func resourcePorts(r ecsapi.Resource) ([]int32, error) {
	ports := make([]int32, 0, len(r.StringSetValue))
	for _, s := range r.StringSetValue {
		p, err := strconv.ParseInt(s, 10, 32)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("port %q is not a number in 1-65535", s)
		}
		ports = append(ports, int32(p))
	}
	return ports, nil
}

// RemainingResources returns the instance's remainingResources as ECS
// reports them: CPU and MEMORY left, and PORTS and PORTS_UDP listing the
// host ports in use (ECS's remaining port resources are the taken ones).
func (s InstanceState) RemainingResources() []ecsapi.Resource {
	return []ecsapi.Resource{
		{Name: ResourceCPU, Type: "INTEGER", IntegerValue: clampInt32(s.RemainingCPU)},
		{Name: ResourceMemory, Type: "INTEGER", IntegerValue: clampInt32(s.RemainingMemory)},
		{Name: ResourcePorts, Type: "STRINGSET", StringSetValue: portStrings(s.UsedTCPPorts)},
		{Name: ResourcePortsUDP, Type: "STRINGSET", StringSetValue: portStrings(s.UsedUDPPorts)},
	}
}

func clampInt32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

func portStrings(ports []int32) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = strconv.Itoa(int(p))
	}
	return out
}
