package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// UpdateContainerAgent asks for the container agent of an instance to be
// updated. ECS updates only agents it installed (ecs-init on its
// optimized AMIs); Gantry's agent is installed and updated with the host,
// so, as ECS for an agent with nothing newer to take, it answers
// NoUpdateAvailableException for a known instance.
func (s *API) UpdateContainerAgent(ctx context.Context, in *ecsapi.UpdateContainerAgentRequest) (*ecsapi.UpdateContainerAgentResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	id, err := s.instanceID(cl.ClusterName, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	var rec instanceRecord
	if _, err := s.Store.Get(ctx, instanceKey(cl.ClusterName, id), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.InvalidParameter("The referenced container instance %s was not found in cluster %s.", in.ContainerInstance, cl.ClusterName)
		}
		return nil, err
	}
	if rec.Instance.Status == instanceInactive {
		return nil, apierror.InvalidParameter("The container instance %s is INACTIVE.", in.ContainerInstance)
	}
	return nil, apierror.New(apierror.CodeNoUpdateAvailable, "There is no update available for your container agent: Gantry's agent (%s) is updated with its host, not through UpdateContainerAgent.",
		agentVersion(&rec.Instance))
}

func agentVersion(ci *ecsapi.ContainerInstance) string {
	if ci.VersionInfo != nil && ci.VersionInfo.AgentVersion != "" {
		return ci.VersionInfo.AgentVersion
	}
	return "unknown version"
}

// ContinueServiceDeployment continues a service deployment paused at a
// lifecycle hook. Gantry's deployments have no lifecycle hooks (a
// deployment configuration with lifecycleHooks is refused), so no hook is
// ever waiting: a known deployment answers InvalidParameterException
// naming the hook, an unknown one ServiceDeploymentNotFoundException.
func (s *API) ContinueServiceDeployment(ctx context.Context, in *ecsapi.ContinueServiceDeploymentRequest) (*ecsapi.ContinueServiceDeploymentResponse, error) {
	switch in.Action {
	case "", "CONTINUE", "ROLLBACK":
	default:
		return nil, apierror.InvalidParameter("Invalid action %s: use CONTINUE or ROLLBACK.", in.Action)
	}
	if in.HookId == "" {
		return nil, apierror.InvalidParameter("hookId can not be blank.")
	}
	recs, failures, err := s.historyRecords(ctx, []string{in.ServiceDeploymentArn}, "service-deployment")
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(failures) > 0 {
		if !strings.Contains(in.ServiceDeploymentArn, ":service-deployment/") {
			return nil, apierror.InvalidParameter("Invalid ARN %s: it is not a service-deployment ARN.", in.ServiceDeploymentArn)
		}
		return nil, apierror.New(apierror.CodeServiceDeploymentNotFound, "The service deployment does not exist.")
	}
	return nil, apierror.InvalidParameter("The service deployment has no lifecycle hook %s waiting: Gantry deployments have no lifecycle hooks.", in.HookId)
}
