package logs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
)

func newClient(url string) *cwl.Client {
	return cwl.New(cwl.Options{
		Region:           apitest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

// wantErr fails unless err is the API error code.
func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func put(t *testing.T, c *cwl.Client, group, stream string, msgs ...string) {
	t.Helper()
	ts := time.Now().UnixMilli()
	var evs []types.InputLogEvent
	for _, m := range msgs {
		evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(ts), Message: aws.String(m)})
	}
	if _, err := c.PutLogEvents(context.Background(), &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
}

func TestLogGroupsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	for _, g := range []string{"/ecs/web", "/ecs/api", "/other/DataLogs", "/other/datalogs"} {
		must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(g),
			Tags: map[string]string{"team": "a"}, LogGroupClass: types.LogGroupClassStandard}))
	}
	_, err := c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("/ecs/web")})
	wantErr(t, err, "ResourceAlreadyExistsException")
	_, err = c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("bad name")})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("g"), LogGroupClass: "NOPE"})
	wantErr(t, err, "InvalidParameterException")

	d := must[*cwl.DescribeLogGroupsOutput](t)(c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/")}))
	if len(d.LogGroups) != 2 || *d.LogGroups[0].LogGroupName != "/ecs/api" || d.NextToken != nil {
		t.Fatalf("prefix: %+v", d)
	}
	g := d.LogGroups[0]
	if *g.Arn != "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/api:*" || *g.LogGroupArn != "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/api" ||
		*g.MetricFilterCount != 0 || *g.StoredBytes != 0 || g.CreationTime == nil || g.RetentionInDays != nil || g.LogGroupClass != types.LogGroupClassStandard {
		t.Fatalf("group: %+v", g)
	}
	d = must[*cwl.DescribeLogGroupsOutput](t)(c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("DataLogs")}))
	if len(d.LogGroups) != 1 || *d.LogGroups[0].LogGroupName != "/other/DataLogs" || d.LogGroups[0].StoredBytes != nil {
		t.Fatalf("pattern (case sensitive, brief): %+v", d.LogGroups)
	}
	_, err = c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("a"), LogGroupNamePrefix: aws.String("a")})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{Limit: aws.Int32(51)})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{NextToken: aws.String("garbage")})
	wantErr(t, err, "InvalidParameterException")

	// Paging, one at a time.
	var names []string
	p := cwl.NewDescribeLogGroupsPaginator(c, &cwl.DescribeLogGroupsInput{Limit: aws.Int32(1)})
	for p.HasMorePages() {
		for _, g := range must[*cwl.DescribeLogGroupsOutput](t)(p.NextPage(ctx)).LogGroups {
			names = append(names, *g.LogGroupName)
		}
	}
	if want := []string{"/ecs/api", "/ecs/web", "/other/DataLogs", "/other/datalogs"}; !slices.Equal(names, want) {
		t.Fatalf("paged %v, want %v", names, want)
	}

	// Retention.
	_, err = c.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/ecs/web"), RetentionInDays: aws.Int32(4)})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/nope"), RetentionInDays: aws.Int32(5)})
	wantErr(t, err, "ResourceNotFoundException")
	must[*cwl.PutRetentionPolicyOutput](t)(c.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/ecs/web"), RetentionInDays: aws.Int32(3653)}))
	d = must[*cwl.DescribeLogGroupsOutput](t)(c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupIdentifiers: []string{"/ecs/web"}}))
	if len(d.LogGroups) != 1 || d.LogGroups[0].RetentionInDays == nil || *d.LogGroups[0].RetentionInDays != 3653 {
		t.Fatalf("retention: %+v", d.LogGroups)
	}
	must[*cwl.DeleteRetentionPolicyOutput](t)(c.DeleteRetentionPolicy(ctx, &cwl.DeleteRetentionPolicyInput{LogGroupName: aws.String("/ecs/web")}))
	d = must[*cwl.DescribeLogGroupsOutput](t)(c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/web")}))
	if d.LogGroups[0].RetentionInDays != nil {
		t.Fatal("retention not deleted")
	}

	// Tags, new and old operations.
	arn := "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"
	must[*cwl.TagResourceOutput](t)(c.TagResource(ctx, &cwl.TagResourceInput{ResourceArn: &arn, Tags: map[string]string{"env": "prod"}}))
	must[*cwl.TagLogGroupOutput](t)(c.TagLogGroup(ctx, &cwl.TagLogGroupInput{LogGroupName: aws.String("/ecs/web"), Tags: map[string]string{"x": "1"}})) //nolint:staticcheck // the older operations are served too
	must[*cwl.UntagResourceOutput](t)(c.UntagResource(ctx, &cwl.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"team"}}))
	tags := must[*cwl.ListTagsForResourceOutput](t)(c.ListTagsForResource(ctx, &cwl.ListTagsForResourceInput{ResourceArn: aws.String(arn + ":*")})).Tags
	if len(tags) != 2 || tags["env"] != "prod" || tags["x"] != "1" {
		t.Fatalf("tags %v", tags)
	}
	must[*cwl.UntagLogGroupOutput](t)(c.UntagLogGroup(ctx, &cwl.UntagLogGroupInput{LogGroupName: aws.String("/ecs/web"), Tags: []string{"x"}})) //nolint:staticcheck // the older operations are served too
	old := must[*cwl.ListTagsLogGroupOutput](t)(c.ListTagsLogGroup(ctx, &cwl.ListTagsLogGroupInput{LogGroupName: aws.String("/ecs/web")})).Tags //nolint:staticcheck // the older operations are served too
	if len(old) != 1 || old["env"] != "prod" {
		t.Fatalf("old tags %v", old)
	}
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprint("k", i)] = "v"
	}
	_, err = c.TagResource(ctx, &cwl.TagResourceInput{ResourceArn: &arn, Tags: many})
	wantErr(t, err, "TooManyTagsException")
	_, err = c.TagResource(ctx, &cwl.TagResourceInput{ResourceArn: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:/nope"), Tags: map[string]string{"a": "b"}})
	wantErr(t, err, "ResourceNotFoundException")
	_, err = c.ListTagsForResource(ctx, &cwl.ListTagsForResourceInput{ResourceArn: aws.String("not-an-arn")})
	wantErr(t, err, "InvalidParameterException")

	must[*cwl.DeleteLogGroupOutput](t)(c.DeleteLogGroup(ctx, &cwl.DeleteLogGroupInput{LogGroupName: aws.String("/ecs/web")}))
	_, err = c.DeleteLogGroup(ctx, &cwl.DeleteLogGroupInput{LogGroupName: aws.String("/ecs/web")})
	wantErr(t, err, "ResourceNotFoundException")
}

func TestLogStreamsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group := "/ecs/streams"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	for _, s := range []string{"b", "a", "c"} {
		must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String(s)}))
	}
	_, err := c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String("a")})
	wantErr(t, err, "ResourceAlreadyExistsException")
	_, err = c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String("/nope"), LogStreamName: aws.String("a")})
	wantErr(t, err, "ResourceNotFoundException")
	_, err = c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String("a:b")})
	wantErr(t, err, "InvalidParameterException")
	// Last event times: c, then a, then b.
	for _, s := range []string{"c", "a", "b"} {
		put(t, c, group, s, "line of "+s)
		time.Sleep(5 * time.Millisecond)
	}
	names := func(in *cwl.DescribeLogStreamsInput) []string {
		t.Helper()
		var out []string
		p := cwl.NewDescribeLogStreamsPaginator(c, in)
		for p.HasMorePages() {
			for _, s := range must[*cwl.DescribeLogStreamsOutput](t)(p.NextPage(ctx)).LogStreams {
				out = append(out, *s.LogStreamName)
			}
		}
		return out
	}
	if got := names(&cwl.DescribeLogStreamsInput{LogGroupName: &group, Limit: aws.Int32(1)}); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("by name: %v", got)
	}
	if got := names(&cwl.DescribeLogStreamsInput{LogGroupName: &group, Descending: aws.Bool(true), Limit: aws.Int32(2)}); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("by name descending: %v", got)
	}
	if got := names(&cwl.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:" + group),
		OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(1)}); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Fatalf("by last event time: %v", got)
	}
	if got := names(&cwl.DescribeLogStreamsInput{LogGroupName: &group, LogStreamNamePrefix: aws.String("b")}); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("prefix: %v", got)
	}
	_, err = c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &group, LogStreamNamePrefix: aws.String("b"), OrderBy: types.OrderByLastEventTime})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &group, LogGroupIdentifier: &group})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/nope")})
	wantErr(t, err, "ResourceNotFoundException")
	d := must[*cwl.DescribeLogStreamsOutput](t)(c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &group, LogStreamNamePrefix: aws.String("a")}))
	s := d.LogStreams[0]
	if s.FirstEventTimestamp == nil || s.LastEventTimestamp == nil || s.LastIngestionTime == nil ||
		*s.Arn != "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/streams:log-stream:a" {
		t.Fatalf("stream: %+v", s)
	}
	must[*cwl.DeleteLogStreamOutput](t)(c.DeleteLogStream(ctx, &cwl.DeleteLogStreamInput{LogGroupName: &group, LogStreamName: aws.String("a")}))
	_, err = c.DeleteLogStream(ctx, &cwl.DeleteLogStreamInput{LogGroupName: &group, LogStreamName: aws.String("a")})
	wantErr(t, err, "ResourceNotFoundException")
	_, err = c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: aws.String("a"),
		LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String("x")}}})
	wantErr(t, err, "ResourceNotFoundException")
}

func TestLogEventsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group, stream := "/ecs/events", "ecs/app/1"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}))
	base := time.Now().Add(-time.Hour).UnixMilli()
	var evs []types.InputLogEvent
	for i := range 100 {
		evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(fmt.Sprintf("line %03d", i))})
	}
	out := must[*cwl.PutLogEventsOutput](t)(c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs,
		SequenceToken: aws.String("ignored")}))
	if out.RejectedLogEventsInfo != nil || out.NextSequenceToken == nil {
		t.Fatalf("put: %+v", out)
	}

	// Forward from the head, 30 at a time, to the end where the token
	// comes back unchanged.
	var got []string
	in := &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, StartFromHead: aws.Bool(true), Limit: aws.Int32(30)}
	for range 10 {
		r := must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, in))
		for _, e := range r.Events {
			got = append(got, *e.Message)
		}
		if in.NextToken != nil && *r.NextForwardToken == *in.NextToken {
			break
		}
		in.NextToken = r.NextForwardToken
	}
	if len(got) != 100 || got[0] != "line 000" || got[99] != "line 099" {
		t.Fatalf("forward: %d events %v...", len(got), got[:min(3, len(got))])
	}
	// The newest first by default, then backward.
	r := must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupIdentifier: &group, LogStreamName: &stream, Limit: aws.Int32(10)}))
	if len(r.Events) != 10 || *r.Events[0].Message != "line 090" || *r.Events[9].Message != "line 099" {
		t.Fatalf("tail page: %v", r.Events)
	}
	r = must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, Limit: aws.Int32(10), NextToken: r.NextBackwardToken}))
	if len(r.Events) != 10 || *r.Events[0].Message != "line 080" {
		t.Fatalf("backward page: %v", r.Events)
	}
	// Time range: [start, end).
	r = must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
		StartTime: aws.Int64(base + 10), EndTime: aws.Int64(base + 20), StartFromHead: aws.Bool(true)}))
	if len(r.Events) != 10 || *r.Events[0].Message != "line 010" || *r.Events[9].Message != "line 019" {
		t.Fatalf("range: %d", len(r.Events))
	}
	_, err := c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: aws.String("nope")})
	wantErr(t, err, "ResourceNotFoundException")
	_, err = c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, NextToken: aws.String("x/garbage")})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, Limit: aws.Int32(10001)})
	wantErr(t, err, "InvalidParameterException")

	// Bad batches: refused whole, nothing stored.
	tooMany := make([]types.InputLogEvent, 10001)
	for i := range tooMany {
		tooMany[i] = types.InputLogEvent{Timestamp: aws.Int64(base), Message: aws.String("x")}
	}
	_, err = c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: tooMany})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(base + 1), Message: aws.String("b")}, {Timestamp: aws.Int64(base), Message: aws.String("a")}}})
	wantErr(t, err, "InvalidParameterException")
	big := strings.Repeat("x", 600_000)
	_, err = c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(base), Message: &big}, {Timestamp: aws.Int64(base), Message: &big}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" {
		t.Fatalf("oversized batch: %v", err)
	}
	// A batch just under the limit as CloudWatch Logs counts it is stored
	// whole, although its JSON body is larger than 1 MiB.
	near := strings.Repeat("\t", 100_000)
	nearBatch := make([]types.InputLogEvent, 10)
	for i := range nearBatch {
		nearBatch[i] = types.InputLogEvent{Timestamp: aws.Int64(base), Message: &near}
	}
	if _, err := c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: nearBatch}); err != nil {
		t.Fatalf("a batch of 1,000,260 counted bytes (200,000 in JSON escapes a message): %v", err)
	}
	_, err = c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(base - 48*3600*1000), Message: aws.String("a")}, {Timestamp: aws.Int64(base), Message: aws.String("b")}}})
	wantErr(t, err, "InvalidParameterException")
	// Out of the window: reported, the rest stored.
	now := time.Now()
	out = must[*cwl.PutLogEventsOutput](t)(c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(now.Add(-15 * 24 * time.Hour).UnixMilli()), Message: aws.String("old")},
		{Timestamp: aws.Int64(now.UnixMilli()), Message: aws.String("ok")},
		{Timestamp: aws.Int64(now.Add(3 * time.Hour).UnixMilli()), Message: aws.String("new")}}}))
	if ri := out.RejectedLogEventsInfo; ri == nil || aws.ToInt32(ri.TooOldLogEventEndIndex) != 1 || aws.ToInt32(ri.TooNewLogEventStartIndex) != 2 {
		t.Fatalf("rejected: %+v", out.RejectedLogEventsInfo)
	}
	st := must[*cwl.DescribeLogStreamsOutput](t)(c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &group})).LogStreams[0]
	if d := time.Since(time.UnixMilli(*st.LastEventTimestamp)); d > time.Minute {
		t.Fatalf("last event %v ago: the accepted one was not stored", d)
	}
	r = must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, StartFromHead: aws.Bool(true)}))
	if len(r.Events) != 111 {
		t.Fatalf("%d events stored, want 111 (100 + the 10 of the batch near the limit + 1)", len(r.Events))
	}
}

func TestFilterLogEventsThroughTheSDK(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group := "/ecs/filter"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	base := time.Now().Add(-time.Minute).UnixMilli()
	lines := map[string][]string{
		"web/1": {`{"level":"error","latency":250}`, `127.0.0.1 alice GET /index.html 200`, `plain ERROR timeout here`},
		"web/2": {`{"level":"info","latency":12}`, `10.0.0.2 bob POST /login 500`, `plain WARN slow disk`},
		"api/1": {`{"level":"error","latency":50}`, `plain ERROR something else`},
	}
	for s, msgs := range lines {
		must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String(s)}))
		var evs []types.InputLogEvent
		for i, m := range msgs {
			evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(m)})
		}
		must[*cwl.PutLogEventsOutput](t)(c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: aws.String(s), LogEvents: evs}))
	}
	filter := func(in cwl.FilterLogEventsInput) []string {
		t.Helper()
		in.LogGroupName = &group
		var out []string
		p := cwl.NewFilterLogEventsPaginator(c, &in)
		for p.HasMorePages() {
			for _, e := range must[*cwl.FilterLogEventsOutput](t)(p.NextPage(ctx)).Events {
				if e.EventId == nil || e.IngestionTime == nil {
					t.Fatalf("event without ID or ingestion time: %+v", e)
				}
				out = append(out, *e.LogStreamName+" "+*e.Message)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name, pattern string
		want          []string
	}{
		{"terms", `ERROR timeout`, []string{"web/1 plain ERROR timeout here"}},
		{"optional", `?WARN ?timeout`, []string{"web/1 plain ERROR timeout here", "web/2 plain WARN slow disk"}},
		{"excluded", `plain -ERROR`, []string{"web/2 plain WARN slow disk"}},
		{"phrase", `"slow disk"`, []string{"web/2 plain WARN slow disk"}},
		{"json", `{ $.level = "error" && $.latency > 100 }`, []string{`web/1 {"level":"error","latency":250}`}},
		{"delimited", `[ip, user, verb, path, status=5*]`, []string{"web/2 10.0.0.2 bob POST /login 500"}},
		{"regex", `%ERROR +[a-z]+ else%`, []string{"api/1 plain ERROR something else"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := filter(cwl.FilterLogEventsInput{FilterPattern: aws.String(tc.pattern), Limit: aws.Int32(1)}); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := filter(cwl.FilterLogEventsInput{LogStreamNamePrefix: aws.String("web/")}); len(got) != 6 {
		t.Fatalf("prefix: %v", got)
	}
	if got := filter(cwl.FilterLogEventsInput{LogStreamNames: []string{"api/1", "missing"}}); len(got) != 2 {
		t.Fatalf("names: %v", got)
	}
	// endTime is inclusive.
	if got := filter(cwl.FilterLogEventsInput{StartTime: aws.Int64(base + 1), EndTime: aws.Int64(base + 1)}); len(got) != 3 {
		t.Fatalf("time range: %v", got)
	}
	r := must[*cwl.FilterLogEventsOutput](t)(c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &group}))
	if len(r.SearchedLogStreams) != 3 || !*r.SearchedLogStreams[0].SearchedCompletely || len(r.Events) != 8 || r.NextToken != nil {
		t.Fatalf("all: %+v", r)
	}
	for i := 1; i < len(r.Events); i++ {
		if *r.Events[i].Timestamp < *r.Events[i-1].Timestamp {
			t.Fatal("events not in timestamp order")
		}
	}
	_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &group, FilterPattern: aws.String(`{ $.level = `)})
	wantErr(t, err, "InvalidParameterException")
	_, err = c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/nope")})
	wantErr(t, err, "ResourceNotFoundException")
	_, err = c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &group, LogStreamNames: []string{"a"}, LogStreamNamePrefix: aws.String("a")})
	wantErr(t, err, "InvalidParameterException")
}

func TestRetentionRemovesOldEvents(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group, stream := "/ecs/retention", "s"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}))
	now := time.Now()
	must[*cwl.PutLogEventsOutput](t)(c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(now.Add(-20 * time.Hour).UnixMilli()), Message: aws.String("old")},
		{Timestamp: aws.Int64(now.UnixMilli()), Message: aws.String("new")}}}))
	must[*cwl.PutRetentionPolicyOutput](t)(c.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: &group, RetentionInDays: aws.Int32(1)}))
	// A day later (the store's loop runs every minute with the real clock).
	if _, err := env.Server.Logs.Store.EnforceRetention(now.Add(5 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, StartFromHead: aws.Bool(true)}))
	if len(r.Events) != 1 || *r.Events[0].Message != "new" {
		t.Fatalf("after retention: %v", r.Events)
	}
	d := must[*cwl.DescribeLogGroupsOutput](t)(c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: &group}))
	if *d.LogGroups[0].StoredBytes != int64(len("new")+26) {
		t.Fatalf("stored bytes %d", *d.LogGroups[0].StoredBytes)
	}
}

func TestLogsSurviveRestart(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group, stream := "/ecs/restart", "s"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}))
	put(t, c, group, stream, "before")
	if err := env.Server.Logs.Ingest(ctx, group, "agent/1", "i-1", 7, false, []logstore.Event{{Timestamp: time.Now().UnixMilli(), Message: "shipped"}}); err != nil {
		t.Fatal(err)
	}
	env.Restart(t)
	c = newClient(env.URL)
	put(t, c, group, stream, "after")
	r := must[*cwl.FilterLogEventsOutput](t)(c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &group}))
	var got []string
	for _, e := range r.Events {
		got = append(got, *e.Message)
	}
	if !slices.Equal(got, []string{"before", "shipped", "after"}) && !slices.Equal(got, []string{"shipped", "before", "after"}) {
		t.Fatalf("after restart: %v", got)
	}
	// The agent's retry of batch 7 after the restart is not stored again.
	if err := env.Server.Logs.Ingest(ctx, group, "agent/1", "i-1", 7, false, []logstore.Event{{Timestamp: time.Now().UnixMilli(), Message: "shipped"}}); err != nil {
		t.Fatal(err)
	}
	st := must[*cwl.DescribeLogStreamsOutput](t)(c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &group, LogStreamNamePrefix: aws.String("agent/")}))
	if len(st.LogStreams) != 1 {
		t.Fatalf("streams %+v", st.LogStreams)
	}
	n := must[*cwl.GetLogEventsOutput](t)(c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: aws.String("agent/1")}))
	if len(n.Events) != 1 {
		t.Fatalf("%d events after a retried batch, want 1", len(n.Events))
	}
}
