package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestAWSLogsSpoolServerOutage: the server is stopped for longer than the
// container's local-driver files (5 × 8 KiB here, through max-buffer-size)
// hold; the container keeps printing; the agent is SIGKILLed at the end of
// the outage (what it held in memory is gone, the runtime's files have
// rotated past its checkpoint) and started again once the server is back.
// Every line arrives once and in order: the agent kept them in its spool.
func TestAWSLogsSpoolServerOutage(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	cl := logsClient(c.env.URL)
	dir := t.TempDir()
	bin := filepath.Join(dir, "gantry")
	build := exec.Command("go", "build", "-o", bin, "../cmd/gantry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gantry: %v\n%s", err, out)
	}
	dataDir := filepath.Join(dir, "agent")
	a := &agentProcess{t: t, bin: bin, logPath: filepath.Join(dir, "agent.log"), args: []string{"agent",
		"--server", c.env.URL, "--cluster", c.name, "--data-dir", dataDir, "--region", apitest.Region,
		"--cpu", "1024", "--memory", "1024", "--task-cleanup-wait", "1s", "--log-spool-size", "67108864"}}
	id, err := agent.LoadInstanceID(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CleanupLabelled(t, c.docker, "dev.gantry.instance="+id)
	a.start()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("agent log:\n%s", b)
		}
	})
	var inst string
	testutil.WaitFor(t, 30*time.Second, "the agent process registers", func() error {
		l, err := c.ecs.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(c.name)})
		if err != nil {
			return err
		}
		for _, arn := range l.ContainerInstanceArns {
			if arn != c.agent.Agent.ContainerInstanceArn() {
				inst = arn
				return nil
			}
		}
		return os.ErrNotExist
	})

	// 4,000 lines, one every 4 ms: 16 s of output, some 200 KB in the
	// local driver's files, which keep 40 KiB.
	const n = 4000
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("logs-spool"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("app"), Image: aws.String(c.image), Memory: aws.Int32(64), Essential: aws.Bool(true),
		Command: []string{"count", fmt.Sprint(n), (4 * time.Millisecond).String()},
		LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/gantry/e2e", "awslogs-region": apitest.Region, "awslogs-stream-prefix": "e2e",
			"awslogs-create-group": "true", "max-buffer-size": "8k"}},
	}}})
	out, err := c.ecs.StartTask(context.Background(), &ecs.StartTaskInput{Cluster: aws.String(c.name), TaskDefinition: aws.String(td),
		ContainerInstances: []string{inst}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("start task: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	stream := "e2e/app/" + taskID(arn)
	c.waitStatus(arn, "RUNNING", 60*time.Second)
	testutil.WaitFor(t, 30*time.Second, "the first lines", func() error {
		if lines, _ := streamLines(t, cl, stream); len(lines) == 0 {
			return os.ErrNotExist
		}
		return nil
	})

	// The outage.
	if err := c.env.Server.Close(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	outage := time.Now()
	containers, err := c.docker.ContainerList(context.Background(), containerListAll())
	if err != nil {
		t.Fatal(err)
	}
	var cid string
	for _, ct := range containers {
		if ct.Labels["com.amazonaws.ecs.task-arn"] == arn {
			cid = ct.ID
		}
	}
	if cid == "" {
		t.Fatal("task container not found")
	}
	// Until the container has printed everything (it exits then).
	testutil.WaitFor(t, 90*time.Second, "the container prints every line", func() error {
		st, err := c.docker.ContainerInspect(context.Background(), cid)
		if err != nil {
			return err
		}
		if st.State.Running {
			return fmt.Errorf("still running")
		}
		return nil
	})
	if d := time.Since(outage); d < 8*time.Second {
		t.Fatalf("outage only %v: the container printed too fast to outrun its log files", d)
	}
	a.kill()

	cfg := c.env.Config
	cfg.Listen = strings.TrimPrefix(c.env.URL, "http://")
	if u := c.env.Server.RegistryURL; u != "" {
		cfg.RegistryListen = strings.TrimPrefix(u, "http://")
	}
	srv, err := app.StartServer(context.Background(), cfg, apitest.Logger())
	if err != nil {
		t.Fatalf("restart server: %v", err)
	}
	c.env.Server = srv
	t.Cleanup(func() { srv.Close() })
	a.start()
	testutil.WaitFor(t, 90*time.Second, "every line across the outage and the agent's SIGKILL", func() error {
		lines, _ := streamLines(t, cl, stream)
		return wantCount(lines, n)
	})
	b, _ := os.ReadFile(a.logPath)
	if !strings.Contains(string(b), "spool") {
		t.Errorf("the agent's log does not mention its spool")
	}
}
