package app

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gantry-dev/gantry/internal/ecs/usage"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// serverMetrics are the server's own Prometheus metrics, served at
// /metrics on the --debug-listen address (loopback only): API latency by
// service and operation, etcd round trips, placements, service reconciles,
// and the logs and utilisation the agents ship. A registry of its own per
// server: no global state.
type serverMetrics struct {
	reg *prometheus.Registry

	api         *prometheus.HistogramVec
	store       *prometheus.HistogramVec
	commits     *prometheus.CounterVec
	placed      prometheus.Counter
	reconciles  *prometheus.HistogramVec
	logBatches  *prometheus.CounterVec
	logEvents   prometheus.Counter
	usageDatums *prometheus.CounterVec
}

// result is the result label of an error: ok or error.
func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func newServerMetrics() *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry()}
	m.api = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_api_request_duration_seconds",
		Help:    "Time to answer an AWS API request, by service (SigV4 signing name), operation and result (ok or error); service and operation are empty for requests that named none served.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"service", "operation", "result"})
	m.store = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_store_request_duration_seconds",
		Help:    "Round trips to etcd, by kind (txn, range, grant, keepalive, ttl, revoke) and result.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op", "result"})
	m.commits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_placement_commits_total",
		Help: "Placement commits (RunTask, StartTask, services) by result: ok, conflict (another server placed first; retried) or error.",
	}, []string{"result"})
	m.placed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_placed_tasks_total",
		Help: "Tasks placed (committed to etcd).",
	})
	m.reconciles = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_service_reconcile_duration_seconds",
		Help:    "Reconciles of a service by the service controller (on the leader), by result.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"result"})
	m.logBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_agent_log_batches_total",
		Help: "awslogs batches agents shipped (GantryPutLogEvents), by result: ok, duplicate (already stored) or error.",
	}, []string{"result"})
	m.logEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_agent_log_events_total",
		Help: "awslogs events stored from the agents' batches.",
	})
	m.usageDatums = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_ecs_metric_datums_total",
		Help: "AWS/ECS and ECS/ContainerInsights datums computed from the agents' reports and recorded, by result.",
	}, []string{"result"})
	m.reg.MustRegister(m.api, m.store, m.commits, m.placed, m.reconciles, m.logBatches, m.logEvents,
		m.usageDatums,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchUsage exposes the publisher's counts of the figures it took and
// dropped.
func (m *serverMetrics) watchUsage(p *usage.Publisher) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gantry_task_usage_reports_total",
			Help: "Task utilisation figures taken from agents (GantryPutTaskMetrics), one per task and report.",
		}, func() float64 { return float64(p.Ingested()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gantry_task_usage_reports_dropped_total",
			Help: "Task utilisation figures that came after their window was published.",
		}, func() float64 { return float64(p.Dropped()) }))
}

func (m *serverMetrics) observeAPI(service, op string, failed bool, d time.Duration) {
	r := "ok"
	if failed {
		r = "error"
	}
	m.api.WithLabelValues(service, op, r).Observe(d.Seconds())
}

func (m *serverMetrics) observeCommit(tasks int, err error) {
	switch {
	case err == nil:
		m.commits.WithLabelValues("ok").Inc()
		m.placed.Add(float64(tasks))
	case errors.Is(err, state.ErrPlacementConflict):
		m.commits.WithLabelValues("conflict").Inc()
	default:
		m.commits.WithLabelValues("error").Inc()
	}
}

func (m *serverMetrics) observeReconcile(d time.Duration, err error) {
	m.reconciles.WithLabelValues(result(err)).Observe(d.Seconds())
}

func (m *serverMetrics) observeLogBatch(events int, duplicate bool, err error) {
	switch {
	case err != nil:
		m.logBatches.WithLabelValues("error").Inc()
	case duplicate:
		m.logBatches.WithLabelValues("duplicate").Inc()
	default:
		m.logBatches.WithLabelValues("ok").Inc()
		m.logEvents.Add(float64(events))
	}
}

func (m *serverMetrics) observePublish(datums int, err error) {
	m.usageDatums.WithLabelValues("ok").Add(float64(datums))
	if err != nil {
		m.usageDatums.WithLabelValues("error").Inc()
	}
}

// observedBackend is a store.Backend that times each round trip to the
// backend it wraps. Watches are streams, not round trips: not timed.
type observedBackend struct {
	store.Backend
	h *prometheus.HistogramVec
}

func (b observedBackend) done(op string, start time.Time, err error) {
	b.h.WithLabelValues(op, result(err)).Observe(time.Since(start).Seconds())
}

// Txn times the transaction.
func (b observedBackend) Txn(ctx context.Context, cmps []store.Cmp, then []store.Op) (store.TxnResult, error) {
	start := time.Now()
	r, err := b.Backend.Txn(ctx, cmps, then)
	b.done("txn", start, err)
	return r, err
}

// Range times the read.
func (b observedBackend) Range(ctx context.Context, r store.Range) (store.RangeResult, error) {
	start := time.Now()
	res, err := b.Backend.Range(ctx, r)
	b.done("range", start, err)
	return res, err
}

// Grant times the lease grant.
func (b observedBackend) Grant(ctx context.Context, ttl time.Duration) (store.LeaseID, error) {
	start := time.Now()
	id, err := b.Backend.Grant(ctx, ttl)
	b.done("grant", start, err)
	return id, err
}

// KeepAlive times the start of the keep-alive.
func (b observedBackend) KeepAlive(ctx context.Context, id store.LeaseID) (<-chan struct{}, error) {
	start := time.Now()
	ch, err := b.Backend.KeepAlive(ctx, id)
	b.done("keepalive", start, err)
	return ch, err
}

// TimeToLive times the lease query.
func (b observedBackend) TimeToLive(ctx context.Context, id store.LeaseID) (time.Duration, error) {
	start := time.Now()
	d, err := b.Backend.TimeToLive(ctx, id)
	b.done("ttl", start, err)
	return d, err
}

// Revoke times the revocation.
func (b observedBackend) Revoke(ctx context.Context, id store.LeaseID) error {
	start := time.Now()
	err := b.Backend.Revoke(ctx, id)
	b.done("revoke", start, err)
	return err
}

// Watch passes the watch through.
func (b observedBackend) Watch(ctx context.Context, prefix string, rev int64) iter.Seq[store.WatchResponse] {
	return b.Backend.Watch(ctx, prefix, rev)
}
