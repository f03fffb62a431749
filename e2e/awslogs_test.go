package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// logsClient is a CloudWatch Logs client of the test server.
func logsClient(url string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       apitest.Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
	})
}

// counterTask registers a task definition whose one container prints n
// numbered lines, one every interval, with the awslogs log driver.
func (c *cluster) counterTask(family string, n int, every time.Duration) string {
	c.t.Helper()
	return c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("app"), Image: aws.String(c.image), Memory: aws.Int32(64), Essential: aws.Bool(true),
		Command: []string{"count", fmt.Sprint(n), every.String()},
		LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/gantry/e2e", "awslogs-region": apitest.Region, "awslogs-stream-prefix": "e2e",
			"awslogs-create-group": "true"}},
	}}})
}

// streamLines reads every event of a stream, oldest first.
func streamLines(t *testing.T, cl *cloudwatchlogs.Client, stream string) ([]string, []int64) {
	t.Helper()
	var lines []string
	var lags []int64
	var token *string
	for {
		out, err := cl.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/gantry/e2e"),
			LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token})
		if err != nil {
			return nil, nil
		}
		for _, e := range out.Events {
			lines = append(lines, aws.ToString(e.Message))
			lags = append(lags, aws.ToInt64(e.IngestionTime)-aws.ToInt64(e.Timestamp))
		}
		if len(out.Events) == 0 || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
			return lines, lags
		}
		token = out.NextForwardToken
	}
}

// wantCount checks that lines are "line 000001" to "line n", each once, in
// order.
func wantCount(lines []string, n int) error {
	if len(lines) != n {
		return fmt.Errorf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %06d", i+1); l != want {
			return fmt.Errorf("line %d is %q, want %q", i+1, l, want)
		}
	}
	return nil
}

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// TestAWSLogsDriver: a task whose container logs with awslogs has every
// line in PREFIX/CONTAINER/TASK_ID once and in order, across an agent
// restart and a server restart in the middle of its output, and a line is
// stored within 2 seconds of the container printing it.
func TestAWSLogsDriver(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	cl := logsClient(c.env.URL)

	// Plain: 300 lines, the container exits right after the last one.
	td := c.counterTask("logs-plain", 300, 5*time.Millisecond)
	task := c.run(td)
	stream := "e2e/app/" + taskID(aws.ToString(task.TaskArn))
	c.waitStatus(aws.ToString(task.TaskArn), "STOPPED", 60*time.Second)
	var lags []int64
	testutil.WaitFor(t, 20*time.Second, "every line of the plain task", func() error {
		var lines []string
		lines, lags = streamLines(t, cl, stream)
		return wantCount(lines, 300)
	})
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	p99 := lags[len(lags)*99/100]
	t.Logf("print to stored: p50 %d ms, p99 %d ms", lags[len(lags)/2], p99)
	if p99 > 2000 {
		t.Errorf("p99 of print to stored is %d ms, want at most 2,000", p99)
	}

	// The agent stops in the middle of the output and starts again on the
	// same data dir.
	td = c.counterTask("logs-agent", 400, 10*time.Millisecond)
	task = c.run(td)
	stream = "e2e/app/" + taskID(aws.ToString(task.TaskArn))
	c.waitStatus(aws.ToString(task.TaskArn), "RUNNING", 60*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if err := c.agent.Close(); err != nil {
		t.Fatalf("stop agent: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	c.startAgent(clusterOptions{})
	testutil.WaitFor(t, 60*time.Second, "every line across the agent's restart", func() error {
		lines, _ := streamLines(t, cl, stream)
		return wantCount(lines, 400)
	})

	// The server restarts in the middle of the output.
	td = c.counterTask("logs-server", 400, 10*time.Millisecond)
	task = c.run(td)
	stream = "e2e/app/" + taskID(aws.ToString(task.TaskArn))
	c.waitStatus(aws.ToString(task.TaskArn), "RUNNING", 60*time.Second)
	time.Sleep(1500 * time.Millisecond)
	c.env.Restart(t)
	testutil.WaitFor(t, 60*time.Second, "every line across the server's restart", func() error {
		lines, _ := streamLines(t, cl, stream)
		return wantCount(lines, 400)
	})
}
