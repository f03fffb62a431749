package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Task sets (CreateTaskSet, DescribeTaskSets, UpdateTaskSet,
// DeleteTaskSet, UpdateServicePrimaryTaskSet) are how a service with the
// EXTERNAL deployment controller runs tasks: each task set is a task
// definition, launch type and network configuration, scaled to a percentage
// of the service's desiredCount. They live in the service record
// (ecsapi.Service.TaskSets), so every change to them is a guarded write of
// that record, as every other change of a service. The service controller
// starts and stops each task set's tasks (started by the task set's ID),
// writes back its counts and stability, and removes a DRAINING task set
// once its tasks have stopped.

// Task set statuses.
const (
	TaskSetPrimary  = "PRIMARY"
	TaskSetActive   = "ACTIVE"
	TaskSetDraining = "DRAINING"
)

// Task set stability statuses.
const (
	StabilitySteady      = "STEADY_STATE"
	StabilityStabilizing = "STABILIZING"
)

// maxExternalIDLength bounds a task set's externalId.
const maxExternalIDLength = 255

// TaskSetARN is the ARN of task set id (ecs-svc/N) of a service.
func (s *API) TaskSetARN(cluster, service, id string) string {
	return s.arn("task-set/" + cluster + "/" + service + "/" + id)
}

// taskSetTokenKey keeps the clientToken of the CreateTaskSet call that
// created task set id, so that a retry of that call gets the same task
// set.
func taskSetTokenKey(cluster, service, id string) string {
	return store.Key("tasksettokens", cluster, service, deploymentNumber(id))
}

// taskSetRef resolves a task set given by ID (ecs-svc/N) or ARN of service
// of cluster to its ID.
func taskSetRef(cluster, service, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		a, ok := ParseARN(ref)
		parts := strings.Split(a.Path, "/")
		if !ok || a.Type != "task-set" || len(parts) != 4 {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid task set ID or ARN.", ref)
		}
		if parts[0] != cluster || parts[1] != service {
			return "", apierror.InvalidParameter("Task set %s does not belong to service %s of cluster %s.", ref, service, cluster)
		}
		ref = parts[2] + "/" + parts[3]
	}
	if !isTaskSetID(ref) {
		return "", apierror.InvalidParameter("Invalid identifier: Unexpected format for task set: %s.", ref)
	}
	return ref, nil
}

// isTaskSetID reports whether id has the form ecs-svc/DIGITS.
func isTaskSetID(id string) bool {
	n, ok := strings.CutPrefix(id, "ecs-svc/")
	if !ok || n == "" || len(n) > 32 {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkScale validates a scale and returns it with its unit defaulted.
func checkScale(sc *ecsapi.Scale) (ecsapi.Scale, error) {
	if sc == nil {
		return ecsapi.Scale{Unit: "PERCENT"}, nil
	}
	out := *sc
	switch out.Unit {
	case "":
		out.Unit = "PERCENT"
	case "PERCENT":
	default:
		return out, apierror.InvalidParameter("Invalid scale unit %s: the only unit is PERCENT.", out.Unit)
	}
	if math.IsNaN(out.Value) || out.Value < 0 || out.Value > 100 {
		return out, apierror.InvalidParameter("The scale value must be a number between 0 and 100.")
	}
	return out, nil
}

// ComputedDesiredCount is how many tasks a task set at scale runs for a
// service's desiredCount: desired * scale / 100, rounded up, as ECS does.
func ComputedDesiredCount(desired int32, sc *ecsapi.Scale) int32 {
	if sc == nil || desired <= 0 {
		return 0
	}
	// Round away float noise (50% of 3 is 1.5000000000000002 -> 2, but
	// 10% of 30 must stay 3).
	v := float64(desired) * sc.Value / 100
	return int32(math.Ceil(math.Round(v*1e6) / 1e6))
}

// refreshTaskSets recomputes the computed desired counts of svc's task
// sets and marks those whose tasks no longer match it STABILIZING.
func refreshTaskSets(svc *ecsapi.Service, now *ecsapi.Timestamp) {
	for i := range svc.TaskSets {
		ts := &svc.TaskSets[i]
		want := ComputedDesiredCount(svc.DesiredCount, ts.Scale)
		if ts.Status == TaskSetDraining {
			want = 0
		}
		ts.ComputedDesiredCount = want
		if (want != ts.RunningCount || ts.PendingCount > 0) && ts.StabilityStatus != StabilityStabilizing {
			ts.StabilityStatus, ts.StabilityStatusAt = StabilityStabilizing, now
		}
	}
}

// taskSetView is a task set as the API shows it: tags only when asked
// for, lists that ECS always writes present.
func taskSetView(ts *ecsapi.TaskSet, withTags bool) ecsapi.TaskSet {
	v := *ts
	if !withTags {
		v.Tags = nil
	} else if v.Tags == nil {
		v.Tags = []ecsapi.Tag{}
	}
	if v.LoadBalancers == nil {
		v.LoadBalancers = []ecsapi.LoadBalancer{}
	}
	if v.ServiceRegistries == nil {
		v.ServiceRegistries = []ecsapi.ServiceRegistry{}
	}
	return v
}

// externalServiceView fills the members a service with the EXTERNAL
// controller shows from its PRIMARY task set (none without one), as ECS.
func externalServiceView(v *ecsapi.Service, withTags bool) {
	if v.TaskSets == nil {
		v.TaskSets = []ecsapi.TaskSet{}
	}
	sets := make([]ecsapi.TaskSet, len(v.TaskSets))
	for i := range v.TaskSets {
		sets[i] = taskSetView(&v.TaskSets[i], withTags)
		if sets[i].Status == TaskSetPrimary {
			p := &sets[i]
			v.TaskDefinition, v.LaunchType, v.NetworkConfiguration = p.TaskDefinition, p.LaunchType, p.NetworkConfiguration
			v.CapacityProviderStrategy, v.PlatformVersion, v.PlatformFamily = p.CapacityProviderStrategy, p.PlatformVersion, p.PlatformFamily
		}
	}
	v.TaskSets = sets
}

// externalService reads service ref of cluster for a task set operation:
// it must exist, be ACTIVE (unless anyStatus) and use the EXTERNAL
// controller.
func (s *API) externalService(ctx context.Context, cluster, ref string, anyStatus bool) (*ecsapi.Service, int64, error) {
	name, err := s.serviceRef(cluster, ref)
	if err != nil {
		return nil, 0, err
	}
	var svc ecsapi.Service
	rev, err := s.Store.Get(ctx, serviceKey(cluster, name), &svc)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, apierror.ServiceNotFound()
	}
	if err != nil {
		return nil, 0, err
	}
	if err := checkExternalService(&svc, anyStatus); err != nil {
		return nil, 0, err
	}
	return &svc, rev, nil
}

func checkExternalService(svc *ecsapi.Service, anyStatus bool) error {
	if svc.Status == ServiceInactive || (!anyStatus && svc.Status != ServiceActive) {
		return apierror.ServiceNotActive()
	}
	if !isExternal(svc) {
		return apierror.InvalidParameter("Amazon ECS only supports task set management on services configured to use external deployment controllers.")
	}
	return nil
}

// findTaskSet returns the task set id of svc, or TaskSetNotFoundException.
func findTaskSet(svc *ecsapi.Service, id string) (*ecsapi.TaskSet, error) {
	for i := range svc.TaskSets {
		if svc.TaskSets[i].Id == id {
			return &svc.TaskSets[i], nil
		}
	}
	return nil, taskSetNotFound()
}

func taskSetNotFound() error {
	return apierror.New(apierror.CodeTaskSetNotFound, "The specified task set wasn't found. You can view your available task sets with DescribeTaskSets. Task sets are specific to each cluster, service and Region.")
}

// CreateTaskSet creates a task set in a service with the EXTERNAL
// deployment controller: its tasks run the task definition given, as many
// as scale (a percentage, 0 by default) of the service's desiredCount,
// rounded up, with its launch type or spread over its capacity provider
// strategy (the cluster's default when neither is given), and registered
// in the target groups of its loadBalancers (checked as CreateService
// checks a service's). A new task set is ACTIVE (UpdateServicePrimaryTaskSet makes
// one PRIMARY). A retry with the same clientToken gets the task set the
// first call created.
func (s *API) CreateTaskSet(ctx context.Context, in *ecsapi.CreateTaskSetRequest) (*ecsapi.CreateTaskSetResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceRef(cl.ClusterName, in.Service)
	if err != nil {
		return nil, err
	}
	if in.ClientToken != "" && !clientTokenRE.MatchString(in.ClientToken) {
		return nil, apierror.InvalidParameter("clientToken may contain up to 36 ASCII characters in the range 33-126.")
	}
	if len(in.ExternalId) > maxExternalIDLength {
		return nil, apierror.InvalidParameter("externalId may contain up to %d characters.", maxExternalIDLength)
	}
	scale, err := checkScale(in.Scale)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.ServiceRegistries) > 0:
		return nil, apierror.UnsupportedFeature("Service registries (AWS Cloud Map) are not supported by Gantry.")
	}
	// A launch type, or a capacity provider strategy (the one given, else
	// the cluster's default), as ECS: EC2 when neither is given and the
	// cluster has no default strategy.
	lt, cps, err := serviceLaunch(cl, in.LaunchType, in.CapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	if lt == "EXTERNAL" && len(in.LoadBalancers) > 0 {
		// As ECS Anywhere.
		return nil, apierror.InvalidParameter("Load balancers are not supported for task sets with the EXTERNAL launch type.")
	}
	runLT := string(lt)
	if runLT == "" {
		// Capacity providers run their tasks on EC2 instances.
		runLT = "EC2"
	}
	if in.TaskDefinition == "" {
		return nil, apierror.InvalidParameter("TaskDefinition can not be blank.")
	}
	td, err := s.taskDefForRun(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if lt == launchTypeFargate || fargateStrategy(cps) {
		if err := checkFargateRun(td, in.PlatformVersion); err != nil {
			return nil, err
		}
		runLT = launchTypeFargate
	} else if in.PlatformVersion != "" {
		return nil, apierror.InvalidParameter("Platform version can only be specified for tasks using the Fargate launch type.")
	}
	if err := s.validateRun(&runOptions{td: td, launchType: runLT, tags: in.Tags}); err != nil {
		return nil, err
	}
	if err := checkRunNetworkConfiguration(in.NetworkConfiguration, td, runLT); err != nil {
		return nil, err
	}
	// The task set's target groups, checked as a service's are.
	if err := s.checkLoadBalancers(ctx, in.LoadBalancers, td, ""); err != nil {
		return nil, err
	}
	nc := in.NetworkConfiguration
	if nc != nil && nc.AwsvpcConfiguration != nil && nc.AwsvpcConfiguration.AssignPublicIp == "" {
		c := *nc.AwsvpcConfiguration
		c.AssignPublicIp = "DISABLED"
		nc = &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &c}
	}
	key := serviceKey(cl.ClusterName, name)
	for attempt := 0; attempt < 20; attempt++ {
		var svc ecsapi.Service
		rev, err := s.Store.Get(ctx, key, &svc)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.ServiceNotFound()
		}
		if err != nil {
			return nil, err
		}
		if err := checkExternalService(&svc, false); err != nil {
			return nil, err
		}
		if in.ClientToken != "" {
			ts, err := s.taskSetOfToken(ctx, cl.ClusterName, &svc, in.ClientToken)
			if err != nil {
				return nil, err
			}
			if ts != nil {
				out := taskSetView(ts, true)
				return &ecsapi.CreateTaskSetResponse{TaskSet: &out}, nil
			}
		}
		now := ecsapiNow(s.now())
		id := newDeploymentID()
		sc := scale
		ts := ecsapi.TaskSet{
			Id: id, TaskSetArn: s.TaskSetARN(cl.ClusterName, name, id), ServiceArn: svc.ServiceArn, ClusterArn: cl.ClusterArn,
			ExternalId: in.ExternalId, Status: TaskSetActive, TaskDefinition: td.TaskDefinitionArn,
			ComputedDesiredCount: ComputedDesiredCount(svc.DesiredCount, &sc), CreatedAt: now, UpdatedAt: now,
			LaunchType: lt, CapacityProviderStrategy: cps, NetworkConfiguration: nc, Scale: &sc,
			LoadBalancers: append([]ecsapi.LoadBalancer{}, in.LoadBalancers...), ServiceRegistries: []ecsapi.ServiceRegistry{},
			StabilityStatus: StabilityStabilizing, StabilityStatusAt: now, Tags: in.Tags,
		}
		svc.TaskSets = append(svc.TaskSets, ts)
		b, err := json.Marshal(&svc)
		if err != nil {
			return nil, err
		}
		ops := []store.Op{store.OpPut(key, b)}
		if in.ClientToken != "" {
			ops = append(ops, store.OpPut(taskSetTokenKey(cl.ClusterName, name, id), []byte(in.ClientToken)))
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, rev)}, ops...)
		if err != nil {
			return nil, fmt.Errorf("create task set of %s: %w", name, err)
		}
		if resp.Succeeded {
			s.syncAfterWrite(ctx, cl.ClusterName, name)
			out := taskSetView(&ts, true)
			return &ecsapi.CreateTaskSetResponse{TaskSet: &out}, nil
		}
	}
	return nil, fmt.Errorf("create task set of %s: %w", name, store.ErrConflict)
}

// taskSetOfToken returns the task set of svc that a CreateTaskSet call
// with token created, if any is left.
func (s *API) taskSetOfToken(ctx context.Context, cluster string, svc *ecsapi.Service, token string) (*ecsapi.TaskSet, error) {
	p := prefixOf("tasksettokens", cluster, svc.ServiceName)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("read task set tokens: %w", err)
	}
	for _, it := range resp.Items {
		if string(it.Value) != token {
			continue
		}
		n := it.Key[strings.LastIndex(it.Key, "/")+1:]
		if ts, err := findTaskSet(svc, "ecs-svc/"+n); err == nil {
			return ts, nil
		}
	}
	return nil, nil
}

// DescribeTaskSets describes the task sets of a service with the EXTERNAL
// deployment controller: those named (IDs or ARNs; unknown ones are
// failures with reason MISSING), or all of them.
func (s *API) DescribeTaskSets(ctx context.Context, in *ecsapi.DescribeTaskSetsRequest) (*ecsapi.DescribeTaskSetsResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, apierror.InvalidParameter("Invalid include value %s.", f)
		}
		withTags = true
	}
	svc, _, err := s.externalService(ctx, cluster, in.Service, true)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeTaskSetsResponse{TaskSets: []ecsapi.TaskSet{}, Failures: []ecsapi.Failure{}}
	if len(in.TaskSets) == 0 {
		for i := range svc.TaskSets {
			out.TaskSets = append(out.TaskSets, taskSetView(&svc.TaskSets[i], withTags))
		}
		return out, nil
	}
	for _, ref := range in.TaskSets {
		id, err := taskSetRef(cluster, svc.ServiceName, ref)
		if err != nil {
			return nil, err
		}
		ts, err := findTaskSet(svc, id)
		if err != nil {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.TaskSetARN(cluster, svc.ServiceName, id), Reason: "MISSING"})
			continue
		}
		out.TaskSets = append(out.TaskSets, taskSetView(ts, withTags))
	}
	return out, nil
}

// mutateTaskSet applies fn to task set ref of service of cluster, in one
// guarded write of the service record, and returns the task set after.
func (s *API) mutateTaskSet(ctx context.Context, clusterRef, service, ref string, fn func(svc *ecsapi.Service, ts *ecsapi.TaskSet, now *ecsapi.Timestamp) error) (*ecsapi.TaskSet, error) {
	cl, _, err := s.activeCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceRef(cl.ClusterName, service)
	if err != nil {
		return nil, err
	}
	id, err := taskSetRef(cl.ClusterName, name, ref)
	if err != nil {
		return nil, err
	}
	var after ecsapi.TaskSet
	_, err = store.Mutate(ctx, s.Store, serviceKey(cl.ClusterName, name), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return apierror.ServiceNotFound()
		}
		if err := checkExternalService(svc, false); err != nil {
			return err
		}
		ts, err := findTaskSet(svc, id)
		if err != nil {
			return err
		}
		now := ecsapiNow(s.now())
		if err := fn(svc, ts, now); err != nil {
			return err
		}
		ts.UpdatedAt = now
		refreshTaskSets(svc, now)
		after = *ts
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.syncAfterWrite(ctx, cl.ClusterName, name)
	return &after, nil
}

// UpdateTaskSet changes the scale of a task set; the service controller
// starts or stops its tasks to match.
func (s *API) UpdateTaskSet(ctx context.Context, in *ecsapi.UpdateTaskSetRequest) (*ecsapi.UpdateTaskSetResponse, error) {
	if in.Scale == nil {
		return nil, apierror.InvalidParameter("scale can not be null.")
	}
	scale, err := checkScale(in.Scale)
	if err != nil {
		return nil, err
	}
	ts, err := s.mutateTaskSet(ctx, in.Cluster, in.Service, in.TaskSet, func(_ *ecsapi.Service, ts *ecsapi.TaskSet, _ *ecsapi.Timestamp) error {
		if ts.Status == TaskSetDraining {
			return apierror.InvalidParameter("The task set %s is being deleted (DRAINING) and cannot be updated.", ts.Id)
		}
		sc := scale
		ts.Scale = &sc
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := taskSetView(ts, true)
	return &ecsapi.UpdateTaskSetResponse{TaskSet: &out}, nil
}

// DeleteTaskSet deletes a task set: it goes DRAINING, the service
// controller stops its tasks and removes it once they have stopped.
// Without force its scale must be 0 first.
func (s *API) DeleteTaskSet(ctx context.Context, in *ecsapi.DeleteTaskSetRequest) (*ecsapi.DeleteTaskSetResponse, error) {
	force := in.Force != nil && *in.Force
	var cluster, service string
	ts, err := s.mutateTaskSet(ctx, in.Cluster, in.Service, in.TaskSet, func(svc *ecsapi.Service, ts *ecsapi.TaskSet, now *ecsapi.Timestamp) error {
		cluster, service = clusterOfARN(svc.ClusterArn), svc.ServiceName
		if ts.Status == TaskSetDraining {
			return nil
		}
		if !force && ts.Scale != nil && ts.Scale.Value > 0 {
			return apierror.InvalidParameter("The task set %s cannot be deleted while it is scaled above 0: update its scale to 0 first, or use force.", ts.Id)
		}
		ts.Status = TaskSetDraining
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The token can no longer name it.
	if _, err := s.Store.Txn(ctx, nil, store.OpDelete(taskSetTokenKey(cluster, service, ts.Id))); err != nil {
		return nil, fmt.Errorf("delete task set token: %w", err)
	}
	out := taskSetView(ts, true)
	return &ecsapi.DeleteTaskSetResponse{TaskSet: &out}, nil
}

// clusterOfARN is the name in a cluster ARN.
func clusterOfARN(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// UpdateServicePrimaryTaskSet makes a task set the PRIMARY one of its
// service (the one the service's own members show); the previous PRIMARY
// one becomes ACTIVE.
func (s *API) UpdateServicePrimaryTaskSet(ctx context.Context, in *ecsapi.UpdateServicePrimaryTaskSetRequest) (*ecsapi.UpdateServicePrimaryTaskSetResponse, error) {
	ts, err := s.mutateTaskSet(ctx, in.Cluster, in.Service, in.PrimaryTaskSet, func(svc *ecsapi.Service, ts *ecsapi.TaskSet, now *ecsapi.Timestamp) error {
		if ts.Status == TaskSetDraining {
			return apierror.InvalidParameter("The task set %s is being deleted (DRAINING) and cannot become the primary task set.", ts.Id)
		}
		for i := range svc.TaskSets {
			o := &svc.TaskSets[i]
			if o.Id != ts.Id && o.Status == TaskSetPrimary {
				o.Status, o.UpdatedAt = TaskSetActive, now
			}
		}
		ts.Status = TaskSetPrimary
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := taskSetView(ts, true)
	return &ecsapi.UpdateServicePrimaryTaskSetResponse{TaskSet: &out}, nil
}
