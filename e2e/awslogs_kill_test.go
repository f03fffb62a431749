package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// agentProcess runs `gantry agent` as a process of its own, so that the
// test can SIGKILL it.
type agentProcess struct {
	t       *testing.T
	bin     string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

func (a *agentProcess) start() {
	a.t.Helper()
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		a.t.Fatal(err)
	}
	cmd := exec.Command(a.bin, a.args...)
	cmd.Env = append(os.Environ(), "GANTRY_ACCESS_KEY_ID="+apitest.AccessKeyID, "GANTRY_SECRET_ACCESS_KEY="+apitest.SecretAccessKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("start gantry agent: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	a.cmd, a.exited = cmd, exited
}

func (a *agentProcess) kill() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-a.exited:
	case <-time.After(5 * time.Second):
	}
}

// TestAWSLogsAgentKilled: the agent process is SIGKILLed while a container
// writes, then started again on the same data dir: every line is stored
// once and in order.
func TestAWSLogsAgentKilled(t *testing.T) {
	t.Parallel()
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
		"--cpu", "1024", "--memory", "1024", "--task-cleanup-wait", "1s"}}
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
	// The process's instance: the one that is not the in-process agent's.
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

	td := c.counterTask("logs-killed", 500, 10*time.Millisecond)
	out, err := c.ecs.StartTask(context.Background(), &ecs.StartTaskInput{Cluster: aws.String(c.name), TaskDefinition: aws.String(td),
		ContainerInstances: []string{inst}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("start task: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	stream := "e2e/app/" + taskID(arn)
	c.waitStatus(arn, "RUNNING", 60*time.Second)
	time.Sleep(1500 * time.Millisecond)
	a.kill()
	time.Sleep(1000 * time.Millisecond)
	a.start()
	testutil.WaitFor(t, 60*time.Second, "every line across the agent's SIGKILL", func() error {
		lines, _ := streamLines(t, cl, stream)
		return wantCount(lines, 500)
	})
}
