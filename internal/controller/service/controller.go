package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// Options configure a Controller. Zero members take the defaults.
type Options struct {
	Config
	// Workers is how many services are reconciled at once (default 4).
	Workers int
	// Resync is how often every service is looked at even without a change
	// (default 10s).
	Resync time.Duration
	// LeaseTTL is the leader's etcd session TTL: how soon another server
	// takes over after the leader dies without resigning (default 5s).
	LeaseTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Default policy values. The lost-instance grace counts from when the
// controller sees the agent disconnected, which is up to ecs.AgentTTL (10s)
// after the agent's last call: by default, tasks are replaced at most 30s
// after their agent was last heard from.
const (
	DefaultLostInstanceGrace = 20 * time.Second
	DefaultThrottleBase      = time.Second
	DefaultThrottleMax       = 27 * time.Minute
)

func (o *Options) defaults() {
	if o.LostInstanceGrace <= 0 {
		o.LostInstanceGrace = DefaultLostInstanceGrace
	}
	if o.ThrottleBase <= 0 {
		o.ThrottleBase = DefaultThrottleBase
	}
	if o.ThrottleMax <= 0 {
		o.ThrottleMax = DefaultThrottleMax
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Resync <= 0 {
		o.Resync = 10 * time.Second
	}
	if o.LeaseTTL < time.Second {
		o.LeaseTTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Controller is the service controller of one server. Run campaigns for
// leadership; only the leader reconciles.
type Controller struct {
	ops    *ecs.API
	cli    *clientv3.Client
	opts   Options
	logger *slog.Logger
	id     string

	mu sync.Mutex
	// disconnected remembers when each instance was first seen with its
	// agent disconnected. A new leader starts afresh, so the grace counts
	// from its takeover at worst.
	disconnected map[string]time.Time
	guard        []clientv3.Cmp
	leading      bool
	// queue is the work queue of the current leadership.
	queue *controller.Queue
}

// New returns a controller of the services of o, electing its leader
// through cli.
func New(o *ecs.API, cli *clientv3.Client, opts Options, logger *slog.Logger) *Controller {
	opts.defaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Controller{ops: o, cli: cli, opts: opts, logger: logger.With("component", "service-controller"),
		id: hex.EncodeToString(b[:]), disconnected: map[string]time.Time{}}
}

// Leading reports whether this controller is the leader now.
func (c *Controller) Leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

// errNoNewEvents aborts an events write that would add nothing.
var errNoNewEvents = errors.New("no new events")

// errUnplaced asks for a retry with backoff when tasks could not be placed.
var errUnplaced = errors.New("tasks could not be placed")

// clusterKeyPrefix marks a queue key that stands for every service of a
// cluster.
const clusterKeyPrefix = "cluster:"

// Reconcile brings the service of key (cluster/name) one step closer to
// what it should be, or, for cluster:NAME, queues every service of the
// cluster. It returns nil when the step is done (or the service is gone or
// INACTIVE) and an error when the key should be retried: a conflicting
// write (store.ErrConflict, also when this server no longer leads), a
// failed call, or tasks that could not be placed. Keys to look at again
// later go to the queue of the current leadership, if any.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	if q == nil {
		q = controller.NewQueue(time.Second, time.Second)
	}
	ctx = caller.WithCaller(ctx, caller.Caller{Principal: "arn:aws:iam::" + c.ops.Account + ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", RequestID: "service-controller"})
	if cluster, ok := strings.CutPrefix(key, clusterKeyPrefix); ok {
		refs, err := c.ops.ServiceRefs(ctx)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if r.Cluster == cluster {
				q.Add(r.String())
			}
		}
		return nil
	}
	cluster, name, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	svc, rev, err := c.ops.ServiceRecord(ctx, cluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Status == ecs.ServiceInactive {
		return nil
	}
	obs, err := c.observe(ctx, cluster, svc)
	if err != nil {
		return err
	}
	p := plan(c.opts.Config, svc, obs, c.opts.Now())
	if p.RequeueAfter > 0 {
		q.AddAfter(key, p.RequeueAfter)
	}
	return c.apply(ctx, cluster, svc, rev, p)
}

// observe reads the service's tasks and the cluster's instances through
// the ECS operations.
func (c *Controller) observe(ctx context.Context, cluster string, svc *ecsapi.Service) (Observed, error) {
	var obs Observed
	var arns []string
	for _, st := range []ecsapi.DesiredStatus{"RUNNING", "STOPPED"} {
		next := ""
		for {
			out, err := c.ops.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: cluster, ServiceName: svc.ServiceName, DesiredStatus: st, NextToken: next})
			if err != nil {
				return obs, fmt.Errorf("list tasks of %s: %w", svc.ServiceName, err)
			}
			arns = append(arns, out.TaskArns...)
			if next = out.NextToken; next == "" {
				break
			}
		}
	}
	for i := 0; i < len(arns); i += 100 {
		out, err := c.ops.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return obs, fmt.Errorf("describe tasks of %s: %w", svc.ServiceName, err)
		}
		obs.Tasks = append(obs.Tasks, out.Tasks...)
	}
	var iarns []string
	next := ""
	for {
		out, err := c.ops.ListContainerInstances(ctx, &ecsapi.ListContainerInstancesRequest{Cluster: cluster, NextToken: next})
		if err != nil {
			return obs, fmt.Errorf("list container instances: %w", err)
		}
		iarns = append(iarns, out.ContainerInstanceArns...)
		if next = out.NextToken; next == "" {
			break
		}
	}
	var exprs []*cql.Expr
	for _, pc := range svc.PlacementConstraints {
		if pc.Type == "memberOf" {
			if e, err := cql.Parse(pc.Expression); err == nil {
				exprs = append(exprs, e)
			}
		}
	}
	now := c.opts.Now()
	for i := 0; i < len(iarns); i += 100 {
		out, err := c.ops.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: iarns[i:min(i+100, len(iarns))]})
		if err != nil {
			return obs, fmt.Errorf("describe container instances: %w", err)
		}
		for j := range out.ContainerInstances {
			ci := &out.ContainerInstances[j]
			in := Instance{Arn: ci.ContainerInstanceArn, Status: ci.Status, Connected: ci.AgentConnected, Eligible: true,
				DisconnectedSince: c.disconnectedSince(ci.ContainerInstanceArn, ci.AgentConnected, now)}
			for _, a := range ci.Attributes {
				if a.Name == "ecs.availability-zone" {
					in.AvailabilityZone = a.Value
				}
			}
			for _, e := range exprs {
				if !e.Eval(cql.InstanceTarget{Instance: ci}) {
					in.Eligible = false
				}
			}
			obs.Instances = append(obs.Instances, in)
		}
	}
	return obs, nil
}

// disconnectedSince returns when the instance was first seen disconnected
// (zero when connected).
func (c *Controller) disconnectedSince(arn string, connected bool, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if connected {
		delete(c.disconnected, arn)
		return time.Time{}
	}
	since, ok := c.disconnected[arn]
	if !ok {
		since = now
		c.disconnected[arn] = since
	}
	return since
}

// apply carries out p: the service record first, guarded by the revision
// read and by this server's leadership (so a deposed leader writes
// nothing), then the stops, the starts, and the events.
func (c *Controller) apply(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, p Plan) error {
	if p.Write {
		c.mu.Lock()
		guard := c.guard
		c.mu.Unlock()
		if _, err := c.ops.WriteServiceRecord(ctx, cluster, &p.Service, rev, guard...); err != nil {
			return fmt.Errorf("write service %s: %w", svc.ServiceName, err)
		}
	}
	events := append([]string(nil), p.Events...)
	var stopped []string
	for _, st := range p.Stop {
		_, err := c.ops.StopTask(ctx, &ecsapi.StopTaskRequest{Cluster: cluster, Task: st.TaskArn, Reason: st.Reason})
		if err != nil && !apierror.IsCode(err, apierror.CodeInvalidParameter) {
			return fmt.Errorf("stop task %s: %w", st.TaskArn, err)
		}
		if st.Running {
			stopped = append(stopped, "(task "+taskID(st.TaskArn)+")")
		}
	}
	if len(stopped) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.ServiceName, len(stopped), strings.Join(stopped, " ")))
	}
	var started []string
	var unplaced error
	for _, st := range p.Start {
		arns, msg, err := c.start(ctx, cluster, &p.Service, st)
		if err != nil {
			return err
		}
		for _, a := range arns {
			started = append(started, "(task "+taskID(a)+")")
		}
		if msg != "" {
			events = append(events, fmt.Sprintf("(service %s) %s", svc.ServiceName, msg))
			unplaced = errUnplaced
		}
	}
	if len(started) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has started %d tasks: %s.", svc.ServiceName, len(started), strings.Join(started, " ")))
	}
	if len(events) > 0 {
		now := c.opts.Now()
		err := c.ops.MutateServiceRecord(ctx, cluster, svc.ServiceName, func(s *ecsapi.Service) error {
			var added int
			s.Events, added = addEvents(s.Events, events, now, ecs.MaxServiceEvents, newEventID)
			if added == 0 {
				// Every message was a repeat: writing would only wake
				// this service's watch again.
				return errNoNewEvents
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errNoNewEvents) {
			return fmt.Errorf("add events to %s: %w", svc.ServiceName, err)
		}
	}
	return unplaced
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// defaultStrategy is ECS's default placement of service tasks: spread over
// Availability Zones, then over the instances of a zone.
func defaultStrategy() []ecsapi.PlacementStrategy {
	return append(scheduler.DefaultServiceStrategies(), ecsapi.PlacementStrategy{Type: scheduler.StrategySpread, Field: "instanceId"})
}

// start starts the tasks of st and returns their ARNs and, when some could
// not be placed, the event that says why.
func (c *Controller) start(ctx context.Context, cluster string, svc *ecsapi.Service, st Start) ([]string, string, error) {
	tags, err := c.ops.ServiceTaskTags(ctx, svc, st.TaskDefinition)
	if err != nil {
		return nil, "", err
	}
	var managed []ecsapi.Tag
	if svc.EnableECSManagedTags {
		managed = []ecsapi.Tag{{Key: "aws:ecs:clusterName", Value: cluster}, {Key: "aws:ecs:serviceName", Value: svc.ServiceName}}
	}
	var arns []string
	var failures []ecsapi.Failure
	group := "service:" + svc.ServiceName
	if st.Instance != "" {
		out, err := c.ops.StartTask(ctx, &ecsapi.StartTaskRequest{Cluster: cluster, TaskDefinition: st.TaskDefinition,
			ContainerInstances: []string{st.Instance}, StartedBy: st.Deployment, Group: group, Tags: tags,
			NetworkConfiguration: svc.NetworkConfiguration, EnableExecuteCommand: svc.EnableExecuteCommand})
		if err != nil {
			if ae, ok := apierror.As(err); ok && ae.HTTPStatus() < 500 {
				return nil, "was unable to start tasks: " + ae.Message, nil
			}
			return nil, "", fmt.Errorf("start task on %s: %w", st.Instance, err)
		}
		for _, t := range out.Tasks {
			arns = append(arns, t.TaskArn)
		}
		failures = out.Failures
	} else {
		strategy := svc.PlacementStrategy
		if len(strategy) == 0 {
			strategy = defaultStrategy()
		}
		for left := st.Count; left > 0; {
			n := int32(min(left, 10))
			out, err := c.ops.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: cluster, TaskDefinition: st.TaskDefinition, Count: &n,
				StartedBy: st.Deployment, Group: group, LaunchType: svc.LaunchType, PlacementConstraints: svc.PlacementConstraints,
				PlacementStrategy: strategy, NetworkConfiguration: svc.NetworkConfiguration, Tags: tags,
				EnableExecuteCommand: svc.EnableExecuteCommand})
			if err != nil {
				if apierror.IsCode(err, apierror.CodeInvalidParameter) && strings.Contains(err.Error(), "No Container Instances") {
					return arns, "was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", nil
				}
				if ae, ok := apierror.As(err); ok && ae.HTTPStatus() < 500 {
					// Refused for the task definition's or the cluster's
					// state: say so, and retry with backoff.
					return arns, "was unable to start tasks: " + ae.Message, nil
				}
				return arns, "", fmt.Errorf("run tasks of %s: %w", svc.ServiceName, err)
			}
			for _, t := range out.Tasks {
				arns = append(arns, t.TaskArn)
			}
			left -= len(out.Tasks)
			if len(out.Tasks) < int(n) {
				failures = out.Failures
				break
			}
		}
	}
	for _, a := range arns {
		if len(managed) > 0 {
			if err := c.ops.AddManagedTaskTags(ctx, cluster, a, managed); err != nil {
				c.logger.Warn("managed tags", "task", a, "err", err)
			}
		}
	}
	if len(arns) < st.Count {
		return arns, unplacedMessage(failures), nil
	}
	return arns, "", nil
}

// unplacedMessage is ECS's event for a task no instance could take, naming
// the closest match.
func unplacedMessage(failures []ecsapi.Failure) string {
	const head = "was unable to place a task because no container instance met all of its requirements."
	const tail = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	if len(failures) == 0 {
		return head + tail
	}
	sort.SliceStable(failures, func(a, b int) bool { return failureRank(failures[a].Reason) > failureRank(failures[b].Reason) })
	f := failures[0]
	why := "does not meet all of its requirements (" + f.Reason + ")."
	switch f.Reason {
	case "RESOURCE:CPU":
		why = "has insufficient CPU units available."
	case "RESOURCE:MEMORY":
		why = "has insufficient memory available."
	case "RESOURCE:PORTS":
		why = "is already using a port required by your task."
	case "RESOURCE:GPU":
		why = "has insufficient GPU units available."
	case "AGENT":
		why = "encountered error \"AGENT\"."
	case "DRAINING":
		why = "is DRAINING."
	case "MemberOf":
		why = "does not match the placement constraint memberOf."
	case "DistinctInstance":
		why = "already runs a task of this service (distinctInstance)."
	}
	return head + " The closest matching (container-instance " + taskID(f.Arn) + ") " + why + tail
}

// failureRank: an instance refused for resources came closer than one
// refused for its status or constraints.
func failureRank(reason string) int {
	switch {
	case strings.HasPrefix(reason, "RESOURCE:"):
		return 3
	case reason == "DistinctInstance" || reason == "MemberOf":
		return 2
	}
	return 1
}
