package scheduler

import "fmt"

// The failure reasons RunTask reports, one per container instance, when a
// task cannot be placed. An instance whose status is not ACTIVE is reported
// with its status (DRAINING, INACTIVE, ...) as the reason.
const (
	ReasonCPU      = "RESOURCE:CPU"
	ReasonMemory   = "RESOURCE:MEMORY"
	ReasonPorts    = "RESOURCE:PORTS"
	ReasonPortsUDP = "RESOURCE:PORTS_UDP"
	ReasonGPU      = "RESOURCE:GPU"
	// ReasonAgent: the instance's agent is disconnected.
	ReasonAgent = "AGENT"
	// ReasonAttribute: the instance lacks an attribute the task definition
	// requires (requiresAttributes).
	ReasonAttribute = "ATTRIBUTE"
	// ReasonDistinctInstance and ReasonMemberOf are the texts ECS reports
	// for an unsatisfied distinctInstance or memberOf constraint.
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."
	// StatusActive is the only container instance status that takes tasks.
	StatusActive = "ACTIVE"
)

// verdict is the outcome of checking one instance for one task; fits is the
// only one that allows placement. The order is the order of the checks.
type verdict uint8

const (
	fits verdict = iota
	notActive
	agentDisconnected
	attributeMissing
	noCPU
	noMemory
	noPorts
	noUDPPorts
	noGPU
	distinctTaken
	memberOfFalse
	// vacant marks a slot of the view that holds no instance.
	vacant
)

// failure renders v for instance n as RunTask reports it.
func (v verdict) failure(n *node, h *hot, d *Demand, missing string) (reason, detail string) {
	switch v {
	case notActive:
		return n.Status, fmt.Sprintf("container instance status is %s", n.Status)
	case agentDisconnected:
		return ReasonAgent, "container instance agent is disconnected"
	case attributeMissing:
		return ReasonAttribute, fmt.Sprintf("container instance lacks required attribute %s", missing)
	case noCPU:
		return ReasonCPU, fmt.Sprintf("task needs %d CPU units; %d remain", d.CPU, h.cpu)
	case noMemory:
		return ReasonMemory, fmt.Sprintf("task needs %d MiB of memory; %d remain", d.Memory, h.memory)
	case noPorts:
		return ReasonPorts, fmt.Sprintf("host port %d/tcp is in use", firstTaken(n.tcp, d.TCPPorts))
	case noUDPPorts:
		return ReasonPortsUDP, fmt.Sprintf("host port %d/udp is in use", firstTaken(n.udp, d.UDPPorts))
	case noGPU:
		return ReasonGPU, fmt.Sprintf("task needs %d GPUs; %d remain", d.GPU, h.gpu)
	case distinctTaken:
		return ReasonDistinctInstance, "a task of the same group is on the container instance"
	case memberOfFalse:
		return ReasonMemberOf, "container instance does not match " + missing
	}
	return "", ""
}

func firstTaken(used map[int32]int32, ports []int32) int32 {
	for _, p := range ports {
		if used[p] > 0 {
			return p
		}
	}
	return 0
}
