package logs

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// CreateLogStream creates a log stream in a group.
func (a *API) CreateLogStream(ctx context.Context, in *logsapi.CreateLogStreamRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := checkStreamName("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	if _, err := a.adoptGroup(ctx, in.LogGroupName); err != nil {
		return nil, storeError(err, "create log stream", errGroupNotFound)
	}
	if p, err := a.peerGroup(ctx, in.LogGroupName, in.LogStreamName); err == nil && p.StreamFound {
		return nil, storeError(logstore.ErrExists, "create log stream", errStreamNotFound)
	}
	_, err := a.Store.CreateStream(in.LogGroupName, in.LogStreamName)
	if errors.Is(err, logstore.ErrNotFound) {
		return nil, errGroupNotFound
	}
	return nil, storeError(err, "create log stream", errStreamNotFound)
}

// DeleteLogStream deletes a log stream and its events.
func (a *API) DeleteLogStream(ctx context.Context, in *logsapi.DeleteLogStreamRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := checkStreamName("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	found, err := a.applyEverywhere(ctx, peerApplyRequest{Op: applyDeleteStream, Group: in.LogGroupName, Stream: in.LogStreamName})
	if err == nil && !found {
		if _, gerr := a.Store.Group(in.LogGroupName); gerr != nil {
			if p, perr := a.peerGroup(ctx, in.LogGroupName, ""); perr == nil && !p.Found {
				return nil, errGroupNotFound
			}
		}
		return nil, errStreamNotFound
	}
	return nil, a.streamError(err, in.LogGroupName, "delete log stream")
}

// streamError maps a store error of an operation on one stream: "not
// found" names the group when it is the group that is missing.
func (a *API) streamError(err error, group, op string) error {
	if err == nil {
		return nil
	}
	nf := errStreamNotFound
	if _, gerr := a.Store.Group(group); gerr != nil {
		nf = errGroupNotFound
	}
	return storeError(err, op, nf)
}

// DescribeLogStreams lists a group's streams by name (optionally with a
// prefix) or by last event time, ascending or descending, paged.
func (a *API) DescribeLogStreams(ctx context.Context, in *logsapi.DescribeLogStreamsRequest) (*logsapi.DescribeLogStreamsResponse, error) {
	group, err := a.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.LogStreamNamePrefix != "" {
		if err := checkStreamName("logStreamNamePrefix", in.LogStreamNamePrefix); err != nil {
			return nil, err
		}
	}
	if err := checkLimit(in.Limit, 50); err != nil {
		return nil, err
	}
	q := logstore.StreamQuery{Prefix: in.LogStreamNamePrefix, Cursor: in.NextToken, Descending: in.Descending != nil && *in.Descending}
	switch in.OrderBy {
	case "", "LogStreamName":
	case "LastEventTime":
		if in.LogStreamNamePrefix != "" {
			return nil, invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
		}
		q.OrderByLastEventTime = true
	default:
		return nil, validation("orderBy", string(in.OrderBy), "satisfy enum value set: [LogStreamName, LastEventTime]")
	}
	if in.Limit != nil {
		q.Limit = int(*in.Limit)
	}
	if a.Peers != nil {
		return a.mergedStreams(ctx, group, q)
	}
	streams, next, err := a.Store.ListStreams(group, q)
	if err != nil {
		return nil, storeError(err, "describe log streams", errGroupNotFound)
	}
	out := &logsapi.DescribeLogStreamsResponse{LogStreams: make([]logsapi.LogStream, 0, len(streams)), NextToken: next}
	for _, st := range streams {
		out.LogStreams = append(out.LogStreams, a.logStream(group, st))
	}
	return out, nil
}

// logStream renders a stream. storedBytes is always 0, as AWS reports it
// for streams since 2019; the event times only once it has events.
func (a *API) logStream(group string, st logstore.Stream) logsapi.LogStream {
	created := st.CreationTime
	var zero int64
	ls := logsapi.LogStream{LogStreamName: st.Name, CreationTime: &created, Arn: a.streamARN(group, st.Name), StoredBytes: &zero}
	if st.EventCount > 0 || st.LastIngestionTime != 0 {
		first, last, ing := st.FirstEventTimestamp, st.LastEventTimestamp, st.LastIngestionTime
		ls.FirstEventTimestamp, ls.LastEventTimestamp, ls.LastIngestionTime = &first, &last, &ing
	}
	return ls
}
