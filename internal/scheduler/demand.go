package scheduler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskres"
)

// ErrInvalidTaskDefinition is wrapped by the errors DemandFor returns for a
// task definition whose resource fields cannot be read.
var ErrInvalidTaskDefinition = errors.New("invalid task definition")

// Demand is what one task takes from the container instance it is placed
// on, for as long as it holds its resources.
type Demand struct {
	// CPU is in CPU units, 1,024 to a vCPU.
	CPU int64
	// Memory is in MiB.
	Memory int64
	// GPU is a number of GPUs.
	GPU int64
	// TCPPorts and UDPPorts are the static host ports the task binds,
	// without duplicates. Dynamic host ports (bridge mode with hostPort 0)
	// are chosen by the agent and are not part of the demand.
	TCPPorts []int32
	UDPPorts []int32
}

func (d Demand) validate() error {
	if d.CPU < 0 || d.Memory < 0 || d.GPU < 0 {
		return fmt.Errorf("negative demand: cpu %d, memory %d, gpu %d", d.CPU, d.Memory, d.GPU)
	}
	for _, ports := range [][]int32{d.TCPPorts, d.UDPPorts} {
		for _, p := range ports {
			if p < 1 || p > 65535 {
				return fmt.Errorf("host port %d is outside 1-65535", p)
			}
		}
	}
	return nil
}

// DemandFor derives a task's demand from its task definition, as ECS does
// for the EC2 launch type:
//
//   - CPU is the task-level cpu when set ("1024", "1 vCPU", "0.5 vcpu", read
//     by taskres.ParseCPU), else the sum of the containers' cpu.
//   - Memory is the task-level memory when set ("512", "2 GB", "2GB",
//     "512 MiB", read by taskres.ParseMemory), else the sum over containers
//     of memoryReservation when set, else memory.
//   - GPU is the sum of the containers' GPU resource requirements.
//   - Ports are the static host ports of the port mappings: in host mode
//     every container port (and containerPortRange) is a host port; in
//     bridge mode (the default) the hostPort when it is not 0; awsvpc and
//     none bind no host ports.
//
// Errors wrap ErrInvalidTaskDefinition.
func DemandFor(td ecsapi.TaskDefinition) (Demand, error) {
	var d Demand
	var err error
	if strings.TrimSpace(td.Cpu) != "" {
		if d.CPU, err = taskres.ParseCPU(td.Cpu); err != nil {
			return Demand{}, fmt.Errorf("%w: %w", ErrInvalidTaskDefinition, err)
		}
	} else {
		for _, c := range td.ContainerDefinitions {
			d.CPU += int64(max(c.Cpu, 0))
		}
	}
	if strings.TrimSpace(td.Memory) != "" {
		if d.Memory, err = taskres.ParseMemory(td.Memory); err != nil {
			return Demand{}, fmt.Errorf("%w: %w", ErrInvalidTaskDefinition, err)
		}
	} else {
		for _, c := range td.ContainerDefinitions {
			switch {
			case c.MemoryReservation != nil:
				d.Memory += int64(max(*c.MemoryReservation, 0))
			case c.Memory != nil:
				d.Memory += int64(max(*c.Memory, 0))
			}
		}
	}
	for _, c := range td.ContainerDefinitions {
		for _, r := range c.ResourceRequirements {
			if r.Type != "GPU" {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(r.Value), 10, 32)
			if err != nil || n < 0 {
				return Demand{}, fmt.Errorf("%w: container %s: GPU resource requirement %q is not a non-negative integer", ErrInvalidTaskDefinition, c.Name, r.Value)
			}
			d.GPU += n
		}
	}
	if err := addHostPorts(&d, td); err != nil {
		return Demand{}, err
	}
	return d, nil
}

func addHostPorts(d *Demand, td ecsapi.TaskDefinition) error {
	mode := string(td.NetworkMode)
	if mode == "awsvpc" || mode == "none" {
		return nil
	}
	host := mode == "host"
	seen := map[[2]int32]string{}
	add := func(container string, proto ecsapi.TransportProtocol, port int32) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("%w: container %s: host port %d is outside 1-65535", ErrInvalidTaskDefinition, container, port)
		}
		udp := int32(0)
		if strings.EqualFold(string(proto), "udp") {
			udp = 1
		}
		key := [2]int32{udp, port}
		if other, ok := seen[key]; ok {
			return fmt.Errorf("%w: containers %s and %s both bind host port %d/%s", ErrInvalidTaskDefinition, other, container, port, protoName(udp))
		}
		seen[key] = container
		if udp == 1 {
			d.UDPPorts = append(d.UDPPorts, port)
		} else {
			d.TCPPorts = append(d.TCPPorts, port)
		}
		return nil
	}
	for _, c := range td.ContainerDefinitions {
		for _, pm := range c.PortMappings {
			var port int32
			switch {
			case pm.HostPort != nil && *pm.HostPort != 0:
				port = *pm.HostPort
			case host && pm.ContainerPort != nil:
				port = *pm.ContainerPort
			}
			if port != 0 {
				if err := add(c.Name, pm.Protocol, port); err != nil {
					return err
				}
				continue
			}
			if host && pm.ContainerPortRange != "" {
				lo, hi, err := parsePortRange(pm.ContainerPortRange)
				if err != nil {
					return fmt.Errorf("%w: container %s: %v", ErrInvalidTaskDefinition, c.Name, err)
				}
				for p := lo; p <= hi; p++ {
					if err := add(c.Name, pm.Protocol, p); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func protoName(udp int32) string {
	if udp == 1 {
		return "udp"
	}
	return "tcp"
}

func parsePortRange(s string) (lo, hi int32, err error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 32)
	y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || x < 1 || y > 65535 || x > y {
		return 0, 0, fmt.Errorf("container port range %q is not LOW-HIGH within 1-65535", s)
	}
	return int32(x), int32(y), nil
}

// ConstraintsFor returns the placement constraints that apply to a task: the
// task definition's, then those of the request or service.
func ConstraintsFor(td ecsapi.TaskDefinition, extra []ecsapi.PlacementConstraint) []ecsapi.PlacementConstraint {
	out := make([]ecsapi.PlacementConstraint, 0, len(td.PlacementConstraints)+len(extra))
	for _, c := range td.PlacementConstraints {
		out = append(out, ecsapi.PlacementConstraint{Type: ecsapi.PlacementConstraintType(c.Type), Expression: c.Expression})
	}
	return append(out, extra...)
}
