package ecs

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// This file turns a RegisterTaskDefinition request into the task definition
// ECS would store: every member kept as sent, the rules ECS applies at
// registration checked (the first violation is returned, as ECS does), the
// few values ECS normalises normalised, and the members ECS derives
// (requiresAttributes, compatibilities) derived. It is pure: no clock, no
// store, no caller.

// The task definition statuses and the compatibilities, spelled as ECS does.
const (
	tdActive           ecsapi.TaskDefinitionStatus = "ACTIVE"
	tdInactive         ecsapi.TaskDefinitionStatus = "INACTIVE"
	tdDeleteInProgress ecsapi.TaskDefinitionStatus = "DELETE_IN_PROGRESS"

	compatEC2              ecsapi.Compatibility = "EC2"
	compatFargate          ecsapi.Compatibility = "FARGATE"
	compatExternal         ecsapi.Compatibility = "EXTERNAL"
	compatManagedInstances ecsapi.Compatibility = "MANAGED_INSTANCES"
)

// Limits ECS documents for task definitions.
const (
	tdMaxContainers  = 10
	tdMaxTags        = 50
	tdMaxConstraints = 10
	tdMinTaskCPU     = 128    // CPU units (0.125 vCPU), EC2 and EXTERNAL
	tdMaxTaskCPU     = 196608 // CPU units (192 vCPU)
	tdMinContainerMB = 4      // the smallest hard limit Docker accepts
)

// tdValidName reports whether s is a valid family, container name or
// volume name: 1 to 255 letters, numbers, underscores and hyphens, the
// pattern ^[a-zA-Z0-9_-]{1,255}$ (checked by hand: it is on every path).
func tdValidName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ecrImageRE matches images in an Amazon ECR registry, which need the
// ecr-auth capability to pull.
var ecrImageRE = regexp.MustCompile(`^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)

// tagPartRE is the character set of tag keys and values.
var tagPartRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// buildTaskDefinition validates in and returns the task definition it
// registers, without revision, ARN, status or registration stamps. Errors
// are *apierror.Error with ECS's code and, where known, its message.
func buildTaskDefinition(in *ecsapi.RegisterTaskDefinitionRequest) (ecsapi.TaskDefinition, error) {
	td := ecsapi.TaskDefinition{
		Family:                  in.Family,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		NetworkMode:             in.NetworkMode,
		ContainerDefinitions:    slices.Clone(in.ContainerDefinitions),
		Volumes:                 in.Volumes,
		PlacementConstraints:    in.PlacementConstraints,
		RequiresCompatibilities: in.RequiresCompatibilities,
		Cpu:                     in.Cpu,
		Memory:                  in.Memory,
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		InferenceAccelerators:   in.InferenceAccelerators,
		EphemeralStorage:        in.EphemeralStorage,
		RuntimePlatform:         in.RuntimePlatform,
		EnableFaultInjection:    in.EnableFaultInjection,
	}
	if !tdValidName(td.Family) {
		return td, apierror.Client("Family contains invalid characters.")
	}
	if len(td.ContainerDefinitions) == 0 {
		return td, apierror.Client("Container list cannot be empty.")
	}
	if len(td.ContainerDefinitions) > tdMaxContainers {
		return td, apierror.Client("Too many containers: a task definition can have at most %d containers.", tdMaxContainers)
	}
	if err := checkTaskDefEnums(&td); err != nil {
		return td, err
	}
	cpu, mem, err := normaliseTaskSize(&td)
	if err != nil {
		return td, err
	}
	if err := checkTaskDefLevel(&td); err != nil {
		return td, err
	}
	for _, c := range td.RequiresCompatibilities {
		var reason string
		switch c {
		case compatFargate:
			reason = fargateIncompatibility(&td, cpu, mem)
		case compatExternal:
			reason = externalIncompatibility(&td)
		}
		if reason != "" {
			return td, apierror.Client("%s", reason)
		}
	}
	if err := checkTaskDefContainers(&td, cpu, mem); err != nil {
		return td, err
	}
	normaliseContainers(&td)
	td.RequiresAttributes = requiredAttributes(&td)
	td.Compatibilities = compatibilities(&td, cpu, mem)
	return td, nil
}

// tdEnumError is AWS's validation message for a value outside an enum.
func tdEnumError[T ~string](path string, v T, allowed []T) *apierror.Error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		string(v), path, strings.Join(names, ", "))
}

// tdCheckEnum reports v if it is set and not one of allowed. The path and
// the allowed values are only computed for a value that is set: this runs
// for every member of every registration.
func tdCheckEnum[T ~string](path func() string, v T, allowed func() []T) *apierror.Error {
	if v == "" {
		return nil
	}
	vals := allowed()
	if slices.Contains(vals, v) {
		return nil
	}
	return tdEnumError(path(), v, vals)
}

// tdPath returns a constant path for tdCheckEnum.
func tdPath(p string) func() string { return func() string { return p } }

// checkTaskDefEnums checks every enumerated member of the request.
func checkTaskDefEnums(td *ecsapi.TaskDefinition) error {
	if err := tdCheckEnum(tdPath("networkMode"), td.NetworkMode, td.NetworkMode.Values); err != nil {
		return err
	}
	if err := tdCheckEnum(tdPath("pidMode"), td.PidMode, td.PidMode.Values); err != nil {
		return err
	}
	if err := tdCheckEnum(tdPath("ipcMode"), td.IpcMode, td.IpcMode.Values); err != nil {
		return err
	}
	for i, c := range td.RequiresCompatibilities {
		if c == "" {
			return tdEnumError(fmt.Sprintf("requiresCompatibilities.%d.member", i+1), c, c.Values())
		}
		if err := tdCheckEnum(func() string { return fmt.Sprintf("requiresCompatibilities.%d.member", i+1) }, c, c.Values); err != nil {
			return err
		}
	}
	for i, pc := range td.PlacementConstraints {
		if err := tdCheckEnum(func() string { return fmt.Sprintf("placementConstraints.%d.member.type", i+1) }, pc.Type, pc.Type.Values); err != nil {
			return err
		}
	}
	if p := td.ProxyConfiguration; p != nil {
		if err := tdCheckEnum(tdPath("proxyConfiguration.type"), p.Type, p.Type.Values); err != nil {
			return err
		}
	}
	if rp := td.RuntimePlatform; rp != nil {
		if err := tdCheckEnum(tdPath("runtimePlatform.cpuArchitecture"), rp.CpuArchitecture, rp.CpuArchitecture.Values); err != nil {
			return err
		}
		if err := tdCheckEnum(tdPath("runtimePlatform.operatingSystemFamily"), rp.OperatingSystemFamily, rp.OperatingSystemFamily.Values); err != nil {
			return err
		}
	}
	for i, v := range td.Volumes {
		p := func() string { return fmt.Sprintf("volumes.%d.member", i+1) }
		if d := v.DockerVolumeConfiguration; d != nil {
			if err := tdCheckEnum(func() string { return p() + ".dockerVolumeConfiguration.scope" }, d.Scope, d.Scope.Values); err != nil {
				return err
			}
		}
		if e := v.EfsVolumeConfiguration; e != nil {
			if err := tdCheckEnum(func() string { return p() + ".efsVolumeConfiguration.transitEncryption" }, e.TransitEncryption, e.TransitEncryption.Values); err != nil {
				return err
			}
			if a := e.AuthorizationConfig; a != nil {
				if err := tdCheckEnum(func() string { return p() + ".efsVolumeConfiguration.authorizationConfig.iam" }, a.Iam, a.Iam.Values); err != nil {
					return err
				}
			}
		}
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		p := func() string { return fmt.Sprintf("containerDefinitions.%d.member", i+1) }
		if err := tdCheckEnum(func() string { return p() + ".versionConsistency" }, c.VersionConsistency, c.VersionConsistency.Values); err != nil {
			return err
		}
		for j, pm := range c.PortMappings {
			pp := func() string { return fmt.Sprintf("%s.portMappings.%d.member", p(), j+1) }
			if err := tdCheckEnum(func() string { return pp() + ".protocol" }, pm.Protocol, pm.Protocol.Values); err != nil {
				return err
			}
			if err := tdCheckEnum(func() string { return pp() + ".appProtocol" }, pm.AppProtocol, pm.AppProtocol.Values); err != nil {
				return err
			}
		}
		for j, d := range c.DependsOn {
			if err := tdCheckEnum(func() string { return fmt.Sprintf("%s.dependsOn.%d.member.condition", p(), j+1) }, d.Condition, d.Condition.Values); err != nil {
				return err
			}
		}
		if lc := c.LogConfiguration; lc != nil {
			if err := tdCheckEnum(func() string { return p() + ".logConfiguration.logDriver" }, lc.LogDriver, lc.LogDriver.Values); err != nil {
				return err
			}
		}
		for j, u := range c.Ulimits {
			if err := tdCheckEnum(func() string { return fmt.Sprintf("%s.ulimits.%d.member.name", p(), j+1) }, u.Name, u.Name.Values); err != nil {
				return err
			}
		}
		for j, ef := range c.EnvironmentFiles {
			if err := tdCheckEnum(func() string { return fmt.Sprintf("%s.environmentFiles.%d.member.type", p(), j+1) }, ef.Type, ef.Type.Values); err != nil {
				return err
			}
		}
		for j, rr := range c.ResourceRequirements {
			if err := tdCheckEnum(func() string { return fmt.Sprintf("%s.resourceRequirements.%d.member.type", p(), j+1) }, rr.Type, rr.Type.Values); err != nil {
				return err
			}
		}
		if fc := c.FirelensConfiguration; fc != nil {
			if err := tdCheckEnum(func() string { return p() + ".firelensConfiguration.type" }, fc.Type, fc.Type.Values); err != nil {
				return err
			}
		}
		if lp := c.LinuxParameters; lp != nil {
			for j, d := range lp.Devices {
				for k, perm := range d.Permissions {
					if err := tdCheckEnum(func() string {
						return fmt.Sprintf("%s.linuxParameters.devices.%d.member.permissions.%d.member", p(), j+1, k+1)
					}, perm, perm.Values); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// normaliseTaskSize parses the task-level cpu and memory in any form ECS
// accepts ("1024", "1 vCPU", "0.5vcpu"; "2048", "2 GB", "2GiB", "512 MiB")
// and rewrites them as ECS returns them: CPU units and MiB, as integers in
// strings. It returns the parsed values (0 when absent).
func normaliseTaskSize(td *ecsapi.TaskDefinition) (cpu, mem int64, err error) {
	if td.Cpu != "" {
		cpu, err = parseTaskCPU(td.Cpu)
		if err != nil {
			return 0, 0, err
		}
		td.Cpu = strconv.FormatInt(cpu, 10)
	}
	if td.Memory != "" {
		mem, err = parseTaskMemory(td.Memory)
		if err != nil {
			return 0, 0, err
		}
		td.Memory = strconv.FormatInt(mem, 10)
	}
	return cpu, mem, nil
}

// tdSplitQuantity splits "1.5 GB" into 1.5 and "gb" (unit lower-cased, spaces
// dropped). ok is false if s does not start with a non-negative number.
func tdSplitQuantity(s string) (n float64, unit string, ok bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, "", false
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, "", false
	}
	return n, strings.ToLower(strings.ReplaceAll(s[i:], " ", "")), true
}

// parseTaskCPU returns the CPU units of a task-level cpu value.
func parseTaskCPU(s string) (int64, error) {
	invalid := apierror.Client("Invalid 'cpu' setting for task.")
	n, unit, ok := tdSplitQuantity(s)
	if !ok {
		return 0, invalid
	}
	switch unit {
	case "":
	case "vcpu", "vcpus":
		n *= 1024
	default:
		return 0, invalid
	}
	if n != math.Trunc(n) || n < tdMinTaskCPU || n > tdMaxTaskCPU {
		return 0, invalid
	}
	return int64(n), nil
}

// parseTaskMemory returns the MiB of a task-level memory value.
func parseTaskMemory(s string) (int64, error) {
	invalid := apierror.Client("Invalid 'memory' setting for task.")
	n, unit, ok := tdSplitQuantity(s)
	if !ok {
		return 0, invalid
	}
	switch unit {
	case "", "mb", "mib":
	case "gb", "gib":
		n *= 1024
	default:
		return 0, invalid
	}
	if n != math.Trunc(n) || n < tdMinContainerMB || n > math.MaxInt32 {
		return 0, invalid
	}
	return int64(n), nil
}

// fargateMemoryOK reports whether mem MiB is valid with cpu units on
// Fargate, per the table of "Task CPU and memory" in the ECS guide.
func fargateMemoryOK(cpu, mem int64) bool {
	const gb = 1024
	switch cpu {
	case 256:
		return mem == 512 || mem == gb || mem == 2*gb
	case 512:
		return mem >= gb && mem <= 4*gb && mem%gb == 0
	case 1024:
		return mem >= 2*gb && mem <= 8*gb && mem%gb == 0
	case 2048:
		return mem >= 4*gb && mem <= 16*gb && mem%gb == 0
	case 4096:
		return mem >= 8*gb && mem <= 30*gb && mem%gb == 0
	case 8192:
		return mem >= 16*gb && mem <= 60*gb && mem%(4*gb) == 0
	case 16384:
		return mem >= 32*gb && mem <= 120*gb && mem%(8*gb) == 0
	}
	return false
}

// fargateIncompatibility returns why td cannot run on Fargate, in ECS's
// words where known, or "" if it can.
func fargateIncompatibility(td *ecsapi.TaskDefinition, cpu, mem int64) string {
	const prefix = "Tasks using the Fargate launch type do not support "
	if td.NetworkMode != "awsvpc" {
		return "Fargate only supports network mode ‘awsvpc’."
	}
	if td.Cpu == "" {
		return "Fargate requires that 'cpu' be defined at the task level."
	}
	if td.Memory == "" {
		return "Fargate requires that 'memory' be defined at the task level."
	}
	if !fargateMemoryOK(cpu, mem) {
		return fmt.Sprintf("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.", cpu, mem)
	}
	if td.IpcMode != "" {
		return prefix + "ipcMode."
	}
	if td.PidMode == "host" {
		return prefix + "pidMode 'host'."
	}
	if len(td.PlacementConstraints) > 0 {
		return prefix + "placement constraints."
	}
	if len(td.InferenceAccelerators) > 0 {
		return prefix + "inference accelerators."
	}
	for _, v := range td.Volumes {
		if v.DockerVolumeConfiguration != nil {
			return prefix + "Docker volumes."
		}
		if v.Host != nil && v.Host.SourcePath != "" {
			return prefix + "the 'sourcePath' parameter of host volumes."
		}
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if tdIsTrue(c.Privileged) {
			return prefix + "privileged containers."
		}
		if len(c.DockerSecurityOptions) > 0 {
			return prefix + "dockerSecurityOptions."
		}
		if len(c.Links) > 0 {
			return prefix + "links."
		}
		if lp := c.LinuxParameters; lp != nil {
			switch {
			case len(lp.Devices) > 0:
				return prefix + "linuxParameters.devices."
			case lp.SharedMemorySize != nil:
				return prefix + "linuxParameters.sharedMemorySize."
			case lp.MaxSwap != nil || lp.Swappiness != nil:
				return prefix + "linuxParameters.maxSwap and linuxParameters.swappiness."
			}
		}
		for _, rr := range c.ResourceRequirements {
			if rr.Type == "GPU" {
				return prefix + "GPU resource requirements."
			}
		}
		if c.StopTimeout != nil && (*c.StopTimeout < 2 || *c.StopTimeout > 120) {
			return "Fargate only supports 'stopTimeout' values between 2 and 120 seconds."
		}
		if lc := c.LogConfiguration; lc != nil {
			switch lc.LogDriver {
			case "awslogs":
				if td.ExecutionRoleArn == "" {
					return "Fargate requires task definition to have execution role ARN to support log driver awslogs."
				}
			case "splunk", "awsfirelens":
			default:
				return prefix + "log driver " + string(lc.LogDriver) + "."
			}
		}
	}
	return ""
}

// externalIncompatibility returns why td cannot run on external (ECS
// Anywhere) instances, or "" if it can.
func externalIncompatibility(td *ecsapi.TaskDefinition) string {
	const prefix = "Tasks using the EXTERNAL launch type do not support "
	if td.NetworkMode == "awsvpc" {
		return prefix + "network mode 'awsvpc'."
	}
	if len(td.InferenceAccelerators) > 0 {
		return prefix + "inference accelerators."
	}
	for _, v := range td.Volumes {
		if v.EfsVolumeConfiguration != nil || v.FsxWindowsFileServerVolumeConfiguration != nil || v.S3filesVolumeConfiguration != nil {
			return prefix + "Amazon EFS, FSx or S3 Files volumes."
		}
	}
	return ""
}

// compatibilities is what ECS reports a task definition can run on: EC2
// always, EXTERNAL and FARGATE when nothing in it rules them out, and
// MANAGED_INSTANCES for awsvpc tasks or when required.
func compatibilities(td *ecsapi.TaskDefinition, cpu, mem int64) []ecsapi.Compatibility {
	out := []ecsapi.Compatibility{compatEC2}
	if externalIncompatibility(td) == "" {
		out = append(out, compatExternal)
	}
	if fargateIncompatibility(td, cpu, mem) == "" {
		out = append(out, compatFargate)
	}
	if td.NetworkMode == "awsvpc" || slices.Contains(td.RequiresCompatibilities, compatManagedInstances) {
		out = append(out, compatManagedInstances)
	}
	return out
}

// checkTaskDefLevel checks the task-level members other than cpu and memory.
func checkTaskDefLevel(td *ecsapi.TaskDefinition) error {
	if len(td.PlacementConstraints) > tdMaxConstraints {
		return apierror.Client("Too many placement constraints: a task definition can have at most %d.", tdMaxConstraints)
	}
	for _, pc := range td.PlacementConstraints {
		if pc.Type == "" {
			return apierror.Client("Placement constraint type must be specified.")
		}
		if pc.Type == "memberOf" && strings.TrimSpace(pc.Expression) == "" {
			return apierror.Client("A memberOf placement constraint requires an expression.")
		}
	}
	if es := td.EphemeralStorage; es != nil && (es.SizeInGiB < 21 || es.SizeInGiB > 200) {
		return apierror.Client("The ephemeral storage size must be between 21 and 200 GiB.")
	}
	volumes := map[string]bool{}
	atLaunch := 0
	for _, v := range td.Volumes {
		if !tdValidName(v.Name) {
			return apierror.Client("Volume.name contains invalid characters.")
		}
		if volumes[v.Name] {
			return apierror.Client("Duplicate volume name found: %s.", v.Name)
		}
		volumes[v.Name] = true
		if tdIsTrue(v.ConfiguredAtLaunch) {
			atLaunch++
		}
	}
	if atLaunch > 1 {
		return apierror.Client("A task definition can have only one volume configured at launch.")
	}
	devices := map[string]bool{}
	for _, a := range td.InferenceAccelerators {
		if devices[a.DeviceName] {
			return apierror.Client("Duplicate inference accelerator device name found: %s.", a.DeviceName)
		}
		devices[a.DeviceName] = true
	}
	if p := td.ProxyConfiguration; p != nil {
		if td.NetworkMode != "awsvpc" {
			return apierror.Client("Proxy configuration is only supported when networkMode=awsvpc.")
		}
		if !slices.ContainsFunc(td.ContainerDefinitions, func(c ecsapi.ContainerDefinition) bool { return c.Name == p.ContainerName }) {
			return apierror.Client("The proxy configuration container '%s' is not defined in the task definition.", p.ContainerName)
		}
	}
	return nil
}

// tdNetworkMode is the effective network mode ("bridge" when absent).
func tdNetworkMode(td *ecsapi.TaskDefinition) string {
	if td.NetworkMode == "" {
		return "bridge"
	}
	return string(td.NetworkMode)
}

// checkTaskDefTags applies the tag rules of RegisterTaskDefinition: at most
// 50, keys of 1 to 128 and values of up to 256 characters of the allowed
// set, unique keys, and no aws: prefix.
func checkTaskDefTags(tags []ecsapi.Tag) error {
	if len(tags) > tdMaxTags {
		return apierror.InvalidParameter("Too many tags: a resource can have at most %d tags.", tdMaxTags)
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		p := fmt.Sprintf("tags.%d.member", i+1)
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s.key' failed to satisfy constraint: Member must have length between 1 and 128", t.Key, p)
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s.value' failed to satisfy constraint: Member must have length less than or equal to 256", t.Value, p)
		}
		if !tagPartRE.MatchString(t.Key) || !tagPartRE.MatchString(t.Value) {
			return apierror.InvalidParameter("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", p)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return apierror.InvalidParameter("Tag keys may not begin with the reserved prefix 'aws:'.")
		}
		if seen[t.Key] {
			return apierror.InvalidParameter("Tag keys must be unique: '%s' appears more than once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// requiredAttributes derives the container instance attributes a task
// definition requires, as ECS lists them in requiresAttributes. Gantry
// derives the common ones (ECS's own list is not published):
//
//   - docker-remote-api.1.18: awsvpc/host/none network mode, dockerLabels,
//     ulimits, logConfiguration; 1.19: log driver options; 1.21:
//     memoryReservation; 1.24: healthCheck; 1.25: initProcessEnabled
//   - logging-driver.<driver>, execution-role-awslogs
//   - task-eni (awsvpc), task-iam-role (taskRoleArn), and
//     task-iam-role-network-host with the host network mode
//   - ecr-auth and execution-role-ecr-pull for Amazon ECR images
//   - container-health-check, container-ordering (dependsOn, start and
//     stop timeouts), privileged-container, secrets and env-files, efs,
//     docker-plugin.<driver>, pid-ipc-namespace-sharing, aws-appmesh,
//     firelens, private registry authentication, task-eia.
func requiredAttributes(td *ecsapi.TaskDefinition) []ecsapi.Attribute {
	const (
		legacy = "com.amazonaws.ecs.capability."
		modern = "ecs.capability."
	)
	set := map[string]bool{}
	docker := func(v string) { set[legacy+"docker-remote-api."+v] = true }
	mode := tdNetworkMode(td)
	if mode != "bridge" {
		docker("1.18")
	}
	if mode == "awsvpc" {
		set[modern+"task-eni"] = true
	}
	if td.TaskRoleArn != "" {
		set[legacy+"task-iam-role"] = true
		if mode == "host" {
			set[legacy+"task-iam-role-network-host"] = true
		}
	}
	if td.PidMode != "" || td.IpcMode != "" {
		set[modern+"pid-ipc-namespace-sharing"] = true
	}
	if td.ProxyConfiguration != nil {
		set[modern+"aws-appmesh"] = true
	}
	if len(td.InferenceAccelerators) > 0 {
		set[modern+"task-eia"] = true
	}
	for _, v := range td.Volumes {
		if e := v.EfsVolumeConfiguration; e != nil {
			set[modern+"efs"] = true
			if e.TransitEncryption == "ENABLED" || e.AuthorizationConfig != nil {
				set[modern+"efsAuth"] = true
			}
		}
		if d := v.DockerVolumeConfiguration; d != nil && d.Driver != "" {
			set[modern+"docker-plugin."+d.Driver] = true
		}
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if ecrImageRE.MatchString(c.Image) {
			set[legacy+"ecr-auth"] = true
			if td.ExecutionRoleArn != "" {
				set[modern+"execution-role-ecr-pull"] = true
			}
		}
		if len(c.DockerLabels) > 0 || len(c.Ulimits) > 0 {
			docker("1.18")
		}
		if c.MemoryReservation != nil {
			docker("1.21")
		}
		if lc := c.LogConfiguration; lc != nil {
			docker("1.18")
			set[legacy+"logging-driver."+string(lc.LogDriver)] = true
			if len(lc.Options) > 0 {
				docker("1.19")
			}
			if lc.LogDriver == "awslogs" && td.ExecutionRoleArn != "" {
				set[modern+"execution-role-awslogs"] = true
			}
			for _, s := range lc.SecretOptions {
				set[modern+"secrets."+tdSecretStore(s.ValueFrom)+".bootstrap.log-driver"] = true
			}
		}
		if c.HealthCheck != nil {
			docker("1.24")
			set[modern+"container-health-check"] = true
		}
		if lp := c.LinuxParameters; lp != nil && tdIsTrue(lp.InitProcessEnabled) {
			docker("1.25")
		}
		if len(c.DependsOn) > 0 || c.StartTimeout != nil || c.StopTimeout != nil {
			set[modern+"container-ordering"] = true
		}
		if tdIsTrue(c.Privileged) {
			set[legacy+"privileged-container"] = true
		}
		for _, s := range c.Secrets {
			set[modern+"secrets."+tdSecretStore(s.ValueFrom)+".environment-variables"] = true
		}
		if len(c.EnvironmentFiles) > 0 {
			set[modern+"env-files.s3"] = true
		}
		if c.RepositoryCredentials != nil {
			set[modern+"private-registry-authentication.secretsmanager"] = true
		}
		if fc := c.FirelensConfiguration; fc != nil {
			set[modern+"firelens."+string(fc.Type)] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]ecsapi.Attribute, len(names))
	for i, n := range names {
		out[i] = ecsapi.Attribute{Name: n}
	}
	return out
}

// tdSecretStore is "asm" for a Secrets Manager ARN and "ssm" for anything
// else (a Parameter Store name or ARN).
func tdSecretStore(valueFrom string) string {
	if strings.Contains(valueFrom, ":secretsmanager:") {
		return "asm"
	}
	return "ssm"
}

func tdIsTrue(b *bool) bool { return b != nil && *b }
