package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Entry points for ECS's service scheduler (the service controller): what
// it runs and reads without RunTask's limits and without paging.

// RunSpec is what RunTasks starts: a RunTask request without its limit of
// ten tasks, with ECS's own managed tags beside the caller's.
type RunSpec struct {
	Cluster        string
	TaskDefinition string
	// Count is how many tasks to start (at least one; no upper limit).
	Count            int
	StartedBy, Group string
	LaunchType       ecsapi.LaunchType
	// CapacityProviderStrategy, when set (LaunchType is then empty), spreads
	// the tasks over the cluster's capacity providers; the tasks of
	// the Group that are not stopping count towards each provider's base
	// and weight.
	CapacityProviderStrategy []ecsapi.CapacityProviderStrategyItem
	// TaskSet says the tasks are a task set's (StartedBy is its ID): the
	// strategy then spreads the task set's own tasks, not its service's.
	TaskSet bool
	// PlacementConstraints and PlacementStrategy are checked and applied
	// as RunTask's.
	PlacementConstraints []ecsapi.PlacementConstraint
	PlacementStrategy    []ecsapi.PlacementStrategy
	NetworkConfiguration *ecsapi.NetworkConfiguration
	// Tags are checked as RunTask's (no aws: prefix); ManagedTags are the
	// aws:ecs: tags of ECS managed tagging, which RunTask refuses from its
	// callers. Both are written with the tasks.
	Tags, ManagedTags    []ecsapi.Tag
	EnableExecuteCommand bool
	// Instance, when set, names the one container instance (ID or ARN) to
	// start the tasks on, as StartTask does: a missing or INACTIVE
	// instance is a failure with reason MISSING, one without room a
	// failure with the reason it refused.
	Instance string
}

// RunResult is what RunTasks started: the tasks' ARNs and, when fewer than
// asked were started, why the instances refused (as RunTask's failures).
type RunResult struct {
	TaskArns []string
	Failures []ecsapi.Failure
}

// RunTasks starts spec.Count tasks, placed as RunTask places them, in one
// call however many they are (committed a transaction's worth at a time).
// Errors are RunTask's: *apierror.Error for what RunTask refuses (the
// same text), ErrNoInstances (errors.Is) when the cluster has no container
// instance. With an error, the tasks started before it are in the result.
func (s *API) RunTasks(ctx context.Context, spec RunSpec) (RunResult, error) {
	var res RunResult
	cl, err := s.activeClusterInfo(ctx, spec.Cluster)
	if err != nil {
		return res, err
	}
	cluster, crev, rev := cl.name, cl.crev, cl.rev
	if spec.Count < 1 {
		return res, apierror.InvalidParameter("Count must be at least 1.")
	}
	lt, err := runLaunchType(spec.LaunchType)
	if err != nil {
		return res, err
	}
	td, err := s.taskDefForService(ctx, spec.TaskDefinition)
	if err != nil {
		return res, err
	}
	o := &runOptions{td: td, startedBy: spec.StartedBy, group: spec.Group, launchType: lt, tags: spec.Tags,
		networkConfiguration: spec.NetworkConfiguration, enableExecuteCommand: spec.EnableExecuteCommand, forService: true}
	if lt == launchTypeFargate || fargateStrategy(spec.CapacityProviderStrategy) {
		// A service's Fargate tasks run on the pool (fargate.go).
		o.useFargate("")
	}
	if err := s.validateRun(o); err != nil {
		return res, err
	}
	for _, t := range spec.ManagedTags {
		if !strings.HasPrefix(t.Key, "aws:ecs:") {
			return res, fmt.Errorf("run tasks: managed tag %q is not an aws:ecs: tag", t.Key)
		}
	}
	if len(spec.ManagedTags) > 0 {
		o.tags = mergeTags(spec.Tags, spec.ManagedTags)
	}
	cons := spec.PlacementConstraints
	var instARN string
	if spec.Instance != "" {
		iid, err := s.instanceID(cluster, spec.Instance)
		if err != nil {
			return res, err
		}
		instARN = s.ContainerInstanceARN(cluster, iid)
		v, err := s.placementViews(ctx)
		if err != nil {
			return res, err
		}
		v.Sync(ctx, rev)
		rec, _, ok := v.Instance(cluster, iid)
		if !ok || rec.Instance.Status == instanceInactive {
			res.Failures = []ecsapi.Failure{{Arn: instARN, Reason: "MISSING"}}
			return res, nil
		}
		only := ecsapi.PlacementConstraint{Type: "memberOf", Expression: "ec2InstanceId == " + quoteCQL(rec.Instance.Ec2InstanceId)}
		cons = append(slices.Clip(cons), only)
	}
	var recs []*taskRecord
	var failures []ecsapi.Failure
	if len(spec.CapacityProviderStrategy) > 0 && instARN == "" {
		if spec.LaunchType != "" {
			return res, apierror.InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
		}
		if err := checkStrategyForCluster(spec.CapacityProviderStrategy, cl.providers, "capacityProviderStrategy"); err != nil {
			return res, err
		}
		var existing map[string]int
		only := ""
		if spec.TaskSet {
			only = spec.StartedBy
		}
		if existing, err = s.groupProviderCounts(ctx, cluster, spec.Group, only); err != nil {
			return res, err
		}
		recs, failures, err = s.placeByStrategy(ctx, cluster, crev, rev, o, spec.Count, spec.CapacityProviderStrategy, existing, cons, spec.PlacementStrategy)
	} else {
		recs, failures, err = s.place(ctx, cluster, crev, rev, o, spec.Count, cons, spec.PlacementStrategy)
	}
	for _, r := range recs {
		res.TaskArns = append(res.TaskArns, r.Task.TaskArn)
	}
	if err != nil {
		return res, err
	}
	res.Failures = failures
	if instARN != "" && len(recs) < spec.Count {
		reason := "RESOURCE"
		for _, f := range failures {
			if f.Arn == instARN {
				reason = f.Reason
			}
		}
		res.Failures = []ecsapi.Failure{{Arn: instARN, Reason: reason}}
	}
	return res, nil
}

// groupProviderCounts counts, per capacity provider, the tasks of a
// service's group (service:NAME) whose desired status is not STOPPED (only
// those started by startedBy, when it is not empty); none for another
// group.
func (s *API) groupProviderCounts(ctx context.Context, cluster, group, startedBy string) (map[string]int, error) {
	name, ok := strings.CutPrefix(group, "service:")
	if !ok {
		return nil, nil
	}
	tasks, err := s.ServiceTasks(ctx, cluster, name)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for i := range tasks {
		if t := &tasks[i]; t.DesiredStatus != taskStopped && t.CapacityProviderName != "" && (startedBy == "" || t.StartedBy == startedBy) {
			out[t.CapacityProviderName]++
		}
	}
	return out, nil
}

// ServiceTasks returns the tasks of service name of cluster (group
// service:NAME), of every status, the STOPPED ones whose records are still
// kept too, from the server's live state, once it reflects every write
// committed when called (state.Views.ServiceTasks: summaries, without
// tags, overrides or the containers' details). The caller must not change
// what they point to.
func (s *API) ServiceTasks(ctx context.Context, cluster, name string) ([]ecsapi.Task, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	return v.ServiceTasks(ctx, cluster, name), nil
}

// ClusterInstances returns the container instances of cluster that are not
// INACTIVE, from the server's live state once it reflects every write
// committed when called: as DescribeContainerInstances shows them (agent
// connection, remaining resources and task counts), without tags, sorted
// by ARN. The caller must not change what they point to.
func (s *API) ClusterInstances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	cands := v.Candidates(ctx, cluster)
	out := make([]ecsapi.ContainerInstance, 0, len(cands))
	for _, c := range cands {
		ci := c.Rec.Instance
		ci.AgentConnected = c.Connected
		v.WithAccounting(cluster, &ci)
		ci.Tags = nil
		if ci.Attributes == nil {
			ci.Attributes = []ecsapi.Attribute{}
		}
		out = append(out, ci)
	}
	slices.SortFunc(out, func(a, b ecsapi.ContainerInstance) int {
		return strings.Compare(a.ContainerInstanceArn, b.ContainerInstanceArn)
	})
	return out, nil
}
