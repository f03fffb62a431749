// Package taskengine runs an agent's tasks: one goroutine (a manager) owns
// each task, takes it from its known status toward the status the control
// plane desires, calls the runtime to do so, and reports every status the
// task reaches, in order.
//
//	control plane --(poll: assigned tasks, desired status)--> Engine.Sync
//	                                                            |
//	runtime events --> Engine --> manager (one per task) --> runtime calls
//	                                   |
//	                                   +--> reporter (ordered, retried) --> control plane
//
// A manager never stops containers because the agent is shutting down: the
// context it runs under ends and it returns, leaving them running. On
// start, the engine lists the agent's containers, and managers of tasks
// still assigned adopt theirs; containers of tasks the control plane no
// longer assigns are stopped and, after the cleanup delay, removed.
package taskengine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// Reporter sends task state reports to the control plane.
type Reporter interface {
	SubmitTaskState(ctx context.Context, r *ecsapi.GantrySubmitTaskStateRequest) error
}

// LogShipper ships the output of containers whose log driver the agent
// implements itself (awslogs, package logship). Containers with another
// log driver are no concern of it: it answers Drained true and Reason "".
type LogShipper interface {
	// Prepare readies the destination of a container's output before the
	// container starts (creates its log stream); an error means the
	// container must not start.
	Prepare(ctx context.Context, task *runtime.Task, container, id string) error
	// Follow starts shipping a started (or recovered) container's output;
	// following it again does nothing.
	Follow(task *runtime.Task, container, id string) error
	// Resume finishes shipping the output of a container whose task the
	// engine does not run (found after a restart), if an earlier run
	// started shipping it; it reports whether it did.
	Resume(id string) bool
	// Drained reports whether everything the stopped container wrote has
	// been shipped (or dropped).
	Drained(id string) bool
	// Reason is what the container's reason should say about its output,
	// or "".
	Reason(id string) string
	// Forget stops shipping the container's output and forgets it: its
	// containers have been removed.
	Forget(id string)
}

// noLogs is the LogShipper of an engine without one.
type noLogs struct{}

func (noLogs) Prepare(context.Context, *runtime.Task, string, string) error { return nil }
func (noLogs) Follow(*runtime.Task, string, string) error                   { return nil }
func (noLogs) Resume(string) bool                                           { return false }
func (noLogs) Drained(string) bool                                          { return true }
func (noLogs) Reason(string) string                                         { return "" }
func (noLogs) Forget(string)                                                {}

// Config configures an Engine.
type Config struct {
	// Cluster is the agent's cluster.
	Cluster string
	// Resync is how often a manager inspects its containers even without
	// events. Zero means 10 seconds.
	Resync time.Duration
	// CleanupDelay is how long the containers of a stopped task are kept
	// before they are removed (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION). Zero
	// removes them at once. As the ECS agent does, a task's containers are
	// removed only once its STOPPED state has reached the control plane.
	CleanupDelay time.Duration
	// CleanupJitter, when positive, adds a random duration of up to itself
	// to each task's CleanupDelay
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER), so that tasks that
	// stopped together are not all removed at once.
	CleanupJitter time.Duration
	// Logs ships the output of awslogs containers; nil for none.
	Logs LogShipper
	// LogFlushTimeout bounds how long a stopping task waits for its
	// containers' output to be shipped before it reports STOPPED (its
	// containers are kept until it is, whatever the wait). Zero means
	// 10 seconds.
	LogFlushTimeout time.Duration
	// Metadata names the task metadata endpoint of each container: its
	// URIs go into the container's environment and the endpoint's IDs are
	// looked up with Lookup. Nil gives containers no endpoint.
	Metadata *tmds.Endpoints
	// AvailabilityZone is the instance's zone, reported in task metadata
	// when the task has none.
	AvailabilityZone string
	// Logger receives the engine's logs.
	Logger *slog.Logger
	// SpotWarning, when positive, is the time between SIGTERM and SIGKILL
	// of the containers of a task stopped by a Fargate Spot reclamation
	// (stop code SpotInterruption), in place of their stopTimeout.
	SpotWarning time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Engine runs the tasks of one agent.
type Engine struct {
	cfg Config
	rt  runtime.Runtime
	rep Reporter
	log *slog.Logger

	mu       sync.Mutex
	managers map[string]*manager
	queues   map[string]*reportQueue
	orphans  map[string]bool
	found    map[string][]runtime.ContainerSummary // recovered containers by task
	metaIDs  map[string]metaRef                    // task metadata endpoint IDs
	wg       sync.WaitGroup
	ctx      context.Context
}

// New returns an engine driving rt and reporting through rep.
func New(cfg Config, rt runtime.Runtime, rep Reporter) *Engine {
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Logs == nil {
		cfg.Logs = noLogs{}
	}
	if cfg.LogFlushTimeout <= 0 {
		cfg.LogFlushTimeout = 10 * time.Second
	}
	return &Engine{cfg: cfg, rt: rt, rep: rep, log: cfg.Logger,
		managers: map[string]*manager{}, queues: map[string]*reportQueue{},
		orphans: map[string]bool{}, found: map[string][]runtime.ContainerSummary{}, metaIDs: map[string]metaRef{}}
}

func (e *Engine) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}

// Start lists the agent's containers (to adopt them) and starts consuming
// runtime events. Managers run under ctx; Wait waits for them.
func (e *Engine) Start(ctx context.Context) error {
	e.ctx = ctx
	list, err := e.rt.ListContainers(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	for _, c := range list {
		e.found[c.TaskArn] = append(e.found[c.TaskArn], c)
	}
	e.mu.Unlock()
	e.log.Info("task engine recovered containers", "containers", len(list), "tasks", len(e.found))
	events := e.rt.Events(ctx)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for ev := range events {
			e.dispatch(ev)
		}
	}()
	return nil
}

// Wait waits for every goroutine of the engine to return (after the
// context given to Start ends).
func (e *Engine) Wait() { e.wg.Wait() }

func (e *Engine) dispatch(ev runtime.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Type == runtime.EventReconnected {
		for _, m := range e.managers {
			m.post(ev)
		}
		return
	}
	if m, ok := e.managers[ev.TaskArn]; ok {
		m.post(ev)
	}
}

// Sync hands the engine the control plane's latest list of the tasks
// assigned to this instance: new tasks get a manager, known ones their
// desired status, and managed tasks no longer listed are stopped. The
// containers of tasks neither assigned nor managed are stopped and later
// removed.
//
// changed are the assigned tasks that changed since the previous Sync (all
// of them on the first); all lists every assigned task's ARN.
func (e *Engine) Sync(changed []ecsapi.GantryAssignedTask, all []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	want := map[string]bool{}
	for _, arn := range all {
		want[arn] = true
	}
	for _, at := range changed {
		arn := at.Task.TaskArn
		want[arn] = true
		if m, ok := e.managers[arn]; ok {
			if at.Task.StopCode == StopCodeSpotInterruption {
				m.spot.Store(true)
			}
			m.setDesired(at.Task.DesiredStatus)
			continue
		}
		if at.Task.LastStatus == taskstatus.Stopped {
			continue
		}
		m := newManager(e, at)
		for _, c := range e.found[arn] {
			if !c.Pause {
				m.adopt(c)
			}
		}
		delete(e.found, arn)
		e.managers[arn] = m
		e.registerMetadata(m)
		q := newReportQueue(e, arn)
		q.onStopped = m.poke
		m.queue = q
		e.queues[arn] = q
		e.wg.Add(2)
		go func() {
			defer e.wg.Done()
			q.run(e.ctx)
		}()
		go func() {
			defer e.wg.Done()
			m.run(e.ctx)
			e.mu.Lock()
			delete(e.managers, arn)
			e.forgetMetadata(m)
			e.mu.Unlock()
			q.close()
		}()
	}
	// A managed task the control plane no longer lists (STOPPED there, or
	// no longer assigned to this instance) is stopped now, while the agent
	// runs, not only at its next start.
	for arn, m := range e.managers {
		if !want[arn] {
			m.setDesired(taskstatus.Stopped)
		}
	}
	for arn := range e.found {
		if !want[arn] && !e.orphans[arn] {
			e.orphans[arn] = true
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				e.removeOrphan(e.ctx, arn)
			}()
		}
	}
	e.found = map[string][]runtime.ContainerSummary{}
}

// LogsChanged tells the engine that the log shipping state of a container
// of the task changed (drained, or events dropped): its manager reports
// the task again, or goes on removing it.
func (e *Engine) LogsChanged(taskArn string) {
	e.mu.Lock()
	m := e.managers[taskArn]
	e.mu.Unlock()
	if m != nil {
		m.mu.Lock()
		m.logsDirty = true
		m.mu.Unlock()
		m.poke()
	}
}

// Running returns the ARNs of the tasks with a manager.
func (e *Engine) Running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.managers))
	for arn := range e.managers {
		out = append(out, arn)
	}
	return out
}

// removeOrphan stops the containers of a task the control plane no longer
// assigns and removes them after the cleanup delay.
func (e *Engine) removeOrphan(ctx context.Context, arn string) {
	list, err := e.rt.ListContainers(ctx)
	if err != nil {
		return
	}
	var shipping []string
	for _, c := range list {
		if c.TaskArn != arn {
			continue
		}
		if c.State == runtime.StateRunning {
			e.log.Info("stopping container of a task the control plane does not assign", "task", arn, "container", c.ContainerName)
			if err := e.rt.StopContainer(ctx, c.ID); err != nil {
				e.log.Warn("stop orphan container", "task", arn, "err", err)
			}
		}
		if e.cfg.Logs.Resume(c.ID) {
			shipping = append(shipping, c.ID)
		}
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(e.cfg.CleanupDelay):
	}
	// Removing the containers would remove the output not yet shipped.
	for _, id := range shipping {
		for !e.cfg.Logs.Drained(id) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err := e.rt.CleanupTask(ctx, arn); err != nil {
		e.log.Warn("remove orphan task", "task", arn, "err", err)
	}
	for _, id := range shipping {
		e.cfg.Logs.Forget(id)
	}
	e.mu.Lock()
	delete(e.orphans, arn)
	e.mu.Unlock()
}

// report queues a state report of m; reports of one task are sent in order.
func (e *Engine) report(m *manager, r ecsapi.GantrySubmitTaskStateRequest) {
	e.mu.Lock()
	q := e.queues[m.task.Arn]
	e.mu.Unlock()
	if q != nil {
		q.push(r)
	}
}

// reportSoon reports m's current state (coalesced with a queued report of
// the same status).
func (e *Engine) reportSoon(m *manager) { e.report(m, m.snapshot()) }

// reportQueue sends one task's reports in order, retrying each until the
// control plane takes it, and coalescing reports of the same status.
type reportQueue struct {
	e      *Engine
	arn    string
	mu     sync.Mutex
	items  []ecsapi.GantrySubmitTaskStateRequest
	closed bool
	wake   chan struct{}
	// sentStopped is set once the control plane has taken the task's
	// STOPPED report; onStopped is called then.
	sentStopped atomic.Bool
	onStopped   func()
}

func newReportQueue(e *Engine, arn string) *reportQueue {
	return &reportQueue{e: e, arn: arn, wake: make(chan struct{}, 1)}
}

func (q *reportQueue) push(r ecsapi.GantrySubmitTaskStateRequest) {
	q.mu.Lock()
	if n := len(q.items); n > 0 && q.items[n-1].Status == r.Status {
		q.items[n-1] = r
	} else {
		q.items = append(q.items, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *reportQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *reportQueue) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				q.e.mu.Lock()
				if q.e.queues[q.arn] == q {
					delete(q.e.queues, q.arn)
				}
				q.e.mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		r := q.items[0]
		q.items = q.items[1:]
		q.mu.Unlock()
		if err := q.e.rep.SubmitTaskState(ctx, &r); err != nil {
			// Put it back in front, unless a newer report of the same
			// status took its place meanwhile.
			q.mu.Lock()
			if len(q.items) == 0 || q.items[0].Status != r.Status {
				q.items = append([]ecsapi.GantrySubmitTaskStateRequest{r}, q.items...)
			}
			q.mu.Unlock()
			q.e.log.Warn("report task state", "task", q.arn, "status", r.Status, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if r.Status == taskstatus.Stopped && !q.sentStopped.Swap(true) && q.onStopped != nil {
			q.onStopped()
		}
	}
}
