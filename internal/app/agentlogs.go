package app

import (
	"context"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/logs"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
)

// agentLogs takes the batches agents ship for the awslogs log driver
// (ecs.LogIngester) into the CloudWatch Logs service.
type agentLogs struct {
	logs    *logs.API
	metrics *serverMetrics
}

// IngestAgentLogs stores in's events in its group and stream, once per
// (producer, batch sequence number).
func (a agentLogs) IngestAgentLogs(ctx context.Context, in *ecsapi.GantryPutLogEventsRequest) (bool, error) {
	events := make([]logstore.Event, len(in.Events))
	for i, e := range in.Events {
		events[i] = logstore.Event{Timestamp: e.Timestamp, Message: e.Message}
	}
	err := a.logs.Ingest(ctx, in.LogGroupName, in.LogStreamName, in.Producer, uint64(in.BatchSeq), in.CreateGroup, events)
	if len(events) > 0 {
		a.metrics.observeLogBatch(len(events), false, err)
	}
	return false, err
}
