package ecs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// API is Amazon ECS's operations: one exported method per operation (see
// the package doc). It holds what the operations share.
type API struct {
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
	// application sets them from the runtime so that ecs does not import
	// agent code.
	CheckTaskDefinition func(ecsapi.TaskDefinition) error
	CheckOverrides      func(ecsapi.TaskDefinition, ecsapi.TaskOverride) error

	// State is the server's live state (placement views, task
	// definitions, agent connections), required: state.New(StateConfig()),
	// run by the application (state.State.Run).
	State *state.State

	// Logs stores what agents ship for the awslogs log driver
	// (GantryPutLogEvents); nil refuses it.
	Logs LogIngester
	// Usage takes the utilisation agents report (GantryPutTaskMetrics)
	// into the AWS/ECS metrics; nil refuses it.
	Usage UsageIngester

	// TargetGroups looks up the Elastic Load Balancing target groups that
	// services' loadBalancers name; nil refuses loadBalancers.
	TargetGroups TargetGroups

	leases leases
	// prepull caches pre-pull requests for the polls (prepull.go).
	prepull prePulls

	// OnProvisioning, when set, is called when tasks start waiting in
	// PROVISIONING for managed scaling (provisioning.go) and when an
	// instance of a capacity provider registers: the managed scaling
	// loop's wake-up.
	OnProvisioning func()

	// MaxTxnOps bounds the operations of one etcd transaction (etcd's
	// --max-txn-ops); 128, etcd's default, when zero.
	MaxTxnOps int
}

// StateConfig is the configuration of the live state these operations
// read: state.New(s.StateConfig()).
func (s *API) StateConfig() state.Config {
	return state.Config{Store: s.Store, TaskARN: s.TaskARN, MaxTxnOps: s.MaxTxnOps, Logger: s.Logger}
}

// placementViews returns the placement views once they are loaded.
func (s *API) placementViews(ctx context.Context) (*state.Views, error) {
	if err := s.State.Views.Ready(ctx); err != nil {
		return nil, err
	}
	return s.State.Views, nil
}

// taskDefs returns the task definitions' view once it is loaded.
func (s *API) taskDefs(ctx context.Context) (*state.TaskDefs, error) {
	if err := s.State.TaskDefs.Ready(ctx); err != nil {
		return nil, err
	}
	return s.State.TaskDefs, nil
}

func timeFromMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (s *API) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
