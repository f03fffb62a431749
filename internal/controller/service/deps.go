package service

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// What the controller needs from the rest of the server, declared here and
// provided by the application (internal/app): service records, the
// cluster's observed state, a task runner, a change feed and an election.
// The controller imports neither the ECS operations nor the store.

// Errors the dependencies return, matched with errors.Is. Implementations
// wrap their own errors with them (fmt.Errorf("%w: %w", ErrConflict, err)).
var (
	// ErrNotFound: the service or task does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a guarded write lost, because the record changed since
	// it was read or the leadership that guarded it ended.
	ErrConflict = errors.New("conflict")
	// ErrNoInstances: the cluster has no container instance to place a
	// task on.
	ErrNoInstances = errors.New("no container instances in the cluster")
)

// RefusedError is a request to run tasks that was refused for the state of
// the task definition or of the cluster (a client fault, as ECS would
// answer it: a deregistered task definition, an INACTIVE cluster). Message
// is ECS's message, shown in the service's event.
type RefusedError struct {
	Message string
}

// Error says the request was refused and why.
func (e *RefusedError) Error() string { return "refused: " + e.Message }

// ServiceRef names a service: its cluster's name and its own. A ref with an
// empty Name stands for every service of the cluster.
type ServiceRef struct {
	Cluster, Name string
}

// String is the queue key of the service: cluster/name.
func (r ServiceRef) String() string { return r.Cluster + "/" + r.Name }

// ServiceRecords reads and writes the stored service records.
type ServiceRecords interface {
	// ServiceRefs lists every service that is not INACTIVE, in every
	// cluster.
	ServiceRefs(ctx context.Context) ([]ServiceRef, error)
	// Service reads a service record and its revision. ErrNotFound if
	// there is none. The caller may change the record returned.
	Service(ctx context.Context, cluster, name string) (*ecsapi.Service, int64, error)
	// WriteService replaces the record of svc.ServiceName with svc if it
	// is still at rev and, when lead is not nil, lead still holds. It
	// returns the new revision, or ErrConflict.
	WriteService(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, lead Leadership) (int64, error)
	// MutateService applies fn to the current record of a service and
	// writes the result, calling fn again on a conflicting write. An error
	// from fn aborts and is returned as is. ErrNotFound if the service
	// does not exist.
	MutateService(ctx context.Context, cluster, name string, fn func(*ecsapi.Service) error) error
}

// ClusterObserver reads what a cluster has now: the server's view of its
// tasks and container instances, no paging for the caller.
type ClusterObserver interface {
	// ServiceTasks returns the tasks of service name of cluster (those of
	// group service:NAME), of every status, the STOPPED ones still kept
	// too. The caller must not change them.
	ServiceTasks(ctx context.Context, cluster, name string) ([]ecsapi.Task, error)
	// Instances returns the container instances of cluster that are not
	// INACTIVE, with their status, attributes and agent connection
	// (AgentConnected). The caller must not change them.
	Instances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, error)
	// Protections returns when the scale-in protection
	// (UpdateTaskProtection) of each task of service name of cluster
	// expires, for the tasks that have one, by task ARN. Expired ones may
	// be among them.
	Protections(ctx context.Context, cluster, name string) (map[string]time.Time, error)
}

// TaskSpec is what the tasks a service starts share.
type TaskSpec struct {
	Cluster        string
	TaskDefinition string
	// StartedBy is the deployment's ID; Group is service:NAME.
	StartedBy, Group string
	LaunchType       ecsapi.LaunchType
	// CapacityProviderStrategy is the service's, when it runs on capacity
	// providers (LaunchType is then empty).
	CapacityProviderStrategy []ecsapi.CapacityProviderStrategyItem
	// TaskSet says the tasks are a task set's (StartedBy is its ID): its
	// capacity provider strategy spreads its own tasks, not the service's.
	TaskSet bool
	// PlacementConstraints and PlacementStrategy are the service's (the
	// strategy already defaulted).
	PlacementConstraints []ecsapi.PlacementConstraint
	PlacementStrategy    []ecsapi.PlacementStrategy
	NetworkConfiguration *ecsapi.NetworkConfiguration
	EnableExecuteCommand bool
	// PropagateTags says which tags the tasks get: ServiceTags (SERVICE),
	// those of the task definition (TASK_DEFINITION), or none.
	PropagateTags ecsapi.PropagateTags
	ServiceTags   []ecsapi.Tag
	// ManagedTags are the aws:ecs: tags of ECS managed tagging, which a
	// RunTask caller may not set.
	ManagedTags []ecsapi.Tag
}

// Placement is what a TaskRunner started.
type Placement struct {
	// TaskArns are the tasks started.
	TaskArns []string
	// Failures say, when fewer tasks than asked were started, why each
	// instance refused (reasons as ECS's RunTask failures: RESOURCE:CPU,
	// DRAINING, ...).
	Failures []ecsapi.Failure
}

// TaskRunner starts and stops tasks.
type TaskRunner interface {
	// RunTasks places count tasks of spec on the cluster's instances, all
	// in one call (there is no limit of ten, as RunTask's). It returns
	// ErrNoInstances when the cluster has no container instance, a
	// *RefusedError when the request is refused for the state of the task
	// definition or cluster, other errors for failures to retry; the
	// Placement holds the tasks started before any error.
	RunTasks(ctx context.Context, spec TaskSpec, count int) (Placement, error)
	// StartTask starts one task of spec on the container instance named
	// (an ARN), or reports in Failures why it could not. Errors as
	// RunTasks.
	StartTask(ctx context.Context, spec TaskSpec, instance string) (Placement, error)
	// StopTask asks a task to stop, with reason as its stoppedReason.
	// ErrNotFound if there is no such task.
	StopTask(ctx context.Context, cluster, taskArn, reason string) error
}

// ChangeFeed turns changes of the server's state into the services they
// may concern.
type ChangeFeed interface {
	// WatchServiceChanges calls fn, until ctx ends or the watch fails,
	// with the service each change may concern: a service record, a task
	// of a service, or (Name empty) every service of a cluster whose
	// container instances or agent connections changed. It returns ctx's
	// error or the watch's.
	WatchServiceChanges(ctx context.Context, fn func(ServiceRef)) error
}

// Elector elects the server that runs the service controller.
type Elector interface {
	// Campaign blocks until this server, named id, leads or ctx ends.
	Campaign(ctx context.Context, id string) (Leadership, error)
}

// Leadership is one term of leadership won by Campaign.
type Leadership interface {
	// Lost is closed when the leadership ended without Resign (the
	// server's session with the store expired); writes guarded by it then
	// fail with ErrConflict.
	Lost() <-chan struct{}
	// Resign ends the leadership so that another server may lead at once.
	Resign(ctx context.Context) error
}

// Deps are a Controller's dependencies.
type Deps struct {
	Records  ServiceRecords
	Observer ClusterObserver
	Runner   TaskRunner
	Changes  ChangeFeed
	Elector  Elector
	// Alarms answers the states of deploymentConfiguration.alarms; nil
	// when CloudWatch is not wired (the alarms are then not looked at).
	Alarms cwlink.AlarmStates
	// LoadBalancing registers the tasks of services with loadBalancers in
	// their target groups; nil when Elastic Load Balancing is not wired
	// (loadBalancers are then not looked at).
	LoadBalancing LoadBalancing
	// PrePull pulls a rolling update's images on the instances before its
	// tasks start; nil turns pre-pull off.
	PrePull PrePuller
	// Revisions reads the loadBalancers each deployment's tasks were
	// registered with, for services whose loadBalancers changed; nil
	// treats every deployment's tasks as the service's loadBalancers say.
	Revisions DeploymentLoadBalancers
	// Traffic reads and sets listener rule weights for blue/green, linear
	// and canary deployments; nil when Elastic Load Balancing is not
	// wired (those deployments then run as rolling ones).
	Traffic TrafficShifter
}

// DeploymentLoadBalancers reads the loadBalancers of the revision of a
// service's deployment (UpdateService may have changed the service's
// since: the old deployment's tasks stay in the old target groups).
type DeploymentLoadBalancers interface {
	// DeploymentLoadBalancers returns the loadBalancers of deployment id
	// of service name of cluster. ErrNotFound if it has no revision.
	DeploymentLoadBalancers(ctx context.Context, cluster, name, id string) ([]ecsapi.LoadBalancer, error)
}

// TrafficShifter is what blue/green, linear and canary deployments need
// of Elastic Load Balancing: the weights of listener rules' forward
// actions.
type TrafficShifter interface {
	// RuleWeights returns the weights of the target groups the forward
	// action of a listener rule (a listener's default rule included)
	// sends to. ErrNotFound if there is no such rule.
	RuleWeights(ctx context.Context, ruleArn string) (map[string]int32, error)
	// SetRuleWeights sets the weights of target groups the forward action
	// of a rule already sends to, in one write. ErrNotFound if there is
	// no such rule.
	SetRuleWeights(ctx context.Context, ruleArn string, weights map[string]int32) error
}

// TargetRef is a target of a target group: an instance's ID (target type
// instance) or an IPv4 address (type ip), and a port.
type TargetRef struct {
	ID   string
	Port int32
}

// Target is a registered target and its health, as DescribeTargetHealth
// answers it (State initial, healthy, unhealthy, unused, draining,
// unavailable), with when a draining one's deregistration delay ends.
type Target struct {
	TargetRef
	State, Reason, Description string
	DrainingUntil              time.Time
}

// LoadBalancing is what the controller needs of Elastic Load Balancing
// and of the tasks of services behind it.
type LoadBalancing interface {
	// Targets returns the registered targets of a target group, draining
	// ones included. ErrNotFound if there is no such target group.
	Targets(ctx context.Context, targetGroupArn string) ([]Target, error)
	// RegisterTargets and DeregisterTargets are ELBv2's operations of the
	// same names (a deregistered target drains for the group's
	// deregistration delay). ErrNotFound if there is no such target
	// group.
	RegisterTargets(ctx context.Context, targetGroupArn string, targets []TargetRef) error
	DeregisterTargets(ctx context.Context, targetGroupArn string, targets []TargetRef) error
	// FinishDeactivation lets a task that was asked to stop while behind
	// a load balancer (lastStatus DEACTIVATING) stop now that its targets
	// have drained. ErrNotFound if there is no such task.
	FinishDeactivation(ctx context.Context, cluster, taskArn string) error
}
