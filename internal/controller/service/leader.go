package service

import (
	"context"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/controller"
)

// Run campaigns for leadership until ctx ends; while this server leads, it
// watches the server's changes, resyncs periodically and reconciles
// services. When its leadership is lost (this server lost the store for
// longer than the election's lease) it stops reconciling at once and
// campaigns again. On return it has resigned, so another server takes over
// without waiting for the lease.
func (c *Controller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		lead, err := c.deps.Elector.Campaign(ctx, c.id)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("campaign", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		c.logger.Info("service controller leading", "id", c.id)
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-lead.Lost():
				cancel()
			case <-lctx.Done():
			}
		})
		c.mu.Lock()
		c.lead = lead
		c.mu.Unlock()
		c.leadLoop(lctx)
		cancel()
		wg.Wait()
		c.mu.Lock()
		c.lead = nil
		c.disconnected = map[string]time.Time{}
		c.mu.Unlock()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := lead.Resign(rctx); err != nil {
			c.logger.Debug("resign", "err", err)
		}
		rcancel()
		c.logger.Info("service controller no longer leading", "id", c.id)
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

// leadLoop reconciles until ctx ends: a watch turns changes into queue
// keys, a ticker queues every service, and workers reconcile.
func (c *Controller) leadLoop(ctx context.Context) {
	q := controller.NewQueue(100*time.Millisecond, 30*time.Second)
	c.mu.Lock()
	c.queue = q
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.queue = nil
		c.mu.Unlock()
	}()
	enqueue := func(r ServiceRef) {
		if r.Name == "" {
			q.Add(clusterKeyPrefix + r.Cluster)
			return
		}
		q.Add(r.String())
	}
	resync := func() {
		refs, err := c.deps.Records.ServiceRefs(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("list services", "err", err)
			}
			return
		}
		for _, r := range refs {
			q.Add(r.String())
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			resync()
			if err := c.deps.Changes.WatchServiceChanges(ctx, enqueue); err != nil && ctx.Err() == nil {
				c.logger.Warn("watch", "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(c.opts.Resync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				resync()
			}
		}
	})
	reconcile := c.Reconcile
	if c.opts.OnReconcile != nil {
		reconcile = func(ctx context.Context, key string) error {
			start := time.Now()
			err := c.Reconcile(ctx, key)
			c.opts.OnReconcile(time.Since(start), err)
			return err
		}
	}
	controller.Run(ctx, q, c.opts.Workers, reconcile, func(key string, err error) {
		c.logger.Debug("reconcile", "service", key, "err", err)
	})
	wg.Wait()
}
