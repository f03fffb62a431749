package capacity

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// ECS is what managed scaling reads and changes of the ECS operations.
type ECS interface {
	ScalingTargets(ctx context.Context) ([]ecs.ScalingTarget, error)
	ProviderInstances(ctx context.Context, cluster, provider string) ([]ecs.ProviderInstance, error)
	WaitingTasks(ctx context.Context, cluster string) ([]ecs.WaitingTask, error)
	PlaceWaiting(ctx context.Context, cluster string) (int, error)
	// SetDraining sets an instance DRAINING; Deregister deregisters it
	// (its tasks, if any, are orphaned as DeregisterContainerInstance's
	// force does).
	SetDraining(ctx context.Context, cluster, instanceArn string) error
	Deregister(ctx context.Context, cluster, instanceArn string) error
}

// Recorder stores datapoints in AWS's own namespaces (cwlink.Recorder).
type Recorder interface {
	Record(ctx context.Context, namespace string, data []cloudwatchapi.MetricDatum) error
}

// Leadership is a term of the managed scaling leader.
type Leadership interface {
	// Lost is closed when the term ends.
	Lost() <-chan struct{}
	Resign(ctx context.Context) error
}

// Elector elects the one server that runs managed scaling.
type Elector interface {
	Campaign(ctx context.Context, id string) (Leadership, error)
}

// Namespace and metric name of the reservation, as ECS publishes them.
const (
	Namespace  = "AWS/ECS/ManagedScaling"
	MetricName = "CapacityProviderReservation"
)

// Manager runs managed scaling on the elected leader: every Interval, for
// each cluster and capacity provider with managed scaling ENABLED, it
// places the tasks waiting in PROVISIONING on instances that have room,
// computes the instances needed and CapacityProviderReservation (published
// in AWS/ECS/ManagedScaling), and has the Provisioner scale out, or scale
// in once the reservation has stayed below the target for ScaleInAfter.
// Scale-in picks only instances without tasks (daemon tasks aside) when
// managed termination protection is ENABLED, the emptiest first otherwise;
// with managed draining ENABLED an instance is set DRAINING and removed
// once it runs no task.
type Manager struct {
	ECS         ECS
	Provisioner Provisioner // nil: compute and publish, never scale
	Metrics     Recorder    // nil: no metric
	Logger      *slog.Logger
	// Interval is the period of a pass (15 seconds when zero).
	Interval time.Duration
	// ScaleInAfter is how long the reservation stays below the target
	// before a scale-in (15 minutes when zero: ECS's low alarm).
	ScaleInAfter time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	targets map[string]*targetState
	wake    chan struct{}
}

// targetState is what the leader remembers of one cluster and provider
// between passes.
type targetState struct {
	// requested is the count last asked for, honoured as running until
	// warmUntil (the instance warm-up period), so one scale-out is not
	// asked again while its instances start.
	requested int
	warmUntil time.Time
	// lowSince is when the reservation went below the target.
	lowSince time.Time
	// draining are the instances this leader set DRAINING to remove.
	draining map[string]bool
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Wake asks for a pass now (RunTask left tasks waiting).
func (m *Manager) Wake() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wake == nil {
		m.wake = make(chan struct{}, 1)
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) wakeCh() chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wake == nil {
		m.wake = make(chan struct{}, 1)
	}
	return m.wake
}

// Run campaigns for leadership until ctx ends and runs passes while it
// leads; a lost term stops the passes at once.
func (m *Manager) Run(ctx context.Context, el Elector, id string) {
	for ctx.Err() == nil {
		lead, err := el.Campaign(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				m.Logger.Warn("managed scaling campaign", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		m.Logger.Info("managed scaling leading", "id", id)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lead.Lost():
				cancel()
			case <-lctx.Done():
			}
		}()
		m.mu.Lock()
		m.targets = map[string]*targetState{}
		m.mu.Unlock()
		m.lead(lctx)
		cancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = lead.Resign(rctx)
		rcancel()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// lead runs passes until ctx ends.
func (m *Manager) lead(ctx context.Context) {
	iv := m.Interval
	if iv <= 0 {
		iv = 15 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	wake := m.wakeCh()
	for {
		if err := m.Pass(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Warn("managed scaling pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}

// Pass runs one pass over every target.
func (m *Manager) Pass(ctx context.Context) error {
	targets, err := m.ECS.ScalingTargets(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.targets == nil {
		m.targets = map[string]*targetState{}
	}
	m.mu.Unlock()
	placedIn := map[string]bool{}
	var errs []error
	for _, tg := range targets {
		if !placedIn[tg.Cluster] {
			placedIn[tg.Cluster] = true
			if _, err := m.ECS.PlaceWaiting(ctx, tg.Cluster); err != nil {
				errs = append(errs, err)
			}
		}
		if err := m.target(ctx, tg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settingsOf reads a provider's managed scaling settings.
func settingsOf(cp ecsapi.CapacityProvider) (Settings, time.Duration) {
	s := Settings{TargetCapacity: 100, MinimumStep: 1, MaximumStep: 10000}
	warm := 300 * time.Second
	ms := cp.AutoScalingGroupProvider.ManagedScaling
	if ms.TargetCapacity != nil {
		s.TargetCapacity = int(*ms.TargetCapacity)
	}
	if ms.MinimumScalingStepSize != nil {
		s.MinimumStep = int(*ms.MinimumScalingStepSize)
	}
	if ms.MaximumScalingStepSize != nil {
		s.MaximumStep = int(*ms.MaximumScalingStepSize)
	}
	if ms.InstanceWarmupPeriod != nil {
		warm = time.Duration(*ms.InstanceWarmupPeriod) * time.Second
	}
	return s, warm
}

// target runs one pass over one cluster's provider.
func (m *Manager) target(ctx context.Context, tg ecs.ScalingTarget) error {
	cp := tg.Provider
	key := tg.Cluster + "/" + cp.Name
	m.mu.Lock()
	st := m.targets[key]
	if st == nil {
		st = &targetState{draining: map[string]bool{}}
		m.targets[key] = st
	}
	m.mu.Unlock()
	settings, warm := settingsOf(cp)
	protect := cp.AutoScalingGroupProvider.ManagedTerminationProtection == "ENABLED"
	drain := cp.AutoScalingGroupProvider.ManagedDraining != "DISABLED"
	insts, err := m.ECS.ProviderInstances(ctx, tg.Cluster, cp.Name)
	if err != nil {
		return err
	}
	waitingTasks, err := m.ECS.WaitingTasks(ctx, tg.Cluster)
	if err != nil {
		return err
	}
	var loads []InstanceLoad
	var active []ecs.ProviderInstance
	var shape Resources
	for _, in := range insts {
		if in.Registered.CPU > shape.CPU || in.Registered.Memory > shape.Memory {
			shape = Resources{CPU: max(shape.CPU, in.Registered.CPU), Memory: max(shape.Memory, in.Registered.Memory)}
		}
		if in.Instance.Status != "ACTIVE" {
			if in.Instance.Status == "DRAINING" && markedDraining(in.Instance.Attributes) {
				// Set DRAINING by managed scaling, maybe by the leader
				// before this one: it goes once it runs no task.
				st.draining[in.Instance.ContainerInstanceArn] = true
			}
			continue
		}
		active = append(active, in)
		loads = append(loads, InstanceLoad{Remaining: Resources(in.Remaining), Tasks: in.Tasks})
	}
	var waiting []Resources
	for _, w := range waitingTasks {
		if w.CapacityProvider == cp.Name {
			waiting = append(waiting, Resources{CPU: w.Demand.CPU, Memory: w.Demand.Memory})
		}
	}
	running := len(active)
	needed := Needed(loads, waiting, shape)
	reservation := Reservation(needed, running)
	now := m.now()
	m.publish(ctx, tg, reservation, now)

	// Instances set DRAINING go once they run no task.
	if err := m.finishDraining(ctx, tg, st, insts, running); err != nil {
		return err
	}
	// While instances asked for have not all registered within their
	// warm-up, nothing more is asked: they are counted as running.
	effective := running
	warming := now.Before(st.warmUntil) && st.requested > running
	if warming {
		effective = st.requested
	}
	desired := Desired(settings, needed, effective)
	if warming && desired > effective {
		desired = effective
	}
	log := m.Logger.With("cluster", tg.Cluster, "capacityProvider", cp.Name)
	switch {
	case desired > effective:
		st.lowSince = time.Time{}
		if m.Provisioner == nil {
			return nil
		}
		log.Info("managed scaling: scale out", "running", running, "needed", needed, "reservation", reservation, "desired", desired)
		if err := m.Provisioner.Scale(ctx, Request{Cluster: tg.Cluster, CapacityProvider: cp.Name,
			AutoScalingGroupArn: cp.AutoScalingGroupProvider.AutoScalingGroupArn, DesiredCount: desired,
			InstancesToRemove: []Instance{}}); err != nil {
			return err
		}
		st.requested, st.warmUntil = desired, now.Add(warm)
	case desired < running && len(waiting) == 0:
		if st.lowSince.IsZero() {
			st.lowSince = now
		}
		after := m.ScaleInAfter
		if after <= 0 {
			after = 15 * time.Minute
		}
		if now.Sub(st.lowSince) < after || m.Provisioner == nil {
			return nil
		}
		victims := pickVictims(active, running-desired, protect)
		if len(victims) == 0 {
			return nil
		}
		log.Info("managed scaling: scale in", "running", running, "needed", needed, "reservation", reservation,
			"desired", running-len(victims), "remove", len(victims), "drain", drain)
		st.lowSince = time.Time{}
		if drain {
			for _, v := range victims {
				if err := m.ECS.SetDraining(ctx, tg.Cluster, v.Instance.ContainerInstanceArn); err != nil {
					return err
				}
				st.draining[v.Instance.ContainerInstanceArn] = true
			}
			return nil
		}
		return m.remove(ctx, tg, st, victims, running-len(victims))
	default:
		st.lowSince = time.Time{}
	}
	return nil
}

// DrainingAttribute marks a container instance that managed scaling set
// DRAINING to remove it, so that whichever server leads managed scaling
// next finishes the removal.
const DrainingAttribute = "gantry.managed-scaling.draining"

func markedDraining(attrs []ecsapi.Attribute) bool {
	for _, a := range attrs {
		if a.Name == DrainingAttribute && a.Value == "true" {
			return true
		}
	}
	return false
}

// pickVictims chooses n instances to remove: those without tasks, and,
// unless protect (managed termination protection), then those with the
// fewest.
func pickVictims(active []ecs.ProviderInstance, n int, protect bool) []ecs.ProviderInstance {
	c := slices.Clone(active)
	slices.SortStableFunc(c, func(a, b ecs.ProviderInstance) int { return a.Tasks - b.Tasks })
	var out []ecs.ProviderInstance
	for _, in := range c {
		if len(out) == n {
			break
		}
		if protect && in.Tasks > 0 {
			break
		}
		out = append(out, in)
	}
	return out
}

// finishDraining removes the instances this leader set DRAINING that run
// no task any more (a task placed on one just before it drained keeps it).
func (m *Manager) finishDraining(ctx context.Context, tg ecs.ScalingTarget, st *targetState, insts []ecs.ProviderInstance, running int) error {
	if len(st.draining) == 0 {
		return nil
	}
	var done []ecs.ProviderInstance
	present := map[string]bool{}
	for _, in := range insts {
		arn := in.Instance.ContainerInstanceArn
		present[arn] = true
		if st.draining[arn] && in.Tasks == 0 && in.Instance.RunningTasksCount == 0 && in.Instance.PendingTasksCount == 0 {
			done = append(done, in)
		}
	}
	for arn := range st.draining {
		if !present[arn] {
			delete(st.draining, arn)
		}
	}
	if len(done) == 0 {
		return nil
	}
	return m.remove(ctx, tg, st, done, running)
}

// remove has the provisioner remove insts, leaving desired instances,
// then deregisters them.
func (m *Manager) remove(ctx context.Context, tg ecs.ScalingTarget, st *targetState, insts []ecs.ProviderInstance, desired int) error {
	req := Request{Cluster: tg.Cluster, CapacityProvider: tg.Provider.Name,
		AutoScalingGroupArn: tg.Provider.AutoScalingGroupProvider.AutoScalingGroupArn, DesiredCount: desired}
	for _, in := range insts {
		attrs := map[string]string{}
		for _, a := range in.Instance.Attributes {
			if a.Value != "" {
				attrs[a.Name] = a.Value
			}
		}
		req.InstancesToRemove = append(req.InstancesToRemove, Instance{ContainerInstanceArn: in.Instance.ContainerInstanceArn,
			Ec2InstanceID: in.Instance.Ec2InstanceId, Attributes: attrs})
	}
	if err := m.Provisioner.Scale(ctx, req); err != nil {
		return err
	}
	st.requested = desired
	for _, in := range insts {
		arn := in.Instance.ContainerInstanceArn
		delete(st.draining, arn)
		if err := m.ECS.Deregister(ctx, tg.Cluster, arn); err != nil {
			return err
		}
		m.Logger.Info("managed scaling: instance removed", "cluster", tg.Cluster, "instance", arn)
	}
	return nil
}

// publish records the reservation in AWS/ECS/ManagedScaling.
func (m *Manager) publish(ctx context.Context, tg ecs.ScalingTarget, v float64, now time.Time) {
	if m.Metrics == nil || math.IsNaN(v) {
		return
	}
	name, cluster := tg.Provider.Name, tg.Cluster
	d := cloudwatchapi.MetricDatum{MetricName: MetricName, Value: &v, Unit: "Percent", Timestamp: awstime.NewTimestamp(now),
		Dimensions: []cloudwatchapi.Dimension{{Name: "CapacityProviderName", Value: name}, {Name: "ClusterName", Value: cluster}}}
	if err := m.Metrics.Record(ctx, Namespace, []cloudwatchapi.MetricDatum{d}); err != nil {
		m.Logger.Debug("record CapacityProviderReservation", "err", err)
	}
}
