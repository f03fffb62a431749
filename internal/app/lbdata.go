package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/autoscaling"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/lb"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/record"
)

// lbDataPlane is the ELBv2 data plane (internal/lb) run inside the server
// process: the neighbour's run function serving every listener of src's
// snapshots until the server stops, reporting health checks to sink.
// startELBv2 runs it beside the API's own background work.
//
// Every server of a highly available control plane runs it: listeners are
// bound with SO_REUSEPORT, so several processes on one host share a port,
// and each process on its own host serves every load balancer (see
// docs/architecture.md, "Elastic Load Balancing v2: data plane").
func lbDataPlane(s *Server, src lbconf.Source, sink lbconf.HealthSink) (func(ctx context.Context), error) {
	logger := s.logger.With("component", "lb")
	l, err := lb.New(lb.Options{Source: src, Health: sink, Logger: logger,
		Metrics: lbMetrics{rec: &s.metricsRecorder}, MetricsPeriod: s.cfg.LBMetricsPeriod,
		Demand: lbDemand{s: s}})
	if err != nil {
		return nil, fmt.Errorf("start the load balancer data plane: %w", err)
	}
	return func(ctx context.Context) {
		if err := l.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("load balancer data plane stopped", "err", err)
		}
	}, nil
}

// lbMetrics records the data plane's metrics (AWS/ApplicationELB,
// AWS/NetworkELB) in CloudWatch through its cwlink.Recorder: a count as
// one value, a statistic set as one, response times as values with
// counts; all high-resolution (StorageResolution 1), since the data plane
// publishes every --lb-metrics-period (2 s by default) for 10-second
// alarms.
type lbMetrics struct{ rec cwlink.Recorder }

// PublishMetrics converts and records one period's datapoints.
func (m lbMetrics) PublishMetrics(ctx context.Context, namespace string, data []lbconf.Metric) error {
	out := make([]cloudwatchapi.MetricDatum, 0, len(data))
	for _, d := range data {
		dims := make([]cloudwatchapi.Dimension, len(d.Dimensions))
		for i, dim := range d.Dimensions {
			dims[i] = cloudwatchapi.Dimension{Name: dim.Name, Value: dim.Value}
		}
		md := cloudwatchapi.MetricDatum{MetricName: d.Name, Dimensions: dims, Unit: cloudwatchapi.StandardUnit(d.Unit),
			Timestamp: awstime.NewTimestamp(d.Timestamp), StorageResolution: new(int32(1))}
		switch {
		case len(d.Values) > 0:
			md.Values, md.Counts = d.Values, d.Counts
		case d.SampleCount == 1 && d.Minimum == d.Maximum && d.Sum == d.Minimum:
			md.Value = new(d.Sum)
		default:
			md.StatisticValues = &cloudwatchapi.StatisticSet{SampleCount: new(d.SampleCount), Sum: new(d.Sum),
				Minimum: new(d.Minimum), Maximum: new(d.Maximum)}
		}
		out = append(out, md)
	}
	if err := m.rec.Record(ctx, namespace, out); err != nil {
		return fmt.Errorf("record %s metrics: %w", namespace, err)
	}
	return nil
}

// lbDemand is the data plane's lbconf.DemandSink: a target group that
// holds requests while no target is healthy wakes the ECS services whose
// loadBalancers name it (autoscaling.API.Wake), at once, from whichever
// server holds the request; the guarded desired count makes concurrent
// wakes from several servers one change.
type lbDemand struct{ s *Server }

// Demand wakes the services behind targetGroupArn that are at zero tasks
// and have a scalable target allowing one.
func (d lbDemand) Demand(ctx context.Context, targetGroupArn string) error {
	as := d.s.AutoScaling
	if as == nil {
		return nil
	}
	items, err := d.s.ECS.Store.List(ctx, record.PrefixOf("services"), "", 0)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	tg := targetGroupArn
	if i := strings.Index(tg, ":targetgroup/"); i >= 0 {
		tg = tg[i+1:]
	}
	var errs []error
	for _, it := range items {
		var svc ecsapi.Service
		if err := it.Decode(&svc); err != nil || svc.Status != "ACTIVE" || svc.DesiredCount != 0 {
			continue
		}
		named := false
		for _, lb := range svc.LoadBalancers {
			named = named || lb.TargetGroupArn == targetGroupArn
		}
		if !named {
			continue
		}
		cluster := svc.ClusterArn[strings.LastIndex(svc.ClusterArn, "/")+1:]
		if _, err := as.Wake(ctx, "service/"+cluster+"/"+svc.ServiceName, autoscaling.WakeCause(tg)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
