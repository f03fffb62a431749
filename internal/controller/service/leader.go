package service

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/store"
)

// electionPrefix is the etcd election of the service controller's leader.
var electionPrefix = store.Key("leader", "service-controller")

// Run campaigns for leadership until ctx ends; while this server leads, it
// watches etcd, resyncs periodically and reconciles services. When its
// etcd session ends (this server lost etcd for longer than the lease TTL)
// it stops reconciling at once and campaigns again. On return it has
// resigned, so another server takes over without waiting for the lease.
func (c *Controller) Run(ctx context.Context) {
	ttl := int(c.opts.LeaseTTL / time.Second)
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(c.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
		if err != nil {
			c.logger.Warn("election session", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		el := concurrency.NewElection(sess, electionPrefix)
		if err := el.Campaign(ctx, c.id); err != nil {
			sess.Close()
			if ctx.Err() == nil {
				c.logger.Warn("campaign", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		c.logger.Info("service controller leading", "id", c.id)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
				cancel()
			case <-lctx.Done():
			}
		}()
		c.mu.Lock()
		c.guard = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())}
		c.leading = true
		c.mu.Unlock()
		c.lead(lctx)
		cancel()
		c.mu.Lock()
		c.leading = false
		c.disconnected = map[string]time.Time{}
		c.mu.Unlock()
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = el.Resign(rctx)
		rcancel()
		sess.Close()
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

// lead reconciles until ctx ends: a watch turns etcd changes into queue
// keys, a ticker queues every service, and workers reconcile.
func (c *Controller) lead(ctx context.Context) {
	q := controller.NewQueue(100*time.Millisecond, 30*time.Second)
	c.mu.Lock()
	c.queue = q
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.queue = nil
		c.mu.Unlock()
	}()
	enqueue := func(r ecs.ServiceRef) {
		if r.Name == "" {
			q.Add(clusterKeyPrefix + r.Cluster)
			return
		}
		q.Add(r.String())
	}
	resync := func() {
		refs, err := c.ops.ServiceRefs(ctx)
		if err != nil {
			c.logger.Warn("list services", "err", err)
			return
		}
		for _, r := range refs {
			q.Add(r.String())
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(c.opts.Resync)
		defer tick.Stop()
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			for ctx.Err() == nil {
				resync()
				if err := c.ops.WatchServiceChanges(ctx, enqueue); err != nil && ctx.Err() == nil {
					c.logger.Warn("watch", "err", err)
					sleep(ctx, 500*time.Millisecond)
				}
			}
		}()
		for {
			select {
			case <-ctx.Done():
				<-watchDone
				return
			case <-tick.C:
				resync()
			}
		}
	}()
	controller.Run(ctx, q, c.opts.Workers, c.Reconcile, func(key string, err error) {
		c.logger.Debug("reconcile", "service", key, "err", err)
	})
	<-done
}
