package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/peers"
)

func logsClient(url string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{Region: apitest.Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
}

// TestAnyServerAnswersLogQueries: events ingested through one server are
// read through the other (GetLogEvents, FilterLogEvents, DescribeLogStreams),
// merged with the reading server's own in timestamp order and paged exactly;
// the peer endpoint refuses requests not signed with the peer key.
func TestAnyServerAnswersLogQueries(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	urls := serversOnOneEtcd(t, 2)
	a, b := logsClient(urls[0]), logsClient(urls[1])
	put := func(c *cloudwatchlogs.Client, group, stream string, ts ...int64) {
		t.Helper()
		var evs []types.InputLogEvent
		for _, x := range ts {
			evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(x), Message: aws.String(fmt.Sprintf("%s %d", stream, x))})
		}
		if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}); err != nil {
			var exists *types.ResourceAlreadyExistsException
			if !errors.As(err, &exists) {
				t.Fatal(err)
			}
		}
		if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs}); err != nil {
			t.Fatal(err)
		}
	}
	// Created through A, written through both: B takes the group when
	// first written through it.
	if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("both")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("onlya")}); err != nil {
		t.Fatal(err)
	}
	// PutLogEvents takes timestamps of the last 14 days: an hour ago.
	base := nowMillis() - 3_600_000
	put(a, "both", "sa", base+1, base+3, base+5, base+7)
	put(b, "both", "sb", base+2, base+4, base+6)
	put(a, "both", "shared", base+10)
	put(b, "both", "shared", base+20)
	put(a, "onlya", "s", base+1, base+2, base+3, base+4, base+5)

	t.Run("FilterLogEvents through B, paged by 2", func(t *testing.T) {
		var got []string
		var token *string
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("paging does not end")
			}
			out, err := b.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("both"), Limit: aws.Int32(2), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Events {
				got = append(got, *e.Message)
			}
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
		var want []string
		for i := int64(1); i <= 7; i++ {
			s := "sb"
			if i%2 == 1 {
				s = "sa"
			}
			want = append(want, fmt.Sprintf("%s %d", s, base+i))
		}
		want = append(want, fmt.Sprintf("shared %d", base+10), fmt.Sprintf("shared %d", base+20))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("FilterLogEvents with a pattern through A", func(t *testing.T) {
		out, err := a.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("both"), FilterPattern: aws.String("sb")})
		if err != nil || len(out.Events) != 3 || out.NextToken != nil {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("interleaved without endTime (aws logs tail) through B", func(t *testing.T) {
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("both"), StartTime: aws.Int64(base)}
		in.Interleaved = aws.Bool(true) //nolint:staticcheck // deprecated in AWS's model, but `aws logs tail` sends it
		out, err := b.FilterLogEvents(ctx, in)
		if err != nil || len(out.Events) != 9 || out.NextToken != nil {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("a group only A holds, through B", func(t *testing.T) {
		out, err := b.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("onlya"), LogStreamName: aws.String("s"),
			StartFromHead: aws.Bool(true), Limit: aws.Int32(3)})
		if err != nil || len(out.Events) != 3 || *out.Events[0].Timestamp != base+1 {
			t.Fatalf("%v %+v", err, out)
		}
		next, err := b.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("onlya"), LogStreamName: aws.String("s"),
			NextToken: out.NextForwardToken, Limit: aws.Int32(3)})
		if err != nil || len(next.Events) != 2 || *next.Events[0].Timestamp != base+4 {
			t.Fatalf("%v %+v", err, next)
		}
		end, err := b.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("onlya"), LogStreamName: aws.String("s"),
			NextToken: next.NextForwardToken})
		if err != nil || len(end.Events) != 0 || *end.NextForwardToken != *next.NextForwardToken {
			t.Fatalf("the end of the stream: %v %+v", err, end)
		}
		streams, err := b.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("onlya")})
		if err != nil || len(streams.LogStreams) != 1 || *streams.LogStreams[0].LastEventTimestamp != base+5 {
			t.Fatalf("%v %+v", err, streams)
		}
		var nf *types.ResourceNotFoundException
		if _, err := b.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("onlya"), LogStreamName: aws.String("nope")}); !errors.As(err, &nf) ||
			nf.ErrorMessage() != "The specified log stream does not exist." {
			t.Fatalf("a stream no server holds: %v", err)
		}
		if _, err := b.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("nowhere")}); !errors.As(err, &nf) ||
			nf.ErrorMessage() != "The specified log group does not exist." {
			t.Fatalf("a group no server holds: %v", err)
		}
	})
	t.Run("DescribeLogStreams merges a stream both servers hold", func(t *testing.T) {
		var names []string
		var token *string
		for {
			out, err := a.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("both"), Limit: aws.Int32(2),
				OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.LogStreams {
				names = append(names, *s.LogStreamName)
				if *s.LogStreamName == "shared" && (*s.FirstEventTimestamp != base+10 || *s.LastEventTimestamp != base+20) {
					t.Fatalf("shared: %+v", s)
				}
			}
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
		if strings.Join(names, ",") != "shared,sa,sb" {
			t.Fatalf("streams by last event time, descending: %v", names)
		}
	})
	t.Run("the peer endpoint refuses other callers", func(t *testing.T) {
		for _, sig := range []string{"", strings.Repeat("0", 64)} {
			req, _ := http.NewRequest(http.MethodPost, urls[0]+peers.Prefix+"logs/scan", strings.NewReader(`{"Group":"both"}`))
			req.Header.Set("X-Gantry-Peer-Time", fmt.Sprint(nowMillis()/1000))
			req.Header.Set("X-Gantry-Peer-Signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("signature %q: %s", sig, resp.Status)
			}
		}
	})
}

func nowMillis() int64 { return time.Now().UnixMilli() }
