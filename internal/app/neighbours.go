package app

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/apiserver"
)

// neighbour is an AWS service served beside ECS on the same endpoint: its
// API, what runs behind it while the server runs, and how it is closed.
// Each has a file of its own (elbv2.go, cloudwatch.go, autoscaling.go,
// ecr.go) with the function that starts it.
type neighbour struct {
	// service is the API, routed by its SigV4 signing name.
	service apiserver.Service
	// run, if set, runs in the background until ctx ends (controllers,
	// evaluation loops, data planes); Close waits for it.
	run func(ctx context.Context)
	// close, if set, releases what the neighbour holds (stores, files);
	// Close calls it after every run has returned.
	close func() error
}

// neighbours are started in this order after ECS and CloudWatch Logs.
var neighbours = []func(*Server) (neighbour, error){
	startELBv2,
	startCloudWatch,
	startAutoScaling,
	startECR,
}

// startNeighbours starts every neighbour; on error it closes those
// already started.
func (s *Server) startNeighbours() ([]apiserver.Service, error) {
	var services []apiserver.Service
	for _, start := range neighbours {
		n, err := start(s)
		if err != nil {
			s.closeNeighbours()
			return nil, err
		}
		s.neighbours = append(s.neighbours, n)
		services = append(services, n.service)
	}
	return services, nil
}

// runNeighbours starts each neighbour's background work under ctx.
func (s *Server) runNeighbours(ctx context.Context) {
	for _, n := range s.neighbours {
		if n.run == nil {
			continue
		}
		s.neighboursRunning.Add(1)
		go func() {
			defer s.neighboursRunning.Done()
			n.run(ctx)
		}()
	}
}

// closeNeighbours waits for the neighbours' background work (its context
// must be cancelled first) and closes them in reverse order.
func (s *Server) closeNeighbours() {
	s.neighboursRunning.Wait()
	var errs []error
	for i := len(s.neighbours) - 1; i >= 0; i-- {
		if c := s.neighbours[i].close; c != nil {
			errs = append(errs, c())
		}
	}
	s.neighbours = nil
	if err := errors.Join(errs...); err != nil {
		s.logger.Error("close the neighbour services", "err", err)
	}
}
