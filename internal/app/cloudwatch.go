package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/cloudwatch"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
)

// startCloudWatch starts CloudWatch (metrics and alarms) on the server's
// endpoint: datapoints in a Pebble store under DataDir/metrics (a
// temporary directory when there is no data directory), alarms in etcd,
// and the alarm evaluator, which runs on the server that wins its
// election.
func startCloudWatch(s *Server) (neighbour, error) {
	dir := filepath.Join(s.cfg.DataDir, "metrics")
	tmp := ""
	if s.cfg.DataDir == "" {
		d, err := os.MkdirTemp("", "gantry-metrics-")
		if err != nil {
			return neighbour{}, fmt.Errorf("metric store directory: %w", err)
		}
		tmp, dir = d, d
		s.logger.Warn("no --data-dir: CloudWatch datapoints are kept in a temporary directory until the server stops", "dir", d)
	}
	ms, err := metricstore.Open(dir, metricstore.Options{Logger: s.logger, Full: s.disk.Full})
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return neighbour{}, fmt.Errorf("open the metric store: %w", err)
	}
	api := cloudwatch.New(ms, s.ECS.Store, s.cfg.Region, s.cfg.AccountID, s.logger.With("service", "cloudwatch"))
	s.CloudWatch = api
	// The AWS/ECS metrics computed from the agents' reports (usage.go)
	// are recorded in CloudWatch.
	s.SetMetricsRecorder(api)
	return neighbour{
		service: apiserver.CloudWatch(api),
		run: func(ctx context.Context) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = ms.Run(ctx)
			}()
			api.Run(ctx, cloudwatch.EvaluatorOptions{Interval: s.cfg.AlarmEvaluationInterval, LeaderTTL: s.cfg.LeaderTTL, ID: s.URL})
			<-done
		},
		close: func() error {
			err := ms.Close()
			if tmp != "" {
				err = errors.Join(err, os.RemoveAll(tmp))
			}
			return err
		},
	}, nil
}
