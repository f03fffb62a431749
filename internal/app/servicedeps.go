package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	servicectl "github.com/gantry-dev/gantry/internal/controller/service"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// serviceDeps gives the service controller what it declares it needs
// (servicectl.Deps) over the ECS operations. It is a thin adapter: each
// method is one operation or read of ops, with the paging, batching and
// error mapping the controller no longer does itself.
//
// The reads of ServiceTasks and Instances go through the paged API calls;
// they are the ones to point at the server's in-memory state.
type serviceDeps struct {
	ops    *ecs.API
	logger *slog.Logger
}

// newServiceDeps returns the service controller's dependencies over o,
// with its leader elected through cli, whose sessions last ttl (5s when
// under a second) after this server is last heard from.
func newServiceDeps(o *ecs.API, st *store.Store, ttl time.Duration, logger *slog.Logger) servicectl.Deps {
	if ttl < time.Second {
		ttl = 5 * time.Second
	}
	d := &serviceDeps{ops: o, logger: logger}
	return servicectl.Deps{Records: d, Observer: d, Runner: d, Changes: d, Elector: &storeElector{store: st, ttl: ttl}}
}

// caller marks ctx as a call of ECS's service scheduler (its service-linked
// role), for the operations that look at the caller.
func (d *serviceDeps) caller(ctx context.Context) context.Context {
	return caller.WithCaller(ctx, caller.Caller{
		Principal: "arn:aws:iam::" + d.ops.Account + ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
		RequestID: "service-controller"})
}

// storeErr maps the store's sentinels to the controller's, keeping both in
// the chain.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %w", servicectl.ErrConflict, err)
	}
	return err
}

// ServiceRefs lists the services that are not INACTIVE (ecs.API.ServiceRefs).
func (d *serviceDeps) ServiceRefs(ctx context.Context) ([]servicectl.ServiceRef, error) {
	refs, err := d.ops.ServiceRefs(d.caller(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]servicectl.ServiceRef, len(refs))
	for i, r := range refs {
		out[i] = servicectl.ServiceRef{Cluster: r.Cluster, Name: r.Name}
	}
	return out, nil
}

// Service reads a service record and its revision (ecs.API.ServiceRecord).
func (d *serviceDeps) Service(ctx context.Context, cluster, name string) (*ecsapi.Service, int64, error) {
	svc, rev, err := d.ops.ServiceRecord(d.caller(ctx), cluster, name)
	return svc, rev, storeErr(err)
}

// WriteService writes svc guarded by rev and lead's election key
// (ecs.API.WriteServiceRecord).
func (d *serviceDeps) WriteService(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, lead servicectl.Leadership) (int64, error) {
	var guards []store.Cmp
	if lead != nil {
		l, ok := lead.(storeLeadership)
		if !ok {
			return 0, fmt.Errorf("write service %s: leadership %T is not of this store", svc.ServiceName, lead)
		}
		guards = append(guards, l.Guard())
	}
	n, err := d.ops.WriteServiceRecordIf(d.caller(ctx), cluster, svc, rev, guards...)
	return n, storeErr(err)
}

// MutateService changes a service record (ecs.API.MutateServiceRecord).
func (d *serviceDeps) MutateService(ctx context.Context, cluster, name string, fn func(*ecsapi.Service) error) error {
	return storeErr(d.ops.MutateServiceRecord(d.caller(ctx), cluster, name, fn))
}

// WatchServiceChanges follows etcd (ecs.API.WatchServiceChanges).
func (d *serviceDeps) WatchServiceChanges(ctx context.Context, fn func(servicectl.ServiceRef)) error {
	return d.ops.WatchServiceChanges(d.caller(ctx), func(r ecs.ServiceRef) {
		fn(servicectl.ServiceRef{Cluster: r.Cluster, Name: r.Name})
	})
}

// ServiceTasks returns the tasks of group service:NAME, desired RUNNING or
// STOPPED (ListTasks, paged, then DescribeTasks by 100).
func (d *serviceDeps) ServiceTasks(ctx context.Context, cluster, name string) ([]ecsapi.Task, error) {
	ctx = d.caller(ctx)
	var arns []string
	for _, st := range []ecsapi.DesiredStatus{"RUNNING", "STOPPED"} {
		next := ""
		for {
			out, err := d.ops.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: cluster, ServiceName: name, DesiredStatus: st, NextToken: next})
			if err != nil {
				return nil, fmt.Errorf("list tasks: %w", err)
			}
			arns = append(arns, out.TaskArns...)
			if next = out.NextToken; next == "" {
				break
			}
		}
	}
	var tasks []ecsapi.Task
	for i := 0; i < len(arns); i += 100 {
		out, err := d.ops.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, fmt.Errorf("describe tasks: %w", err)
		}
		tasks = append(tasks, out.Tasks...)
	}
	return tasks, nil
}

// Instances returns the cluster's container instances that are not
// INACTIVE (ListContainerInstances, paged, then
// DescribeContainerInstances by 100).
func (d *serviceDeps) Instances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, error) {
	ctx = d.caller(ctx)
	var arns []string
	next := ""
	for {
		out, err := d.ops.ListContainerInstances(ctx, &ecsapi.ListContainerInstancesRequest{Cluster: cluster, NextToken: next})
		if err != nil {
			return nil, fmt.Errorf("list container instances: %w", err)
		}
		arns = append(arns, out.ContainerInstanceArns...)
		if next = out.NextToken; next == "" {
			break
		}
	}
	var insts []ecsapi.ContainerInstance
	for i := 0; i < len(arns); i += 100 {
		out, err := d.ops.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, fmt.Errorf("describe container instances: %w", err)
		}
		insts = append(insts, out.ContainerInstances...)
	}
	return insts, nil
}

// runTaskMax is RunTask's limit of tasks per call.
const runTaskMax = 10

// RunTasks places count tasks through RunTask, ten at a time (the
// operation's limit; the placement inside ops has none), then adds the
// managed tags.
func (d *serviceDeps) RunTasks(ctx context.Context, spec servicectl.TaskSpec, count int) (servicectl.Placement, error) {
	ctx = d.caller(ctx)
	var pl servicectl.Placement
	tags, err := d.taskTags(ctx, spec)
	if err != nil {
		return pl, err
	}
	defer func() { d.addManagedTags(ctx, spec, pl.TaskArns) }()
	for left := count; left > 0; {
		n := int32(min(left, runTaskMax))
		out, err := d.ops.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: spec.Cluster, TaskDefinition: spec.TaskDefinition, Count: &n,
			StartedBy: spec.StartedBy, Group: spec.Group, LaunchType: spec.LaunchType, PlacementConstraints: spec.PlacementConstraints,
			PlacementStrategy: spec.PlacementStrategy, NetworkConfiguration: spec.NetworkConfiguration, Tags: tags,
			EnableExecuteCommand: spec.EnableExecuteCommand})
		if err != nil {
			return pl, d.runErr(ctx, spec.Cluster, err)
		}
		for _, t := range out.Tasks {
			pl.TaskArns = append(pl.TaskArns, t.TaskArn)
		}
		left -= len(out.Tasks)
		if len(out.Tasks) < int(n) {
			pl.Failures = out.Failures
			break
		}
	}
	return pl, nil
}

// StartTask starts one task on instance (StartTask).
func (d *serviceDeps) StartTask(ctx context.Context, spec servicectl.TaskSpec, instance string) (servicectl.Placement, error) {
	ctx = d.caller(ctx)
	var pl servicectl.Placement
	tags, err := d.taskTags(ctx, spec)
	if err != nil {
		return pl, err
	}
	out, err := d.ops.StartTask(ctx, &ecsapi.StartTaskRequest{Cluster: spec.Cluster, TaskDefinition: spec.TaskDefinition,
		ContainerInstances: []string{instance}, StartedBy: spec.StartedBy, Group: spec.Group, Tags: tags,
		NetworkConfiguration: spec.NetworkConfiguration, EnableExecuteCommand: spec.EnableExecuteCommand})
	if err != nil {
		if ae, ok := apierror.As(err); ok && ae.HTTPStatus() < 500 {
			return pl, &servicectl.RefusedError{Message: ae.Message}
		}
		return pl, fmt.Errorf("start task on %s: %w", instance, err)
	}
	for _, t := range out.Tasks {
		pl.TaskArns = append(pl.TaskArns, t.TaskArn)
	}
	pl.Failures = out.Failures
	d.addManagedTags(ctx, spec, pl.TaskArns)
	return pl, nil
}

// StopTask stops a task (StopTask); InvalidParameterException, ECS's answer
// for a task it does not know, is ErrNotFound.
func (d *serviceDeps) StopTask(ctx context.Context, cluster, taskArn, reason string) error {
	_, err := d.ops.StopTask(d.caller(ctx), &ecsapi.StopTaskRequest{Cluster: cluster, Task: taskArn, Reason: reason})
	if apierror.IsCode(err, apierror.CodeInvalidParameter) {
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	return err
}

// runErr maps a RunTask error: a client fault on a cluster without
// container instances is ErrNoInstances (RunTask answers
// InvalidParameterException for it, which this tells from the other causes
// by looking at the cluster rather than at the message), another client
// fault a *RefusedError.
func (d *serviceDeps) runErr(ctx context.Context, cluster string, err error) error {
	ae, ok := apierror.As(err)
	if !ok || ae.HTTPStatus() >= 500 {
		return fmt.Errorf("run task: %w", err)
	}
	if ae.Code == apierror.CodeInvalidParameter {
		one := int32(1)
		out, lerr := d.ops.ListContainerInstances(ctx, &ecsapi.ListContainerInstancesRequest{Cluster: cluster, MaxResults: &one})
		if lerr == nil && len(out.ContainerInstanceArns) == 0 {
			return fmt.Errorf("%w: %w", servicectl.ErrNoInstances, err)
		}
	}
	return &servicectl.RefusedError{Message: ae.Message}
}

// taskTags are the tags propagated to the tasks of spec
// (ecs.API.ServiceTaskTags).
func (d *serviceDeps) taskTags(ctx context.Context, spec servicectl.TaskSpec) ([]ecsapi.Tag, error) {
	tags, err := d.ops.ServiceTaskTags(ctx, &ecsapi.Service{PropagateTags: spec.PropagateTags, Tags: spec.ServiceTags}, spec.TaskDefinition)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", spec.TaskDefinition, err)
	}
	return tags, nil
}

// addManagedTags adds spec's managed tags to the tasks started
// (ecs.API.AddManagedTaskTags), which RunTask refuses from its callers.
func (d *serviceDeps) addManagedTags(ctx context.Context, spec servicectl.TaskSpec, arns []string) {
	if len(spec.ManagedTags) == 0 {
		return
	}
	for _, a := range arns {
		if err := d.ops.AddManagedTaskTags(ctx, spec.Cluster, a, spec.ManagedTags); err != nil {
			d.logger.Warn("managed tags", "task", a, "err", err)
		}
	}
}

// serviceLeaderKey is the election of the service controller's leader.
var serviceLeaderKey = store.Key("leader", "service-controller")

// storeElector elects the service controller's leader through the store
// (store.Campaign): one lease of ttl per campaign.
type storeElector struct {
	store *store.Store
	ttl   time.Duration
}

// Campaign blocks until this server leads or ctx ends.
func (e *storeElector) Campaign(ctx context.Context, id string) (servicectl.Leadership, error) {
	l, err := e.store.Campaign(ctx, serviceLeaderKey, []byte(id), e.ttl)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return storeLeadership{l}, nil
}

// storeLeadership is a term won through the store; its Guard holds while
// the candidate key written by the campaign exists.
type storeLeadership struct{ *store.Leadership }

// Lost is closed when the leadership has ended.
func (l storeLeadership) Lost() <-chan struct{} { return l.Done() }
