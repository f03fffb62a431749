package app_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestLogsAcrossServers: two servers on one etcd, each with its own log
// store, answer as one CloudWatch Logs. A group created through A is
// written through B (the stream adopted there, as after an agent's
// failover); GetLogEvents of the 10,000 events through either server reads
// them whole and in order, forward and backward, paged, with the end
// token unchanged; DescribeLogGroups through B is the union; CreateLogGroup
// through B of A's group is ResourceAlreadyExists; retention and deletion
// through B reach A's store; a tailing FilterLogEvents held on A is woken
// by an event put through B; `aws logs tail --follow` on A shows a line put
// through B within 2 seconds.
func TestLogsAcrossServers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	urls := serversOnOneEtcd(t, 2)
	a, b := logsClient(urls[0]), logsClient(urls[1])
	group, stream := "moved", "app/web/1"
	if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group}); err != nil {
		t.Fatal(err)
	}
	var exists *types.ResourceAlreadyExistsException
	if _, err := b.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group}); !errors.As(err, &exists) {
		t.Fatalf("CreateLogGroup through B of a group A holds: %v", err)
	}
	if _, err := a.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}); !errors.As(err, &exists) {
		t.Fatalf("CreateLogStream through B of a stream A holds: %v", err)
	}
	// 10,000 events, in batches of 1,000 alternately through A and B
	// (the batches' times overlap by 100 ms to make the merge work).
	const n = 10_000
	base := nowMillis() - 3_600_000
	for k := 0; k < n/1000; k++ {
		c := a
		if k%2 == 1 {
			c = b
		}
		var evs []types.InputLogEvent
		for i := k * 1000; i < (k+1)*1000; i++ {
			evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(fmt.Sprintf("line %05d", i))})
		}
		if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs}); err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	check := func(t *testing.T, got []string) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%d events, want %d", len(got), n)
		}
		for i, m := range got {
			if m != fmt.Sprintf("line %05d", i) {
				t.Fatalf("event %d is %q", i, m)
			}
		}
	}
	// The peer of the measurement: the same 10,000 events in a stream
	// only A holds, read through A in the same run.
	single := "single"
	if _, err := a.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &single}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n/1000; k++ {
		var evs []types.InputLogEvent
		for i := k * 1000; i < (k+1)*1000; i++ {
			evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(fmt.Sprintf("line %05d", i))})
		}
		if _, err := a.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &single, LogEvents: evs}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		c      *cloudwatchlogs.Client
		stream string
	}{{"one server's stream through A", a, single}, {"two servers' stream through A", a, stream}, {"two servers' stream through B", b, stream}} {
		t.Run(fmt.Sprintf("GetLogEvents of %d events, %s", n, tc.name), func(t *testing.T) {
			var got []string
			var best time.Duration
			cpu0 := processCPU(t)
			const runs = 5
			for r := 0; r < runs; r++ {
				start := time.Now()
				out, err := tc.c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: &tc.stream, StartFromHead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); r == 0 || d < best {
					best = d
				}
				got = got[:0]
				for _, e := range out.Events {
					got = append(got, *e.Message)
				}
			}
			cpu := (processCPU(t) - cpu0) / runs
			t.Logf("GetLogEvents of %d events, %s: best of %d %v; CPU of the process (both servers and the SDK client) %v per call",
				len(got), tc.name, runs, best.Round(time.Millisecond), cpu.Round(time.Millisecond))
			check(t, got)
			if best > time.Second {
				t.Fatalf("GetLogEvents of %d events took %v", n, best)
			}
		})
	}
	t.Run("forward pages through B, the end token unchanged", func(t *testing.T) {
		var got []string
		var token *string
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("paging does not end")
			}
			out, err := b.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
				StartFromHead: aws.Bool(true), Limit: aws.Int32(777), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Events {
				got = append(got, *e.Message)
			}
			if len(out.Events) == 0 {
				if *out.NextForwardToken != *token {
					t.Fatalf("the end token changed: %s, was %s", *out.NextForwardToken, *token)
				}
				break
			}
			token = out.NextForwardToken
		}
		check(t, got)
	})
	t.Run("backward pages through A, from the newest", func(t *testing.T) {
		var pages [][]string
		var token *string
		for {
			if len(pages) > 100 {
				t.Fatal("paging does not end")
			}
			out, err := a.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
				Limit: aws.Int32(600), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Events) == 0 {
				if *out.NextBackwardToken != *token {
					t.Fatalf("the start token changed")
				}
				break
			}
			var page []string
			for _, e := range out.Events {
				page = append(page, *e.Message)
			}
			pages = append(pages, page)
			token = out.NextBackwardToken
		}
		var got []string
		for i := len(pages) - 1; i >= 0; i-- {
			got = append(got, pages[i]...)
		}
		check(t, got)
	})
	t.Run("DescribeLogStreams and DescribeLogGroups through B are the union", func(t *testing.T) {
		if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("only-a")}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("only-b")}); err != nil {
			t.Fatal(err)
		}
		st, err := b.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: &group, LogStreamNamePrefix: &stream})
		if err != nil || len(st.LogStreams) != 1 || *st.LogStreams[0].FirstEventTimestamp != base || *st.LogStreams[0].LastEventTimestamp != base+n-1 {
			t.Fatalf("%v %+v", err, st)
		}
		var names []string
		var stored int64
		var token *string
		for {
			out, err := b.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range out.LogGroups {
				names = append(names, *g.LogGroupName)
				if *g.LogGroupName == group {
					stored = *g.StoredBytes
				}
			}
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
		if st, err := a.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: &group}); err != nil || len(st.LogStreams) != 2 {
			t.Fatalf("%v %+v", err, st)
		}
		if strings.Join(names, ",") != "moved,only-a,only-b" {
			t.Fatalf("groups through B: %v", names)
		}
		if want := int64(2 * n * len("line 00000")); stored < want {
			t.Fatalf("storedBytes %d: both servers' parts are not summed (at least %d)", stored, want)
		}
	})
	t.Run("a tail held on A is woken by an event put through B", func(t *testing.T) {
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &group, StartTime: aws.Int64(base + n - 1)}
		in.Interleaved = aws.Bool(true) //nolint:staticcheck // deprecated in AWS's model, but `aws logs tail` sends it
		type result struct {
			out *cloudwatchlogs.FilterLogEventsOutput
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			out, err := a.FilterLogEvents(ctx, in)
			done <- result{out, err, time.Now()}
		}()
		time.Sleep(500 * time.Millisecond)
		select {
		case r := <-done:
			t.Fatalf("not held: %v %+v", r.err, r.out)
		default:
		}
		put := time.Now()
		if _, err := b.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(nowMillis()), Message: aws.String("woken")}}}); err != nil {
			t.Fatal(err)
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the tail on A was not woken by B's event")
		}
		if r.err != nil || len(r.out.Events) != 1 || *r.out.Events[0].Message != "woken" || r.out.NextToken == nil {
			t.Fatalf("%v %+v", r.err, r.out)
		}
		t.Logf("woken %v after the put through B", r.at.Sub(put))
		if d := r.at.Sub(put); d > time.Second {
			t.Fatalf("woken after %v", d)
		}
	})
	t.Run("a tail held on A sees the first events of a group B takes over", func(t *testing.T) {
		fo := "failover"
		if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &fo}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &fo, LogStreamName: aws.String("s1")}); err != nil {
			t.Fatal(err)
		}
		ts := nowMillis()
		if _, err := a.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &fo, LogStreamName: aws.String("s1"),
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(ts), Message: aws.String("before")}}}); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 10)
		tctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &fo, StartTime: aws.Int64(ts)}
			in.Interleaved = aws.Bool(true) //nolint:staticcheck // as `aws logs tail` sends it
			for tctx.Err() == nil {
				out, err := a.FilterLogEvents(tctx, in)
				if err != nil {
					return
				}
				for _, e := range out.Events {
					got <- *e.Message
				}
				in.NextToken = out.NextToken
			}
		}()
		time.Sleep(500 * time.Millisecond)
		// B has never held the group: the agent's first batch there
		// creates it (adopted from A), then its stream.
		if _, err := b.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &fo, LogStreamName: aws.String("s2")}); err != nil {
			t.Fatal(err)
		}
		put := time.Now()
		if _, err := b.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &fo, LogStreamName: aws.String("s2"),
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(nowMillis()), Message: aws.String("after")}}}); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case m := <-got:
				if m != "after" {
					continue
				}
				t.Logf("the first event through B shown to the tail on A after %v", time.Since(put))
				return
			case <-time.After(2 * time.Second):
				t.Fatal("the tail on A did not see the event put through B within 2 s")
			}
		}
	})
	t.Run("aws logs tail --follow on A shows a line put through B", func(t *testing.T) {
		tailFollowAcross(t, urls[0], b, group, stream)
	})
	t.Run("retention and deletion through B reach A", func(t *testing.T) {
		if _, err := b.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("only-a"), RetentionInDays: aws.Int32(3)}); err != nil {
			t.Fatal(err)
		}
		out, err := a.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupIdentifiers: []string{"only-a"}})
		if err != nil || len(out.LogGroups) != 1 || out.LogGroups[0].RetentionInDays == nil || *out.LogGroups[0].RetentionInDays != 3 {
			t.Fatalf("%v %+v", err, out)
		}
		if _, err := b.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &group}); err != nil {
			t.Fatal(err)
		}
		var nf *types.ResourceNotFoundException
		if _, err := a.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream}); !errors.As(err, &nf) {
			t.Fatalf("GetLogEvents through A of a group deleted through B: %v", err)
		}
		if _, err := a.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &group}); !errors.As(err, &nf) {
			t.Fatalf("DeleteLogGroup again: %v", err)
		}
	})
}

// tailFollowAcross runs Debian's `aws logs tail --follow` against url and
// puts lines through c (another server): each must show within 2 s.
func tailFollowAcross(t *testing.T, url string, c *cloudwatchlogs.Client, group, stream string) {
	bin := testutil.AWSCLI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "logs", "tail", group, "--follow", "--format", "short", "--since", "1m",
		"--endpoint-url", url, "--region", apitest.Region)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "PYTHONUNBUFFERED=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitFor := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		timeout := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tail exited before showing %q", want)
				}
				if strings.HasSuffix(l, want) {
					return time.Since(start)
				}
			case <-timeout:
				t.Fatalf("%q not shown within %v", want, within)
			}
		}
	}
	waitFor("woken", 10*time.Second) // the catch-up: the last line of the test before
	// The CLI sleeps 5 s after its catch-up, then asks from the newest
	// timestamp it saw; from then on the server holds its polls.
	time.Sleep(5500 * time.Millisecond)
	for i, msg := range []string{"from B one", "from B two"} {
		if _, err := c.PutLogEvents(context.Background(), &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(nowMillis()), Message: aws.String(msg)}}}); err != nil {
			t.Fatal(err)
		}
		d := waitFor(msg, 2*time.Second)
		t.Logf("line %d put through B shown by the tail on A after %v", i+1, d)
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLogsChangesWhileAServerIsDown: changes made while a server is down
// reach its store when it comes back (the records in etcd). Groups and a
// stream written through A and B; B stops; through A a group is deleted,
// another deleted and created again (one new event), a stream deleted and
// a retention set; B starts again on the same data directory. Through A
// and B, DescribeLogGroups does not show the deleted group, shows the
// re-created one once with its new creation time and the retention set
// meanwhile; FilterLogEvents shows neither the deleted stream's events nor
// the re-created group's old ones.
func TestLogsChangesWhileAServerIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	start := func(dir string) *app.Server {
		t.Helper()
		cfg := config.DefaultServer()
		cfg.Listen = "127.0.0.1:0"
		cfg.DataDir = dir
		cfg.EtcdEndpoints = []string{etcd.ClientURL}
		cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
		srv, err := app.StartServer(ctx, cfg, apitest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	srvA, dirB := start(t.TempDir()), t.TempDir()
	srvB := start(dirB)
	a, b := logsClient(srvA.URL), logsClient(srvB.URL)
	gone, again, kept := "gone", "again", "kept"
	put := func(c *cloudwatchlogs.Client, group, stream, msg string) {
		t.Helper()
		_, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream,
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(nowMillis()), Message: &msg}}})
		if err != nil {
			t.Fatalf("put %s/%s: %v", group, stream, err)
		}
	}
	// Each group created through B, written through B and then A (A adopts).
	for _, g := range []string{gone, again, kept} {
		if _, err := b.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"s1", "s2"} {
			if _, err := b.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s)}); err != nil {
				t.Fatal(err)
			}
			put(b, g, s, "old through B")
			put(a, g, s, "old through A")
		}
	}
	time.Sleep(5 * time.Millisecond)
	if err := srvB.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &again}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := a.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &again}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &again, LogStreamName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	put(a, again, "s1", "new")
	if _, err := a.DeleteLogStream(ctx, &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: &kept, LogStreamName: aws.String("s2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: &kept, RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	srvB = start(dirB)
	b = logsClient(srvB.URL)
	// A asks B once B has published itself among the live servers.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := a.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &kept, FilterPattern: aws.String(`"through B"`)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A does not ask B after B started again")
		}
	}
	for name, c := range map[string]*cloudwatchlogs.Client{"A": a, "B": b} {
		out, err := c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range out.LogGroups {
			got = append(got, *g.LogGroupName)
			if *g.LogGroupName == kept && (g.RetentionInDays == nil || *g.RetentionInDays != 7) {
				t.Errorf("through %s: %s has retention %v, want 7", name, kept, g.RetentionInDays)
			}
		}
		if fmt.Sprint(got) != "[again kept]" {
			t.Errorf("through %s: DescribeLogGroups %v, want [again kept]", name, got)
		}
		if _, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &gone}); err == nil {
			t.Errorf("through %s: FilterLogEvents of the deleted group answers", name)
		}
		msgs := func(group string) []string {
			t.Helper()
			out, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &group})
			if err != nil {
				t.Fatal(err)
			}
			var m []string
			for _, e := range out.Events {
				m = append(m, *e.LogStreamName+" "+*e.Message)
			}
			slices.Sort(m) // events of one millisecond: any server's first
			return m
		}
		if got := fmt.Sprint(msgs(again)); got != "[s1 new]" {
			t.Errorf("through %s: events of the re-created group %s", name, got)
		}
		if got := fmt.Sprint(msgs(kept)); got != "[s1 old through A s1 old through B]" {
			t.Errorf("through %s: events of %s after its stream s2 was deleted: %s", name, kept, got)
		}
	}
}
