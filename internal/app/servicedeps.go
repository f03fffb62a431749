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
// method is one call of ops, with the error mapping the controller does
// not do itself. The cluster is read from the server's live state
// (ServiceTasks, Instances: no paging) and tasks are started by one
// placement call for any count (RunTasks).
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
	return servicectl.Deps{Records: d, Observer: d, Runner: d, Changes: d, Elector: &storeElector{store: st, ttl: ttl, logger: logger}, PrePull: d}
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

// ServiceTasks returns the tasks of group service:NAME from the server's
// live state (ecs.API.ServiceTasks), which reflects the controller's own
// writes and every other committed before the call.
func (d *serviceDeps) ServiceTasks(ctx context.Context, cluster, name string) ([]ecsapi.Task, error) {
	tasks, err := d.ops.ServiceTasks(ctx, cluster, name)
	if err != nil {
		return nil, fmt.Errorf("tasks of service %s: %w", name, err)
	}
	return tasks, nil
}

// Protections returns the tasks' scale-in protections from the server's
// live state (ecs.API.ServiceTaskProtections).
func (d *serviceDeps) Protections(ctx context.Context, cluster, name string) (map[string]time.Time, error) {
	p, err := d.ops.ServiceTaskProtections(ctx, cluster, name)
	if err != nil {
		return nil, fmt.Errorf("task protections of service %s: %w", name, err)
	}
	return p, nil
}

// Instances returns the cluster's container instances that are not
// INACTIVE from the server's live state (ecs.API.ClusterInstances).
func (d *serviceDeps) Instances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, error) {
	insts, err := d.ops.ClusterInstances(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("container instances of %s: %w", cluster, err)
	}
	return insts, nil
}

// RunTasks places count tasks in one call (ecs.API.RunTasks: no limit of
// ten), the managed tags written with them.
func (d *serviceDeps) RunTasks(ctx context.Context, spec servicectl.TaskSpec, count int) (servicectl.Placement, error) {
	return d.run(ctx, spec, count, "")
}

// StartTask starts one task on instance (ecs.API.RunTasks restricted to
// it, as StartTask).
func (d *serviceDeps) StartTask(ctx context.Context, spec servicectl.TaskSpec, instance string) (servicectl.Placement, error) {
	spec.PlacementConstraints, spec.PlacementStrategy = nil, nil
	return d.run(ctx, spec, 1, instance)
}

// run starts count tasks of spec, on instance when it is not empty.
func (d *serviceDeps) run(ctx context.Context, spec servicectl.TaskSpec, count int, instance string) (servicectl.Placement, error) {
	ctx = d.caller(ctx)
	var pl servicectl.Placement
	tags, err := d.taskTags(ctx, spec)
	if err != nil {
		return pl, err
	}
	res, err := d.ops.RunTasks(ctx, ecs.RunSpec{Cluster: spec.Cluster, TaskDefinition: spec.TaskDefinition, Count: count,
		StartedBy: spec.StartedBy, Group: spec.Group, LaunchType: spec.LaunchType, PlacementConstraints: spec.PlacementConstraints,
		PlacementStrategy: spec.PlacementStrategy, NetworkConfiguration: spec.NetworkConfiguration, Tags: tags,
		ManagedTags: spec.ManagedTags, EnableExecuteCommand: spec.EnableExecuteCommand, Instance: instance,
		CapacityProviderStrategy: spec.CapacityProviderStrategy, TaskSet: spec.TaskSet})
	pl.TaskArns, pl.Failures = res.TaskArns, res.Failures
	if err != nil {
		return pl, runErr(err)
	}
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

// runErr maps an error of ecs.API.RunTasks: ecs.ErrNoInstances is
// ErrNoInstances, another client fault a *RefusedError.
func runErr(err error) error {
	if errors.Is(err, ecs.ErrNoInstances) {
		return fmt.Errorf("%w: %w", servicectl.ErrNoInstances, err)
	}
	if ae, ok := apierror.As(err); ok && ae.HTTPStatus() < 500 {
		return &servicectl.RefusedError{Message: ae.Message}
	}
	return fmt.Errorf("run tasks: %w", err)
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

// serviceLeaderKey is the election of the service controller's leader.
var serviceLeaderKey = store.Key("leader", "service-controller")

// storeElector elects the service controller's leader through the store
// (store.Campaign): one lease of ttl per campaign.
type storeElector struct {
	store  *store.Store
	ttl    time.Duration
	logger *slog.Logger
}

// Campaign blocks until this server leads or ctx ends.
func (e *storeElector) Campaign(ctx context.Context, id string) (servicectl.Leadership, error) {
	l, err := e.store.Campaign(ctx, serviceLeaderKey, []byte(id), e.ttl)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	// The fault harness (cmd/gantry-faults) finds the leader by this line.
	e.logger.Info("leads the service controller", "id", id)
	return storeLeadership{l}, nil
}

// storeLeadership is a term won through the store; its Guard holds while
// the candidate key written by the campaign exists.
type storeLeadership struct{ *store.Leadership }

// Lost is closed when the leadership has ended.
func (l storeLeadership) Lost() <-chan struct{} { return l.Done() }

// TaskDefinitionImages returns a task definition's images
// (ecs.API.TaskDefinitionImages).
func (d *serviceDeps) TaskDefinitionImages(ctx context.Context, arn string) ([]string, error) {
	return d.ops.TaskDefinitionImages(ctx, arn)
}

// ImagePulls returns the instances' pre-pull reports (ecs.API.ImagePulls).
func (d *serviceDeps) ImagePulls(ctx context.Context, cluster string) (map[string][]servicectl.ImagePull, error) {
	all, err := d.ops.ImagePulls(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]servicectl.ImagePull, len(all))
	for arn, pulls := range all {
		for _, p := range pulls {
			out[arn] = append(out[arn], servicectl.ImagePull{Image: p.Image, Status: p.Status, Reason: p.Reason})
		}
	}
	return out, nil
}

// PrePullRequest reads a service's pre-pull request
// (ecs.API.PrePullRequestOf); nil when there is none.
func (d *serviceDeps) PrePullRequest(ctx context.Context, cluster, service string) (*servicectl.PrePullRequest, error) {
	r, _, err := d.ops.PrePullRequestOf(ctx, cluster, service)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &servicectl.PrePullRequest{Deployment: r.Deployment, Images: r.Images, Instances: r.Instances,
		Until: time.UnixMilli(r.Until), Done: r.Done, Standing: r.Standing}, nil
}

// PutPrePullRequest stores or deletes a service's pre-pull request
// (ecs.API.PutPrePullRequest).
func (d *serviceDeps) PutPrePullRequest(ctx context.Context, cluster, service string, r *servicectl.PrePullRequest) error {
	if r == nil {
		return d.ops.PutPrePullRequest(ctx, cluster, service, nil)
	}
	return d.ops.PutPrePullRequest(ctx, cluster, service, &ecs.PrePullRequest{Deployment: r.Deployment, Images: r.Images,
		Instances: r.Instances, Until: r.Until.UnixMilli(), Done: r.Done, Standing: r.Standing})
}
