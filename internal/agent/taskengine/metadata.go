package taskengine

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskres"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// minContainerCPU is the ECS agent's floor of a container's CPU limit in
// the task metadata (its minimumCPUUnit).
const minContainerCPU = 2

// metaRef names the container an endpoint ID belongs to.
type metaRef struct{ task, container string }

var _ tmds.State = (*Engine)(nil)

// Lookup returns the task metadata of the container whose endpoint ID is
// id, while its task's manager runs (until the task is cleaned up, as on
// ECS). It implements tmds.State.
func (e *Engine) Lookup(id string) (tmds.Entry, bool) {
	e.mu.Lock()
	ref, ok := e.metaIDs[id]
	m := e.managers[ref.task]
	e.mu.Unlock()
	if !ok || m == nil {
		return tmds.Entry{}, false
	}
	v := m.view.Load()
	if v == nil {
		return tmds.Entry{}, false
	}
	out := *v
	out.Container = ref.container
	return out, true
}

// registerMetadata maps the endpoint IDs of m's containers to them.
// Called with e.mu held.
func (e *Engine) registerMetadata(m *manager) {
	if e.cfg.Metadata == nil {
		return
	}
	for name := range m.cons {
		e.metaIDs[e.cfg.Metadata.ID(m.task.Arn, name)] = metaRef{task: m.task.Arn, container: name}
	}
}

// forgetMetadata removes the endpoint IDs of m's containers. Called with
// e.mu held.
func (e *Engine) forgetMetadata(m *manager) {
	if e.cfg.Metadata == nil {
		return
	}
	for name := range m.cons {
		delete(e.metaIDs, e.cfg.Metadata.ID(m.task.Arn, name))
	}
}

// containerEnv is the environment the agent adds to container name.
func (m *manager) containerEnv(name string) []ecsapi.KeyValuePair {
	if m.e.cfg.Metadata == nil {
		return nil
	}
	return m.e.cfg.Metadata.Env(m.task.Arn, name)
}

// publish makes the task's metadata as it is now visible to the task
// metadata endpoint. Only the manager's goroutine calls it.
func (m *manager) publish() {
	if m.e.cfg.Metadata == nil {
		return
	}
	v := m.metadata()
	m.view.Store(&v)
}

// metadataStatus maps a task status to the ECS agent's own task status
// words (NONE, CREATED, RUNNING, STOPPED), which the metadata reports.
func metadataStatus(status string, created bool) string {
	switch {
	case status == taskstatus.Stopped:
		return "STOPPED"
	case taskstatus.Rank(status) >= taskstatus.Rank(taskstatus.Running):
		return "RUNNING"
	case created:
		return "CREATED"
	}
	return "NONE"
}

// containerStatus maps the manager's container status to the ECS agent's
// container status words.
func containerStatus(status string) string {
	switch status {
	case "CREATED", "RUNNING", "STOPPED":
		return status
	}
	return "NONE"
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// metadata is the task's metadata entry as it is now.
func (m *manager) metadata() tmds.Entry {
	at := m.assigned
	def := m.task.Definition
	created := true
	for _, c := range m.cons {
		created = created && c.ref.ID != ""
	}
	desired := "RUNNING"
	if m.desired == taskstatus.Stopped {
		desired = "STOPPED"
	}
	t := tmds.Task{
		Cluster:            m.task.Cluster,
		TaskARN:            m.task.Arn,
		Family:             def.Family,
		Revision:           strconv.FormatInt(int64(def.Revision), 10),
		DesiredStatus:      desired,
		KnownStatus:        metadataStatus(m.known, created),
		PullStartedAt:      timePtr(m.pullStartedAt),
		PullStoppedAt:      timePtr(m.pullStoppedAt),
		ExecutionStoppedAt: timePtr(m.execStoppedAt),
		AvailabilityZone:   at.AvailabilityZone,
		LaunchType:         string(at.LaunchType),
		FaultInjectionEnabled: func() *bool {
			f := false
			return &f
		}(),
	}
	if t.AvailabilityZone == "" {
		t.AvailabilityZone = m.e.cfg.AvailabilityZone
	}
	if t.LaunchType == "" {
		t.LaunchType = "EC2"
	}
	if name, ok := strings.CutPrefix(at.Group, "service:"); ok {
		t.ServiceName = name
	}
	cpu, mem := at.Cpu, at.Memory
	if cpu == "" {
		cpu = def.Cpu
	}
	if mem == "" {
		mem = def.Memory
	}
	if cpu != "" || mem != "" {
		lim := &tmds.Limits{}
		if units, err := taskres.ParseCPU(cpu); err == nil && units > 0 {
			v := float64(units) / taskres.UnitsPerVCPU
			lim.CPU = &v
		}
		if mib, err := taskres.ParseMemory(mem); err == nil && mib > 0 {
			lim.Memory = &mib
		}
		if lim.CPU != nil || lim.Memory != nil {
			t.Limits = lim
		}
	}
	arns := map[string]string{}
	for _, c := range at.Containers {
		arns[c.Name] = c.ContainerArn
	}
	entry := tmds.Entry{NetworkMode: string(m.task.NetworkMode())}
	var eni *runtime.NetworkInterface
	if m.res != nil {
		eni = m.res.Interface
	}
	if eni != nil {
		if a, err := netip.ParseAddr(eni.IPv4Address); err == nil {
			entry.Addresses = append(entry.Addresses, a)
		}
	}
	for _, cd := range def.ContainerDefinitions {
		c := m.cons[cd.Name]
		if c == nil {
			continue
		}
		mc := m.containerMetadata(c, desired, eni)
		mc.ContainerARN = arns[cd.Name]
		t.Containers = append(t.Containers, mc)
		if eni == nil {
			for _, n := range c.networks {
				if a, err := netip.ParseAddr(n.IPv4Address); err == nil {
					entry.Addresses = append(entry.Addresses, a)
				}
			}
		}
	}
	if len(at.Tags) > 0 {
		entry.TaskTags = make(map[string]string, len(at.Tags))
		for _, tag := range at.Tags {
			entry.TaskTags[tag.Key] = tag.Value
		}
	}
	entry.Task = t
	return entry
}

// containerMetadata is one container's metadata.
func (m *manager) containerMetadata(c *cstate, desired string, eni *runtime.NetworkInterface) tmds.Container {
	def := c.def
	cpu := float64(max(def.Cpu, minContainerCPU))
	var memory int64
	if def.Memory != nil {
		memory = int64(*def.Memory)
	}
	out := tmds.Container{
		DockerID:      c.ref.ID,
		Name:          def.Name,
		DockerName:    c.ref.RuntimeName,
		Image:         def.Image,
		ImageID:       c.imageID,
		Labels:        c.labels,
		DesiredStatus: desired,
		KnownStatus:   containerStatus(c.status),
		Limits:        tmds.Limits{CPU: &cpu, Memory: &memory},
		CreatedAt:     timePtr(c.createdAt),
		StartedAt:     timePtr(c.startedAt),
		FinishedAt:    timePtr(c.finishedAt),
		Type:          "NORMAL",
	}
	if c.exitCode != nil && c.status == "STOPPED" {
		code := int(*c.exitCode)
		out.ExitCode = &code
	}
	out.Volumes = m.volumeMetadata(def)
	if lc := def.LogConfiguration; lc != nil {
		out.LogDriver = string(lc.LogDriver)
		out.LogOptions = lc.Options
	}
	if def.HealthCheck != nil {
		h := &tmds.Health{}
		if c.health == "HEALTHY" || c.health == "UNHEALTHY" {
			h.Status = string(c.health)
		}
		out.Health = h
	}
	for _, b := range c.bindings {
		if b.ContainerPort == nil || b.HostPort == nil {
			continue
		}
		p := tmds.Port{ContainerPort: uint16(*b.ContainerPort), Protocol: string(b.Protocol), HostPort: uint16(*b.HostPort), HostIP: b.BindIP}
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		out.Ports = append(out.Ports, p)
	}
	if eni != nil {
		if eni != nil && out.Ports == nil {
			// awsvpc: the container's ports are the interface's own.
			for _, pm := range def.PortMappings {
				if pm.ContainerPort == nil {
					continue
				}
				proto := string(pm.Protocol)
				if proto == "" {
					proto = "tcp"
				}
				out.Ports = append(out.Ports, tmds.Port{ContainerPort: uint16(*pm.ContainerPort), Protocol: proto, HostPort: uint16(*pm.ContainerPort)})
			}
		}
		idx := 0
		n := tmds.Network{
			NetworkMode:     "awsvpc",
			IPv4Addresses:   []string{eni.IPv4Address},
			AttachmentIndex: &idx,
			MACAddress:      eni.MACAddress,
			PrivateDNSName:  eni.PrivateDNSName,
		}
		if p, err := netip.ParsePrefix(eni.SubnetCIDR); err == nil {
			n.IPv4SubnetCIDRBlock = p.String()
			if eni.Gateway != "" {
				n.SubnetGatewayIPv4Address = eni.Gateway + "/" + strconv.Itoa(p.Bits())
			}
		}
		out.Networks = []tmds.Network{n}
		return out
	}
	for _, n := range c.networks {
		net := tmds.Network{NetworkMode: n.Name, IPv4Addresses: []string{n.IPv4Address}}
		if n.IPv6Address != "" {
			net.IPv6Addresses = []string{n.IPv6Address}
		}
		out.Networks = append(out.Networks, net)
	}
	return out
}

// volumeMetadata is the container's mounted task volumes, in the order of
// its mountPoints, as the ECS agent lists them (from Docker's mounts): a
// bind mount's host path as Source, a named volume's name as DockerName
// (its host mount point is Docker's, which the agent does not read), the
// container path as Destination. Volumes not prepared yet are left out.
func (m *manager) volumeMetadata(def ecsapi.ContainerDefinition) []tmds.Volume {
	if m.res == nil {
		return nil
	}
	var out []tmds.Volume
	for _, mp := range def.MountPoints {
		src, ok := m.res.Volumes[mp.SourceVolume]
		if !ok || mp.ContainerPath == "" {
			continue
		}
		v := tmds.Volume{Destination: mp.ContainerPath}
		if src.Kind == runtime.VolumeBind {
			v.Source = src.Source
		} else {
			v.DockerName = src.Source
		}
		out = append(out, v)
	}
	return out
}
