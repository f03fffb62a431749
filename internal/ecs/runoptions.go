package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// What RunTask and StartTask do with the members that do not place a task:
// each is honoured or refused with a clear error, never ignored.

// checkCapacityProviderStrategy refuses a RunTask capacity provider
// strategy. Its bounds are checked as ECS checks them; a provider that is
// not associated with the cluster is refused with ECS's message; one that
// is (CreateCluster and PutClusterCapacityProviders record names) is
// refused too, because Gantry does not yet run tasks through capacity
// providers: their meaning comes with the capacity work (auto scaling
// groups of container instances).
func (s *API) checkCapacityProviderStrategy(ctx context.Context, cluster string, items []ecsapi.CapacityProviderStrategyItem) error {
	if len(items) == 0 {
		return nil
	}
	if len(items) > 20 {
		return apierror.InvalidParameter("The capacity provider strategy can contain at most 20 capacity providers.")
	}
	for i, it := range items {
		if it.CapacityProvider == "" {
			return apierror.InvalidParameter("1 validation error detected: Value null at 'capacityProviderStrategy.%d.member.capacityProvider' failed to satisfy constraint: Member must not be null", i+1)
		}
		if it.Weight < 0 || it.Weight > 1000 {
			return apierror.InvalidParameter("1 validation error detected: Value '%d' at 'capacityProviderStrategy.%d.member.weight' failed to satisfy constraint: Member must have value between 0 and 1000", it.Weight, i+1)
		}
		if it.Base < 0 || it.Base > 100000 {
			return apierror.InvalidParameter("1 validation error detected: Value '%d' at 'capacityProviderStrategy.%d.member.base' failed to satisfy constraint: Member must have value between 0 and 100000", it.Base, i+1)
		}
	}
	var cl ecsapi.Cluster
	if _, err := s.Store.Get(ctx, clusterKey(cluster), &cl); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apierror.ClusterNotFound()
		}
		return err
	}
	for _, it := range items {
		known := false
		for _, cp := range cl.CapacityProviders {
			known = known || cp == it.CapacityProvider
		}
		if !known {
			return apierror.InvalidParameter("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
	}
	return apierror.InvalidParameter("Gantry does not run tasks through capacity providers yet: specify launchType EC2 or EXTERNAL (or neither) instead of a capacityProviderStrategy.")
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
		return apierror.InvalidParameter("Assign public IP is not supported for this launch type (%s).", launchType)
	default:
		return apierror.InvalidParameter("Invalid assignPublicIp value %s: use ENABLED or DISABLED.", vpc.AssignPublicIp)
	}
	return nil
}
