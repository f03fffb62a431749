package ecs

import (
	"regexp"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Scheduling strategies of a service.
const (
	SchedulingReplica = "REPLICA"
	SchedulingDaemon  = "DAEMON"
)

// Service statuses.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// Deployment statuses and rollout states.
const (
	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	RolloutInProgress  = "IN_PROGRESS"
	RolloutCompleted   = "COMPLETED"
	RolloutFailed      = "FAILED"
	maxServicesPerCall = 10
)

// Deployment percentages ECS uses when a request gives none.
const (
	defaultReplicaMaxPercent = 200
	defaultReplicaMinHealthy = 100
	defaultDaemonMaxPercent  = 100
	defaultDaemonMinHealthy  = 0
)

var serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// clientTokenRE is ECS's clientToken: up to 36 ASCII characters 33..126.
var clientTokenRE = regexp.MustCompile(`^[!-~]{1,36}$`)

// validateServiceName checks a serviceName of CreateService.
func validateServiceName(name string) error {
	if !serviceNameRE.MatchString(name) {
		return apierror.InvalidParameter("Service name is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	return nil
}

// unsupportedServiceMembers refuses the members that need AWS services
// Gantry does not provide (Cloud Map, Service Connect, EBS, VPC Lattice,
// Fargate). Load balancers are checked by checkLoadBalancers.
func unsupportedServiceMembers(regs []ecsapi.ServiceRegistry, sc *ecsapi.ServiceConnectConfiguration,
	vols []ecsapi.ServiceVolumeConfiguration, lattice []ecsapi.VpcLatticeConfiguration, platformVersion string) error {
	switch {
	case len(regs) > 0:
		return apierror.UnsupportedFeature("Service registries (AWS Cloud Map) are not supported by Gantry.")
	case sc != nil && sc.Enabled:
		return apierror.UnsupportedFeature("Service Connect is not supported by Gantry.")
	case len(vols) > 0:
		return apierror.UnsupportedFeature("Volume configurations (Amazon EBS) are not supported by Gantry.")
	case len(lattice) > 0:
		return apierror.UnsupportedFeature("VPC Lattice configurations are not supported by Gantry.")
	case platformVersion != "":
		return apierror.InvalidParameter("Platform version can only be specified for tasks using the Fargate launch type.")
	}
	return nil
}

// serviceLaunch validates launchType and capacityProviderStrategy against
// cluster cl and returns what the service runs with: a launch type, or a
// strategy (the one given, else the cluster's default), or EC2 when
// neither is given and the cluster has no default strategy.
func serviceLaunch(cl *ecsapi.Cluster, lt ecsapi.LaunchType, cps []ecsapi.CapacityProviderStrategyItem) (ecsapi.LaunchType, []ecsapi.CapacityProviderStrategyItem, error) {
	if lt != "" && len(cps) > 0 {
		return "", nil, apierror.InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	if lt == "" {
		if len(cps) == 0 {
			cps = cl.DefaultCapacityProviderStrategy
		}
		if len(cps) > 0 {
			if err := checkStrategyForCluster(cps, cl.CapacityProviders, "capacityProviderStrategy"); err != nil {
				return "", nil, err
			}
			return "", cps, nil
		}
	}
	switch lt {
	case "":
		return "EC2", nil, nil
	case "EC2", "EXTERNAL", launchTypeFargate:
		return lt, nil, nil
	}
	return "", nil, apierror.InvalidParameter("Invalid launchType %s.", lt)
}

// Deployment controller types.
const (
	ControllerECS      = "ECS"
	ControllerExternal = "EXTERNAL"
)

// checkDeploymentController accepts the ECS (rolling update) and EXTERNAL
// (task sets) controllers; CODE_DEPLOY needs AWS CodeDeploy.
func checkDeploymentController(dc *ecsapi.DeploymentController) error {
	if dc == nil {
		return nil
	}
	switch dc.Type {
	case ControllerECS, ControllerExternal:
		return nil
	case "CODE_DEPLOY":
		return apierror.InvalidParameter("Deployment controller type CODE_DEPLOY is not supported by Gantry (there is no AWS CodeDeploy): use ECS, or EXTERNAL with task sets.")
	}
	return apierror.InvalidParameter("Invalid deployment controller type %s.", dc.Type)
}

// isExternalController reports whether dc is the EXTERNAL controller.
func isExternalController(dc *ecsapi.DeploymentController) bool {
	return dc != nil && dc.Type == ControllerExternal
}

// controllerType is dc's type, ECS when none is given.
func controllerType(dc *ecsapi.DeploymentController) ecsapi.DeploymentControllerType {
	if dc == nil || dc.Type == "" {
		return ControllerECS
	}
	return dc.Type
}

// isExternal reports whether svc uses the EXTERNAL deployment controller.
func isExternal(svc *ecsapi.Service) bool { return isExternalController(svc.DeploymentController) }

// checkExternalCreate refuses what CreateService does not take for a
// service with the EXTERNAL deployment controller: its task sets carry the
// task definition, launch type or capacity provider strategy, platform
// version, network configuration, load balancers and service registries;
// the DAEMON strategy, the circuit breaker and deployment alarms are for
// the ECS controller only.
func checkExternalCreate(in *ecsapi.CreateServiceRequest, strategy string) error {
	const tail = " is not supported for services using the EXTERNAL deployment controller: specify it when creating a task set."
	switch {
	case in.TaskDefinition != "":
		return apierror.InvalidParameter("taskDefinition" + tail)
	case in.LaunchType != "":
		return apierror.InvalidParameter("launchType" + tail)
	case len(in.CapacityProviderStrategy) > 0:
		return apierror.InvalidParameter("capacityProviderStrategy" + tail)
	case in.PlatformVersion != "":
		return apierror.InvalidParameter("platformVersion" + tail)
	case in.NetworkConfiguration != nil:
		return apierror.InvalidParameter("networkConfiguration" + tail)
	case len(in.LoadBalancers) > 0:
		return apierror.InvalidParameter("loadBalancers" + tail)
	case len(in.ServiceRegistries) > 0:
		return apierror.InvalidParameter("serviceRegistries" + tail)
	case strategy == SchedulingDaemon:
		return apierror.InvalidParameter("The DAEMON scheduling strategy is not supported for services using the EXTERNAL deployment controller.")
	}
	return checkExternalDeploymentConfiguration(in.DeploymentConfiguration)
}

// checkExternalUpdate refuses what UpdateService does not change on a
// service with the EXTERNAL deployment controller, as ECS: a new task
// definition, network configuration, launch or deployment is a new task
// set (CreateTaskSet).
func checkExternalUpdate(in *ecsapi.UpdateServiceRequest) error {
	const tail = " cannot be updated for services using the EXTERNAL deployment controller: create a new task set instead."
	switch {
	case in.TaskDefinition != "":
		return apierror.InvalidParameter("taskDefinition" + tail)
	case in.NetworkConfiguration != nil:
		return apierror.InvalidParameter("networkConfiguration" + tail)
	case in.ForceNewDeployment:
		return apierror.InvalidParameter("forceNewDeployment is not supported for services using the EXTERNAL deployment controller: create a new task set instead.")
	case in.EnableExecuteCommand != nil:
		return apierror.InvalidParameter("enableExecuteCommand" + tail)
	}
	return checkExternalDeploymentConfiguration(in.DeploymentConfiguration)
}

// checkExternalDeploymentConfiguration refuses the members of a
// deployment configuration that only the ECS controller uses.
func checkExternalDeploymentConfiguration(dc *ecsapi.DeploymentConfiguration) error {
	if dc == nil {
		return nil
	}
	if cb := dc.DeploymentCircuitBreaker; cb != nil && (cb.Enable || cb.Rollback) {
		return apierror.InvalidParameter("The deployment circuit breaker is only supported for services using the rolling update (ECS) deployment controller.")
	}
	if a := dc.Alarms; a != nil && a.Enable {
		return apierror.InvalidParameter("Deployment alarms are only supported for services using the rolling update (ECS) deployment controller.")
	}
	if shiftsTraffic(dc.Strategy) {
		return apierror.InvalidParameter("The %s deployment strategy is only supported for services using the ECS deployment controller.", dc.Strategy)
	}
	return nil
}

// mergeDeploymentConfiguration returns cur with the members given in upd
// applied, defaults filled in for strategy, and validates the result.
func mergeDeploymentConfiguration(cur, upd *ecsapi.DeploymentConfiguration, strategy string) (*ecsapi.DeploymentConfiguration, error) {
	out := &ecsapi.DeploymentConfiguration{}
	if cur != nil {
		c := *cur
		out = &c
	}
	if upd != nil {
		if upd.MaximumPercent != nil {
			out.MaximumPercent = upd.MaximumPercent
		}
		if upd.MinimumHealthyPercent != nil {
			out.MinimumHealthyPercent = upd.MinimumHealthyPercent
		}
		if upd.DeploymentCircuitBreaker != nil {
			cb := *upd.DeploymentCircuitBreaker
			out.DeploymentCircuitBreaker = &cb
		}
		if upd.Alarms != nil {
			a := *upd.Alarms
			out.Alarms = &a
		}
		mergeStrategy(out, upd)
	}
	daemon := strategy == SchedulingDaemon
	if out.MaximumPercent == nil {
		v := int32(defaultReplicaMaxPercent)
		if daemon {
			v = defaultDaemonMaxPercent
		}
		out.MaximumPercent = &v
	}
	if out.MinimumHealthyPercent == nil {
		v := int32(defaultReplicaMinHealthy)
		if daemon {
			v = defaultDaemonMinHealthy
		}
		out.MinimumHealthyPercent = &v
	}
	if out.DeploymentCircuitBreaker == nil {
		out.DeploymentCircuitBreaker = &ecsapi.DeploymentCircuitBreaker{}
	}
	if out.Strategy == "" {
		out.Strategy = "ROLLING"
	}
	if err := checkStrategy(out, daemon); err != nil {
		return nil, err
	}
	minH, maxP := *out.MinimumHealthyPercent, *out.MaximumPercent
	if minH < 0 || minH > 100 {
		return nil, apierror.InvalidParameter("minimumHealthyPercent must be between 0 and 100.")
	}
	if daemon && maxP != 100 {
		return nil, apierror.InvalidParameter("The maximumPercent of a service with the DAEMON scheduling strategy must be 100.")
	}
	if maxP < 100 || maxP > 200 {
		return nil, apierror.InvalidParameter("maximumPercent must be between 100 and 200.")
	}
	if a := out.Alarms; a != nil && a.Enable && len(a.AlarmNames) == 0 {
		return nil, apierror.InvalidParameter("Deployment alarms must name at least one alarm.")
	}
	return out, nil
}

// checkServicePlacement validates a service's placement members: DAEMON
// services take constraints but no strategy.
func (s *API) checkServicePlacement(strategy string, cons []ecsapi.PlacementConstraint, strat []ecsapi.PlacementStrategy) error {
	if strategy == SchedulingDaemon && len(strat) > 0 {
		return apierror.InvalidParameter("Placement strategies are not supported with the DAEMON scheduling strategy.")
	}
	return s.checkPlacement(cons, strat)
}

// checkPropagateTags validates propagateTags.
func checkPropagateTags(p ecsapi.PropagateTags) error {
	switch p {
	case "", "NONE", "SERVICE", "TASK_DEFINITION":
		return nil
	}
	return apierror.InvalidParameter("Invalid propagateTags value %s: use TASK_DEFINITION, SERVICE or NONE.", p)
}

// checkNetworkConfiguration refuses an awsvpcConfiguration for a task
// definition whose network mode is not awsvpc, as ECS does.
func checkNetworkConfiguration(nc *ecsapi.NetworkConfiguration, td *ecsapi.TaskDefinition) error {
	if nc != nil && nc.AwsvpcConfiguration != nil && td.NetworkMode != "awsvpc" {
		return apierror.InvalidParameter("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	return nil
}

// checkGracePeriod validates healthCheckGracePeriodSeconds.
func checkGracePeriod(p *int32) error {
	if p != nil && *p < 0 {
		return apierror.InvalidParameter("healthCheckGracePeriodSeconds must be between 0 and 2147483647.")
	}
	return nil
}
