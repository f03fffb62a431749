package logs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// PutLogEvents' batch rules, as AWS states them.
const (
	// MaxBatchEvents is the most events in one batch.
	MaxBatchEvents = 10_000
	// MaxBatchBytes bounds a batch's messages in UTF-8 plus EventOverhead
	// bytes per event.
	MaxBatchBytes = 1_048_576
	// EventOverhead is what each event adds to a batch's size.
	EventOverhead = 26
	// MaxEventAge is how old an accepted event may be.
	MaxEventAge = 14 * 24 * time.Hour
	// MaxEventAhead is how far in the future an accepted event may be.
	MaxEventAhead = 2 * time.Hour
	// MaxBatchSpan is the longest time a batch's accepted events may span.
	MaxBatchSpan = 24 * time.Hour
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

// PutLogEvents appends a batch of events to a stream, with AWS's rules: at
// most 10,000 events and 1,048,576 bytes (26 per event), in chronological
// order; events more than 14 days or the retention in the past, or more
// than 2 hours in the future, are not stored and are reported in
// rejectedLogEventsInfo; the accepted ones may span at most 24 hours. The
// sequence token is ignored, as AWS now does. The batch is stored whole or
// not at all.
func (a *API) PutLogEvents(ctx context.Context, in *logsapi.PutLogEventsRequest) (*logsapi.PutLogEventsResponse, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := checkStreamName("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	events := make([]logstore.Event, len(in.LogEvents))
	for i, e := range in.LogEvents {
		if e.Timestamp == nil {
			return nil, validation(fmt.Sprintf("logEvents.%d.member.timestamp", i+1), "null", "not be null")
		}
		if e.Message == "" {
			return nil, lengthError(fmt.Sprintf("logEvents.%d.member.message", i+1), "", "greater than or equal to 1")
		}
		events[i] = logstore.Event{Timestamp: *e.Timestamp, Message: e.Message}
	}
	if err := checkBatch(events); err != nil {
		return nil, err
	}
	for i := 1; i < len(events); i++ {
		if events[i].Timestamp < events[i-1].Timestamp {
			return nil, invalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	g, err := a.adoptGroup(ctx, in.LogGroupName)
	if err != nil {
		return nil, storeError(err, "put log events", errGroupNotFound)
	}
	accepted, rejected, err := a.window(events, g.RetentionDays)
	if err != nil {
		return nil, err
	}
	res, err := a.Store.Append(in.LogGroupName, in.LogStreamName, "", 0, accepted)
	if errors.Is(err, logstore.ErrNotFound) && a.Peers != nil {
		// A stream created through another server: take it here.
		if err = a.adoptStream(ctx, in.LogGroupName, in.LogStreamName); err == nil {
			res, err = a.Store.Append(in.LogGroupName, in.LogStreamName, "", 0, accepted)
		}
	}
	if err != nil {
		return nil, a.streamError(err, in.LogGroupName, "put log events")
	}
	return &logsapi.PutLogEventsResponse{
		NextSequenceToken:     fmt.Sprintf("%056d", res.Stream.EventCount),
		RejectedLogEventsInfo: rejected,
	}, nil
}

// checkBatch checks a batch's count and size.
func checkBatch(events []logstore.Event) error {
	if len(events) == 0 {
		return lengthError("logEvents", "[]", "greater than or equal to 1")
	}
	if len(events) > MaxBatchEvents {
		return lengthError("logEvents", fmt.Sprintf("[%d events]", len(events)), "less than or equal to 10000")
	}
	size := 0
	for _, e := range events {
		size += len(e.Message) + EventOverhead
	}
	if size > MaxBatchBytes {
		return invalidParameter("Upload too large: %d bytes exceeds limit of %d", size, MaxBatchBytes)
	}
	return nil
}

// window splits chronologically sorted events into those to store and
// the rejected ranges: too old (14 days), expired (the group's retention)
// and too new (2 hours ahead). The events kept may span 24 hours at most.
func (a *API) window(events []logstore.Event, retentionDays int) ([]logstore.Event, *logsapi.RejectedLogEventsInfo, error) {
	now := a.now().UnixMilli()
	oldBefore := now - MaxEventAge.Milliseconds()
	newAfter := now + MaxEventAhead.Milliseconds()
	tooOld, _ := slices.BinarySearchFunc(events, oldBefore, func(e logstore.Event, t int64) int { return cmp.Compare(e.Timestamp, t) })
	expired := 0
	if retentionDays > 0 {
		expired, _ = slices.BinarySearchFunc(events, now-int64(retentionDays)*dayMs, func(e logstore.Event, t int64) int { return cmp.Compare(e.Timestamp, t) })
	}
	tooNew, _ := slices.BinarySearchFunc(events, newAfter+1, func(e logstore.Event, t int64) int { return cmp.Compare(e.Timestamp, t) })
	var rej *logsapi.RejectedLogEventsInfo
	if tooOld > 0 || expired > 0 || tooNew < len(events) {
		rej = &logsapi.RejectedLogEventsInfo{}
		if tooOld > 0 {
			rej.TooOldLogEventEndIndex = ptr(int32(tooOld))
		}
		if expired > 0 {
			rej.ExpiredLogEventEndIndex = ptr(int32(expired))
		}
		if tooNew < len(events) {
			rej.TooNewLogEventStartIndex = ptr(int32(tooNew))
		}
	}
	from := max(tooOld, expired)
	if from >= tooNew {
		return nil, rej, nil
	}
	kept := events[from:tooNew]
	if kept[len(kept)-1].Timestamp-kept[0].Timestamp > MaxBatchSpan.Milliseconds() {
		return nil, nil, invalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	return kept, rej, nil
}

func ptr[T any](v T) *T { return &v }

// Ingest stores a batch the agent ships from a container's awslogs
// output. It creates the group when createGroup is set and it is missing
// (ResourceNotFoundException otherwise) and the stream when it is missing,
// then applies PutLogEvents' rules, with two differences suited to a log
// driver: the events are sorted by timestamp (stably) rather than refused
// when out of order, and empty messages are skipped. Events outside the
// time window are dropped as PutLogEvents rejects them (logged, not an
// error). A batch of more than 10,000 events or 1,048,576 bytes, or whose
// kept events span more than 24 hours, is refused with
// InvalidParameterException: the agent must split batches so.
//
// producer and batchSeq de-duplicate: a batch whose batchSeq is not above
// the last one accepted from producer for the stream is answered nil and
// not stored again, so a retried batch is stored exactly once.
func (a *API) Ingest(ctx context.Context, group, stream, producer string, batchSeq uint64, createGroup bool, events []logstore.Event) error {
	if err := checkGroupName("logGroupName", group); err != nil {
		return err
	}
	if err := checkStreamName("logStreamName", stream); err != nil {
		return err
	}
	kept := make([]logstore.Event, 0, len(events))
	for _, e := range events {
		if e.Message != "" {
			kept = append(kept, logstore.Event{Timestamp: e.Timestamp, Message: e.Message})
		}
	}
	if len(kept) > 0 {
		if err := checkBatch(kept); err != nil {
			return err
		}
	}
	byTime := func(x, y logstore.Event) int { return cmp.Compare(x.Timestamp, y.Timestamp) }
	if !slices.IsSortedFunc(kept, byTime) { // an agent's batches are, but for stdout and stderr
		slices.SortStableFunc(kept, byTime)
	}
	g, err := a.adoptGroup(ctx, group)
	if errors.Is(err, logstore.ErrNotFound) && createGroup {
		g, err = a.Store.CreateGroup(group, nil)
		if errors.Is(err, logstore.ErrExists) {
			g, err = a.Store.Group(group)
		}
	}
	if err != nil {
		return storeError(err, "ingest", errGroupNotFound)
	}
	var rej *logsapi.RejectedLogEventsInfo
	if len(kept) > 0 {
		if kept, rej, err = a.window(kept, g.RetentionDays); err != nil {
			return err
		}
	}
	if rej != nil && a.Logger != nil {
		a.Logger.Warn("log events outside the accepted time window dropped", "group", group, "stream", stream,
			"producer", producer, "batch", batchSeq, "events", len(events), "kept", len(kept))
	}
	_, err = a.Store.Append(group, stream, producer, batchSeq, kept)
	if errors.Is(err, logstore.ErrNotFound) {
		if _, cerr := a.Store.CreateStream(group, stream); cerr != nil && !errors.Is(cerr, logstore.ErrExists) {
			return a.streamError(cerr, group, "ingest")
		}
		_, err = a.Store.Append(group, stream, producer, batchSeq, kept)
	}
	return a.streamError(err, group, "ingest")
}

// GetLogEvents reads a page of one stream's events, newest first unless
// startFromHead, with forward and backward tokens; at either end the token
// given comes back unchanged.
func (a *API) GetLogEvents(ctx context.Context, in *logsapi.GetLogEventsRequest) (*logsapi.GetLogEventsResponse, error) {
	group, err := a.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if err := checkStreamName("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	if err := checkLimit(in.Limit, MaxBatchEvents); err != nil {
		return nil, err
	}
	if err := checkTime("startTime", in.StartTime); err != nil {
		return nil, err
	}
	if err := checkTime("endTime", in.EndTime); err != nil {
		return nil, err
	}
	q := logstore.ReadQuery{Token: in.NextToken, StartFromHead: in.StartFromHead != nil && *in.StartFromHead}
	if in.StartTime != nil {
		q.StartTime = *in.StartTime
	}
	if in.EndTime != nil {
		q.EndTime = *in.EndTime
		if q.EndTime == 0 {
			q.EndTime = -1 // nothing is before 0; the store's 0 means no bound
		}
	}
	if in.Limit != nil {
		q.Limit = int(*in.Limit)
	}
	if a.Peers != nil {
		return a.mergedRead(ctx, group, in.LogStreamName, q)
	}
	res, err := a.Store.Read(group, in.LogStreamName, q)
	if err != nil {
		return nil, a.streamError(err, group, "get log events")
	}
	return readResponse(res), nil
}

// readResponse renders a page of Read.
func readResponse(res logstore.ReadResult) *logsapi.GetLogEventsResponse {
	out := &logsapi.GetLogEventsResponse{Events: make([]logsapi.OutputLogEvent, len(res.Events)),
		NextForwardToken: res.NextForwardToken, NextBackwardToken: res.NextBackwardToken}
	for i, e := range res.Events {
		ts, ing := e.Timestamp, e.IngestionTime
		out.Events[i] = logsapi.OutputLogEvent{Timestamp: &ts, Message: e.Message, IngestionTime: &ing}
	}
	return out
}
