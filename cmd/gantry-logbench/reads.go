package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// The read phase's group, streams and the pattern FilterLogEvents looks
// for (one event in every errorEvery).
const (
	readGroup     = "/logbench/filter"
	readStreams   = 10
	errorEvery    = 100_000
	filterPattern = `"level=error"`
	readReps      = 5
)

// readPhase puts -filter-events events with PutLogEvents into readStreams
// streams, then times GetLogEvents of 10,000 events and FilterLogEvents
// over all of them.
func (b *bench) readPhase(ctx context.Context) (readResult, error) {
	r := readResult{filterPattern: filterPattern}
	if _, err := b.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(readGroup)}); err != nil {
		return r, err
	}
	for s := range readStreams {
		if _, err := b.logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(readGroup), LogStreamName: aws.String(streamName(s))}); err != nil {
			return r, err
		}
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	msg := make([]byte, b.o.size)
	// As many events as fit in a PutLogEvents call (1 MiB with 26 bytes
	// of overhead each), at most 10,000.
	batch := min(10_000, 1_048_576/(b.o.size+eventOverhead))
	start := time.Now()
	for i := 0; i < b.o.filterEvents; i += batch {
		events := make([]types.InputLogEvent, 0, batch)
		for j := i; j < min(i+batch, b.o.filterEvents); j++ {
			level := "info "
			if j%errorEvery == errorEvery/2 {
				level = "error"
			}
			for k := range msg {
				msg[k] = 'x'
			}
			copy(msg, fmt.Sprintf("%010d level=%s ", j, level))
			events = append(events, types.InputLogEvent{Timestamp: aws.Int64(base + int64(j)), Message: aws.String(string(msg))})
		}
		if _, err := b.logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(readGroup),
			LogStreamName: aws.String(streamName(i / batch % readStreams)), LogEvents: events}); err != nil {
			return r, err
		}
		r.putEvents += len(events)
	}
	r.put = time.Since(start)
	b.log.Info("put", "events", r.putEvents, "took", r.put.Round(time.Millisecond))

	// GetLogEvents answers at most 10,000 events and 1 MiB: 10,000 events
	// of this size may take two calls, as with AWS.
	for i := range readReps {
		start := time.Now()
		got, calls := 0, 0
		var token *string
		for got < 10_000 {
			out, err := b.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(readGroup),
				LogStreamName: aws.String(streamName(i % readStreams)), StartFromHead: aws.Bool(true), Limit: aws.Int32(int32(10_000 - got)), NextToken: token})
			if err != nil {
				return r, err
			}
			calls++
			got += len(out.Events)
			if len(out.Events) == 0 {
				break
			}
			token = out.NextForwardToken
		}
		r.get = append(r.get, time.Since(start))
		r.getEvents, r.getCalls = got, calls
	}
	for range readReps {
		start := time.Now()
		matched, responses := 0, 0
		var token *string
		for {
			out, err := b.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(readGroup),
				FilterPattern: aws.String(filterPattern), NextToken: token})
			if err != nil {
				return r, err
			}
			responses++
			matched += len(out.Events)
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
		r.filter = append(r.filter, time.Since(start))
		r.filterMatched, r.filterResponses = matched, responses
	}
	r.filterScanned = r.putEvents
	if want := (r.putEvents + errorEvery/2 - 1) / errorEvery; r.filterMatched != want {
		return r, fmt.Errorf("FilterLogEvents matched %d events, want %d", r.filterMatched, want)
	}
	b.log.Info("reads", "get", r.get, "filter", r.filter)
	return r, nil
}

func streamName(i int) string { return fmt.Sprintf("stream-%02d", i) }

// summarize returns the percentiles of lags.
func summarize(lags []time.Duration) latency {
	if len(lags) == 0 {
		return latency{}
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	pick := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return latency{n: len(s), p50: pick(0.5), p99: pick(0.99), max: s[len(s)-1]}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
