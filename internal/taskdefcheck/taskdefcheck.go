// Package taskdefcheck owns the rules on which task definition and override
// members Gantry's container runtime can honour. The server applies them in
// RegisterTaskDefinition and RunTask to refuse what no agent could run; the
// agent's Docker driver applies them again before it prepares a task. It is
// pure: it imports only the ECS wire shapes and taskres, never the Docker SDK,
// so the server links no driver.
package taskdefcheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskres"
)

// UnsupportedError names one task definition member that the runtime cannot
// honour, so RegisterTaskDefinition or RunTask can refuse it instead of
// running the task without it.
type UnsupportedError struct {
	// Member is the member's path in the request, for example
	// "containerDefinitions[1].secrets" or "volumes[0].efsVolumeConfiguration".
	Member string
	// Reason says why, in a sentence fragment fit for an API error message.
	Reason string
}

// Error returns "member: reason".
func (e *UnsupportedError) Error() string { return e.Member + ": " + e.Reason }

// The network modes, spelled as ECS does; "" means bridge.
const (
	modeBridge ecsapi.NetworkMode = "bridge"
	modeHost   ecsapi.NetworkMode = "host"
	modeAWSVPC ecsapi.NetworkMode = "awsvpc"
	modeNone   ecsapi.NetworkMode = "none"
)

// TaskDefinition reports every member of td that the runtime cannot honour,
// each as an *UnsupportedError naming the member, joined with errors.Join;
// nil when the runtime can run td as written. RegisterTaskDefinition and
// RunTask call it to refuse such task definitions instead of running them
// without the member; the Docker driver's PrepareTask calls it too.
//
// Refused: proxyConfiguration, inferenceAccelerators, ephemeralStorage,
// taskRoleArn (no task credentials endpoint), enableFaultInjection, non-Linux
// runtimePlatform, pidMode or ipcMode "task" outside awsvpc, EFS, FSx and S3
// Files volumes, configuredAtLaunch volumes, relative host source paths,
// and in containers:
// credentialSpecs, environmentFiles, firelensConfiguration, the awsfirelens
// log driver, logConfiguration.secretOptions, repositoryCredentials,
// resourceRequirements, secrets, restartPolicy (enabled), containerPortRange,
// and the members ECS itself refuses for the task's network mode (links
// outside bridge; hostname, dnsServers, dnsSearchDomains and extraHosts in
// awsvpc; hostPort other than containerPort in host and awsvpc; port
// mappings in none; net.* systemControls in host).
//
// Accepted and honoured by the agent rather than the runtime: essential,
// dependsOn, startTimeout. Accepted for placement only: cpu and memory of
// the task (a container without memory or memoryReservation gets the
// task's memory as its hard limit), requiresCompatibilities,
// placementConstraints. Accepted with no effect: executionRoleArn (only used
// by refused features), versionConsistency, portMappings[].name and
// appProtocol (Service Connect metadata).
func TaskDefinition(td ecsapi.TaskDefinition) error {
	var errs []error
	bad := func(member, format string, args ...any) {
		errs = append(errs, &UnsupportedError{Member: member, Reason: fmt.Sprintf(format, args...)})
	}
	mode := td.NetworkMode
	if mode == "" {
		mode = modeBridge
	}
	switch mode {
	case modeBridge, modeHost, modeAWSVPC, modeNone:
	default:
		bad("networkMode", "network mode %q is not supported; use bridge, host, awsvpc or none", mode)
	}
	if td.ProxyConfiguration != nil {
		bad("proxyConfiguration", "App Mesh proxy configuration is not supported")
	}
	if len(td.InferenceAccelerators) > 0 {
		bad("inferenceAccelerators", "Elastic Inference accelerators are not supported")
	}
	if td.EphemeralStorage != nil {
		bad("ephemeralStorage", "ephemeral storage size is a Fargate feature and is not supported")
	}
	if td.TaskRoleArn != "" {
		bad("taskRoleArn", "task IAM role credentials are not provided to containers")
	}
	if td.EnableFaultInjection != nil && *td.EnableFaultInjection {
		bad("enableFaultInjection", "fault injection is not supported")
	}
	if td.Memory != "" {
		if err := checkMemory(td.Memory); err != nil {
			bad("memory", "%v", err)
		}
	}
	if p := td.RuntimePlatform; p != nil && p.OperatingSystemFamily != "" && p.OperatingSystemFamily != "LINUX" {
		bad("runtimePlatform.operatingSystemFamily", "only LINUX containers are supported, not %s", p.OperatingSystemFamily)
	}
	switch td.PidMode {
	case "", "host":
	case "task":
		if mode != modeAWSVPC {
			bad("pidMode", `pidMode "task" is only supported with the awsvpc network mode`)
		}
	default:
		bad("pidMode", "pidMode %q is not supported", td.PidMode)
	}
	switch td.IpcMode {
	case "", "host", "none":
	case "task":
		if mode != modeAWSVPC {
			bad("ipcMode", `ipcMode "task" is only supported with the awsvpc network mode`)
		}
	default:
		bad("ipcMode", "ipcMode %q is not supported", td.IpcMode)
	}

	volumes := make(map[string]bool, len(td.Volumes))
	for i, v := range td.Volumes {
		path := fmt.Sprintf("volumes[%d]", i)
		volumes[v.Name] = true
		if v.Name == "" {
			bad(path+".name", "a volume needs a name")
		}
		if v.EfsVolumeConfiguration != nil {
			bad(path+".efsVolumeConfiguration", "Amazon EFS volumes are not supported")
		}
		if v.FsxWindowsFileServerVolumeConfiguration != nil {
			bad(path+".fsxWindowsFileServerVolumeConfiguration", "FSx for Windows File Server volumes are not supported")
		}
		if v.S3filesVolumeConfiguration != nil {
			bad(path+".s3filesVolumeConfiguration", "S3 Files volumes are not supported")
		}
		if v.ConfiguredAtLaunch != nil && *v.ConfiguredAtLaunch {
			bad(path+".configuredAtLaunch", "volumes configured at launch are not supported")
		}
		if v.Host != nil && v.Host.SourcePath != "" && !strings.HasPrefix(v.Host.SourcePath, "/") {
			bad(path+".host.sourcePath", "the source path must be absolute")
		}
		if v.Host != nil && v.DockerVolumeConfiguration != nil {
			bad(path, "a volume has either host or dockerVolumeConfiguration, not both")
		}
		if c := v.DockerVolumeConfiguration; c != nil {
			switch c.Scope {
			case "", "task":
				if c.Autoprovision != nil && *c.Autoprovision {
					bad(path+".dockerVolumeConfiguration.autoprovision", `autoprovision is only valid with scope "shared"`)
				}
			case "shared":
			default:
				bad(path+".dockerVolumeConfiguration.scope", "scope %q is not task or shared", c.Scope)
			}
		}
	}

	containers := make(map[string]bool, len(td.ContainerDefinitions))
	for _, c := range td.ContainerDefinitions {
		containers[c.Name] = true
	}
	netSysctls := map[string]string{}
	for i, c := range td.ContainerDefinitions {
		validateContainer(fmt.Sprintf("containerDefinitions[%d]", i), c, mode, volumes, containers, netSysctls, bad)
	}
	return errors.Join(errs...)
}

func validateContainer(path string, c ecsapi.ContainerDefinition, mode ecsapi.NetworkMode,
	volumes, containers map[string]bool, netSysctls map[string]string, bad func(member, format string, args ...any)) {
	if c.Name == "" {
		bad(path+".name", "a container needs a name")
	}
	if c.Image == "" {
		bad(path+".image", "a container needs an image")
	}
	if len(c.CredentialSpecs) > 0 {
		bad(path+".credentialSpecs", "credential specs (Windows gMSA) are not supported")
	}
	if len(c.EnvironmentFiles) > 0 {
		bad(path+".environmentFiles", "environment files from Amazon S3 are not supported")
	}
	if c.FirelensConfiguration != nil {
		bad(path+".firelensConfiguration", "FireLens log routing is not supported")
	}
	if c.RepositoryCredentials != nil {
		bad(path+".repositoryCredentials", "private registry credentials from Secrets Manager are not supported")
	}
	if len(c.ResourceRequirements) > 0 {
		bad(path+".resourceRequirements", "GPU and inference accelerator requirements are not supported")
	}
	if len(c.Secrets) > 0 {
		bad(path+".secrets", "secrets from Secrets Manager or SSM Parameter Store are not supported")
	}
	if c.RestartPolicy != nil && c.RestartPolicy.Enabled != nil && *c.RestartPolicy.Enabled {
		bad(path+".restartPolicy", "restarting containers in place is not supported")
	}
	if lc := c.LogConfiguration; lc != nil {
		if lc.LogDriver == "" {
			bad(path+".logConfiguration.logDriver", "a log configuration needs a log driver")
		}
		if lc.LogDriver == "awsfirelens" {
			bad(path+".logConfiguration.logDriver", "the awsfirelens log driver is not supported")
		}
		if len(lc.SecretOptions) > 0 {
			bad(path+".logConfiguration.secretOptions", "log driver secrets are not supported")
		}
	}
	for _, o := range c.DockerSecurityOptions {
		if strings.HasPrefix(o, "credentialspec:") {
			bad(path+".dockerSecurityOptions", "credentialspec (Windows) is not supported")
		}
	}
	if hc := c.HealthCheck; hc != nil {
		if len(hc.Command) == 0 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL") {
			bad(path+".healthCheck.command", `the command must start with "CMD" or "CMD-SHELL"`)
		} else if len(hc.Command) < 2 {
			bad(path+".healthCheck.command", "the command has nothing to run after %s", hc.Command[0])
		}
	}
	if lp := c.LinuxParameters; lp != nil {
		if lp.MaxSwap != nil && c.Memory == nil {
			bad(path+".linuxParameters.maxSwap", "maxSwap needs the container's memory (hard limit) to be set")
		}
		for j, d := range lp.Devices {
			if d.HostPath == "" {
				bad(fmt.Sprintf("%s.linuxParameters.devices[%d].hostPath", path, j), "a device needs a host path")
			}
			for _, p := range d.Permissions {
				if p != "read" && p != "write" && p != "mknod" {
					bad(fmt.Sprintf("%s.linuxParameters.devices[%d].permissions", path, j), "permission %q is not read, write or mknod", p)
				}
			}
		}
		for j, t := range lp.Tmpfs {
			if t.ContainerPath == "" || t.Size <= 0 {
				bad(fmt.Sprintf("%s.linuxParameters.tmpfs[%d]", path, j), "a tmpfs mount needs a container path and a positive size")
			}
		}
	}

	for j, p := range c.PortMappings {
		pp := fmt.Sprintf("%s.portMappings[%d]", path, j)
		if p.ContainerPortRange != "" {
			bad(pp+".containerPortRange", "port ranges are not supported")
			continue
		}
		if p.ContainerPort == nil || *p.ContainerPort <= 0 || *p.ContainerPort > 65535 {
			bad(pp+".containerPort", "a port mapping needs a container port between 1 and 65535")
			continue
		}
		switch p.Protocol {
		case "", "tcp", "udp":
		default:
			bad(pp+".protocol", "protocol %q is not tcp or udp", p.Protocol)
		}
		switch mode {
		case modeNone:
			bad(pp, "port mappings are not supported with the none network mode")
		case modeHost, modeAWSVPC:
			if p.HostPort != nil && *p.HostPort != 0 && *p.HostPort != *p.ContainerPort {
				bad(pp+".hostPort", "with the %s network mode the host port must be the container port", mode)
			}
		default:
			if p.HostPort != nil && (*p.HostPort < 0 || *p.HostPort > 65535) {
				bad(pp+".hostPort", "the host port must be between 0 and 65535")
			}
		}
	}
	if mode != modeBridge && len(c.Links) > 0 {
		bad(path+".links", "links are only supported with the bridge network mode")
	}
	if mode == modeAWSVPC {
		if c.Hostname != "" {
			bad(path+".hostname", "hostname is not supported with the awsvpc network mode")
		}
		if len(c.DnsServers) > 0 {
			bad(path+".dnsServers", "dnsServers is not supported with the awsvpc network mode")
		}
		if len(c.DnsSearchDomains) > 0 {
			bad(path+".dnsSearchDomains", "dnsSearchDomains is not supported with the awsvpc network mode")
		}
		if len(c.ExtraHosts) > 0 {
			bad(path+".extraHosts", "extraHosts is not supported with the awsvpc network mode")
		}
	}
	for _, s := range c.SystemControls {
		if !strings.HasPrefix(s.Namespace, "net.") {
			continue
		}
		switch mode {
		case modeHost:
			bad(path+".systemControls", "%s: network systemControls are not supported with the host network mode", s.Namespace)
		case modeAWSVPC:
			// They are set once, on the task's network namespace.
			if v, ok := netSysctls[s.Namespace]; ok && v != s.Value {
				bad(path+".systemControls", "%s: containers of an awsvpc task share one network namespace and set it to different values", s.Namespace)
			}
			netSysctls[s.Namespace] = s.Value
		}
	}
	for j, l := range c.Links {
		name, _, _ := strings.Cut(l, ":")
		if !containers[name] {
			bad(fmt.Sprintf("%s.links[%d]", path, j), "no container named %q in the task definition", name)
		}
	}
	for j, m := range c.MountPoints {
		if !volumes[m.SourceVolume] {
			bad(fmt.Sprintf("%s.mountPoints[%d].sourceVolume", path, j), "no volume named %q in the task definition", m.SourceVolume)
		}
		if !strings.HasPrefix(m.ContainerPath, "/") {
			bad(fmt.Sprintf("%s.mountPoints[%d].containerPath", path, j), "a mount point needs an absolute container path")
		}
	}
	for j, v := range c.VolumesFrom {
		if !containers[v.SourceContainer] {
			bad(fmt.Sprintf("%s.volumesFrom[%d].sourceContainer", path, j), "no container named %q in the task definition", v.SourceContainer)
		}
	}
}

// Overrides reports every member of o that the runtime cannot honour for a
// task of td, like TaskDefinition does for td.
func Overrides(td ecsapi.TaskDefinition, o ecsapi.TaskOverride) error {
	var errs []error
	bad := func(member, format string, args ...any) {
		errs = append(errs, &UnsupportedError{Member: "overrides." + member, Reason: fmt.Sprintf(format, args...)})
	}
	if o.TaskRoleArn != "" {
		bad("taskRoleArn", "task IAM role credentials are not provided to containers")
	}
	if o.EphemeralStorage != nil {
		bad("ephemeralStorage", "ephemeral storage size is a Fargate feature and is not supported")
	}
	if len(o.InferenceAcceleratorOverrides) > 0 {
		bad("inferenceAcceleratorOverrides", "Elastic Inference accelerators are not supported")
	}
	if o.Memory != "" {
		if err := checkMemory(o.Memory); err != nil {
			bad("memory", "%v", err)
		}
	}
	for i, c := range o.ContainerOverrides {
		path := fmt.Sprintf("containerOverrides[%d]", i)
		found := false
		for _, d := range td.ContainerDefinitions {
			if d.Name == c.Name {
				found = true
				break
			}
		}
		if !found {
			bad(path+".name", "no container named %q in the task definition", c.Name)
		}
		if len(c.EnvironmentFiles) > 0 {
			bad(path+".environmentFiles", "environment files from Amazon S3 are not supported")
		}
		if len(c.ResourceRequirements) > 0 {
			bad(path+".resourceRequirements", "GPU and inference accelerator requirements are not supported")
		}
	}
	return errors.Join(errs...)
}

// checkMemory accepts a task-level memory the runtime can set as a limit: a
// size taskres reads, above zero.
func checkMemory(s string) error {
	m, err := taskres.ParseMemory(s)
	if err != nil {
		return err
	}
	if m == 0 {
		return fmt.Errorf("task memory %q is zero", s)
	}
	return nil
}
