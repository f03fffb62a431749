package logs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

func cliCommand(ctx context.Context, bin, url string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append(args, "--endpoint-url", url, "--region", apitest.Region, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		// A terminal is line-buffered; a pipe would hold tail's lines.
		"PYTHONUNBUFFERED=1")
	return cmd
}

// runCLI runs the CLI and decodes its JSON output into out.
func runCLI(t *testing.T, bin, url string, out any, args ...string) {
	t.Helper()
	cmd := cliCommand(context.Background(), bin, url, args...)
	b, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, b)
	}
}

type cliEvents struct {
	Events []struct {
		LogStreamName string `json:"logStreamName"`
		Message       string `json:"message"`
		EventID       string `json:"eventId"`
	} `json:"events"`
	NextForwardToken string `json:"nextForwardToken"`
}

func (e cliEvents) messages() []string {
	var out []string
	for _, ev := range e.Events {
		out = append(out, ev.Message)
	}
	return out
}

func TestCLI(t *testing.T) {
	bin := testutil.AWSCLI(t)
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	group := "/ecs/cli"
	must[*cwl.CreateLogGroupOutput](t)(c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &group}))
	base := time.Now().Add(-time.Minute).UnixMilli()
	msgs := map[string][]string{
		"app/1": {`{"level":"error","latency":250}`, `127.0.0.1 alice GET /index.html 200`, `plain ERROR timeout here`},
		"app/2": {`{"level":"info","latency":12}`, `10.0.0.2 bob POST /login 500`, `plain WARN slow disk`},
	}
	for _, s := range []string{"app/1", "app/2"} {
		must[*cwl.CreateLogStreamOutput](t)(c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String(s)}))
		var evs []types.InputLogEvent
		for i, m := range msgs[s] {
			evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(m)})
		}
		must[*cwl.PutLogEventsOutput](t)(c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: aws.String(s), LogEvents: evs}))
	}

	t.Run("get-log-events", func(t *testing.T) {
		var out cliEvents
		runCLI(t, bin, env.URL, &out, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "app/1", "--start-from-head")
		if !slices.Equal(out.messages(), msgs["app/1"]) || !strings.HasPrefix(out.NextForwardToken, "f/") {
			t.Fatalf("got %+v", out)
		}
	})
	t.Run("describe-log-streams", func(t *testing.T) {
		var out struct {
			LogStreams []struct {
				LogStreamName      string `json:"logStreamName"`
				LastEventTimestamp int64  `json:"lastEventTimestamp"`
			} `json:"logStreams"`
		}
		runCLI(t, bin, env.URL, &out, "logs", "describe-log-streams", "--log-group-name", group, "--order-by", "LastEventTime", "--descending")
		if len(out.LogStreams) != 2 || out.LogStreams[0].LastEventTimestamp != base+2 {
			t.Fatalf("got %+v", out)
		}
	})
	for _, tc := range []struct {
		kind, pattern string
		want          []string
	}{
		{"terms", `ERROR timeout`, []string{`plain ERROR timeout here`}},
		{"optional", `?WARN ?timeout`, []string{`plain ERROR timeout here`, `plain WARN slow disk`}},
		{"excluded", `plain -ERROR`, []string{`plain WARN slow disk`}},
		{"phrase", `"slow disk"`, []string{`plain WARN slow disk`}},
		{"json", `{ $.level = "error" && $.latency > 100 }`, []string{`{"level":"error","latency":250}`}},
		{"delimited", `[ip, user, verb, path, status=5*]`, []string{`10.0.0.2 bob POST /login 500`}},
		{"regex", `%slow [a-z]+%`, []string{`plain WARN slow disk`}},
		{"all", ``, append(slices.Clone(msgs["app/1"]), msgs["app/2"]...)},
	} {
		t.Run("filter-log-events "+tc.kind, func(t *testing.T) {
			var out cliEvents
			runCLI(t, bin, env.URL, &out, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", tc.pattern, "--page-size", "2")
			got := out.messages()
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("filter-log-events bad pattern", func(t *testing.T) {
		cmd := cliCommand(ctx, bin, env.URL, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", `{ $.a = `)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "(InvalidParameterException)") {
			t.Fatalf("want InvalidParameterException, got %v: %s", err, out)
		}
	})
	t.Run("tail", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := cliCommand(tctx, bin, env.URL, "logs", "tail", group, "--since", "5m")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(out), "\n"); n != 6 {
			t.Fatalf("tail without --follow printed %d lines: %s", n, out)
		}
	})
	t.Run("tail --follow", func(t *testing.T) { testTailFollow(t, bin, env.URL, c, group) })
}

// testTailFollow runs `aws logs tail --follow` and checks that lines put
// after it has caught up are shown within 2 seconds.
func testTailFollow(t *testing.T, bin, url string, c *cwl.Client, group string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := cliCommand(ctx, bin, url, "logs", "tail", group, "--follow", "--format", "short")
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
	waitFor("plain WARN slow disk", 10*time.Second) // the catch-up
	// The CLI sleeps 5 s after its catch-up, then asks from the newest
	// timestamp it saw; from then on the server holds its polls.
	time.Sleep(5500 * time.Millisecond)
	for i, msg := range []string{"live line one", "live line two", "live line three"} {
		put(t, c, group, "app/2", msg)
		d := waitFor(msg, 2*time.Second)
		t.Logf("line %d shown after %v", i+1, d)
		time.Sleep(time.Duration(i) * 300 * time.Millisecond)
	}
}
