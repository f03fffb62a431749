package taskengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// essentialExitReason is ECS's stoppedReason for an essential container exit.
const essentialExitReason = "Essential container in task exited"

// DefaultStartTimeout bounds how long a container waits for its dependsOn
// conditions when its definition has no startTimeout.
const DefaultStartTimeout = 3 * time.Minute

// cstate is what the manager knows of one container.
type cstate struct {
	def      ecsapi.ContainerDefinition
	ref      runtime.ContainerRef
	status   string // PENDING, CREATED, RUNNING, STOPPED (ECS spelling, CREATED internal)
	exitCode *int32
	reason   string
	health   ecsapi.HealthStatus
	bindings []ecsapi.NetworkBinding
	started  bool

	// What the runtime reported, for the task metadata endpoint.
	imageID                          string
	labels                           map[string]string
	networks                         []runtime.ContainerNetwork
	createdAt, startedAt, finishedAt time.Time
}

// manager owns one task: it alone calls the runtime for it and reports it.
type manager struct {
	e        *Engine
	task     runtime.Task
	assigned ecsapi.Task // the task as the control plane assigned it
	queue    *reportQueue
	// cleanupWait is how long after it stopped the task's containers are
	// removed: the engine's delay plus this task's jitter.
	cleanupWait time.Duration
	log         *slog.Logger
	desired     string
	known       string // the last status reported (or recovered)
	reason      string // why the task stops
	stopCode    string
	cons        map[string]*cstate
	order       []string // container names in creation order
	res         *runtime.TaskResources

	pullStartedAt, pullStoppedAt, execStoppedAt, startedAt time.Time
	pendingSince                                           time.Time
	stoppedAt                                              time.Time

	// spot is set when the control plane stops the task for a Fargate
	// Spot reclamation: its containers get Config.SpotWarning.
	spot atomic.Bool

	wake    chan struct{}
	mu      sync.Mutex // guards inbox
	inbox   []runtime.Event
	desireQ string
	dirty   bool
	// logsDirty: the log shipper's state of a container changed.
	logsDirty bool

	// view is the task's metadata as the task metadata endpoint serves
	// it, replaced (never modified) by the manager's goroutine.
	view atomic.Pointer[tmds.Entry]
}

func newManager(e *Engine, at ecsapi.GantryAssignedTask) *manager {
	// A Fargate task's cluster is its own (a Fargate pool host runs those
	// of every cluster); the others' is the agent's.
	fargate := at.Task.LaunchType == "FARGATE"
	cluster := e.cfg.Cluster
	if fargate && at.Task.ClusterArn != "" {
		cluster = at.Task.ClusterArn
	}
	t := runtime.Task{Arn: at.Task.TaskArn, Cluster: cluster, Definition: at.TaskDefinition,
		Fargate: fargate}
	if at.Task.Overrides != nil {
		t.Overrides = *at.Task.Overrides
	}
	m := &manager{
		e: e, task: t, assigned: at.Task, desired: at.Task.DesiredStatus, known: at.Task.LastStatus,
		log:  e.log.With("task", t.Arn),
		cons: map[string]*cstate{}, wake: make(chan struct{}, 1),
	}
	if m.known == "" {
		m.known = taskstatus.Provisioning
	}
	if at.Task.StoppedReason != "" {
		m.reason = at.Task.StoppedReason
	}
	if at.Task.StopCode == StopCodeSpotInterruption {
		m.spot.Store(true)
	}
	for _, def := range t.Definition.ContainerDefinitions {
		d, _ := t.Container(def.Name)
		m.cons[def.Name] = &cstate{def: d, status: "PENDING"}
	}
	m.order = creationOrder(t.Definition.ContainerDefinitions)
	m.cleanupWait = e.cfg.CleanupDelay
	if j := e.cfg.CleanupJitter; j > 0 {
		m.cleanupWait += rand.N(j)
	}
	m.publish()
	return m
}

// creationOrder puts every container after the ones it links to or takes
// volumes from (the runtime needs them to exist), else in definition order.
func creationOrder(defs []ecsapi.ContainerDefinition) []string {
	deps := map[string][]string{}
	for _, d := range defs {
		for _, l := range d.Links {
			name, _, _ := strings.Cut(l, ":")
			deps[d.Name] = append(deps[d.Name], name)
		}
		for _, v := range d.VolumesFrom {
			deps[d.Name] = append(deps[d.Name], v.SourceContainer)
		}
		for _, dep := range d.DependsOn {
			deps[d.Name] = append(deps[d.Name], dep.ContainerName)
		}
	}
	var out []string
	seen := map[string]int{} // 1 visiting, 2 done
	var visit func(string)
	visit = func(n string) {
		if seen[n] != 0 {
			return
		}
		seen[n] = 1
		for _, d := range deps[n] {
			visit(d)
		}
		seen[n] = 2
		out = append(out, n)
	}
	for _, d := range defs {
		visit(d.Name)
	}
	return out
}

// adopt seeds the manager with a container found in the runtime (agent
// restart).
func (m *manager) adopt(s runtime.ContainerSummary) {
	c, ok := m.cons[s.ContainerName]
	if !ok {
		return
	}
	c.ref = s.ContainerRef
	c.status = "CREATED"
	m.dirty = true
	if err := m.e.cfg.Logs.Follow(&m.task, c.def.Name, c.ref.ID); err != nil {
		m.log.Warn("ship container logs", "container", c.def.Name, "err", err)
	}
}

// post queues an event for the manager's goroutine without blocking.
func (m *manager) post(ev runtime.Event) {
	m.mu.Lock()
	if len(m.inbox) < 256 {
		m.inbox = append(m.inbox, ev)
	} else {
		m.dirty = true
	}
	m.mu.Unlock()
	m.poke()
}

// setDesired queues a new desired status.
func (m *manager) setDesired(s string) {
	m.mu.Lock()
	m.desireQ = s
	m.mu.Unlock()
	m.poke()
}

func (m *manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *manager) drain() (evs []runtime.Event, desired string, dirty, logs bool) {
	m.mu.Lock()
	evs, m.inbox = m.inbox, nil
	desired, m.desireQ = m.desireQ, ""
	dirty, m.dirty = m.dirty, false
	logs, m.logsDirty = m.logsDirty, false
	m.mu.Unlock()
	return
}

// run drives the task until it is stopped and cleaned up, or ctx ends (the
// agent shutting down: containers are left as they are).
func (m *manager) run(ctx context.Context) {
	tick := time.NewTicker(m.e.cfg.Resync)
	defer tick.Stop()
	if m.known != taskstatus.Provisioning {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
	}
	for {
		evs, desired, dirty, logs := m.drain()
		if desired != "" && taskstatus.Rank(desired) > taskstatus.Rank(m.desired) {
			m.desired = desired
		}
		for _, ev := range evs {
			m.apply(ev)
		}
		if dirty {
			m.refresh(ctx)
		}
		if logs && m.known != taskstatus.Provisioning {
			m.e.reportSoon(m)
		}
		done := m.step(ctx)
		m.publish()
		if done {
			return
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-tick.C:
			m.mu.Lock()
			m.dirty = true
			m.mu.Unlock()
		}
	}
}

// apply folds a runtime event into the container states.
func (m *manager) apply(ev runtime.Event) {
	if ev.Type == runtime.EventReconnected {
		m.needInspect(nil)
		return
	}
	c, ok := m.cons[ev.ContainerName]
	if !ok || (c.ref.ID != "" && c.ref.ID != ev.ContainerID) {
		return
	}
	switch ev.Type {
	case runtime.EventStart:
		if c.status != "STOPPED" {
			c.status = "RUNNING"
			c.started = true
		}
	case runtime.EventDie:
		c.status = "STOPPED"
		c.exitCode = ev.ExitCode
		m.needInspect(c)
	case runtime.EventOOM:
		c.reason = "OutOfMemoryError: Container killed due to memory usage"
	case runtime.EventHealthStatus:
		c.health = ev.Health
	}
	m.e.reportSoon(m)
}

func (m *manager) needInspect(*cstate) {
	m.mu.Lock()
	m.dirty = true
	m.mu.Unlock()
}

// refresh inspects every container the manager has created.
func (m *manager) refresh(ctx context.Context) {
	for _, name := range m.order {
		c := m.cons[name]
		if c.ref.ID == "" {
			continue
		}
		st, err := m.e.rt.InspectContainer(ctx, c.ref.ID)
		if err != nil {
			if errors.Is(err, runtime.ErrNotFound) {
				if c.status != "STOPPED" {
					c.status = "STOPPED"
					if c.reason == "" {
						c.reason = "Container removed outside the agent"
					}
				}
			}
			continue
		}
		m.fold(c, st)
	}
}

func (m *manager) fold(c *cstate, st runtime.ContainerStatus) {
	switch st.State {
	case runtime.StateRunning:
		c.status = "RUNNING"
		c.started = true
	case runtime.StateStopped:
		c.status = "STOPPED"
		c.started = true
		if st.ExitCode != nil {
			c.exitCode = st.ExitCode
		}
		if st.OOMKilled && c.reason == "" {
			c.reason = "OutOfMemoryError: Container killed due to memory usage"
		}
	case runtime.StateCreated:
		if c.status == "PENDING" {
			c.status = "CREATED"
		}
	}
	c.health = st.Health
	if len(st.NetworkBindings) > 0 {
		c.bindings = st.NetworkBindings
	}
	c.imageID, c.labels = st.ImageID, st.Labels
	if len(st.Networks) > 0 || c.networks == nil {
		c.networks = st.Networks
	}
	c.createdAt, c.startedAt, c.finishedAt = st.CreatedAt, st.StartedAt, st.FinishedAt
}

// step takes the next actions toward the desired status. It returns true
// when the manager is finished.
func (m *manager) step(ctx context.Context) bool {
	if m.desired == taskstatus.Stopped || m.reason != "" || taskstatus.Rank(m.known) > taskstatus.Rank(taskstatus.Running) {
		return m.stepDown(ctx)
	}
	switch {
	case taskstatus.Rank(m.known) <= taskstatus.Rank(taskstatus.Provisioning) || m.res == nil:
		res, err := m.e.rt.PrepareTask(ctx, &m.task)
		if err != nil {
			m.fail(err, "")
			return m.stepDown(ctx)
		}
		m.res = res
		if taskstatus.Rank(m.known) < taskstatus.Rank(taskstatus.Pending) {
			m.advance(taskstatus.Pending)
		}
		if m.pendingSince.IsZero() {
			m.pendingSince = m.e.now()
		}
		return m.step(ctx)
	case taskstatus.Rank(m.known) < taskstatus.Rank(taskstatus.Running):
		if m.pendingSince.IsZero() {
			m.pendingSince = m.e.now()
		}
		if !m.createAll(ctx) {
			return m.stepDown(ctx)
		}
		if !m.startReady(ctx) {
			return m.stepDown(ctx)
		}
		if m.allStarted() {
			m.advance(taskstatus.Activating)
			m.startedAt = m.e.now()
			m.advance(taskstatus.Running)
		}
	default: // RUNNING
		if !m.startReady(ctx) {
			return m.stepDown(ctx)
		}
	}
	for _, name := range m.order {
		c := m.cons[name]
		if c.status == "STOPPED" && essential(c.def) && c.started {
			m.reason = essentialExitReason
			m.stopCode = "EssentialContainerExited"
			return m.stepDown(ctx)
		}
	}
	return false
}

func essential(d ecsapi.ContainerDefinition) bool { return d.Essential == nil || *d.Essential }

// fail marks the task as failing to start because of err.
func (m *manager) fail(err error, container string) {
	name := runtime.ErrorName(err)
	msg := err.Error()
	if name != "" && !strings.HasPrefix(msg, name) {
		msg = name + ": " + msg
	}
	if len(msg) > 255 {
		msg = msg[:255]
	}
	if c, ok := m.cons[container]; ok {
		c.reason = msg
	}
	if m.reason == "" {
		m.reason = msg
		m.stopCode = "TaskFailedToStart"
	}
	m.log.Warn("task failed", "container", container, "err", err)
}

// createAll pulls and creates every container not yet created. False if a
// container cannot be created (the task then stops).
func (m *manager) createAll(ctx context.Context) bool {
	peers := map[string]runtime.ContainerRef{}
	for _, name := range m.order {
		if c := m.cons[name]; c.ref.ID != "" {
			peers[name] = c.ref
		}
	}
	for _, name := range m.order {
		c := m.cons[name]
		if c.ref.ID != "" {
			continue
		}
		if m.pullStartedAt.IsZero() {
			m.pullStartedAt = m.e.now()
		}
		if err := m.e.rt.PullImage(ctx, c.def.Image); err != nil {
			m.fail(err, name)
			return false
		}
		ref, err := m.e.rt.CreateContainer(ctx, runtime.CreateSpec{Task: &m.task, Container: name, Resources: m.res, Peers: peers, Env: m.containerEnv(name)})
		if err != nil {
			m.fail(err, name)
			return false
		}
		c.ref = ref
		c.status = "CREATED"
		peers[name] = ref
	}
	if m.pullStoppedAt.IsZero() {
		m.pullStoppedAt = m.e.now()
		m.e.reportSoon(m)
	}
	return true
}

// depState says whether the dependency of a container is met, can never be
// met, or is still pending.
func (m *manager) depMet(dep ecsapi.ContainerDependency) (met, never bool) {
	d, ok := m.cons[dep.ContainerName]
	if !ok {
		return false, true
	}
	switch dep.Condition {
	case "START":
		return d.started, false
	case "COMPLETE":
		return d.status == "STOPPED" && d.started, false
	case "SUCCESS":
		if d.status == "STOPPED" && d.started {
			if d.exitCode != nil && *d.exitCode == 0 {
				return true, false
			}
			return false, true
		}
		return false, false
	case "HEALTHY":
		if d.health == "HEALTHY" {
			return true, false
		}
		if d.status == "STOPPED" || d.health == "UNHEALTHY" {
			return false, d.status == "STOPPED"
		}
		return false, false
	}
	return false, true
}

// startReady starts every created container whose dependencies are met.
// False if one can never start or fails to.
func (m *manager) startReady(ctx context.Context) bool {
	for _, name := range m.order {
		c := m.cons[name]
		if c.status != "CREATED" || c.started {
			continue
		}
		ready := true
		for _, dep := range c.def.DependsOn {
			met, never := m.depMet(dep)
			if never {
				m.fail(runtime.Errorf("DependencyError", false, "dependency %s of container %s cannot reach %s", dep.ContainerName, name, dep.Condition), name)
				return false
			}
			if !met {
				ready = false
			}
		}
		if !ready {
			timeout := DefaultStartTimeout
			if c.def.StartTimeout != nil && *c.def.StartTimeout > 0 {
				timeout = time.Duration(*c.def.StartTimeout) * time.Second
			}
			if m.e.now().Sub(m.pendingSince) > timeout {
				m.fail(runtime.Errorf("DependencyError", false, "timed out after %v waiting for the dependencies of container %s", timeout, name), name)
				return false
			}
			continue
		}
		if err := m.e.cfg.Logs.Prepare(ctx, &m.task, name, c.ref.ID); err != nil {
			m.fail(runtime.NewError(runtime.CannotStartContainerError, false, fmt.Errorf("failed to initialize logging driver: %w", err)), name)
			return false
		}
		if err := m.e.rt.StartContainer(ctx, c.ref.ID); err != nil {
			m.fail(err, name)
			return false
		}
		if err := m.e.cfg.Logs.Follow(&m.task, name, c.ref.ID); err != nil {
			m.log.Warn("ship container logs", "container", name, "err", err)
		}
		c.status = "RUNNING"
		c.started = true
		if st, err := m.e.rt.InspectContainer(ctx, c.ref.ID); err == nil {
			m.fold(c, st)
		}
		m.e.reportSoon(m)
	}
	return true
}

// allStarted: every container has been started (a non-essential one may
// already have exited).
func (m *manager) allStarted() bool {
	for _, c := range m.cons {
		if !c.started {
			return false
		}
	}
	return true
}

// stepDown stops the task: DEACTIVATING, STOPPING (containers stopped in
// reverse order), DEPROVISIONING (network released), STOPPED; then, after
// the cleanup delay, the containers are removed. Returns true when done.
func (m *manager) stepDown(ctx context.Context) bool {
	if m.reason == "" && m.desired == taskstatus.Stopped {
		m.reason = "Task stopped by the control plane"
	}
	if taskstatus.Rank(m.known) < taskstatus.Rank(taskstatus.Stopped) {
		m.advance(taskstatus.Deactivating)
		m.advance(taskstatus.Stopping)
		m.stopContainers(ctx)
		if ctx.Err() != nil {
			return true
		}
		m.execStoppedAt = m.e.now()
		m.advance(taskstatus.Deprovisioning)
		if m.res != nil && m.res.PauseContainerID != "" {
			if err := m.e.rt.StopContainer(ctx, m.res.PauseContainerID); err != nil {
				m.log.Warn("stop pause container", "err", err)
			}
		}
		m.waitLogs(ctx, m.e.cfg.LogFlushTimeout)
		m.advance(taskstatus.Stopped)
		m.stoppedAt = m.e.now()
	}
	if m.stoppedAt.IsZero() {
		m.stoppedAt = m.e.now()
	}
	wait := m.cleanupWait - m.e.now().Sub(m.stoppedAt)
	if wait > 0 {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(wait):
		}
	}
	if m.queue != nil && !m.queue.sentStopped.Load() {
		// As the ECS agent does: no cleanup before the control plane has
		// the task's STOPPED state (the report queue retries it and wakes
		// the manager once it is taken).
		m.log.Info("keeping the task's containers until its STOPPED state is reported")
		return false
	}
	if !m.logsDrained() {
		// Removing the containers would remove their log files.
		m.log.Info("keeping the task's containers until their logs are shipped")
		return false
	}
	if err := m.e.rt.CleanupTask(ctx, m.task.Arn); err != nil {
		m.log.Warn("cleanup task", "err", err)
		return false
	}
	for _, c := range m.cons {
		if c.ref.ID != "" {
			m.e.cfg.Logs.Forget(c.ref.ID)
		}
	}
	m.log.Info("task cleaned up")
	return true
}

// logsDrained reports whether the output of every container of the task
// has been shipped.
func (m *manager) logsDrained() bool {
	for _, c := range m.cons {
		if c.ref.ID != "" && !m.e.cfg.Logs.Drained(c.ref.ID) {
			return false
		}
	}
	return true
}

// waitLogs waits up to timeout for the task's container output to be
// shipped, so that what a container printed just before it exited is
// shipped before the task is reported STOPPED.
func (m *manager) waitLogs(ctx context.Context, timeout time.Duration) {
	if m.logsDrained() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !m.logsDrained() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			m.log.Warn("task's logs not yet shipped, reporting it stopped anyway", "waited", timeout)
			return
		case <-tick.C:
		}
	}
}

// stopContainers stops the running containers in reverse dependsOn order,
// as the ECS agent does: a container stops only once every container that
// depends on it (dependsOn, links, volumesFrom) has stopped. Containers of
// one level stop in parallel, each within its own stopTimeout (the
// runtime's SIGTERM, then SIGKILL).
func (m *manager) stopContainers(ctx context.Context) {
	for _, level := range stopLevels(m.order, m.cons) {
		var wg sync.WaitGroup
		for _, name := range level {
			c := m.cons[name]
			if c.ref.ID == "" || c.status == "STOPPED" {
				continue
			}
			wg.Add(1)
			go func(c *cstate) {
				defer wg.Done()
				if err := m.stopContainer(ctx, c.ref.ID); err != nil {
					m.log.Warn("stop container", "container", c.def.Name, "err", err)
				}
			}(c)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
	}
	m.refresh(ctx)
	for _, c := range m.cons {
		if c.status != "STOPPED" {
			c.status = "STOPPED"
		}
	}
}

// StopCodeSpotInterruption is ECS's stop code of a task stopped because
// its Fargate Spot capacity was reclaimed.
const StopCodeSpotInterruption = "SpotInterruption"

// timedStopper is a runtime that stops a container with a given time
// between its stop signal and SIGKILL.
type timedStopper interface {
	StopContainerWithin(ctx context.Context, id string, timeout time.Duration) error
}

// stopContainer stops container id: within Config.SpotWarning when the
// task is stopped by a spot reclamation, else within its stopTimeout.
func (m *manager) stopContainer(ctx context.Context, id string) error {
	if ts, ok := m.e.rt.(timedStopper); ok && m.spot.Load() && m.e.cfg.SpotWarning > 0 {
		return ts.StopContainerWithin(ctx, id, m.e.cfg.SpotWarning)
	}
	return m.e.rt.StopContainer(ctx, id)
}

// stopLevels groups the containers (named in creation order) into the
// levels they stop in: first those nothing depends on, then those only the
// first level depends on, and so on.
func stopLevels(order []string, cons map[string]*cstate) [][]string {
	dependents := map[string][]string{}
	for _, name := range order {
		c := cons[name]
		if c == nil {
			continue
		}
		for _, dep := range dependencyNames(c.def) {
			dependents[dep] = append(dependents[dep], name)
		}
	}
	// depth: 0 for a container nothing depends on, else 1 + the deepest
	// of its dependents (order is topological: dependents come later).
	depth := map[string]int{}
	maxDepth := 0
	for i := len(order) - 1; i >= 0; i-- {
		name := order[i]
		d := 0
		for _, dn := range dependents[name] {
			d = max(d, depth[dn]+1)
		}
		depth[name] = d
		maxDepth = max(maxDepth, d)
	}
	levels := make([][]string, maxDepth+1)
	for _, name := range order {
		levels[depth[name]] = append(levels[depth[name]], name)
	}
	return levels
}

// dependencyNames are the containers def depends on: dependsOn, links and
// volumesFrom.
func dependencyNames(def ecsapi.ContainerDefinition) []string {
	var out []string
	for _, dep := range def.DependsOn {
		out = append(out, dep.ContainerName)
	}
	for _, l := range def.Links {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, name)
	}
	for _, v := range def.VolumesFrom {
		out = append(out, v.SourceContainer)
	}
	return out
}

// advance moves the task to status (if it is further along) and reports it.
func (m *manager) advance(status string) {
	if taskstatus.Rank(status) <= taskstatus.Rank(m.known) {
		return
	}
	m.known = status
	m.log.Info("task status", "status", status)
	m.publish()
	m.e.report(m, m.snapshot())
}

// snapshot is the state report of the task as it is now.
func (m *manager) snapshot() ecsapi.GantrySubmitTaskStateRequest {
	r := ecsapi.GantrySubmitTaskStateRequest{Cluster: m.e.cfg.Cluster, Task: m.task.Arn, Status: m.known}
	if taskstatus.Rank(m.known) > taskstatus.Rank(taskstatus.Running) {
		r.Reason = m.reason
		r.StopCode = ecsapi.TaskStopCode(m.stopCode)
	}
	ts := func(t time.Time) *ecsapi.Timestamp {
		if t.IsZero() {
			return nil
		}
		return ecsapi.NewTimestamp(t)
	}
	r.PullStartedAt, r.PullStoppedAt = ts(m.pullStartedAt), ts(m.pullStoppedAt)
	r.ExecutionStoppedAt, r.StartedAt = ts(m.execStoppedAt), ts(m.startedAt)
	if m.res != nil && m.res.Interface != nil {
		r.NetworkAttachments = []ecsapi.Attachment{m.res.Interface.Attachment()}
	}
	health := ecsapi.HealthStatus("")
	for _, name := range m.order {
		c := m.cons[name]
		st := c.status
		if st == "CREATED" {
			st = "PENDING"
		}
		reason := c.reason
		if reason == "" && c.ref.ID != "" {
			reason = m.e.cfg.Logs.Reason(c.ref.ID)
		}
		cs := ecsapi.GantryContainerState{ContainerName: name, RuntimeId: c.ref.ID, Status: st,
			ExitCode: c.exitCode, Reason: reason, NetworkBindings: c.bindings, HealthStatus: c.health}
		r.Containers = append(r.Containers, cs)
		if essential(c.def) && c.def.HealthCheck != nil {
			switch {
			case c.health == "UNHEALTHY" || health == "UNHEALTHY":
				health = "UNHEALTHY"
			case c.health == "HEALTHY" && health != "UNKNOWN":
				health = "HEALTHY"
			default:
				health = "UNKNOWN"
			}
		}
	}
	r.HealthStatus = health
	return r
}

func (m *manager) String() string { return fmt.Sprintf("task %s (%s)", m.task.Arn, m.known) }
