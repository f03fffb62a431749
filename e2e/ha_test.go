package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// serverProcess is `gantry server` as a process of its own on an external
// etcd, so that a test can SIGKILL it.
type serverProcess struct {
	t       *testing.T
	bin     string
	url     string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// buildGantry builds the gantry binary into a temporary directory.
func buildGantry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gantry")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gantry").CombinedOutput(); err != nil {
		t.Fatalf("build gantry: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newServerProcess starts `gantry server` on etcdURL with the test's
// credentials; it is killed when the test ends.
func newServerProcess(t *testing.T, bin, etcdURL string, extra ...string) *serverProcess {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(apitest.AccessKeyID+" "+apitest.SecretAccessKey+" test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &serverProcess{t: t, bin: bin, url: "http://" + addr, logPath: filepath.Join(dir, "server.log"),
		args: append([]string{"server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--etcd-endpoints", etcdURL,
			"--credentials-file", creds, "--region", apitest.Region, "--account-id", apitest.Account, "--registry-listen", ""}, extra...)}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("server %s log (tail):\n%s", p.url, tail(string(b), 40))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *serverProcess) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start gantry server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	cl := apitest.NewClient(p.url)
	testutil.WaitFor(p.t, 60*time.Second, "server "+p.url+" serves", func() error {
		select {
		case <-exited:
			b, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("gantry server exited:\n%s", tail(string(b), 30))
		default:
		}
		_, err := cl.ListClusters(context.Background(), &ecs.ListClustersInput{})
		return err
	})
}

func (p *serverProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

// TestAgentFollowsTheControlPlane: two `gantry server` processes on one
// etcd and an agent given both. The server the agent polls is SIGKILLed:
// the agent polls the other within 10 s, and after the dead server's
// leases have expired and the lost-instance grace has passed, the
// service's tasks are RUNNING with the same containers, none started
// again. The killed server comes back and the other one is killed: the
// same, the other way. An agent given one server learns the other through
// discovery.
func TestAgentFollowsTheControlPlane(t *testing.T) {
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	etcd := testutil.StartEtcd(t)
	bin := buildGantry(t)
	ctx := context.Background()
	const grace = 3 * time.Second
	extra := []string{"--lost-instance-grace", grace.String(), "--leader-ttl", "2s", "--min-healthy-time", "0s"}
	servers := []*serverProcess{newServerProcess(t, bin, etcd.ClientURL, extra...), newServerProcess(t, bin, etcd.ClientURL, extra...)}
	byURL := map[string]*serverProcess{servers[0].url: servers[0], servers[1].url: servers[1]}
	cl := apitest.NewClient(servers[1].url)
	if _, err := cl.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ha")}); err != nil {
		t.Fatal(err)
	}
	start := func(cluster, server string) *agentapp.Agent {
		dataDir := t.TempDir()
		id, err := agent.LoadInstanceID(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
		a, err := agentapp.StartAgent(ctx, agent.Config{Server: server, Cluster: cluster, DataDir: dataDir, Region: apitest.Region,
			AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey, CPU: 2048, MemoryMiB: 2048,
			AvailabilityZone: "us-east-1a", InstanceType: "gantry.test", DiscoverInterval: time.Second}, agentapp.AgentOptions{}, apitest.Logger())
		if err != nil {
			t.Fatalf("start agent: %v", err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}

	// Discovery: an agent given one server learns the other.
	learner := start("default", servers[0].url)
	testutil.WaitFor(t, 10*time.Second, "the agent given one server learns the other", func() error {
		if eps := learner.Agent.Endpoints(); !slices.Contains(eps, servers[1].url) {
			return fmt.Errorf("endpoints %q", eps)
		}
		return nil
	})

	a := start("ha", servers[0].url+","+servers[1].url)
	td, err := cl.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("ha"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", image)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("ha"), ServiceName: aws.String("ha"),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	// running returns the service's tasks' ARNs and containers' runtime
	// IDs, once both tasks run.
	running := func(cl *ecs.Client) (map[string]string, error) {
		l, err := cl.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("ha"), ServiceName: aws.String("ha")})
		if err != nil || len(l.TaskArns) == 0 {
			return nil, fmt.Errorf("list tasks: %v (%d)", err, len(l.TaskArns))
		}
		d, err := cl.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("ha"), Tasks: l.TaskArns})
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, tk := range d.Tasks {
			if aws.ToString(tk.LastStatus) != "RUNNING" || len(tk.Containers) != 1 {
				return nil, fmt.Errorf("task %s is %s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus))
			}
			out[aws.ToString(tk.TaskArn)] = aws.ToString(tk.Containers[0].RuntimeId)
		}
		if len(out) != 2 {
			return nil, fmt.Errorf("%d tasks", len(out))
		}
		return out, nil
	}
	var before map[string]string
	testutil.WaitFor(t, 60*time.Second, "the service's 2 tasks RUNNING", func() (err error) {
		before, err = running(cl)
		return err
	})
	startedAt := map[string]string{}
	for _, id := range before {
		info, err := docker.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		startedAt[id] = info.State.StartedAt
	}

	for round := 0; round < 2; round++ {
		cur, _ := a.Agent.LastPoll()
		victim := byURL[cur]
		if victim == nil {
			t.Fatalf("the agent polls %q, not one of the servers", cur)
		}
		survivor := servers[0]
		if survivor == victim {
			survivor = servers[1]
		}
		killed := time.Now()
		victim.kill()
		testutil.WaitFor(t, 10*time.Second, "the agent polls the surviving server", func() error {
			if s, at := a.Agent.LastPoll(); s != survivor.url || !at.After(killed) {
				return fmt.Errorf("last poll by %s at %v", s, at)
			}
			return nil
		})
		t.Logf("round %d: the agent polled %s %v after %s was killed", round, survivor.url, time.Since(killed).Round(time.Millisecond), victim.url)
		// The dead server's leases (its agents' connected keys: 10 s)
		// expire, then the lost-instance grace would pass: nothing is
		// counted lost, replaced, or restarted.
		time.Sleep(10*time.Second + grace + 3*time.Second)
		scl := apitest.NewClient(survivor.url)
		after, err := running(scl)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !equalMaps(before, after) {
			t.Fatalf("round %d: tasks and containers changed: before %v, after %v", round, before, after)
		}
		for _, id := range after {
			info, err := docker.ContainerInspect(ctx, id)
			if err != nil || !info.State.Running || info.State.StartedAt != startedAt[id] {
				t.Fatalf("round %d: container %s: %v running %v started %s (was %s)", round, id, err, info.State != nil && info.State.Running, info.State.StartedAt, startedAt[id])
			}
		}
		s, err := scl.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("ha"), Services: []string{"ha"}})
		if err != nil || len(s.Services) != 1 || s.Services[0].RunningCount != 2 {
			t.Fatalf("round %d: service %v %+v", round, err, s)
		}
		all, err := scl.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("ha"), DesiredStatus: types.DesiredStatusStopped})
		if err != nil || len(all.TaskArns) != 0 {
			t.Fatalf("round %d: stopped tasks %v %v", round, err, all.TaskArns)
		}
		victim.start() // back, for the next round
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
