package ecs

import (
	"context"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
)

// What RunTask and StartTask do with the members that do not place a task:
// each is honoured or refused with a clear error, never ignored.

// runStrategy returns the capacity provider strategy a RunTask (or a
// service's tasks) runs with: none with a launch type, else the one given,
// checked against the cluster's providers, else the cluster's default
// strategy (none when it has none: launch type EC2).
func runStrategy(cl clusterInfo, launchType ecsapi.LaunchType, items []ecsapi.CapacityProviderStrategyItem) ([]ecsapi.CapacityProviderStrategyItem, error) {
	if launchType != "" {
		return nil, nil
	}
	if len(items) == 0 {
		items = cl.defaultStrategy
		if len(items) == 0 {
			return nil, nil
		}
	}
	if err := checkStrategyForCluster(items, cl.providers, "capacityProviderStrategy"); err != nil {
		return nil, err
	}
	return items, nil
}

// requiredAttributes are the attributes an instance must have to take a
// task of o: the task definition's, the launch type's (EXTERNAL tasks run
// only on external instances, EC2 tasks never do) and the capacity
// provider's.
func (o *runOptions) requiredAttributes() []ecsapi.Attribute {
	out := slices.Clip(o.td.RequiresAttributes)
	if o.launchType != "" && o.launchType != launchTypeFargate {
		out = append(out, ecsapi.Attribute{Name: scheduler.LaunchTypeAttribute, Value: o.launchType})
	}
	cp := o.capacityProvider
	if cp == "" && o.launchType == launchTypeFargate {
		// launchType FARGATE runs on the pool's on-demand hosts.
		cp = ProviderFargate
	}
	if cp != "" {
		out = append(out, ecsapi.Attribute{Name: CapacityProviderAttribute, Value: cp})
	}
	return out
}

// runExtras checks and applies what RunTask and StartTask ask beyond
// placement: the network configuration (as ECS checks it for the EC2
// launch type), tags propagated from the task definition, ECS managed
// tags, and volumes configured at launch (Amazon EBS volumes, which Gantry
// cannot provision: refused).
func (s *API) runExtras(ctx context.Context, cluster string, o *runOptions, launchType string, propagate ecsapi.PropagateTags, managed bool, volumes int) error {
	if volumes > 0 {
		return apierror.InvalidParameter("volumeConfigurations is not supported: Gantry cannot provision Amazon EBS volumes for a task. Use a task definition volume (host path or Docker volume) instead.")
	}
	if err := checkRunNetworkConfiguration(o.networkConfiguration, o.td, launchType); err != nil {
		return err
	}
	switch propagate {
	case "", "NONE":
	case "TASK_DEFINITION":
		tags, err := s.ServiceTaskTags(ctx, &ecsapi.Service{PropagateTags: "TASK_DEFINITION"}, o.td.TaskDefinitionArn)
		if err != nil {
			return err
		}
		// The request's own tags win over the task definition's.
		o.tags = mergeTags(tags, o.tags)
	case "SERVICE":
		return apierror.InvalidParameter("The propagateTags value SERVICE is only valid for tasks launched by a service: use TASK_DEFINITION or NONE.")
	default:
		return apierror.InvalidParameter("Invalid propagateTags value %s: use TASK_DEFINITION or NONE.", propagate)
	}
	if managed {
		o.tags = mergeTags(o.tags, []ecsapi.Tag{{Key: "aws:ecs:clusterName", Value: cluster}})
	}
	if countUserTags(o.tags) > 50 {
		return apierror.InvalidParameter("Too many tags: a task may have at most 50 tags, those propagated included.")
	}
	return nil
}

// checkRunNetworkConfiguration checks a RunTask or StartTask network
// configuration. Only an awsvpc task takes one; its subnets (1 to 16) and
// security groups (up to 5) are checked as ECS checks them but select
// nothing: Gantry gives each awsvpc task an address on its host's task
// network. A public IP is refused, as ECS refuses
// it for the EC2 launch type.
func checkRunNetworkConfiguration(nc *ecsapi.NetworkConfiguration, td *ecsapi.TaskDefinition, launchType string) error {
	if nc == nil || nc.AwsvpcConfiguration == nil {
		return nil
	}
	if err := checkNetworkConfiguration(nc, td); err != nil {
		return err
	}
	vpc := nc.AwsvpcConfiguration
	if len(vpc.Subnets) == 0 {
		return apierror.InvalidParameter("subnets can not be empty.")
	}
	if len(vpc.Subnets) > 16 {
		return apierror.InvalidParameter("subnets can have at most 16 items.")
	}
	if len(vpc.SecurityGroups) > 5 {
		return apierror.InvalidParameter("securityGroups can have at most 5 items.")
	}
	for _, sn := range vpc.Subnets {
		if strings.TrimSpace(sn) == "" {
			return apierror.InvalidParameter("subnets can not contain an empty value.")
		}
	}
	switch vpc.AssignPublicIp {
	case "", "DISABLED":
	case "ENABLED":
		if launchType != launchTypeFargate {
			return apierror.InvalidParameter("Assign public IP is not supported for this launch type (%s).", launchType)
		}
	default:
		return apierror.InvalidParameter("Invalid assignPublicIp value %s: use ENABLED or DISABLED.", vpc.AssignPublicIp)
	}
	return nil
}
