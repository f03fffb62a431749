package logship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Sink delivers batches to the control plane (GantryPutLogEvents). A nil
// error is the acknowledgement: the server has stored the batch, or had
// stored it before. An error wrapping ErrRejected means the server refused
// the batch and sending it again cannot succeed; any other error is
// retried.
type Sink interface {
	PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error
}

// ErrRejected is wrapped by the Sink's errors for batches the server
// refused for good (an unknown log group, an invalid name).
var ErrRejected = errors.New("log batch rejected")

// Source is the runtime's side: the containers' output and their state.
type Source interface {
	runtime.LogReader
	InspectContainer(ctx context.Context, id string) (runtime.ContainerStatus, error)
}

// Defaults of Config.
const (
	// DefaultBatchDelay is how long events wait for more before their batch
	// is sent.
	DefaultBatchDelay = 200 * time.Millisecond
	// DefaultBatchInterval is the least time between the starts of two
	// batches of a container that are not full: a container that prints
	// steadily sends a batch a second (each batch costs the agent a
	// checkpoint on disk and a request), one that prints now and then
	// sends its line after DefaultBatchDelay.
	DefaultBatchInterval = time.Second
	// DefaultMultilineFlush is how long a multi-line event (or a cut line)
	// waits for its next line: Docker's awslogs flush interval.
	DefaultMultilineFlush = 5 * time.Second
	// blockingBuffer bounds what the blocking mode reads ahead of the
	// server; the rest waits in the runtime's log files.
	blockingBuffer = 2 * MaxBatchBytes
	// resumeSlack is how far before a checkpoint the output is read again
	// on resume, to find the checkpoint's frame among frames whose
	// timestamps are slightly out of order (stdout and stderr are stamped
	// by different goroutines of the runtime).
	resumeSlack = time.Second
)

// Config configures a Manager.
type Config struct {
	// Dir keeps the checkpoints (created if missing). Required.
	Dir string
	// Cluster is sent with each batch.
	Cluster string
	// InstanceArn returns the agent's container instance ARN, part of
	// every producer ID. Required.
	InstanceArn func() string
	// Sink and Source are required.
	Sink   Sink
	Source Source
	// OnChange is called (from any goroutine) when a container's Reason
	// changes or it is drained; nil for none.
	OnChange func(taskArn string)
	// BatchDelay defaults to DefaultBatchDelay; BatchInterval to
	// DefaultBatchInterval, or to BatchDelay when that is longer or given
	// while BatchInterval is not; MultilineFlush to DefaultMultilineFlush.
	BatchDelay     time.Duration
	BatchInterval  time.Duration
	MultilineFlush time.Duration
	// MaxBackoff bounds the wait between retries of a batch; 10 s when zero.
	MaxBackoff time.Duration
	// SpoolSize bounds the disk all the containers' spools take together
	// (events read from a container while the server is unreachable or
	// behind, kept in order beside the checkpoints); DefaultSpoolSize when
	// zero, no spool when negative.
	SpoolSize int64
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
}

// Manager ships the output of the agent's awslogs containers, one shipper
// per container, each with its own checkpoint. Its methods are safe for
// concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context
	shippers map[string]*shipper // by container ID
	wg       sync.WaitGroup

	// spoolUsed is the disk the spools take, against cfg.SpoolSize.
	spoolUsed atomic.Int64
}

// New returns a Manager; shippers run once Start has been called.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || cfg.Sink == nil || cfg.Source == nil || cfg.InstanceArn == nil {
		return nil, errors.New("logship: Dir, Sink, Source and InstanceArn are required")
	}
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = DefaultBatchInterval
		if cfg.BatchDelay > 0 {
			cfg.BatchInterval = cfg.BatchDelay
		}
	}
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = DefaultBatchDelay
	}
	cfg.BatchInterval = max(cfg.BatchInterval, cfg.BatchDelay)
	if cfg.MultilineFlush <= 0 {
		cfg.MultilineFlush = DefaultMultilineFlush
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.SpoolSize == 0 {
		cfg.SpoolSize = DefaultSpoolSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("logship: %w", err)
	}
	return &Manager{cfg: cfg, log: cfg.Logger, shippers: map[string]*shipper{}}, nil
}

// Start lets shippers run under ctx; when it ends they stop where they are
// (their checkpoints say where to resume) and Wait returns.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	pending := make([]*shipper, 0, len(m.shippers))
	for _, s := range m.shippers {
		pending = append(pending, s)
	}
	m.mu.Unlock()
	for _, s := range pending {
		m.launch(s)
	}
}

// Wait waits for every shipper to return, after the context given to
// Start has ended.
func (m *Manager) Wait() { m.wg.Wait() }

// Handles reports whether the agent ships the output of containers with
// this log driver itself.
func Handles(logDriver string) bool { return logDriver == Driver }

// Follow starts shipping the output of the container named container of
// task, whose runtime ID is id, resuming from its checkpoint if there is
// one. Following a container again, or one whose log driver is not
// awslogs, does nothing. Invalid options are an error wrapping ErrOptions.
func (m *Manager) Follow(task *runtime.Task, container, id string) error {
	def, ok := task.Container(container)
	if !ok || def.LogConfiguration == nil || !Handles(string(def.LogConfiguration.LogDriver)) {
		return nil
	}
	opts, err := ParseOptions(def.LogConfiguration.Options)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if _, ok := m.shippers[id]; ok {
		m.mu.Unlock()
		return nil
	}
	s := m.newShipper(task.Arn, container, id, def.LogConfiguration.Options, opts)
	m.shippers[id] = s
	started := m.ctx != nil
	m.mu.Unlock()
	if started {
		m.launch(s)
	}
	return nil
}

// Resume finishes shipping the output of container id from the checkpoint
// an earlier run of the agent left, for a container whose task the agent
// no longer runs (the control plane stopped it while the agent was away).
// It reports whether there was such a checkpoint; then Drained tells when
// the container may be removed.
func (m *Manager) Resume(id string) bool {
	m.mu.Lock()
	_, ok := m.shippers[id]
	m.mu.Unlock()
	if ok {
		return true
	}
	files, err := filepath.Glob(filepath.Join(m.cfg.Dir, "*.json"))
	if err != nil {
		return false
	}
	for _, path := range files {
		cp, err := loadCheckpoint(path)
		if err != nil || cp.ContainerID != id {
			continue
		}
		opts, err := ParseOptions(cp.Options)
		if err != nil {
			m.log.Warn("log checkpoint with invalid options", "path", path, "err", err)
			return false
		}
		m.mu.Lock()
		if _, ok := m.shippers[id]; ok {
			m.mu.Unlock()
			return true
		}
		s := m.newShipper(cp.Task, cp.Container, id, cp.Options, opts)
		s.path, s.req.Producer = path, cp.Producer
		m.shippers[id] = s
		started := m.ctx != nil
		m.mu.Unlock()
		if started {
			m.launch(s)
		}
		return true
	}
	return false
}

// Prepare asks the control plane to create the container's log stream
// (and its group with awslogs-create-group) before the container starts,
// as Docker's awslogs driver does when it starts a container. It returns
// an error wrapping ErrRejected (a missing log group, invalid options) when
// the container should not start; an unreachable control plane is no
// error. Containers that are not awslogs need nothing.
func (m *Manager) Prepare(ctx context.Context, task *runtime.Task, container, id string) error {
	def, ok := task.Container(container)
	if !ok || def.LogConfiguration == nil || !Handles(string(def.LogConfiguration.LogDriver)) {
		return nil
	}
	opts, err := ParseOptions(def.LogConfiguration.Options)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	req := m.request(task.Arn, container, id, opts)
	req.Events = []ecsapi.GantryLogEvent{}
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	err = m.cfg.Sink.PutLogBatch(ctx, req)
	if err != nil && !errors.Is(err, ErrRejected) {
		// The control plane is unreachable: start anyway; the shipper
		// retries, and its first batch creates the stream.
		m.log.Warn("create log stream", "task", task.Arn, "container", container, "err", err)
		return nil
	}
	return err
}

// prepareTimeout bounds Prepare's call.
const prepareTimeout = 10 * time.Second

// Drained reports whether the output of the stopped container id has all
// been shipped (or dropped, in non-blocking mode). It is true for a
// container the manager does not follow.
func (m *Manager) Drained(id string) bool {
	m.mu.Lock()
	s := m.shippers[id]
	m.mu.Unlock()
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Reason is what the container's reason should say about its logs
// ("awslogs: dropped 12 log events: buffer full"), or "".
func (m *Manager) Reason(id string) string {
	m.mu.Lock()
	s := m.shippers[id]
	m.mu.Unlock()
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Forget stops shipping container id and deletes its checkpoint: its task
// has been cleaned up.
func (m *Manager) Forget(id string) {
	m.mu.Lock()
	s := m.shippers[id]
	delete(m.shippers, id)
	m.mu.Unlock()
	if s == nil {
		return
	}
	s.stop()
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove log checkpoint", "container", s.container, "err", err)
	}
	s.mu.Lock()
	if s.sp != nil {
		s.sp.close()
		s.sp = nil
	}
	m.releaseSpool(s.spoolBytes)
	s.spoolBytes = 0
	s.mu.Unlock()
	if err := os.Remove(spoolPath(s.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove log spool", "container", s.container, "err", err)
	}
}

// SpoolUsed is the disk the spools take now, in bytes.
func (m *Manager) SpoolUsed() int64 { return m.spoolUsed.Load() }

// reserveSpool charges n bytes to the spools' bound; force charges them
// even beyond it. False when they do not fit.
func (m *Manager) reserveSpool(n int64, force bool) bool {
	if m.cfg.SpoolSize < 0 {
		return false
	}
	for {
		used := m.spoolUsed.Load()
		if !force && used+n > m.cfg.SpoolSize {
			return false
		}
		if m.spoolUsed.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (m *Manager) releaseSpool(n int64) { m.spoolUsed.Add(-n) }

func (m *Manager) launch(s *shipper) {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(s.finished)
		defer cancel()
		s.run(ctx)
	}()
}

// producer identifies the batches of one container of one task on one
// instance.
func (m *Manager) producer(taskArn, container string) string {
	return m.cfg.InstanceArn() + "|" + taskArn + "|" + container
}

func (m *Manager) request(taskArn, container, id string, o Options) *ecsapi.GantryPutLogEventsRequest {
	return &ecsapi.GantryPutLogEventsRequest{
		Cluster:           m.cfg.Cluster,
		ContainerInstance: m.cfg.InstanceArn(),
		Task:              taskArn,
		ContainerName:     container,
		LogGroupName:      o.Group,
		LogStreamName:     o.StreamName(taskArn, container, id),
		Region:            o.Region,
		CreateGroup:       o.CreateGroup,
		Producer:          m.producer(taskArn, container),
	}
}

func (m *Manager) changed(taskArn string) {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(taskArn)
	}
}
