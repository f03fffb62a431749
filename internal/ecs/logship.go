package ecs

import (
	"context"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// LogIngester stores the container output that agents capture for the
// awslogs log driver (GantryPutLogEvents). The CloudWatch Logs service
// implements it; the application sets it on API.Logs.
type LogIngester interface {
	// IngestAgentLogs stores one batch exactly once: a batch whose
	// (Producer, BatchSeq) was stored already is acknowledged again
	// without being stored (duplicate). It creates the stream when it is
	// missing, and the group when CreateGroup is set; errors a client
	// should see are *apierror.Error.
	IngestAgentLogs(ctx context.Context, in *ecsapi.GantryPutLogEventsRequest) (duplicate bool, err error)
}

// GantryPutLogEvents takes a batch of a container's output from its agent
// (the awslogs log driver done by Gantry) into the log store, once: the
// agent re-sends a batch it is not sure of with the same sequence number.
func (s *API) GantryPutLogEvents(ctx context.Context, in *ecsapi.GantryPutLogEventsRequest) (*ecsapi.GantryPutLogEventsResponse, error) {
	if s.Logs == nil {
		return nil, apierror.New(apierror.CodeUnsupportedFeature, "This server keeps no logs.")
	}
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.taskRef(cluster, in.Task); err != nil {
		return nil, err
	}
	if in.BatchSeq < 0 {
		return nil, apierror.InvalidParameter("batchSeq must not be negative.")
	}
	dup, err := s.Logs.IngestAgentLogs(ctx, in)
	if err != nil {
		return nil, err
	}
	return &ecsapi.GantryPutLogEventsResponse{Duplicate: dup}, nil
}
