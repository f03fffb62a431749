package tmds

import "time"

// The JSON shapes of the ECS agent's task metadata responses (its
// ecs-agent/tmds/handlers v2, v4 and response packages). Member names and
// omissions are the ECS agent's; version 3 answers are version 4's without
// the members version 4 added (V3).

// Limits are a task's or a container's CPU and memory limits: a task's CPU
// in vCPUs and memory in MiB; a container's CPU in CPU units (at least 2,
// the ECS agent's floor) and memory in MiB (0 when it has no hard limit).
type Limits struct {
	CPU    *float64 `json:"CPU,omitempty"`
	Memory *int64   `json:"Memory,omitempty"`
}

// Port is a container's port binding.
type Port struct {
	ContainerPort uint16 `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      uint16 `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

// Health is a container's health status; Status is HEALTHY or UNHEALTHY
// (empty while the checks are not conclusive).
type Health struct {
	Status   string     `json:"status,omitempty"`
	Since    *time.Time `json:"statusSince,omitempty"`
	ExitCode int        `json:"exitCode,omitempty"`
	Output   string     `json:"output,omitempty"`
}

// Volume is a volume mounted in a container.
type Volume struct {
	DockerName  string `json:"DockerName,omitempty"`
	Source      string `json:"Source,omitempty"`
	Destination string `json:"Destination,omitempty"`
}

// Network is a network a container is attached to. For an awsvpc task the
// network interface's properties (AttachmentIndex onwards, version 4) are
// set too.
type Network struct {
	NetworkMode              string   `json:"NetworkMode,omitempty"`
	IPv4Addresses            []string `json:"IPv4Addresses,omitempty"`
	IPv6Addresses            []string `json:"IPv6Addresses,omitempty"`
	AttachmentIndex          *int     `json:"AttachmentIndex,omitempty"`
	MACAddress               string   `json:"MACAddress,omitempty"`
	IPv4SubnetCIDRBlock      string   `json:"IPv4SubnetCIDRBlock,omitempty"`
	IPv6SubnetCIDRBlock      string   `json:"IPv6SubnetCIDRBlock,omitempty"`
	DomainNameServers        []string `json:"DomainNameServers,omitempty"`
	DomainNameSearchList     []string `json:"DomainNameSearchList,omitempty"`
	PrivateDNSName           string   `json:"PrivateDNSName,omitempty"`
	SubnetGatewayIPv4Address string   `json:"SubnetGatewayIpv4Address,omitempty"`
	SubnetGatewayIPv6Address string   `json:"SubnetGatewayIpv6Address,omitempty"`
}

// Container is a container's metadata.
type Container struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Ports         []Port            `json:"Ports,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        Limits            `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	Networks      []Network         `json:"Networks,omitempty"`
	Health        *Health           `json:"Health,omitempty"`
	Volumes       []Volume          `json:"Volumes,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	LogOptions    map[string]string `json:"LogOptions,omitempty"`
	ContainerARN  string            `json:"ContainerARN,omitempty"`
	RestartCount  *int              `json:"RestartCount,omitempty"`
}

// Task is a task's metadata. FaultInjectionEnabled is always written in
// version 4 (the ECS agent's member has no omitempty) and never in
// version 3.
type Task struct {
	Cluster               string            `json:"Cluster"`
	TaskARN               string            `json:"TaskARN"`
	Family                string            `json:"Family"`
	Revision              string            `json:"Revision"`
	DesiredStatus         string            `json:"DesiredStatus,omitempty"`
	KnownStatus           string            `json:"KnownStatus"`
	Limits                *Limits           `json:"Limits,omitempty"`
	PullStartedAt         *time.Time        `json:"PullStartedAt,omitempty"`
	PullStoppedAt         *time.Time        `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt    *time.Time        `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone      string            `json:"AvailabilityZone,omitempty"`
	TaskTags              map[string]string `json:"TaskTags,omitempty"`
	ContainerInstanceTags map[string]string `json:"ContainerInstanceTags,omitempty"`
	LaunchType            string            `json:"LaunchType,omitempty"`
	Errors                []ErrorResponse   `json:"Errors,omitempty"`
	Containers            []Container       `json:"Containers,omitempty"`
	VPCID                 string            `json:"VPCID,omitempty"`
	ServiceName           string            `json:"ServiceName,omitempty"`
	FaultInjectionEnabled *bool             `json:"FaultInjectionEnabled,omitempty"`
	AvailabilityZoneID    string            `json:"AvailabilityZoneID,omitempty"`
}

// ErrorResponse reports a member the agent could not fill (taskWithTags).
type ErrorResponse struct {
	ErrorField   string `json:"ErrorField,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
	StatusCode   int    `json:"StatusCode,omitempty"`
	RequestID    string `json:"RequestId,omitempty"`
	ResourceARN  string `json:"ResourceARN,omitempty"`
}

// V3 returns the container as version 3 answers it: without LogDriver,
// LogOptions, ContainerARN, the ports' HostIp and the networks' interface
// properties.
func (c Container) V3() Container {
	c.LogDriver, c.LogOptions, c.ContainerARN, c.RestartCount = "", nil, "", nil
	if c.Ports != nil {
		ports := make([]Port, len(c.Ports))
		for i, p := range c.Ports {
			p.HostIP = ""
			ports[i] = p
		}
		c.Ports = ports
	}
	if c.Networks != nil {
		nets := make([]Network, len(c.Networks))
		for i, n := range c.Networks {
			nets[i] = Network{NetworkMode: n.NetworkMode, IPv4Addresses: n.IPv4Addresses, IPv6Addresses: n.IPv6Addresses}
		}
		c.Networks = nets
	}
	return c
}

// V3 returns the task as version 3 answers it: without LaunchType, the
// members version 4 added to tasks and containers, and the tags' Errors.
func (t Task) V3() Task {
	t.LaunchType, t.Errors = "", nil
	t.VPCID, t.ServiceName, t.FaultInjectionEnabled, t.AvailabilityZoneID = "", "", nil, ""
	if t.Containers != nil {
		cs := make([]Container, len(t.Containers))
		for i, c := range t.Containers {
			cs[i] = c.V3()
		}
		t.Containers = cs
	}
	return t
}
