package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// FARGATE and FARGATE_SPOT, self-hosted. The operator runs a pool of hosts
// (`gantry agent --capacity-provider FARGATE` or `FARGATE_SPOT`) that
// serves the FARGATE tasks of every cluster. Their agents register into
// one hidden cluster, FargatePoolCluster, which ListClusters never shows:
// the pool's hosts are not container instances of any user's cluster and
// never appear in its ListContainerInstances. A FARGATE task (launchType
// FARGATE, or a strategy naming FARGATE or FARGATE_SPOT) is placed on the
// pool's view (its instances, their free CPU and memory, the task's
// provider as a required attribute) and written under its own cluster:
// its clusterArn, ListTasks and DescribeTasks stay the user's, and its
// record's containerInstanceArn names the pool host the agent polls with
// (hidden from DescribeTasks, as Fargate tasks have none). The placement
// views account for the task on the pool host's cluster (state.hostOf) and
// list it among that host's assignments as CLUSTER/ID.

// FargatePoolCluster is the hidden cluster the Fargate pool's hosts
// register into (the agent's --capacity-provider FARGATE or FARGATE_SPOT
// selects it: config.FargatePoolCluster is the same name). It is created
// when the first pool host registers.
const FargatePoolCluster = "gantry-fargate-pool"

// The platform a Fargate task reports: the one Linux platform version
// Gantry's pool hosts stand for.
const (
	fargatePlatformVersion = "1.4.0"
	fargatePlatformFamily  = "Linux"
	launchTypeFargate      = "FARGATE"
)

// isFargatePool reports whether cluster (a name or ARN) is the pool.
func isFargatePool(cluster string) bool {
	return cluster == FargatePoolCluster || strings.HasSuffix(cluster, ":cluster/"+FargatePoolCluster)
}

// fargateStrategy reports whether a (valid) strategy names the Fargate
// providers: validateStrategy refuses one that mixes them with others.
func fargateStrategy(items []ecsapi.CapacityProviderStrategyItem) bool {
	return len(items) > 0 && builtinProvider(items[0].CapacityProvider)
}

// checkFargateRun checks that a task of td may run on Fargate at the
// platform version asked ("", LATEST or 1.4.0), as RunTask, CreateService
// and UpdateService check it.
func checkFargateRun(td *ecsapi.TaskDefinition, platformVersion string) error {
	if !slices.Contains(td.Compatibilities, compatFargate) {
		return apierror.InvalidParameter("Task definition does not support launch_type FARGATE.")
	}
	return checkPlatformVersion(platformVersion)
}

// checkPlatformVersion accepts the platform versions of Fargate the pool
// stands for: LATEST and 1.4.0 (the empty value means LATEST).
func checkPlatformVersion(v string) error {
	switch v {
	case "", "LATEST", fargatePlatformVersion:
		return nil
	}
	return apierror.InvalidParameter("The specified platform version does not exist.")
}

// useFargate makes o's tasks Fargate tasks on the pool, of provider cp
// (empty for launchType FARGATE: the pool's FARGATE hosts, and the tasks
// name no capacity provider, as ECS's launch-type tasks).
func (o *runOptions) useFargate(cp string) {
	o.launchType = launchTypeFargate
	o.capacityProvider = cp
	o.hostCluster = FargatePoolCluster
}

// fargateTask gives a Fargate task record what ECS reports of one.
func fargateTask(t *ecsapi.Task) {
	t.PlatformVersion = fargatePlatformVersion
	t.PlatformFamily = fargatePlatformFamily
}

// poolTaskCluster returns the cluster of task ref as the agent of a pool
// host names it: the pool's hosts run the tasks of every cluster, so a
// task ARN's own cluster wins over the caller's (the pool).
func poolTaskCluster(cluster, ref string) string {
	if !isFargatePool(cluster) || !strings.HasPrefix(ref, "arn:") {
		return cluster
	}
	a, ok := ParseARN(ref)
	if !ok || a.Type != "task" {
		return cluster
	}
	if c, _, ok := strings.Cut(a.Path, "/"); ok && strings.Contains(a.Path, "/") {
		return c
	}
	return cluster
}

// Fargate Spot reclamation. The operator (or a provisioner) reclaims a
// FARGATE_SPOT host by setting it DRAINING in the pool's cluster:
//
//	aws ecs update-container-instances-state --cluster gantry-fargate-pool \
//	    --container-instances ID --status DRAINING
//
// The host takes no new task, and every task on it is stopped with ECS's
// stop code SpotInterruption and stoppedReason: its agent sends SIGTERM
// and gives the containers its --spot-warning (two minutes by default)
// before SIGKILL. Services replace their stopped tasks on the other hosts.

// Fargate Spot's stop code and stoppedReason, as ECS reports them.
const (
	stopCodeSpotInterruption ecsapi.TaskStopCode = "SpotInterruption"
	spotInterruptedReason    string              = "Your Spot Task was interrupted."
)

// reclaimSpot stops every task on pool host id (of cluster, the pool's) for
// a spot interruption.
func (s *API) reclaimSpot(ctx context.Context, v *state.Views, cluster, id string) error {
	_, names, _ := v.Assigned(cluster+"/"+id, 0)
	for _, name := range names {
		tc, tid := assignedTask(cluster, name)
		if _, err := s.requestStopCode(ctx, tc, tid, spotInterruptedReason, stopCodeSpotInterruption); err != nil {
			return fmt.Errorf("reclaim spot host %s: task %s: %w", id, name, err)
		}
	}
	s.Logger.Info("fargate spot host reclaimed", "instance", id, "tasks", len(names))
	return nil
}

// TaskCluster returns the cluster of task ref (an ID or ARN) as a call of
// cluster names it: cluster, but the task ARN's own cluster when cluster is
// the Fargate pool's, whose hosts run the tasks of every cluster.
func (s *API) TaskCluster(cluster, ref string) string { return poolTaskCluster(cluster, ref) }

// TaskInstance returns the ARN of the container instance task ref of
// cluster is assigned to, as its record holds it (a Fargate task's pool
// host, which DescribeTasks does not show); "" for an unknown task or
// cluster.
func (s *API) TaskInstance(ctx context.Context, cluster, ref string) (string, error) {
	name, err := s.clusterName(cluster)
	if err != nil {
		return "", nil
	}
	name = poolTaskCluster(name, ref)
	id, err := s.taskRef(name, ref)
	if err != nil {
		return "", nil
	}
	var rec taskRecord
	if _, err := s.Store.Get(ctx, taskKey(name, id), &rec); errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("task instance %s: %w", ref, err)
	}
	return rec.Task.ContainerInstanceArn, nil
}
