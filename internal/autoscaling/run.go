package autoscaling

import (
	"context"
	"time"
)

// ScheduleTick is how often the leader looks for scheduled actions that
// are due.
const ScheduleTick = time.Second

// Run runs scheduled actions while this server leads (elector elects one
// server among those sharing the store) until ctx ends, and prunes
// activities past their retention. id names this server in the election.
func (a *API) Run(ctx context.Context, elector Elector, id string) {
	for ctx.Err() == nil {
		lead, err := elector.Campaign(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				a.logger().Warn("campaign for the scheduled actions' leadership", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		a.lead(ctx, lead)
	}
}

// lead runs scheduled actions until the leadership or ctx ends.
func (a *API) lead(ctx context.Context, lead Leadership) {
	tick := time.NewTicker(ScheduleTick)
	defer tick.Stop()
	var pruned time.Time
	for {
		now := a.now()
		if err := a.runScheduled(ctx, now); err != nil && ctx.Err() == nil {
			a.logger().Warn("run scheduled actions", "err", err)
		}
		if now.Sub(pruned) > time.Hour {
			if err := a.pruneActivities(ctx); err != nil && ctx.Err() == nil {
				a.logger().Warn("prune scaling activities", "err", err)
			}
			pruned = now
		}
		select {
		case <-ctx.Done():
			return
		case <-lead.Lost():
			return
		case <-tick.C:
		}
	}
}
