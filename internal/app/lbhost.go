package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/elb"
	"github.com/gantry-dev/gantry/internal/lb"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/peers"
	"github.com/gantry-dev/gantry/internal/store"
)

// peerOpLBMetrics is the peer operation by which a dedicated data plane
// (`gantry lb`) hands a period's load balancer metrics to a live server,
// which records them as its own data plane's (lbMetrics).
const peerOpLBMetrics = "cloudwatch/lb-metrics"

// lbMetricsBatch is the body of peerOpLBMetrics.
type lbMetricsBatch struct {
	Namespace string          `json:"namespace"`
	Metrics   []lbconf.Metric `json:"metrics"`
}

// LBHost is `gantry lb`: the Elastic Load Balancing v2 data plane
// (internal/lb) on a host of its own. It reads the configuration from the
// control plane's etcd by watch (the same Snapshots a server's own data
// plane applies), binds every listener on this host, runs the health
// checks and reports them under its own name (elb.HealthReporter, on a
// lease: its reports vanish with it), and sends its metrics to a live
// server, signed with the peer key (peers), which records them.
type LBHost struct {
	cfg    config.LB
	logger *slog.Logger
	client *clientv3.Client
	health *elb.HealthReporter
	lb     *lb.LB
	cancel context.CancelFunc
	done   chan error

	closeOnce sync.Once
	closeErr  error
}

// StartLB connects to the control plane's etcd and starts serving its load
// balancers' listeners; it returns once the first snapshot is applied (or
// fails when etcd cannot be reached).
func StartLB(ctx context.Context, cfg config.LB, logger *slog.Logger) (*LBHost, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := etcdClient(ctx, cfg.EtcdEndpoints, cfg.EtcdCACert, cfg.EtcdCert, cfg.EtcdKey, cfg.EtcdUsername, cfg.EtcdPassword)
	if err != nil {
		return nil, err
	}
	st := store.NewOn(quorumBackend{store.NewEtcdBackend(c)})
	kctx, kcancel := context.WithTimeout(ctx, 30*time.Second)
	key, err := peers.Key(kctx, st)
	kcancel()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("peer key: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name = reporterID()
	}
	logger = logger.With("component", "lb", "name", name)
	api := elb.New(st, cfg.Region, cfg.AccountID, logger.With("service", "elbv2"))
	h := &LBHost{cfg: cfg, logger: logger, client: c, health: api.HealthSink(context.Background(), name), done: make(chan error, 1)}
	var src lbconf.Source = api
	if cfg.BindAddress != "" {
		src = boundSource{src: api, addr: cfg.BindAddress}
	}
	pc := &peers.Client{Key: key, Logger: logger,
		Live: func(ctx context.Context) ([]string, error) { return liveServers(ctx, st) }}
	h.lb, err = lb.New(lb.Options{Source: src, Health: h.health, Logger: logger,
		Metrics: peerMetrics{c: pc, logger: logger}, MetricsPeriod: cfg.MetricsPeriod})
	if err != nil {
		_ = h.health.Close()
		c.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.lb.Run(rctx) }()
	// The first snapshot: etcd answered and the listeners are being bound.
	for h.lb.Revision() == 0 {
		select {
		case <-ctx.Done():
			h.Close()
			return nil, ctx.Err()
		case err := <-h.done:
			h.done <- err
			h.Close()
			return nil, fmt.Errorf("load balancer data plane: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	logger.Info("serving the load balancers", "revision", h.lb.Revision(), "etcd", cfg.EtcdEndpoints)
	return h, nil
}

// Revision is the store revision of the last configuration applied.
func (h *LBHost) Revision() int64 { return h.lb.Revision() }

// WaitRevision blocks until a configuration of at least rev is applied or
// ctx ends.
func (h *LBHost) WaitRevision(ctx context.Context, rev int64) error {
	return h.lb.WaitRevision(ctx, rev)
}

// Addr is the address a listener is bound to here ("" if it is not).
func (h *LBHost) Addr(listenerArn string) string { return h.lb.Addr(listenerArn) }

// Wait returns when the data plane stops by itself (an error) or after
// Close.
func (h *LBHost) Wait() error {
	err := <-h.done
	h.done <- err
	return err
}

// Close stops accepting, lets requests in flight finish (up to 10 s),
// withdraws this data plane's health reports and closes the etcd client.
// It is safe to call more than once.
func (h *LBHost) Close() error {
	h.closeOnce.Do(func() {
		if h.cancel != nil {
			h.cancel()
			err := <-h.done
			h.done <- err
			if err != nil && !errors.Is(err, context.Canceled) {
				h.closeErr = err
			}
		}
		h.closeErr = errors.Join(h.closeErr, h.health.Close())
		h.closeErr = errors.Join(h.closeErr, h.client.Close())
	})
	return h.closeErr
}

// etcdClient connects to an external etcd cluster and checks that the
// first endpoint answers.
func etcdClient(ctx context.Context, endpoints []string, ca, cert, key, user, password string) (*clientv3.Client, error) {
	ecfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Username: user, Password: password}
	if ca != "" || cert != "" {
		tlsc, err := (transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: ca}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd client TLS: %w", err)
		}
		ecfg.TLS = tlsc
	}
	c, err := clientv3.New(ecfg)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = c.Status(sctx, endpoints[0])
	cancel()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd %v is not reachable: %w", endpoints, err)
	}
	return c, nil
}

// boundSource is a Source whose load balancers bind addr on this host
// instead of their configured address (`gantry lb --bind-address`).
type boundSource struct {
	src  lbconf.Source
	addr string
}

// Watch relays src's snapshots with every load balancer's Address
// replaced (a copy: snapshots are immutable).
func (b boundSource) Watch(ctx context.Context) <-chan *lbconf.Snapshot {
	in := b.src.Watch(ctx)
	out := make(chan *lbconf.Snapshot)
	go func() {
		defer close(out)
		for s := range in {
			c := *s
			c.LoadBalancers = make([]lbconf.LoadBalancer, len(s.LoadBalancers))
			for i, l := range s.LoadBalancers {
				l.Address = b.addr
				c.LoadBalancers[i] = l
			}
			select {
			case out <- &c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// peerMetrics is a dedicated data plane's lbconf.MetricSink: each
// period's datapoints go to one live server (the first of the sorted live
// set that answers), signed with the peer key, which records them in its
// CloudWatch store as its own data plane's. One server holds a period's
// datapoints, as one holds an agent's.
type peerMetrics struct {
	c      *peers.Client
	logger *slog.Logger
}

// PublishMetrics sends one period's datapoints of a namespace.
func (m peerMetrics) PublishMetrics(ctx context.Context, namespace string, data []lbconf.Metric) error {
	live, err := m.c.Live(ctx)
	if err != nil {
		return fmt.Errorf("send %s metrics: the live servers: %w", namespace, err)
	}
	if len(live) == 0 {
		return fmt.Errorf("send %s metrics: no live server", namespace)
	}
	var errs []error
	for _, u := range live {
		if _, err := m.c.Post(ctx, u, peerOpLBMetrics, lbMetricsBatch{Namespace: namespace, Metrics: data}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		return nil
	}
	return fmt.Errorf("send %s metrics: %w", namespace, errors.Join(errs...))
}

// handleLBMetrics answers peerOpLBMetrics: it records a dedicated data
// plane's datapoints as this server's own data plane's.
func (s *Server) handleLBMetrics(ctx context.Context, body []byte) (any, error) {
	var b lbMetricsBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("decode metrics: %w", err)
	}
	if b.Namespace != lbconf.NamespaceApplication && b.Namespace != lbconf.NamespaceNetwork {
		return nil, fmt.Errorf("namespace %q is not a load balancer's", b.Namespace)
	}
	if err := (lbMetrics{rec: &s.metricsRecorder}).PublishMetrics(ctx, b.Namespace, b.Metrics); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
