package runtime

import (
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TaskResources are the resources PrepareTask created or found for a task:
// its network namespace and its volumes. They are plain data, safe to
// persist; PrepareTask returns the same resources when called again for the
// same task, so a restarted agent may also just call it again.
type TaskResources struct {
	// NetworkMode is the task's network mode.
	NetworkMode ecsapi.NetworkMode
	// PauseContainerID is the container that holds the network namespace of
	// an awsvpc task; the task's containers join it.
	PauseContainerID string
	// Interface is the awsvpc task's network interface; nil in other modes.
	Interface *NetworkInterface
	// Volumes are the task definition's volumes by name.
	Volumes map[string]VolumeSource
	// CgroupParent is the cgroup the runtime made for the task, with the
	// task's cpu and memory as hard limits, that its containers run in;
	// empty when it made none (the containers then have their own limits).
	CgroupParent string `json:",omitempty"`
}

// VolumeKind says what backs a task volume.
type VolumeKind string

// Volume kinds.
const (
	// VolumeBind: a host directory, bind-mounted (volumes[].host.sourcePath).
	VolumeBind VolumeKind = "bind"
	// VolumeNamed: a named runtime volume (dockerVolumeConfiguration, or a
	// volume with neither host nor dockerVolumeConfiguration).
	VolumeNamed VolumeKind = "volume"
)

// VolumeSource is what backs one task volume.
type VolumeSource struct {
	Kind VolumeKind
	// Source is the host path (VolumeBind) or the runtime's volume name.
	Source string
	// TaskScoped volumes were created for this task and are removed with it.
	TaskScoped bool
}

// NetworkInterface is the network interface of an awsvpc task, reported to
// ECS as the task's ElasticNetworkInterface attachment.
type NetworkInterface struct {
	// AttachmentID identifies the attachment (a UUID, stable for the task).
	AttachmentID string
	// ID is the interface's identifier, in the form eni-<hex>.
	ID string
	// SubnetID identifies the network the interface is on, in the form
	// subnet-<hex>.
	SubnetID string
	// NetworkName is the runtime network the interface is attached to.
	NetworkName string
	// IPv4Address is the task's private IPv4 address, reachable from the host.
	IPv4Address string
	// SubnetCIDR is the network's IPv4 prefix, for example 172.20.0.0/16.
	SubnetCIDR string
	// Gateway is the IPv4 address of the network's gateway.
	Gateway string
	// MACAddress is the interface's MAC address.
	MACAddress string
	// PrivateDNSName is the name ECS reports for the address,
	// ip-a-b-c-d.ec2.internal style.
	PrivateDNSName string
}

// Attachment returns the interface as ECS reports it among a task's
// attachments: type ElasticNetworkInterface, status ATTACHED, and the
// details subnetId, networkInterfaceId, macAddress, privateDnsName and
// privateIPv4Address.
func (n NetworkInterface) Attachment() ecsapi.Attachment {
	return ecsapi.Attachment{
		Id:     n.AttachmentID,
		Type:   "ElasticNetworkInterface",
		Status: "ATTACHED",
		Details: []ecsapi.KeyValuePair{
			{Name: "subnetId", Value: n.SubnetID},
			{Name: "networkInterfaceId", Value: n.ID},
			{Name: "macAddress", Value: n.MACAddress},
			{Name: "privateDnsName", Value: n.PrivateDNSName},
			{Name: "privateIPv4Address", Value: n.IPv4Address},
		},
	}
}

// ContainerInterface returns the interface as ECS reports it in each of the
// task's containers (networkInterfaces[]).
func (n NetworkInterface) ContainerInterface() ecsapi.NetworkInterface {
	return ecsapi.NetworkInterface{AttachmentId: n.AttachmentID, PrivateIpv4Address: n.IPv4Address}
}
