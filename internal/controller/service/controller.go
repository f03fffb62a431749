package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
)

// Options configure a Controller. Zero members take the defaults.
type Options struct {
	Config
	// Workers is how many services are reconciled at once (default 4).
	Workers int
	// Resync is how often every service is looked at even without a change
	// (default 10s).
	Resync time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnReconcile, if set, is called after each reconcile of a service
	// with how long it took and its error (the server's Prometheus
	// metrics).
	OnReconcile func(d time.Duration, err error)
}

// Default policy values. The lost-instance grace counts from when the
// controller sees the agent disconnected, which is up to the server's agent
// TTL (10s) after the agent's last call: by default, tasks are replaced at
// most 30s after their agent was last heard from.
const (
	DefaultLostInstanceGrace = 20 * time.Second
	DefaultThrottleBase      = time.Second
	DefaultThrottleMax       = 27 * time.Minute
)

// MaxServiceEvents is how many events a service keeps, newest first.
const MaxServiceEvents = 100

// statusInactive is the status of a deleted service.
const statusInactive = "INACTIVE"

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
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Controller is the service controller of one server. Run campaigns for
// leadership; only the leader reconciles.
type Controller struct {
	deps   Deps
	opts   Options
	logger *slog.Logger
	id     string

	mu sync.Mutex
	// disconnected remembers when each instance was first seen with its
	// agent disconnected. A new leader starts afresh, so the grace counts
	// from its takeover at worst.
	disconnected map[string]time.Time
	// lead is the current leadership (nil when not leading): it guards the
	// controller's writes of service records.
	lead Leadership
	// queue is the work queue of the current leadership.
	queue *controller.Queue
	// rulesChanged remembers when this controller last changed the
	// listener rule weights of each service (by queue key).
	rulesChanged map[string]time.Time
}

// New returns a controller of the services that deps reach.
func New(deps Deps, opts Options, logger *slog.Logger) *Controller {
	opts.defaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Controller{deps: deps, opts: opts, logger: logger.With("component", "service-controller"),
		id: hex.EncodeToString(b[:]), disconnected: map[string]time.Time{}, rulesChanged: map[string]time.Time{}}
}

// Leading reports whether this controller is the leader now.
func (c *Controller) Leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lead != nil
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
// write (ErrConflict, also when this server no longer leads), a failed
// call, or tasks that could not be placed. Keys to look at again later go
// to the queue of the current leadership, if any.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	c.mu.Lock()
	q, lead := c.queue, c.lead
	c.mu.Unlock()
	if q == nil {
		q = controller.NewQueue(time.Second, time.Second)
	}
	if cluster, ok := strings.CutPrefix(key, clusterKeyPrefix); ok {
		refs, err := c.deps.Records.ServiceRefs(ctx)
		if err != nil {
			return fmt.Errorf("list services: %w", err)
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
	svc, rev, err := c.deps.Records.Service(ctx, cluster, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read service %s: %w", key, err)
	}
	if svc.Status == statusInactive {
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
	return c.apply(ctx, cluster, svc, rev, lead, p)
}

// observe reads the service's tasks and the cluster's instances.
func (c *Controller) observe(ctx context.Context, cluster string, svc *ecsapi.Service) (Observed, error) {
	var obs Observed
	tasks, err := c.deps.Observer.ServiceTasks(ctx, cluster, svc.ServiceName)
	if err != nil {
		return obs, fmt.Errorf("tasks of %s: %w", svc.ServiceName, err)
	}
	obs.Tasks = tasks
	if dc := svc.DeploymentConfiguration; c.deps.Alarms != nil && dc != nil && dc.Alarms != nil && dc.Alarms.Enable && len(dc.Alarms.AlarmNames) > 0 &&
		len(svc.Deployments) > 0 && svc.Deployments[0].RolloutState == "IN_PROGRESS" {
		states, err := c.deps.Alarms.AlarmStates(ctx, dc.Alarms.AlarmNames)
		if err != nil {
			return obs, fmt.Errorf("deployment alarms of %s: %w", svc.ServiceName, err)
		}
		obs.AlarmStates = states
	}
	if err := c.observeDeploymentLBs(ctx, cluster, svc, &obs); err != nil {
		return obs, err
	}
	if lb := c.deps.LoadBalancing; lb != nil && (len(serviceLoadBalancers(svc)) > 0 || len(obs.DeploymentLBs) > 0) {
		obs.Targets = map[string][]Target{}
		var groups []string
		for _, id := range sortedKeys(obs.DeploymentLBs) {
			for _, l := range obs.DeploymentLBs[id] {
				groups = append(groups, l.TargetGroupArn)
			}
		}
		// The service's groups and its task sets' (EXTERNAL), with the
		// alternates of a traffic-shifting deployment.
		for _, l := range serviceLoadBalancers(svc) {
			groups = append(groups, l.TargetGroupArn)
			if ac := l.AdvancedConfiguration; ac != nil && shiftsTraffic(svc) {
				groups = append(groups, ac.AlternateTargetGroupArn)
			}
		}
		for _, tg := range groups {
			if _, done := obs.Targets[tg]; done || tg == "" {
				continue
			}
			ts, err := lb.Targets(ctx, tg)
			if errors.Is(err, ErrNotFound) {
				// Deleted under the service: nothing to register in.
				continue
			}
			if err != nil {
				return obs, fmt.Errorf("targets of %s: %w", tg, err)
			}
			if ts == nil {
				ts = []Target{}
			}
			obs.Targets[tg] = ts
		}
	}
	if err := c.observeRules(ctx, cluster, svc, &obs); err != nil {
		return obs, err
	}
	if obs.Protected, err = c.deps.Observer.Protections(ctx, cluster, svc.ServiceName); err != nil {
		return obs, fmt.Errorf("task protections of %s: %w", svc.ServiceName, err)
	}
	if c.deps.PrePull != nil && c.opts.PrePullTimeout > 0 && len(svc.Deployments) > 0 {
		if obs.PrePull, err = c.observePrePull(ctx, cluster, svc); err != nil {
			return obs, err
		}
	}
	insts, err := c.deps.Observer.Instances(ctx, cluster)
	if err != nil {
		return obs, fmt.Errorf("container instances of %s: %w", cluster, err)
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
	for i := range insts {
		ci := &insts[i]
		if ci.Status == "INACTIVE" {
			continue
		}
		in := Instance{Arn: ci.ContainerInstanceArn, Status: ci.Status, Connected: ci.AgentConnected, Eligible: true,
			DisconnectedSince: c.disconnectedSince(ci.ContainerInstanceArn, ci.AgentConnected, now), TargetID: ci.Ec2InstanceId}
		if in.TargetID == "" {
			in.TargetID = taskID(ci.ContainerInstanceArn)
		}
		for _, a := range ci.Attributes {
			switch a.Name {
			case "ecs.availability-zone":
				in.AvailabilityZone = a.Value
			case PrePullAttribute:
				in.PrePull = true
			}
		}
		for _, e := range exprs {
			if !e.Eval(cql.InstanceTarget{Instance: ci}) {
				in.Eligible = false
			}
		}
		// EXTERNAL services run on external instances (mi- IDs) only, the
		// others never do.
		if strings.HasPrefix(ci.Ec2InstanceId, "mi-") != (svc.LaunchType == "EXTERNAL") {
			in.Eligible = false
		}
		obs.Instances = append(obs.Instances, in)
	}
	// Tasks on instances of another cluster: a Fargate pool's hosts, which
	// run the FARGATE tasks of every cluster. They are observed too, so
	// that such tasks are not taken for lost, and those on a DRAINING
	// (reclaimed) host are replaced.
	foreign := map[string]bool{}
	for _, t := range obs.Tasks {
		if h := instanceCluster(t.ContainerInstanceArn); h != "" && h != cluster && !foreign[h] {
			foreign[h] = true
			hosts, err := c.deps.Observer.Instances(ctx, h)
			if err != nil {
				return obs, fmt.Errorf("container instances of %s: %w", h, err)
			}
			for i := range hosts {
				ci := &hosts[i]
				if ci.Status == "INACTIVE" {
					continue
				}
				obs.Instances = append(obs.Instances, Instance{Arn: ci.ContainerInstanceArn, Status: ci.Status, Connected: ci.AgentConnected,
					DisconnectedSince: c.disconnectedSince(ci.ContainerInstanceArn, ci.AgentConnected, now), TargetID: ci.Ec2InstanceId})
			}
		}
	}
	return obs, nil
}

// instanceCluster is the cluster of a container instance ARN
// (arn:...:container-instance/CLUSTER/ID), "" if it names none.
func instanceCluster(arn string) string {
	_, path, ok := strings.Cut(arn, ":container-instance/")
	if !ok {
		return ""
	}
	c, _, ok := strings.Cut(path, "/")
	if !ok {
		return ""
	}
	return c
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
// read and by lead, this server's leadership (so a deposed leader writes
// nothing), then the stops, the starts, and the events.
func (c *Controller) apply(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, lead Leadership, p Plan) error {
	if p.Write {
		if _, err := c.deps.Records.WriteService(ctx, cluster, &p.Service, rev, lead); err != nil {
			return fmt.Errorf("write service %s: %w", svc.ServiceName, err)
		}
	}
	if err := c.applyWeights(ctx, cluster, svc.ServiceName, p.Weights); err != nil {
		return err
	}
	if p.WritePrePull && c.deps.PrePull != nil {
		if err := c.deps.PrePull.PutPrePullRequest(ctx, cluster, svc.ServiceName, p.PrePull); err != nil {
			return fmt.Errorf("pre-pull of %s: %w", svc.ServiceName, err)
		}
	}
	events := append([]string(nil), p.Events...)
	var stopped []string
	for _, st := range p.Stop {
		err := c.deps.Runner.StopTask(ctx, cluster, st.TaskArn, st.Reason)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("stop task %s: %w", st.TaskArn, err)
		}
		if st.Running {
			stopped = append(stopped, "(task "+taskID(st.TaskArn)+")")
		}
	}
	if len(stopped) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.ServiceName, len(stopped), strings.Join(stopped, " ")))
	}
	if err := c.applyTargets(ctx, cluster, p); err != nil {
		return err
	}
	var started []string
	var unplaced error
	for _, st := range p.Start {
		arns, msg, err := c.start(ctx, cluster, &p.Service, st)
		for _, a := range arns {
			started = append(started, "(task "+taskID(a)+")")
		}
		if err != nil {
			return err
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
		err := c.deps.Records.MutateService(ctx, cluster, svc.ServiceName, func(s *ecsapi.Service) error {
			var added int
			s.Events, added = addEvents(s.Events, events, now, MaxServiceEvents, newEventID)
			if added == 0 {
				// Every message was a repeat: writing would only wake
				// this service's watch again.
				return errNoNewEvents
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, errNoNewEvents) {
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

// noInstancesMessage is ECS's event, after "(service NAME) ", for a service
// of a cluster without container instances.
const noInstancesMessage = "was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."

// taskSpec is what the tasks of svc's deployment st share.
func taskSpec(cluster string, svc *ecsapi.Service, st Start) TaskSpec {
	spec := TaskSpec{Cluster: cluster, TaskDefinition: st.TaskDefinition, StartedBy: st.Deployment, Group: "service:" + svc.ServiceName,
		LaunchType: svc.LaunchType, PlacementConstraints: svc.PlacementConstraints, PlacementStrategy: svc.PlacementStrategy,
		NetworkConfiguration: svc.NetworkConfiguration, EnableExecuteCommand: svc.EnableExecuteCommand,
		PropagateTags: svc.PropagateTags, ServiceTags: svc.Tags, CapacityProviderStrategy: svc.CapacityProviderStrategy}
	if ts := taskSetOf(svc, st.Deployment); ts != nil {
		// A task set's tasks (EXTERNAL controller) run with its launch
		// type or capacity provider strategy (spread over its own tasks)
		// and its network configuration.
		spec.LaunchType, spec.NetworkConfiguration = ts.LaunchType, ts.NetworkConfiguration
		spec.CapacityProviderStrategy, spec.TaskSet = ts.CapacityProviderStrategy, true
	}
	if len(spec.PlacementStrategy) == 0 {
		spec.PlacementStrategy = defaultStrategy()
	}
	if svc.EnableECSManagedTags {
		spec.ManagedTags = []ecsapi.Tag{{Key: "aws:ecs:clusterName", Value: cluster}, {Key: "aws:ecs:serviceName", Value: svc.ServiceName}}
	}
	return spec
}

// start starts the tasks of st and returns their ARNs and, when some could
// not be placed, the event that says why (without the service's name). An
// error is a failure to retry; the ARNs are those started before it.
func (c *Controller) start(ctx context.Context, cluster string, svc *ecsapi.Service, st Start) ([]string, string, error) {
	spec := taskSpec(cluster, svc, st)
	var pl Placement
	var err error
	if st.Instance != "" {
		pl, err = c.deps.Runner.StartTask(ctx, spec, st.Instance)
	} else {
		pl, err = c.deps.Runner.RunTasks(ctx, spec, st.Count)
	}
	var refused *RefusedError
	switch {
	case errors.Is(err, ErrNoInstances):
		return pl.TaskArns, noInstancesMessage, nil
	case errors.As(err, &refused):
		// Refused for the task definition's or the cluster's state: say
		// so, and retry with backoff.
		return pl.TaskArns, "was unable to start tasks: " + refused.Message, nil
	case err != nil:
		return pl.TaskArns, "", fmt.Errorf("run tasks of %s: %w", svc.ServiceName, err)
	}
	if len(pl.TaskArns) < st.Count {
		return pl.TaskArns, unplacedMessage(pl.Failures), nil
	}
	return pl.TaskArns, "", nil
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

// applyTargets deregisters and registers the plan's targets and lets the
// drained DEACTIVATING tasks stop.
func (c *Controller) applyTargets(ctx context.Context, cluster string, p Plan) error {
	lb := c.deps.LoadBalancing
	if lb == nil {
		return nil
	}
	for _, tg := range sortedKeys(p.Deregister) {
		if err := lb.DeregisterTargets(ctx, tg, p.Deregister[tg]); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deregister targets from %s: %w", tg, err)
		}
	}
	for _, arn := range p.Finish {
		if err := lb.FinishDeactivation(ctx, cluster, arn); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("stop deactivated task %s: %w", arn, err)
		}
	}
	for _, tg := range sortedKeys(p.Register) {
		if err := lb.RegisterTargets(ctx, tg, p.Register[tg]); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("register targets in %s: %w", tg, err)
		}
	}
	return nil
}

// observeRules reads the weights of the listener rules of a service that
// shifts traffic (blue/green, linear, canary).
func (c *Controller) observeRules(ctx context.Context, cluster string, svc *ecsapi.Service, obs *Observed) error {
	if c.deps.Traffic == nil || !shiftsTraffic(svc) {
		return nil
	}
	obs.Rules = map[string]map[string]int32{}
	for _, l := range svc.LoadBalancers {
		for _, rule := range []string{l.AdvancedConfiguration.ProductionListenerRule, l.AdvancedConfiguration.TestListenerRule} {
			if _, done := obs.Rules[rule]; done || rule == "" {
				continue
			}
			w, err := c.deps.Traffic.RuleWeights(ctx, rule)
			if errors.Is(err, ErrNotFound) {
				// Deleted under the service: nothing to shift.
				continue
			}
			if err != nil {
				return fmt.Errorf("weights of rule %s: %w", rule, err)
			}
			obs.Rules[rule] = w
		}
	}
	c.mu.Lock()
	obs.RulesChanged = c.rulesChanged[ServiceRef{Cluster: cluster, Name: svc.ServiceName}.String()]
	c.mu.Unlock()
	return nil
}

// applyWeights sets the listener rule weights of a plan and remembers
// when.
func (c *Controller) applyWeights(ctx context.Context, cluster, name string, weights map[string]map[string]int32) error {
	if c.deps.Traffic == nil || len(weights) == 0 {
		return nil
	}
	for _, rule := range sortedKeys(weights) {
		if err := c.deps.Traffic.SetRuleWeights(ctx, rule, weights[rule]); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("set weights of rule %s: %w", rule, err)
		}
		c.logger.Info("listener rule weights set", "service", name, "rule", rule, "weights", weights[rule])
	}
	c.mu.Lock()
	c.rulesChanged[ServiceRef{Cluster: cluster, Name: name}.String()] = c.opts.Now()
	c.mu.Unlock()
	return nil
}

// observeDeploymentLBs reads the loadBalancers of the service's older
// deployments that differ from the service's (UpdateService changed
// them): their tasks stay in their own target groups until they stop.
func (c *Controller) observeDeploymentLBs(ctx context.Context, cluster string, svc *ecsapi.Service, obs *Observed) error {
	if c.deps.Revisions == nil || c.deps.LoadBalancing == nil || shiftsTraffic(svc) {
		return nil
	}
	cur, _ := json.Marshal(svc.LoadBalancers)
	for i := 1; i < len(svc.Deployments); i++ {
		id := svc.Deployments[i].Id
		lbs, err := c.deps.Revisions.DeploymentLoadBalancers(ctx, cluster, svc.ServiceName, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load balancers of deployment %s: %w", id, err)
		}
		if b, _ := json.Marshal(lbs); string(b) == string(cur) || (len(lbs) == 0 && len(svc.LoadBalancers) == 0) {
			continue
		}
		if obs.DeploymentLBs == nil {
			obs.DeploymentLBs = map[string][]ecsapi.LoadBalancer{}
		}
		if lbs == nil {
			lbs = []ecsapi.LoadBalancer{}
		}
		obs.DeploymentLBs[id] = lbs
	}
	return nil
}
