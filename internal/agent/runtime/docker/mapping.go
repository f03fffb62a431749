package docker

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/logship"
	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskres"
)

const (
	mib = 1024 * 1024
	// minMemory is the smallest hard limit the ECS agent gives a container
	// on Linux; smaller limits are raised to it.
	minMemory = 4 * mib
	// minCPUShares is the ECS agent's floor for CPU shares on Linux: a cpu
	// of null, 0 or 1 becomes 2, the kernel's minimum.
	minCPUShares = 2
	// ECS health check defaults, in seconds.
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

// createConfig is everything ContainerCreate takes.
type createConfig struct {
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
}

// mapInput is what mapContainer maps to a createConfig.
type mapInput struct {
	Task *runtime.Task
	// Def is the container's definition with its override applied.
	Def       ecsapi.ContainerDefinition
	Resources *runtime.TaskResources
	Peers     map[string]runtime.ContainerRef
	// Labels are the agent's labels; they win over dockerLabels.
	Labels map[string]string
	// StopTimeout is used when the definition has no stopTimeout.
	StopTimeout time.Duration
	// Env are the agent's variables; they replace the definition's of the
	// same name.
	Env []ecsapi.KeyValuePair
}

// mapContainer maps a container definition to Docker's create
// configuration, the way the ECS agent does on Linux. It does no I/O. The
// task definition is assumed to have passed taskdefcheck.TaskDefinition; the errors it returns
// are about inputs taskdefcheck cannot see (peers, resources, overrides).
func mapContainer(in mapInput) (createConfig, error) {
	def := in.Def
	mode := in.Task.NetworkMode()
	cfg := &container.Config{
		Image:           def.Image,
		Entrypoint:      nonEmpty(def.EntryPoint),
		Cmd:             nonEmpty(def.Command),
		Env:             environment(def.Environment, in.Env),
		WorkingDir:      def.WorkingDirectory,
		User:            def.User,
		Hostname:        def.Hostname,
		Labels:          make(map[string]string, len(def.DockerLabels)+len(in.Labels)),
		NetworkDisabled: isTrue(def.DisableNetworking),
		Tty:             isTrue(def.PseudoTerminal),
		OpenStdin:       isTrue(def.Interactive),
	}
	maps.Copy(cfg.Labels, def.DockerLabels)
	maps.Copy(cfg.Labels, in.Labels)
	stop := int(in.StopTimeout / time.Second)
	if def.StopTimeout != nil {
		stop = int(*def.StopTimeout)
	}
	cfg.StopTimeout = &stop
	if def.HealthCheck != nil {
		cfg.Healthcheck = healthConfig(def.HealthCheck)
	}

	hc := &container.HostConfig{
		Privileged:     isTrue(def.Privileged),
		ReadonlyRootfs: isTrue(def.ReadonlyRootFilesystem),
		SecurityOpt:    slices.Clone(def.DockerSecurityOptions),
		DNS:            slices.Clone(def.DnsServers),
		DNSSearch:      slices.Clone(def.DnsSearchDomains),
		LogConfig:      container.LogConfig{Type: "json-file"},
	}
	for _, h := range def.ExtraHosts {
		hc.ExtraHosts = append(hc.ExtraHosts, h.Hostname+":"+h.IpAddress)
	}
	if lc := def.LogConfiguration; lc != nil {
		hc.LogConfig = container.LogConfig{Type: string(lc.LogDriver), Config: maps.Clone(lc.Options)}
		if logship.Handles(string(lc.LogDriver)) {
			// The agent ships the output itself (package logship), reading it
			// back from the local driver's files; Docker's own awslogs
			// driver would try to reach the real CloudWatch Logs.
			local, err := logship.LocalDriverConfig(lc.Options)
			if err != nil {
				return createConfig{}, fmt.Errorf("failed to initialize logging driver: %w", err)
			}
			hc.LogConfig = container.LogConfig{Type: "local", Config: local}
		}
	}

	mem, err := memoryLimit(in.Task, def)
	if err != nil {
		return createConfig{}, err
	}
	hc.Memory = mem
	if in.Resources != nil && in.Resources.CgroupParent != "" {
		// The task's cgroup holds the task to its cpu and memory; the
		// container keeps its own memory, if any, and its cpu as shares.
		hc.CgroupParent = in.Resources.CgroupParent
	} else if in.Task.Fargate {
		if hc.Memory, hc.NanoCPUs, err = fargateLimits(in.Task, def); err != nil {
			return createConfig{}, err
		}
	}
	if def.MemoryReservation != nil {
		hc.MemoryReservation = int64(*def.MemoryReservation) * mib
	}
	hc.CPUShares = max(int64(def.Cpu), minCPUShares)
	for _, u := range def.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: string(u.Name), Soft: int64(u.SoftLimit), Hard: int64(u.HardLimit)})
	}
	for _, s := range def.SystemControls {
		if mode == runtime.NetworkModeAWSVPC && strings.HasPrefix(s.Namespace, "net.") {
			continue // set on the pause container, which owns the network namespace
		}
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[s.Namespace] = s.Value
	}
	if lp := def.LinuxParameters; lp != nil {
		linuxParameters(lp, hc)
	}

	if err := mapNetwork(in, cfg, hc); err != nil {
		return createConfig{}, err
	}
	if err := mapVolumes(in, hc); err != nil {
		return createConfig{}, err
	}
	if err := mapNamespaces(in, hc); err != nil {
		return createConfig{}, err
	}
	return createConfig{Config: cfg, HostConfig: hc, Networking: &network.NetworkingConfig{}}, nil
}

// healthConfig maps an ECS health check, filling in ECS's defaults (interval
// 30 s, timeout 5 s, 3 retries, no start period) where Docker's differ.
func healthConfig(h *ecsapi.HealthCheck) *container.HealthConfig {
	seconds := func(v *int32, def int32) time.Duration {
		if v == nil {
			return time.Duration(def) * time.Second
		}
		return time.Duration(*v) * time.Second
	}
	retries := int32(defaultHealthRetries)
	if h.Retries != nil {
		retries = *h.Retries
	}
	return &container.HealthConfig{
		Test:        slices.Clone(h.Command),
		Interval:    seconds(h.Interval, defaultHealthInterval),
		Timeout:     seconds(h.Timeout, defaultHealthTimeout),
		Retries:     int(retries),
		StartPeriod: seconds(h.StartPeriod, 0),
	}
}

// memoryLimit returns the container's hard memory limit in bytes: its
// memory, raised to 4 MiB; or, when it has neither memory nor
// memoryReservation, the task's memory; or 0 for none.
func memoryLimit(task *runtime.Task, def ecsapi.ContainerDefinition) (int64, error) {
	if def.Memory != nil && *def.Memory > 0 {
		return max(int64(*def.Memory)*mib, minMemory), nil
	}
	if def.MemoryReservation != nil {
		return 0, nil
	}
	taskMem := task.Definition.Memory
	if task.Overrides.Memory != "" {
		taskMem = task.Overrides.Memory
	}
	if taskMem == "" {
		return 0, nil
	}
	m, err := taskres.ParseMemory(taskMem)
	if err != nil {
		return 0, err
	}
	if m == 0 {
		return 0, fmt.Errorf("task memory %q is zero", taskMem)
	}
	return max(m*mib, minMemory), nil
}

// linuxParameters maps linuxParameters onto hc.
func linuxParameters(lp *ecsapi.LinuxParameters, hc *container.HostConfig) {
	if lp.InitProcessEnabled != nil {
		init := *lp.InitProcessEnabled
		hc.Init = &init
	}
	if c := lp.Capabilities; c != nil {
		hc.CapAdd = slices.Clone(c.Add)
		hc.CapDrop = slices.Clone(c.Drop)
	}
	for _, d := range lp.Devices {
		perms := "rwm"
		if len(d.Permissions) > 0 {
			perms = ""
			for _, p := range d.Permissions {
				switch p {
				case "read":
					perms += "r"
				case "write":
					perms += "w"
				case "mknod":
					perms += "m"
				}
			}
		}
		target := d.ContainerPath
		if target == "" {
			target = d.HostPath
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: target, CgroupPermissions: perms})
	}
	if lp.SharedMemorySize != nil {
		hc.ShmSize = int64(*lp.SharedMemorySize) * mib
	}
	for _, t := range lp.Tmpfs {
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		opts := append([]string{fmt.Sprintf("size=%dm", t.Size)}, t.MountOptions...)
		hc.Tmpfs[t.ContainerPath] = strings.Join(opts, ",")
	}
	if lp.MaxSwap != nil && hc.Memory > 0 {
		// Docker's MemorySwap is memory plus swap; ECS's maxSwap is swap alone.
		hc.MemorySwap = hc.Memory + int64(*lp.MaxSwap)*mib
	}
	if lp.Swappiness != nil {
		s := int64(*lp.Swappiness)
		hc.MemorySwappiness = &s
	}
}

// mapNetwork sets the network mode, ports, and links.
func mapNetwork(in mapInput, cfg *container.Config, hc *container.HostConfig) error {
	def := in.Def
	switch mode := in.Task.NetworkMode(); mode {
	case runtime.NetworkModeAWSVPC:
		if in.Resources == nil || in.Resources.PauseContainerID == "" {
			return fmt.Errorf("awsvpc task %s has no network namespace: PrepareTask must run first", in.Task.Arn)
		}
		// The pause container owns the namespace; the container's ports are
		// reachable on the task's address and cannot be published or exposed.
		hc.NetworkMode = container.NetworkMode("container:" + in.Resources.PauseContainerID)
		return nil
	case runtime.NetworkModeNone:
		hc.NetworkMode = network.NetworkNone
		return nil
	case runtime.NetworkModeHost:
		hc.NetworkMode = network.NetworkHost
		// Nothing to publish; exposing records the ports, which inspect
		// reports as the network bindings.
		for _, p := range def.PortMappings {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = nat.PortSet{}
			}
			cfg.ExposedPorts[portKey(p)] = struct{}{}
		}
		return nil
	default:
		hc.NetworkMode = network.NetworkBridge
	}
	for _, p := range def.PortMappings {
		key := portKey(p)
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
			hc.PortBindings = nat.PortMap{}
		}
		cfg.ExposedPorts[key] = struct{}{}
		host := "" // Docker picks a free ephemeral port
		if p.HostPort != nil && *p.HostPort != 0 {
			host = strconv.Itoa(int(*p.HostPort))
		}
		hc.PortBindings[key] = append(hc.PortBindings[key], nat.PortBinding{HostPort: host})
	}
	for _, l := range def.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		peer, found := in.Peers[name]
		if !found {
			return fmt.Errorf("link to container %q, which is not created yet", name)
		}
		hc.Links = append(hc.Links, peer.RuntimeName+":"+alias)
	}
	return nil
}

// portKey returns Docker's "port/protocol" key of a port mapping.
func portKey(p ecsapi.PortMapping) nat.Port {
	proto := string(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	return nat.Port(strconv.Itoa(int(*p.ContainerPort)) + "/" + proto)
}

// mapVolumes sets mount points and volumesFrom.
func mapVolumes(in mapInput, hc *container.HostConfig) error {
	for _, m := range in.Def.MountPoints {
		var src runtime.VolumeSource
		var ok bool
		if in.Resources != nil {
			src, ok = in.Resources.Volumes[m.SourceVolume]
		}
		if !ok {
			return fmt.Errorf("mount point for volume %q, which the task has not prepared", m.SourceVolume)
		}
		bind := src.Source + ":" + m.ContainerPath
		if isTrue(m.ReadOnly) {
			bind += ":ro"
		}
		hc.Binds = append(hc.Binds, bind)
	}
	for _, v := range in.Def.VolumesFrom {
		peer, ok := in.Peers[v.SourceContainer]
		if !ok {
			return fmt.Errorf("volumesFrom container %q, which is not created yet", v.SourceContainer)
		}
		from := peer.ID
		if isTrue(v.ReadOnly) {
			from += ":ro"
		}
		hc.VolumesFrom = append(hc.VolumesFrom, from)
	}
	return nil
}

// mapNamespaces sets the PID and IPC namespaces.
func mapNamespaces(in mapInput, hc *container.HostConfig) error {
	td := in.Task.Definition
	pause := ""
	if in.Resources != nil {
		pause = in.Resources.PauseContainerID
	}
	switch td.PidMode {
	case "host":
		hc.PidMode = "host"
	case "task":
		if pause == "" {
			return fmt.Errorf(`pidMode "task" needs the task's pause container`)
		}
		hc.PidMode = container.PidMode("container:" + pause)
	}
	switch td.IpcMode {
	case "host":
		hc.IpcMode = "host"
	case "none":
		hc.IpcMode = "none"
	case "task":
		if pause == "" {
			return fmt.Errorf(`ipcMode "task" needs the task's pause container`)
		}
		hc.IpcMode = container.IpcMode("container:" + pause)
	}
	return nil
}

// environment maps ECS's name/value pairs to Docker's NAME=value list, in
// the definition's order, then the agent's variables, which replace the
// definition's of the same name.
func environment(env, agent []ecsapi.KeyValuePair) []string {
	if len(env)+len(agent) == 0 {
		return nil
	}
	own := make(map[string]bool, len(agent))
	for _, kv := range agent {
		own[kv.Name] = true
	}
	out := make([]string, 0, len(env)+len(agent))
	for _, kv := range env {
		if !own[kv.Name] {
			out = append(out, kv.Name+"="+kv.Value)
		}
	}
	for _, kv := range agent {
		out = append(out, kv.Name+"="+kv.Value)
	}
	return out
}

// pauseSysctls returns the net.* systemControls of an awsvpc task's
// containers, which belong on the pause container that owns the network
// namespace.
func pauseSysctls(td ecsapi.TaskDefinition) map[string]string {
	var out map[string]string
	for _, c := range td.ContainerDefinitions {
		for _, s := range c.SystemControls {
			if strings.HasPrefix(s.Namespace, "net.") {
				if out == nil {
					out = map[string]string{}
				}
				out[s.Namespace] = s.Value
			}
		}
	}
	return out
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func isTrue(b *bool) bool { return b != nil && *b }

// fargateLimits returns the hard memory limit (bytes) and CPU quota (nano
// CPUs) of container def of a Fargate task: the task's cpu and memory are
// hard limits the kernel enforces, shared out so that the containers'
// limits add up to them. A container with its own memory (cpu) keeps it;
// the others share the rest of the task's equally (at least 4 MiB of
// memory and 1/100 of a CPU each).
func fargateLimits(task *runtime.Task, def ecsapi.ContainerDefinition) (mem, nano int64, err error) {
	td := task.Definition
	memStr, cpuStr := td.Memory, td.Cpu
	if task.Overrides.Memory != "" {
		memStr = task.Overrides.Memory
	}
	if task.Overrides.Cpu != "" {
		cpuStr = task.Overrides.Cpu
	}
	taskMem, err := taskres.ParseMemory(memStr)
	if err != nil {
		return 0, 0, fmt.Errorf("fargate task memory: %w", err)
	}
	taskCPU, err := taskres.ParseCPU(cpuStr)
	if err != nil {
		return 0, 0, fmt.Errorf("fargate task cpu: %w", err)
	}
	var fixedMem, fixedCPU int64
	var freeMem, freeCPU int64
	for _, c := range td.ContainerDefinitions {
		if c.Memory != nil && *c.Memory > 0 {
			fixedMem += int64(*c.Memory)
		} else {
			freeMem++
		}
		if c.Cpu > 0 {
			fixedCPU += int64(c.Cpu)
		} else {
			freeCPU++
		}
	}
	if def.Memory != nil && *def.Memory > 0 {
		mem = int64(*def.Memory) * mib
	} else {
		mem = (taskMem - fixedMem) * mib / max(freeMem, 1)
	}
	// 1024 CPU units are one CPU: 1e9 nano CPUs.
	if def.Cpu > 0 {
		nano = int64(def.Cpu) * 1e9 / 1024
	} else {
		nano = (taskCPU - fixedCPU) * 1e9 / 1024 / max(freeCPU, 1)
	}
	return max(mem, minMemory), max(nano, 1e7), nil
}
