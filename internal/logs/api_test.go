package logs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// now is the fixed clock of the unit tests.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestAPI(t *testing.T) *API {
	t.Helper()
	s, err := logstore.Open(t.TempDir(), logstore.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := New(s, "us-east-1", "123456789012", nil)
	a.Now = func() time.Time { return now }
	t.Cleanup(a.Close)
	return a
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	ae, ok := apierror.As(err)
	if !ok || ae.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func ms(t time.Time) *int64 { v := t.UnixMilli(); return &v }

func mustCreate(t *testing.T, a *API, group, stream string) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.CreateLogGroup(ctx, &logsapi.CreateLogGroupRequest{LogGroupName: group}); err != nil {
		t.Fatal(err)
	}
	if stream != "" {
		if _, err := a.CreateLogStream(ctx, &logsapi.CreateLogStreamRequest{LogGroupName: group, LogStreamName: stream}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNameValidation(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, group, stream, code string
	}{
		{"group ok", "/ecs/web_1.#-", "", ""},
		{"group bad char", "ecs web", "", apierror.CodeInvalidParameter},
		{"group too long", strings.Repeat("a", 513), "", apierror.CodeInvalidParameter},
		{"group reserved", "aws/x", "", apierror.CodeInvalidParameter},
		{"stream colon", "g", "a:b", apierror.CodeInvalidParameter},
		{"stream star", "g", "a*", apierror.CodeInvalidParameter},
		{"stream too long", "g", strings.Repeat("s", 513), apierror.CodeInvalidParameter},
		{"stream ok", "g", "ecs/app/0123 x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.stream == "" {
				_, err = a.CreateLogGroup(ctx, &logsapi.CreateLogGroupRequest{LogGroupName: tc.group})
			} else {
				_, _ = a.CreateLogGroup(ctx, &logsapi.CreateLogGroupRequest{LogGroupName: tc.group})
				_, err = a.CreateLogStream(ctx, &logsapi.CreateLogStreamRequest{LogGroupName: tc.group, LogStreamName: tc.stream})
			}
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestPutLogEventsBatchRules(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	mustCreate(t, a, "g", "s")
	put := func(events ...logsapi.InputLogEvent) (*logsapi.PutLogEventsResponse, error) {
		return a.PutLogEvents(ctx, &logsapi.PutLogEventsRequest{LogGroupName: "g", LogStreamName: "s", LogEvents: events})
	}
	ev := func(t time.Time, msg string) logsapi.InputLogEvent {
		return logsapi.InputLogEvent{Timestamp: ms(t), Message: msg}
	}
	stored := func() int64 {
		st, err := a.Store.Stream("g", "s")
		if err != nil {
			t.Fatal(err)
		}
		return st.EventCount
	}

	// Too many, too large, out of order, spanning over 24 hours: refused
	// whole.
	many := make([]logsapi.InputLogEvent, MaxBatchEvents+1)
	for i := range many {
		many[i] = ev(now, "x")
	}
	_, err := put(many...)
	wantCode(t, err, apierror.CodeInvalidParameter)
	big := strings.Repeat("x", MaxBatchBytes-2*EventOverhead-1)
	_, err = put(ev(now, big), ev(now, "yy"))
	wantCode(t, err, apierror.CodeInvalidParameter)
	if _, err := put(ev(now, big), ev(now, "y")); err != nil {
		t.Fatalf("a batch of exactly %d bytes: %v", MaxBatchBytes, err)
	}
	_, err = put(ev(now, "b"), ev(now.Add(-time.Second), "a"))
	wantCode(t, err, apierror.CodeInvalidParameter)
	_, err = put(ev(now.Add(-25*time.Hour), "a"), ev(now, "b"))
	wantCode(t, err, apierror.CodeInvalidParameter)
	_, err = put(ev(now, ""))
	wantCode(t, err, apierror.CodeInvalidParameter)
	if n := stored(); n != 2 {
		t.Fatalf("stored %d events, want the 2 of the one good batch", n)
	}

	// Out of the window: reported and not stored, the rest stored.
	res, err := put(ev(now.Add(-15*24*time.Hour), "old1"), ev(now.Add(-14*24*time.Hour-time.Minute), "old2"),
		ev(now.Add(-time.Hour), "ok1"), ev(now, "ok2"), ev(now.Add(2*time.Hour+time.Minute), "new"))
	if err != nil {
		t.Fatal(err)
	}
	r := res.RejectedLogEventsInfo
	if r == nil || r.TooOldLogEventEndIndex == nil || *r.TooOldLogEventEndIndex != 2 ||
		r.TooNewLogEventStartIndex == nil || *r.TooNewLogEventStartIndex != 4 || r.ExpiredLogEventEndIndex != nil {
		t.Fatalf("rejected %+v", r)
	}
	if n := stored(); n != 4 {
		t.Fatalf("stored %d events, want 4", n)
	}
	if res.NextSequenceToken == "" {
		t.Fatal("no nextSequenceToken")
	}

	// Retention: events before it are expired.
	if _, err := a.PutRetentionPolicy(ctx, &logsapi.PutRetentionPolicyRequest{LogGroupName: "g", RetentionInDays: ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	res, err = put(ev(now.Add(-36*time.Hour), "exp"), ev(now, "ok3"))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.RejectedLogEventsInfo; r == nil || r.ExpiredLogEventEndIndex == nil || *r.ExpiredLogEventEndIndex != 1 || r.TooOldLogEventEndIndex != nil {
		t.Fatalf("rejected %+v", r)
	}
	_, err = a.PutRetentionPolicy(ctx, &logsapi.PutRetentionPolicyRequest{LogGroupName: "g", RetentionInDays: ptr(int32(2))})
	wantCode(t, err, apierror.CodeInvalidParameter)

	// Unknown group and stream.
	_, err = a.PutLogEvents(ctx, &logsapi.PutLogEventsRequest{LogGroupName: "nope", LogStreamName: "s", LogEvents: []logsapi.InputLogEvent{ev(now, "x")}})
	wantCode(t, err, apierror.CodeResourceNotFound)
	_, err = a.PutLogEvents(ctx, &logsapi.PutLogEventsRequest{LogGroupName: "g", LogStreamName: "nope", LogEvents: []logsapi.InputLogEvent{ev(now, "x")}})
	wantCode(t, err, apierror.CodeResourceNotFound)
}

func TestIngest(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	evs := []logstore.Event{{Timestamp: now.UnixMilli() + 2, Message: "c"}, {Timestamp: now.UnixMilli(), Message: "a"},
		{Timestamp: now.UnixMilli() + 1, Message: ""}, {Timestamp: now.UnixMilli() + 1, Message: "b"}}
	err := a.Ingest(ctx, "/ecs/web", "ecs/app/1", "i-1", 1, false, evs)
	wantCode(t, err, apierror.CodeResourceNotFound)
	for range 2 { // the retry is a duplicate
		if err := a.Ingest(ctx, "/ecs/web", "ecs/app/1", "i-1", 1, true, evs); err != nil {
			t.Fatal(err)
		}
	}
	r, err := a.GetLogEvents(ctx, &logsapi.GetLogEventsRequest{LogGroupName: "/ecs/web", LogStreamName: "ecs/app/1", StartFromHead: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range r.Events {
		got = append(got, e.Message)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("events %v, want a,b,c once, sorted, without the empty one", got)
	}
	err = a.Ingest(ctx, "/ecs/web", "ecs/app/1", "i-1", 2, false, make([]logstore.Event, MaxBatchEvents+1))
	if err != nil {
		t.Fatalf("a batch of empty messages only: %v", err)
	}
}

func TestFilterPatternErrors(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	mustCreate(t, a, "g", "s")
	for _, p := range []string{`{ $.a = `, `[a, b`, `"unterminated`, `%[%`} {
		_, err := a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{LogGroupName: "g", FilterPattern: p})
		wantCode(t, err, apierror.CodeInvalidParameter)
	}
	_, err := a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{LogGroupName: "g", LogStreamNames: []string{"s"}, LogStreamNamePrefix: "s"})
	wantCode(t, err, apierror.CodeInvalidParameter)
	_, err = a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{LogGroupName: "g", NextToken: "garbage"})
	wantCode(t, err, apierror.CodeInvalidParameter)
	_, err = a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{LogGroupName: "nope"})
	wantCode(t, err, apierror.CodeResourceNotFound)
	_, err = a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{})
	wantCode(t, err, apierror.CodeInvalidParameter)
}

// TestTailWaitsForNewEvents drives FilterLogEvents as `aws logs tail
// --follow` does: a request from the newest timestamp seen that finds
// only that is held until a new event arrives, and answers with a tail
// token that is held the same way.
func TestTailWaitsForNewEvents(t *testing.T) {
	a := newTestAPI(t)
	a.TailWait = 5 * time.Second
	ctx := context.Background()
	mustCreate(t, a, "g", "s")
	t0 := now.UnixMilli()
	put := func(ts int64, msg string) {
		if _, err := a.PutLogEvents(ctx, &logsapi.PutLogEventsRequest{LogGroupName: "g", LogStreamName: "s",
			LogEvents: []logsapi.InputLogEvent{{Timestamp: &ts, Message: msg}}}); err != nil {
			t.Error(err)
		}
	}
	put(t0, "first")
	req := &logsapi.FilterLogEventsRequest{LogGroupName: "g", StartTime: ptr(t0 - 1000), Interleaved: ptr(true)}
	res, err := a.FilterLogEvents(ctx, req)
	if err != nil || len(res.Events) != 1 || res.NextToken != "" {
		t.Fatalf("first poll: %+v %v", res, err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	poll := func(req *logsapi.FilterLogEventsRequest, ts int64, msg string) *logsapi.FilterLogEventsResponse {
		t.Helper()
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(100 * time.Millisecond)
			put(ts, msg)
		}()
		start := time.Now()
		res, err := a.FilterLogEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("answered after %v", d)
		}
		if len(res.Events) != 1 || res.Events[0].Message != msg || !strings.HasPrefix(res.NextToken, tailPrefix) {
			t.Fatalf("poll: %+v", res)
		}
		return res
	}
	// The CLI's reset: startTime is the newest timestamp seen.
	res = poll(&logsapi.FilterLogEventsRequest{LogGroupName: "g", StartTime: ptr(t0), Interleaved: ptr(true)}, t0+5, "second")
	req.NextToken = res.NextToken
	res = poll(req, t0+6, "third")

	// Nothing new: the same token back after TailWait, or at Close.
	req.NextToken = res.NextToken
	go func() { time.Sleep(200 * time.Millisecond); a.Close() }()
	res, err = a.FilterLogEvents(ctx, req)
	if err != nil || len(res.Events) != 0 || res.NextToken != req.NextToken {
		t.Fatalf("idle poll: %+v %v", res, err)
	}

	// Not tailing: answered at once, no token at the end.
	res, err = a.FilterLogEvents(ctx, &logsapi.FilterLogEventsRequest{LogGroupName: "g", StartTime: ptr(t0 + 6)})
	if err != nil || len(res.Events) != 1 || res.NextToken != "" {
		t.Fatalf("plain: %+v %v", res, err)
	}
}

func TestIngestWindowAndSpan(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	t0 := now.UnixMilli()
	// Too old and too new are dropped, the rest stored.
	err := a.Ingest(ctx, "g", "s", "p", 1, true, []logstore.Event{
		{Timestamp: now.Add(-15 * 24 * time.Hour).UnixMilli(), Message: "old"},
		{Timestamp: t0, Message: "ok"},
		{Timestamp: now.Add(3 * time.Hour).UnixMilli(), Message: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Store.Stream("g", "s"); st.EventCount != 1 {
		t.Fatalf("%d events stored, want 1", st.EventCount)
	}
	// Over 24 hours: refused, nothing stored, and the batch sequence is
	// not used up.
	err = a.Ingest(ctx, "g", "s", "p", 2, true, []logstore.Event{{Timestamp: t0 - 25*3600*1000, Message: "a"}, {Timestamp: t0, Message: "b"}})
	wantCode(t, err, apierror.CodeInvalidParameter)
	if err := a.Ingest(ctx, "g", "s", "p", 2, true, []logstore.Event{{Timestamp: t0, Message: "c"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Store.Stream("g", "s"); st.EventCount != 2 {
		t.Fatalf("%d events stored, want 2", st.EventCount)
	}
	wantCode(t, a.Ingest(ctx, "bad name", "s", "p", 3, true, nil), apierror.CodeInvalidParameter)
	wantCode(t, a.Ingest(ctx, "g", "a:b", "p", 3, true, nil), apierror.CodeInvalidParameter)
}

func TestGroupIdentifiers(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	mustCreate(t, a, "/ecs/a", "s")
	mustCreate(t, a, "/ecs/b", "")
	arn := "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/a"
	for _, id := range []string{"/ecs/a", arn, arn + ":*"} {
		if _, err := a.GetLogEvents(ctx, &logsapi.GetLogEventsRequest{LogGroupIdentifier: id, LogStreamName: "s"}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	_, err := a.GetLogEvents(ctx, &logsapi.GetLogEventsRequest{LogGroupIdentifier: "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/a", LogStreamName: "s"})
	wantCode(t, err, apierror.CodeResourceNotFound)
	_, err = a.GetLogEvents(ctx, &logsapi.GetLogEventsRequest{LogGroupName: "/ecs/a", LogGroupIdentifier: "/ecs/a", LogStreamName: "s"})
	wantCode(t, err, apierror.CodeInvalidParameter)
	_, err = a.GetLogEvents(ctx, &logsapi.GetLogEventsRequest{LogGroupName: "/ecs/b", LogStreamName: "s"})
	wantCode(t, err, apierror.CodeResourceNotFound)
	d, err := a.DescribeLogGroups(ctx, &logsapi.DescribeLogGroupsRequest{LogGroupIdentifiers: []string{arn, "/ecs/b", "/ecs/none"}})
	if err != nil || len(d.LogGroups) != 2 || d.LogGroups[0].LogGroupName != "/ecs/a" {
		t.Fatalf("%+v %v", d, err)
	}
	_, err = a.DescribeLogGroups(ctx, &logsapi.DescribeLogGroupsRequest{LogGroupIdentifiers: []string{"/ecs/a"}, LogGroupNamePrefix: "/ecs"})
	wantCode(t, err, apierror.CodeInvalidParameter)
}
