package app

import (
	"context"
	"fmt"

	"github.com/gantry-dev/gantry/internal/lb"
	"github.com/gantry-dev/gantry/internal/lbconf"
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
	l, err := lb.New(lb.Options{Source: src, Health: sink, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("start the load balancer data plane: %w", err)
	}
	return func(ctx context.Context) {
		if err := l.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("load balancer data plane stopped", "err", err)
		}
	}, nil
}
