package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecs/usage"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// startUsage builds the AWS/ECS metrics publisher the agents' reports
// (GantryPutTaskMetrics) go to, recording through s.metricsRecorder: the
// CloudWatch service sets its target (SetMetricsRecorder) when it starts;
// until one is set the datapoints are dropped.
func (s *Server) startUsage() {
	s.Usage = usage.New(usage.Config{
		Recorder:  &s.metricsRecorder,
		Capacity:  s.ECS,
		Cluster:   ecsClusters{s.ECS},
		Period:    s.cfg.ECSMetricsPeriod,
		Logger:    s.logger.With("component", "ecsmetrics"),
		OnPublish: s.metrics.observePublish,
	})
	s.ECS.Usage = s.Usage
	s.metrics.watchUsage(s.Usage)
}

// SetMetricsRecorder sets where the AWS/ECS and ECS/ContainerInsights
// datapoints computed from the agents' reports go: CloudWatch's
// cwlink.Recorder (startCloudWatch), or a test's.
func (s *Server) SetMetricsRecorder(r cwlink.Recorder) { s.metricsRecorder.set(r) }

// switchRecorder is a cwlink.Recorder that forwards to the Recorder set
// last, or drops the datapoints while none is.
type switchRecorder struct {
	mu sync.RWMutex
	r  cwlink.Recorder
}

func (w *switchRecorder) set(r cwlink.Recorder) {
	w.mu.Lock()
	w.r = r
	w.mu.Unlock()
}

// Record forwards to the current Recorder.
func (w *switchRecorder) Record(ctx context.Context, namespace string, data []cloudwatchapi.MetricDatum) error {
	w.mu.RLock()
	r := w.r
	w.mu.RUnlock()
	if r == nil {
		return nil
	}
	return r.Record(ctx, namespace, data)
}

// ecsClusters answers usage.Cluster from the ECS operations.
type ecsClusters struct{ api *ecs.API }

// Insights reports whether the cluster's containerInsights setting is
// enabled or enhanced.
func (c ecsClusters) Insights(ctx context.Context, cluster string) (bool, error) {
	out, err := c.api.DescribeClusters(ctx, &ecsapi.DescribeClustersRequest{Clusters: []string{cluster}, Include: []ecsapi.ClusterField{"SETTINGS"}})
	if err != nil {
		return false, err
	}
	if len(out.Clusters) != 1 {
		return false, fmt.Errorf("cluster %s not found", cluster)
	}
	for _, st := range out.Clusters[0].Settings {
		if st.Name == "containerInsights" {
			return st.Value == "enabled" || st.Value == "enhanced", nil
		}
	}
	return false, nil
}

// Services returns the named services' counts and the cluster's number of
// active services.
func (c ecsClusters) Services(ctx context.Context, cluster string, names []string) (map[string]usage.ServiceCounts, int, error) {
	out := map[string]usage.ServiceCounts{}
	for len(names) > 0 {
		batch := names[:min(10, len(names))]
		names = names[len(batch):]
		resp, err := c.api.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Cluster: cluster, Services: batch})
		if err != nil {
			return nil, 0, err
		}
		for _, sv := range resp.Services {
			out[sv.ServiceName] = usage.ServiceCounts{Desired: int64(sv.DesiredCount), Running: int64(sv.RunningCount), Pending: int64(sv.PendingCount)}
		}
	}
	cl, err := c.api.DescribeClusters(ctx, &ecsapi.DescribeClustersRequest{Clusters: []string{cluster}})
	if err != nil {
		return nil, 0, err
	}
	n := 0
	if len(cl.Clusters) == 1 {
		n = int(cl.Clusters[0].ActiveServicesCount)
	}
	return out, n, nil
}
