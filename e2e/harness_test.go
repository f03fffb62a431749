// Package e2e drives Gantry as a user does: a real control plane with its
// embedded etcd, real agents on the real Docker Engine, and the AWS SDK for
// Go v2 ECS client (or Debian's aws CLI) talking to it.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// parallelTests is how many of the tests that call t.Parallel run at once
// unless -parallel is given. Those tests mostly wait on containers and the
// control plane, so more of them than GOMAXPROCS (2 on CI) fit; the tests
// that measure time or burn CPU do not call t.Parallel and run alone first.
const parallelTests = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", parallelTests); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: set -parallel:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// cluster is a control plane with one agent, for one test.
type cluster struct {
	t       *testing.T
	env     *apitest.Env
	ecs     *ecs.Client
	docker  *client.Client
	name    string
	agent   *agentapp.Agent
	dataDir string
	image   string
}

type clusterOptions struct {
	cleanupDelay time.Duration
	// lostGrace is the server's lost-instance grace (its default if 0).
	lostGrace time.Duration
	// minHealthy is the server's minimum healthy time of service tasks
	// (apitest's if 0).
	minHealthy time.Duration
	// stopTimeout is the agent's stop timeout of containers whose
	// definition has none (its default if 0).
	stopTimeout time.Duration
	// lbDataPlane runs the load balancer's data plane in the server.
	lbDataPlane bool
	// credentialsFile is the server's --credentials-file (more keys,
	// with policies), if any.
	credentialsFile string
	// server, if set, adjusts the server's options.
	server func(*apitest.Options)
}

func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	serverOpts := apitest.Options{LostInstanceGrace: opts.lostGrace, MinHealthyTime: opts.minHealthy, LBDataPlane: opts.lbDataPlane,
		CredentialsFile: opts.credentialsFile}
	if opts.server != nil {
		opts.server(&serverOpts)
	}
	env := apitest.Start(t, serverOpts)
	c := &cluster{t: t, env: env, ecs: env.Client, docker: docker, name: "e2e", dataDir: t.TempDir(), image: image}
	if _, err := c.ecs.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(c.name)}); err != nil {
		t.Fatal(err)
	}
	id, err := agent.LoadInstanceID(c.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
	c.startAgent(opts)
	return c
}

func (c *cluster) agentConfig(opts clusterOptions) agent.Config {
	return agent.Config{
		Server: c.env.URL, Cluster: c.name, DataDir: c.dataDir, Region: apitest.Region,
		AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey,
		CPU: 2048, MemoryMiB: 2048, AvailabilityZone: "us-east-1a", InstanceType: "gantry.test", HostAddress: "127.0.0.1",
		CleanupDelay: opts.cleanupDelay,
	}
}

func (c *cluster) startAgent(opts clusterOptions) {
	c.t.Helper()
	a, err := agentapp.StartAgent(context.Background(), c.agentConfig(opts), agentapp.AgentOptions{StopTimeout: opts.stopTimeout}, apitest.Logger())
	if err != nil {
		c.t.Fatalf("start agent: %v", err)
	}
	c.agent = a
	c.t.Cleanup(func() { a.Close() })
}

// register registers a task definition of the test server image.
func (c *cluster) register(in *ecs.RegisterTaskDefinitionInput) string {
	c.t.Helper()
	out, err := c.ecs.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		c.t.Fatalf("register task definition: %v", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func (c *cluster) run(td string) types.Task {
	c.t.Helper()
	out, err := c.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String(c.name), TaskDefinition: aws.String(td)})
	if err != nil {
		c.t.Fatalf("run task: %v", err)
	}
	if len(out.Tasks) != 1 {
		c.t.Fatalf("run task: failures %+v", out.Failures)
	}
	return out.Tasks[0]
}

func (c *cluster) describe(arn string) types.Task {
	c.t.Helper()
	out, err := c.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(c.name), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		c.t.Fatalf("describe task %s: %v %+v", arn, err, out)
	}
	return out.Tasks[0]
}

// waitStatus waits until the task's lastStatus is status.
func (c *cluster) waitStatus(arn, status string, timeout time.Duration) types.Task {
	c.t.Helper()
	var last types.Task
	testutil.WaitFor(c.t, timeout, "task "+status, func() error {
		last = c.describe(arn)
		if aws.ToString(last.LastStatus) != status {
			return fmt.Errorf("task is %s (%s)", aws.ToString(last.LastStatus), aws.ToString(last.StoppedReason))
		}
		return nil
	})
	return last
}

func get(url string) (int, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func webContainer(name, image string) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name: aws.String(name), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
	}
}

func containerListAll() container.ListOptions { return container.ListOptions{All: true} }
