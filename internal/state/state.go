// Package state owns the server's live state: the in-memory pictures of the
// store that the ECS operations read instead of the store, kept current by
// store.Follow (list, then watch), and the background work that goes with
// them. It holds:
//
//   - Views: the placement views (one scheduler.Cluster per cluster, the
//     instances with their agents' connections, the tasks assigned to each
//     instance, which agents' polls wait on), the placement committer,
//     which writes many RunTask calls' placements in one transaction, and
//     the index of the tasks of services that the service controller
//     reads (ServiceTasks);
//   - TaskDefs: every task definition revision, by family, and the
//     per-family registration queues (group commit);
//   - Agents: which agents call this server, on a lease of its own, and
//     the sweep that forgets the silent ones.
//
// New builds the state; Run starts its goroutines, which end when Run's
// context ends; Wait waits for them. Nothing starts on a first request.
package state

import (
	"context"
	"log/slog"
	"sync"

	"github.com/gantry-dev/gantry/internal/store"
)

// Config is what the state needs.
type Config struct {
	Store *store.Store
	// TaskARN is the ARN of task id of cluster.
	TaskARN func(cluster, id string) string
	// MaxTxnOps bounds the operations of one transaction (etcd's
	// --max-txn-ops); 128, etcd's default, when zero.
	MaxTxnOps int
	// Logger is discarded when nil.
	Logger *slog.Logger
	// OnCommit, if set, is called when a placement commit returns, with
	// its number of tasks and its error (ErrPlacementConflict when
	// another server placed first): the server's Prometheus metrics.
	OnCommit func(tasks int, err error)
}

// State is the live state of one server.
type State struct {
	Views    *Views
	TaskDefs *TaskDefs
	Agents   *Agents

	wg sync.WaitGroup
}

// New returns the state of cfg, not yet running.
func New(cfg Config) *State {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = 128
	}
	a := newAgents(cfg)
	return &State{Views: newViews(cfg, a), TaskDefs: newTaskDefs(cfg), Agents: a}
}

// Run starts the state's goroutines: the views' and task definitions'
// follows, the agents' lease and sweep. They run until ctx ends; Wait
// waits for them. Call Run once.
func (s *State) Run(ctx context.Context) {
	for _, fn := range []func(context.Context){s.Views.run, s.TaskDefs.run, s.Agents.run} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			fn(ctx)
		}()
	}
}

// Wait waits until the goroutines Run started have ended.
func (s *State) Wait() { s.wg.Wait() }
