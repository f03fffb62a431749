package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/instancekey"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// ecsHandler is ECS's operations plus the agent identity extension
// (GantryIssueInstanceCredentials) and the one-poller-per-instance rule
// (pollers.go), which live beside them.
type ecsHandler struct {
	*ecs.API
	keys    *instancekey.Keys
	pollers *pollers
	// health ends agents' polls when the store is lost (storehealth.go).
	health *storeHealth
}

// GantryIssueInstanceCredentials issues the container instance its own
// key, replacing the previous one (which stays valid for the grace
// period). The instance must be registered and not INACTIVE. Who may ask
// is authz's business: a key allowed ecs:RegisterContainerInstance on the
// cluster, an administrator, or the instance's own current key.
func (h ecsHandler) GantryIssueInstanceCredentials(ctx context.Context, in *ecsapi.GantryIssueInstanceCredentialsRequest) (*ecsapi.GantryIssueInstanceCredentialsResponse, error) {
	out, err := h.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{Cluster: in.Cluster, ContainerInstances: []string{in.ContainerInstance}})
	if err != nil {
		return nil, err
	}
	if len(out.ContainerInstances) == 0 || out.ContainerInstances[0].Status == "INACTIVE" {
		return nil, apierror.InvalidParameter("Container instance %s is not registered in the cluster.", in.ContainerInstance)
	}
	ciARN := out.ContainerInstances[0].ContainerInstanceArn
	// arn:aws:ecs:R:A:container-instance/CLUSTER/ID
	parts := strings.Split(ciARN[strings.Index(ciARN, ":container-instance/")+len(":container-instance/"):], "/")
	rec, err := h.keys.Issue(ctx, h.ClusterARN(parts[0]), ciARN)
	if errors.Is(err, instancekey.ErrRevoked) {
		return nil, apierror.InvalidParameter("Container instance %s is not registered in the cluster.", in.ContainerInstance)
	}
	if err != nil {
		return nil, err
	}
	return &ecsapi.GantryIssueInstanceCredentialsResponse{AccessKeyId: rec.AccessKeyID, SecretAccessKey: rec.SecretAccessKey,
		Principal: rec.ContainerInstance, RotateAfterSeconds: int64(h.keys.RotateAfter() / time.Second),
		GraceSeconds: int64(h.keys.GracePeriod() / time.Second)}, nil
}

// DeregisterContainerInstance deregisters the instance as ECS does and
// then revokes its own keys at once: later calls signed with them are
// refused as an unknown key's are.
func (h ecsHandler) DeregisterContainerInstance(ctx context.Context, in *ecsapi.DeregisterContainerInstanceRequest) (*ecsapi.DeregisterContainerInstanceResponse, error) {
	out, err := h.API.DeregisterContainerInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	if out.ContainerInstance != nil {
		ciARN := out.ContainerInstance.ContainerInstanceArn
		if i := strings.Index(ciARN, ":container-instance/"); i >= 0 {
			parts := strings.Split(ciARN[i+len(":container-instance/"):], "/")
			if err := h.keys.Revoke(ctx, h.ClusterARN(parts[0]), ciARN); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// instances answers authz about instance keys and tasks' instances.
type instances struct {
	keys *instancekey.Keys
	ecs  *ecs.API
}

func (i instances) Instance(ctx context.Context, akid string) (authz.Instance, bool, error) {
	rec, ok, err := i.keys.Lookup(ctx, akid)
	if !ok {
		return authz.Instance{}, false, err
	}
	return authz.Instance{Cluster: rec.Cluster, ContainerInstance: rec.ContainerInstance}, true, nil
}

func (i instances) TaskOwner(ctx context.Context, cluster, task string) (string, error) {
	// The task's record, not DescribeTasks: a Fargate task shows no
	// instance, and its pool host names it with the pool's cluster.
	return i.ecs.TaskInstance(ctx, cluster, task)
}

func (i instances) LogDestination(ctx context.Context, cluster, task, container string) (authz.LogDestination, bool, error) {
	cluster = i.ecs.TaskCluster(cluster, task)
	out, err := i.ecs.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: []string{task}})
	if err != nil {
		if apierror.IsCode(err, apierror.CodeClusterNotFound) || apierror.IsCode(err, apierror.CodeInvalidParameter) {
			return authz.LogDestination{}, false, nil
		}
		return authz.LogDestination{}, false, err
	}
	if len(out.Tasks) == 0 {
		return authz.LogDestination{}, false, nil
	}
	t := out.Tasks[0]
	td, err := i.ecs.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: t.TaskDefinitionArn})
	if err != nil {
		if apierror.IsCode(err, apierror.CodeInvalidParameter) || apierror.IsCode(err, apierror.CodeClient) {
			return authz.LogDestination{}, false, nil
		}
		return authz.LogDestination{}, false, err
	}
	if td.TaskDefinition == nil {
		return authz.LogDestination{}, false, nil
	}
	for _, cd := range td.TaskDefinition.ContainerDefinitions {
		if cd.Name != container {
			continue
		}
		lc := cd.LogConfiguration
		if lc == nil || lc.LogDriver != "awslogs" {
			return authz.LogDestination{}, false, nil
		}
		d := authz.LogDestination{Group: lc.Options["awslogs-group"], StreamPrefix: lc.Options["awslogs-stream-prefix"], Stream: lc.Options["awslogs-stream"]}
		for _, c := range t.Containers {
			if c.Name == container {
				d.RuntimeID = c.RuntimeId
			}
		}
		return d, true, nil
	}
	return authz.LogDestination{}, false, nil
}

// lookupInstanceKey is the verifier's lookup of instance keys.
// A store that cannot be read is reported as an error (the request is
// answered 503), not as an unknown key.
func lookupInstanceKey(keys *instancekey.Keys, health *storeHealth) func(string) (sigv4.Credential, bool, error) {
	return func(akid string) (sigv4.Credential, bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if health != nil {
			// A lookup waiting on a store found lost gives up at once
			// (503): the agent moves to another server.
			defer health.cancelOnLoss(ctx, cancel)()
		}
		rec, ok, err := keys.Lookup(ctx, akid)
		if !ok {
			return sigv4.Credential{}, false, err
		}
		return sigv4.Credential{AccessKeyID: rec.AccessKeyID, SecretAccessKey: rec.SecretAccessKey, Principal: rec.ContainerInstance}, true, nil
	}
}
