package logs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/logs/filterpattern"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// tailPrefix marks a FilterLogEvents nextToken of a tailing client (see the
// package doc); the rest is a logstore Scan cursor.
const tailPrefix = "t/"

// FilterLogEvents returns the events of a group's streams (all, named, or
// with a name prefix) in a time range (endTime inclusive) that match a
// filter pattern, streams interleaved in timestamp order, paged with
// nextToken. A tailing request (interleaved=true without endTime) that
// finds nothing new waits for new events; see the package doc.
func (a *API) FilterLogEvents(ctx context.Context, in *logsapi.FilterLogEventsRequest) (*logsapi.FilterLogEventsResponse, error) {
	group, err := a.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	q, match, err := scanQuery(in)
	if err != nil {
		return nil, err
	}
	q.MaxScanned = a.ScanBudget
	if q.MaxScanned == 0 {
		q.MaxScanned = DefaultScanBudget
	}
	tailing := in.Interleaved != nil && *in.Interleaved && in.EndTime == nil
	tailToken := strings.HasPrefix(in.NextToken, tailPrefix)
	if a.Peers != nil {
		return a.peersFilter(ctx, group, q, in, tailing, tailToken)
	}
	if tailToken {
		q.Cursor = in.NextToken[len(tailPrefix):]
	}
	var notify <-chan struct{}
	if tailing {
		if notify, err = a.Store.Notify(group); err != nil {
			return nil, storeError(err, "filter log events", errGroupNotFound)
		}
	}
	res, err := a.scan(group, q, match)
	if err != nil {
		return nil, err
	}
	switch {
	case !tailing:
	case tailToken:
		if len(res.Events) == 0 && res.Cursor == "" {
			a.waitForEvents(ctx, notify)
			if res, err = a.scan(group, q, match); err != nil {
				return nil, err
			}
		}
		return a.filterResponse(res, tailPrefix+tailCursor(res, q.Cursor)), nil
	case in.NextToken == "" && in.StartTime != nil && res.Cursor == "" && onlyAt(res.Events, *in.StartTime):
		// The CLI asking again from the newest timestamp it has seen:
		// wait for what comes after it.
		last := res.Events[len(res.Events)-1]
		q.Cursor = logstore.CursorAfter(last.Stream, last.Timestamp, last.Seq)
		a.waitForEvents(ctx, notify)
		if res, err = a.scan(group, q, match); err != nil {
			return nil, err
		}
		return a.filterResponse(res, tailPrefix+tailCursor(res, q.Cursor)), nil
	}
	return a.filterResponse(res, res.Cursor), nil
}

// peersFilter is FilterLogEvents over every live server's store.
func (a *API) peersFilter(ctx context.Context, group string, q logstore.ScanQuery, in *logsapi.FilterLogEventsRequest, tailing, tailToken bool) (*logsapi.FilterLogEventsResponse, error) {
	if tailToken {
		cursors, err := decodeMerged[map[string]string](in.NextToken[len(tailPrefix):])
		if err != nil {
			return nil, err
		}
		q.Cursor = ""
		return a.mergedTail(ctx, group, q, in.FilterPattern, cursors)
	}
	if !tailing || in.NextToken != "" || in.StartTime == nil {
		return a.mergedFilter(ctx, group, q, in.FilterPattern, in.NextToken)
	}
	q.Cursor = ""
	r, err := a.mergeRound(ctx, group, q, in.FilterPattern, map[string]string{})
	if err != nil {
		return nil, err
	}
	if !r.found {
		return nil, errGroupNotFound
	}
	if r.more || !onlyAt(r.res.Events, *in.StartTime) {
		next := ""
		if r.more {
			next = encodeMerged(r.filterCursors())
		}
		return a.filterResponse(r.res, next), nil
	}
	// The CLI asking again from the newest timestamp it has seen, which
	// every server has answered to its end: wait for what comes after it.
	a.waitMerged(ctx, group, r.gens)
	if r, err = a.mergeRound(ctx, group, q, in.FilterPattern, r.cursors); err != nil {
		return nil, err
	}
	return a.filterResponse(r.res, tailPrefix+encodeMerged(r.cursors)), nil
}

// scanQuery validates a FilterLogEvents request and builds its Scan query
// and matcher.
func scanQuery(in *logsapi.FilterLogEventsRequest) (logstore.ScanQuery, func(string) bool, error) {
	var q logstore.ScanQuery
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return q, nil, invalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if in.LogStreamNames != nil && len(in.LogStreamNames) == 0 {
		return q, nil, lengthError("logStreamNames", "[]", "greater than or equal to 1")
	}
	if len(in.LogStreamNames) > 100 {
		return q, nil, lengthError("logStreamNames", "[...]", "less than or equal to 100")
	}
	for _, n := range in.LogStreamNames {
		if err := checkStreamName("logStreamNames", n); err != nil {
			return q, nil, err
		}
	}
	if in.LogStreamNamePrefix != "" {
		if err := checkStreamName("logStreamNamePrefix", in.LogStreamNamePrefix); err != nil {
			return q, nil, err
		}
	}
	if err := checkLimit(in.Limit, MaxBatchEvents); err != nil {
		return q, nil, err
	}
	if err := checkTime("startTime", in.StartTime); err != nil {
		return q, nil, err
	}
	if err := checkTime("endTime", in.EndTime); err != nil {
		return q, nil, err
	}
	if len(in.FilterPattern) > 1024 {
		return q, nil, lengthError("filterPattern", in.FilterPattern, "less than or equal to 1024")
	}
	var match func(string) bool
	if strings.TrimSpace(in.FilterPattern) != "" {
		var err error
		if match, err = parsePattern(in.FilterPattern); err != nil {
			return q, nil, err
		}
	}
	q.StreamNames = in.LogStreamNames
	q.StreamPrefix = in.LogStreamNamePrefix
	q.Cursor = in.NextToken
	if in.StartTime != nil {
		q.StartTime = *in.StartTime
	}
	if in.EndTime != nil {
		// endTime is inclusive; the store's bound is not.
		q.EndTime = *in.EndTime + 1
	}
	if in.Limit != nil {
		q.Limit = int(*in.Limit)
	}
	return q, match, nil
}

// parsePattern compiles a filter pattern into a matcher; a bad pattern is
// InvalidParameterException.
func parsePattern(pattern string) (func(string) bool, error) {
	p, err := filterpattern.Parse(pattern)
	if err != nil {
		var se *filterpattern.SyntaxError
		if errors.As(err, &se) {
			return nil, invalidParameter("%s", se.Message)
		}
		return nil, invalidParameter("Invalid filter pattern")
	}
	return p.NewMatcher().Match, nil
}

func (a *API) scan(group string, q logstore.ScanQuery, match func(string) bool) (logstore.ScanResult, error) {
	res, err := a.Store.Scan(group, q, match)
	if err != nil {
		return res, storeError(err, "filter log events", errGroupNotFound)
	}
	return res, nil
}

// onlyAt reports whether there are events and all have timestamp ts.
func onlyAt(events []logstore.ScanEvent, ts int64) bool {
	if len(events) == 0 {
		return false
	}
	for _, e := range events {
		if e.Timestamp != ts {
			return false
		}
	}
	return true
}

// tailCursor is where a tailing client continues: where the scan stopped,
// else after the last event it returned, else where it started.
func tailCursor(res logstore.ScanResult, from string) string {
	switch {
	case res.Cursor != "":
		return res.Cursor
	case len(res.Events) > 0:
		last := res.Events[len(res.Events)-1]
		return logstore.CursorAfter(last.Stream, last.Timestamp, last.Seq)
	}
	return from
}

// waitForEvents waits until notify fires, TailWait passes, the client
// goes away or the API closes.
func (a *API) waitForEvents(ctx context.Context, notify <-chan struct{}) {
	d := a.TailWait
	if d == 0 {
		d = DefaultTailWait
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-notify:
	case <-t.C:
	case <-ctx.Done():
	case <-a.stopped():
	}
}

func (a *API) filterResponse(res logstore.ScanResult, next string) *logsapi.FilterLogEventsResponse {
	out := &logsapi.FilterLogEventsResponse{
		Events:             make([]logsapi.FilteredLogEvent, len(res.Events)),
		SearchedLogStreams: make([]logsapi.SearchedLogStream, len(res.Searched)),
		NextToken:          next,
	}
	for i, e := range res.Events {
		ts, ing := e.Timestamp, e.IngestionTime
		out.Events[i] = logsapi.FilteredLogEvent{LogStreamName: e.Stream, Timestamp: &ts, Message: e.Message,
			IngestionTime: &ing, EventId: eventID(e)}
	}
	for i, s := range res.Searched {
		done := s.Completely
		out.SearchedLogStreams[i] = logsapi.SearchedLogStream{LogStreamName: s.Name, SearchedCompletely: &done}
	}
	return out
}

// eventID is an event's ID, unique in its group: digits, as AWS writes
// them, of its timestamp, its sequence in its stream and a hash of the
// stream's name.
func eventID(e logstore.ScanEvent) string {
	h := fnv.New64a()
	h.Write([]byte(e.Stream))
	return fmt.Sprintf("%020d%020d%020d", e.Timestamp, e.Seq, h.Sum64())
}
