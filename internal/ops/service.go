// Package ops implements the ECS operations, one exported method of Service
// per operation, named exactly as the operation and with the signature
//
//	func (s *Service) Name(ctx context.Context, in *ecsapi.NameRequest) (*ecsapi.NameResponse, error)
//
// The API server finds them by name. Every error a method returns for a
// client to see is an *apierror.Error; anything else becomes ServerException.
package ops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Service holds what the operations share.
type Service struct {
	Store   *store.Store
	Region  string
	Account string
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PollEndpoint is the URL DiscoverPollEndpoint gives agents.
	PollEndpoint string
	// CheckTaskDefinition, when set, refuses task definitions with members
	// the agents' runtime cannot honour (RegisterTaskDefinition, RunTask,
	// StartTask); CheckOverrides likewise refuses overrides. The
	// application sets them from the runtime so that ops does not import
	// agent code.
	CheckTaskDefinition func(ecsapi.TaskDefinition) error
	CheckOverrides      func(ecsapi.TaskDefinition, ecsapi.TaskOverride) error

	leases leases
	conns  agentConns

	// MaxTxnOps bounds the operations of one etcd transaction (etcd's
	// --max-txn-ops); 128, etcd's default, when zero.
	MaxTxnOps int

	viewsMu sync.Mutex
	views   *views

	// tdMu guards td, the task definitions' view and registration queues,
	// started on first use.
	tdMu sync.Mutex
	td   *taskDefState

	// bgMu guards bgCtx, the context of the background goroutines (set by
	// Start), which bg counts.
	bgMu  sync.Mutex
	bgCtx context.Context
	bg    sync.WaitGroup
}

// Start gives the background goroutines (the views' and task definitions'
// watches, the agents' lease and sweep) their context: they end when ctx
// ends, and Wait waits for them. Call it before the first operation.
func (s *Service) Start(ctx context.Context) {
	s.bgMu.Lock()
	s.bgCtx = ctx
	s.bgMu.Unlock()
}

// Wait waits until the background goroutines have ended (after the context
// given to Start ended).
func (s *Service) Wait() { s.bg.Wait() }

// background returns the context of the background goroutines:
// context.Background() when Start was not called.
func (s *Service) background() context.Context {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgCtx == nil {
		return context.Background()
	}
	return s.bgCtx
}

// goBackground runs fn in a goroutine with the background context, counted
// for Wait.
func (s *Service) goBackground(fn func(ctx context.Context)) {
	ctx := s.background()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(ctx)
	}()
}

func timeFromMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

type callerKey struct{}

// Caller is who made a request, as authenticated by the API server.
type Caller struct {
	AccessKeyID string
	// Principal is the caller's IAM-style ARN, used for account settings.
	Principal string
	RequestID string
}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx (zero if none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
