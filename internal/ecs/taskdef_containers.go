package ecs

// The per-container rules of RegisterTaskDefinition (see taskdef_validate.go).

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// checkTaskDefContainers applies the per-container rules and the rules between
// containers, volumes and the task size.
func checkTaskDefContainers(td *ecsapi.TaskDefinition, taskCPU, taskMem int64) error {
	mode := tdNetworkMode(td)
	names := make(map[string]int, len(td.ContainerDefinitions))
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if c.Name == "" {
			return apierror.Client("Container.name should not be null or empty.")
		}
		if !tdValidName(c.Name) {
			return apierror.Client("Container.name contains invalid characters.")
		}
		if _, dup := names[c.Name]; dup {
			return apierror.Client("Duplicate container name found: %s.", c.Name)
		}
		names[c.Name] = i
	}
	volumes := make(map[string]bool, len(td.Volumes))
	for _, v := range td.Volumes {
		volumes[v.Name] = true
	}
	accelerators := make(map[string]bool, len(td.InferenceAccelerators))
	for _, a := range td.InferenceAccelerators {
		accelerators[a.DeviceName] = true
	}
	var cpuSum, memSum int64
	essential := false
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if err := checkContainerImage(c.Image); err != nil {
			return err
		}
		if c.Cpu < 0 {
			return apierror.Client("Invalid 'cpu' setting for container '%s'.", c.Name)
		}
		cpuSum += int64(c.Cpu)
		if c.Memory != nil && *c.Memory < tdMinContainerMB {
			return apierror.Client("Invalid 'memory' setting for container '%s'. The minimum is %d MiB.", c.Name, tdMinContainerMB)
		}
		if c.MemoryReservation != nil && *c.MemoryReservation < 1 {
			return apierror.Client("Invalid 'memoryReservation' setting for container '%s'.", c.Name)
		}
		if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
			return apierror.Client("Invalid setting for container '%s'. 'memoryReservation' cannot be greater than 'memory'.", c.Name)
		}
		if taskMem == 0 && c.Memory == nil && c.MemoryReservation == nil {
			return apierror.Client("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
		}
		if taskMem > 0 && c.Memory != nil && int64(*c.Memory) > taskMem {
			return apierror.Client("Invalid setting for container '%s'. The container 'memory' cannot be greater than the task 'memory'.", c.Name)
		}
		switch {
		case c.MemoryReservation != nil:
			memSum += int64(*c.MemoryReservation)
		case c.Memory != nil:
			memSum += int64(*c.Memory)
		}
		if c.Essential == nil || *c.Essential {
			essential = true
		}
		if c.Hostname != "" && mode == "awsvpc" {
			return apierror.Client("hostname is not supported on container when networkMode=awsvpc.")
		}
		if len(c.ExtraHosts) > 0 && mode == "awsvpc" {
			return apierror.Client("extraHosts is not supported on container when networkMode=awsvpc.")
		}
		if len(c.Links) > 0 && mode != "bridge" {
			return apierror.Client("links are not supported on container when networkMode=%s.", mode)
		}
		for _, l := range c.Links {
			target, _, _ := strings.Cut(l, ":")
			if _, ok := names[target]; !ok || target == c.Name {
				return apierror.Client("Container '%s' links to '%s', which is not another container of the task definition.", c.Name, target)
			}
		}
		if err := checkPortMappings(c, mode); err != nil {
			return err
		}
		for _, mp := range c.MountPoints {
			if mp.SourceVolume == "" || mp.ContainerPath == "" {
				return apierror.Client("Invalid 'mountPoints' setting for container '%s'. Both 'sourceVolume' and 'containerPath' are required.", c.Name)
			}
			if !volumes[mp.SourceVolume] {
				return apierror.Client("Invalid 'mountPoints' setting for container '%s'. Volume '%s' is not defined in the task definition's volumes.", c.Name, mp.SourceVolume)
			}
		}
		for _, vf := range c.VolumesFrom {
			if _, ok := names[vf.SourceContainer]; !ok || vf.SourceContainer == c.Name {
				return apierror.Client("Invalid 'volumesFrom' setting for container '%s'. '%s' is not another container of the task definition.", c.Name, vf.SourceContainer)
			}
		}
		if err := checkContainerDependsOn(td, c, names); err != nil {
			return err
		}
		if err := checkContainerDetails(c, accelerators); err != nil {
			return err
		}
	}
	if !essential {
		return apierror.Client("A task definition must have at least one essential container.")
	}
	if taskCPU > 0 && cpuSum > taskCPU {
		return apierror.Client("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if taskMem > 0 && memSum > taskMem {
		return apierror.Client("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.")
	}
	return checkContainerDependencyCycles(td, names)
}

// checkContainerImage applies the image rules of the ECS guide: required, at most 255
// characters before any digest, no whitespace, and a sha256 digest of 64 hex
// digits if there is one.
func checkContainerImage(image string) error {
	if image == "" {
		return apierror.Client("Container.image should not be null or empty.")
	}
	invalid := apierror.Client("Container.image contains invalid characters.")
	name, digest, hasDigest := strings.Cut(image, "@")
	if len(name) > 255 || !utf8.ValidString(image) || strings.ContainsFunc(image, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return invalid
	}
	if hasDigest {
		hex, ok := strings.CutPrefix(digest, "sha256:")
		if !ok || len(hex) != 64 || strings.ContainsFunc(hex, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
		}) {
			return invalid
		}
	}
	return nil
}

// checkPortMappings applies the port mapping rules of the network mode.
func checkPortMappings(c *ecsapi.ContainerDefinition, mode string) error {
	if len(c.PortMappings) > 0 && mode == "none" {
		return apierror.Client("portMappings are not supported on container when networkMode=none.")
	}
	ranges := 0
	for _, pm := range c.PortMappings {
		if pm.ContainerPortRange != "" {
			ranges++
			if pm.ContainerPort != nil || pm.HostPort != nil {
				return apierror.Client("Invalid 'containerPortRange' setting for container '%s'. Do not specify 'containerPort' or 'hostPort' with a port range.", c.Name)
			}
			if mode != "bridge" && mode != "awsvpc" {
				return apierror.Client("containerPortRange is not supported on container when networkMode=%s.", mode)
			}
			lo, hi, ok := parseContainerPortRange(pm.ContainerPortRange)
			if !ok || lo >= hi {
				return apierror.Client("Invalid 'containerPortRange' setting for container '%s'.", c.Name)
			}
			continue
		}
		if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > 65535 {
			return apierror.Client("Invalid 'containerPort' setting for container '%s'.", c.Name)
		}
		if pm.HostPort != nil {
			hp := *pm.HostPort
			if hp < 0 || hp > 65535 {
				return apierror.Client("Invalid 'hostPort' setting for container '%s'.", c.Name)
			}
			if (mode == "awsvpc" || mode == "host") && hp != 0 && hp != *pm.ContainerPort {
				return apierror.Client("When networkMode=%s, the host ports and container ports in port mappings must match.", mode)
			}
		}
	}
	if ranges > 100 {
		return apierror.Client("Invalid 'portMappings' setting for container '%s'. A container can have at most 100 port ranges.", c.Name)
	}
	return nil
}

// parseContainerPortRange parses "lo-hi" with both ends in 1..65535.
func parseContainerPortRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 {
		return 0, 0, false
	}
	return lo, hi, true
}

// checkContainerDependsOn checks the dependencies of c.
func checkContainerDependsOn(td *ecsapi.TaskDefinition, c *ecsapi.ContainerDefinition, names map[string]int) error {
	for _, d := range c.DependsOn {
		j, ok := names[d.ContainerName]
		if !ok || d.ContainerName == c.Name {
			return apierror.Client("Invalid 'dependsOn' setting for container '%s'. '%s' is not another container of the task definition.", c.Name, d.ContainerName)
		}
		dep := &td.ContainerDefinitions[j]
		depEssential := dep.Essential == nil || *dep.Essential
		switch d.Condition {
		case "COMPLETE", "SUCCESS":
			if depEssential {
				return apierror.Client("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container")
			}
		case "HEALTHY":
			if dep.HealthCheck == nil {
				return apierror.Client("Invalid 'dependsOn' setting for container '%s'. The HEALTHY condition requires a health check on container '%s'.", c.Name, d.ContainerName)
			}
		}
	}
	return nil
}

// checkContainerDependencyCycles refuses dependsOn chains that loop, which no agent
// could ever start.
func checkContainerDependencyCycles(td *ecsapi.TaskDefinition, names map[string]int) error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(td.ContainerDefinitions))
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = visiting
		for _, d := range td.ContainerDefinitions[i].DependsOn {
			j := names[d.ContainerName]
			if state[j] == visiting || state[j] == unvisited && !visit(j) {
				return false
			}
		}
		state[i] = done
		return true
	}
	for i := range td.ContainerDefinitions {
		if state[i] == unvisited && !visit(i) {
			return apierror.Client("Invalid 'dependsOn' setting for container '%s'. Container dependencies cannot form a cycle.", td.ContainerDefinitions[i].Name)
		}
	}
	return nil
}

// checkContainerDetails checks the members of c that stand alone.
func checkContainerDetails(c *ecsapi.ContainerDefinition, accelerators map[string]bool) error {
	if hc := c.HealthCheck; hc != nil {
		if len(hc.Command) == 0 {
			return apierror.Client("Invalid 'healthCheck' setting for container '%s'. The command must not be empty.", c.Name)
		}
		for _, r := range []struct {
			name    string
			v       *int32
			min, mx int32
		}{
			{"interval", hc.Interval, 5, 300},
			{"timeout", hc.Timeout, 2, 60},
			{"retries", hc.Retries, 1, 10},
			{"startPeriod", hc.StartPeriod, 0, 300},
		} {
			if r.v != nil && (*r.v < r.min || *r.v > r.mx) {
				return apierror.Client("Invalid 'healthCheck.%s' setting for container '%s'. It must be between %d and %d.", r.name, c.Name, r.min, r.mx)
			}
		}
	}
	if lc := c.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" {
		var missing []string
		for _, o := range []string{"awslogs-region", "awslogs-group"} {
			if lc.Options[o] == "" {
				missing = append(missing, o)
			}
		}
		if len(missing) > 0 {
			return apierror.Client("Log driver awslogs requires options: %s", strings.Join(missing, ", "))
		}
	}
	if c.StartTimeout != nil && *c.StartTimeout < 0 {
		return apierror.Client("Invalid 'startTimeout' setting for container '%s'.", c.Name)
	}
	if c.StopTimeout != nil && *c.StopTimeout < 0 {
		return apierror.Client("Invalid 'stopTimeout' setting for container '%s'.", c.Name)
	}
	if len(c.EnvironmentFiles) > 10 {
		return apierror.Client("Invalid 'environmentFiles' setting for container '%s'. A container can have at most 10 environment files.", c.Name)
	}
	if len(c.CredentialSpecs) > 1 {
		return apierror.Client("Invalid 'credentialSpecs' setting for container '%s'. A container can have at most 1 credential spec.", c.Name)
	}
	for _, u := range c.Ulimits {
		if u.SoftLimit > u.HardLimit {
			return apierror.Client("Invalid 'ulimits' setting for container '%s'. The soft limit of '%s' cannot be greater than its hard limit.", c.Name, u.Name)
		}
	}
	for _, rr := range c.ResourceRequirements {
		switch rr.Type {
		case "GPU":
			if n, err := strconv.Atoi(rr.Value); err != nil || n < 1 {
				return apierror.Client("Invalid 'resourceRequirements' setting for container '%s'. The GPU value must be a positive integer.", c.Name)
			}
		case "InferenceAccelerator":
			if !accelerators[rr.Value] {
				return apierror.Client("Invalid 'resourceRequirements' setting for container '%s'. Inference accelerator '%s' is not defined in the task definition.", c.Name, rr.Value)
			}
		}
	}
	if rp := c.RestartPolicy; rp != nil {
		if len(rp.IgnoredExitCodes) > 50 {
			return apierror.Client("Invalid 'restartPolicy' setting for container '%s'. At most 50 exit codes can be ignored.", c.Name)
		}
		if p := rp.RestartAttemptPeriod; p != nil && (*p < 60 || *p > 1800) {
			return apierror.Client("Invalid 'restartPolicy' setting for container '%s'. 'restartAttemptPeriod' must be between 60 and 1800 seconds.", c.Name)
		}
	}
	return nil
}

// normaliseContainers fills the defaults ECS shows in a registered task
// definition: essential true, port mapping protocol tcp, and in awsvpc and
// host modes a host port equal to the container port.
func normaliseContainers(td *ecsapi.TaskDefinition) {
	mode := tdNetworkMode(td)
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if c.Essential == nil {
			t := true
			c.Essential = &t
		}
		if len(c.PortMappings) == 0 {
			continue
		}
		pms := slices.Clone(c.PortMappings)
		for j := range pms {
			pm := &pms[j]
			if pm.Protocol == "" {
				pm.Protocol = "tcp"
			}
			if pm.ContainerPort != nil && (mode == "awsvpc" || mode == "host") && (pm.HostPort == nil || *pm.HostPort == 0) {
				hp := *pm.ContainerPort
				pm.HostPort = &hp
			}
		}
		c.PortMappings = pms
	}
}
