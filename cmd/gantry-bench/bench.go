package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/benchproc"
)

// Names and labels of what the benchmark creates.
const (
	region       = "us-east-1"
	clusterName  = "gantry-bench"
	familyName   = "gantry-bench-web"
	webContainer = "web"
	webPort      = 8080
	taskMemory   = 32
	// labelBench marks the benchmark's image and its docker run
	// containers; the value is the run's ID.
	labelBench = "dev.gantry.bench"
	// labelInstance and labelTaskArn are the labels the agent puts on its
	// containers.
	labelInstance = "dev.gantry.instance"
	labelTaskArn  = "com.amazonaws.ecs.task-arn"
	// labelContainerName is the agent's label of a container's name in
	// its task; pauseContainerName is the name of an awsvpc task's pause
	// container (internal/agent/runtime.PauseContainerName).
	labelContainerName = "com.amazonaws.ecs.container-name"
	pauseContainerName = "~internal~ecs~pause"
	// agentCPU and minAgentMemoryMiB are the agent's registered
	// resources; memory grows with -tasks (see agentMemoryMiB).
	agentCPU          = 2048
	minAgentMemoryMiB = 4096
	// fargateTaskCPU and fargateTaskMemory are the Fargate task's size.
	fargateTaskCPU    = "256"
	fargateTaskMemory = "512"
	// fargateSubnet is the subnet of the Fargate tasks' network
	// configuration (RunTask requires one for awsvpc; it selects nothing).
	fargateSubnet = "subnet-gantry-bench"
	// fargatePoolCluster is the hidden cluster of the Fargate pool's
	// hosts, internal/config.FargatePoolCluster (not imported: its package
	// name is this command's config type).
	fargatePoolCluster = "gantry-fargate-pool"
)

// bench is one run of `gantry-bench agent`: the processes it started, its
// clients, and what it must remove at the end.
type bench struct {
	cfg config
	log *slog.Logger

	runID      string
	tmp        string
	logDir     string
	docker     *client.Client
	dockerCLI  string
	ecs        *ecs.Client
	server     *benchproc.Proc
	agent      *benchproc.Proc
	serverURL  string
	instanceID string
	image      string
	taskDef    string
	// lastTask is the ARN of the last task started, which -docker-with-poll
	// describes.
	lastTask string
	// dockerPIDs are dockerd's and containerd's, for CPU accounting.
	dockerPIDs []int

	// cleanups run in reverse order at the end.
	cleanups []func(ctx context.Context)
}

// run sets up, measures and tears down; it returns the results.
func (b *bench) run(ctx context.Context) (*results, error) {
	res := &results{cfg: b.cfg, date: time.Now().UTC()}
	defer b.teardown()
	if err := b.setup(ctx, res); err != nil {
		return nil, err
	}
	res.loadStart = benchproc.LoadAverage()
	if err := b.measureLatency(ctx, res); err != nil {
		return nil, err
	}
	res.loadEnd = benchproc.LoadAverage()
	if b.cfg.Fargate {
		return res, nil
	}
	if err := b.measureMemory(ctx, res); err != nil {
		return nil, err
	}
	return res, nil
}

// setup builds the binary and the image, starts the server and the agent,
// creates the cluster and registers the task definition.
func (b *bench) setup(ctx context.Context, res *results) error {
	b.runID = randomHex(6)
	var err error
	if b.tmp, err = os.MkdirTemp("", "gantry-bench-"); err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { os.RemoveAll(b.tmp) })
	b.logDir = b.tmp
	if b.cfg.LogDir != "" {
		if err := os.MkdirAll(b.cfg.LogDir, 0o755); err != nil {
			return err
		}
		b.logDir = b.cfg.LogDir
	}
	if b.dockerCLI, err = exec.LookPath("docker"); err != nil {
		return fmt.Errorf("the docker CLI is needed to measure docker run: %w", err)
	}
	b.docker, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	b.onCleanup(func(context.Context) { b.docker.Close() })
	if _, err := b.docker.Ping(ctx); err != nil {
		return fmt.Errorf("the Docker Engine is unreachable (DOCKER_HOST=%q): %w", os.Getenv("DOCKER_HOST"), err)
	}
	if res.machine, err = describeMachine(ctx, b.docker); err != nil {
		return err
	}
	b.dockerPIDs = benchproc.FindPIDs("dockerd", "containerd")

	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	b.log.Info("building gantry", "module", root)
	bin, err := buildGantry(ctx, root, b.tmp)
	if err != nil {
		return err
	}
	b.image = "gantry-bench/web:" + b.runID
	b.log.Info("building the test image", "image", b.image)
	if _, err := buildImage(ctx, b.docker, b.image, map[string]string{labelBench: b.runID}); err != nil {
		return err
	}
	b.onCleanup(func(ctx context.Context) {
		if err := removeImage(ctx, b.docker, b.image); err != nil && !cerrdefs.IsNotFound(err) {
			b.log.Warn("remove image", "image", b.image, "err", err)
		}
	})
	b.onCleanup(func(ctx context.Context) { b.removeContainers(ctx, labelBench+"="+b.runID) })

	// Credentials of this run only: the server accepts them, the agent
	// and the benchmark's client sign with them.
	akid := "AKIDBENCH" + strings.ToUpper(randomHex(6))
	secret := randomHex(20)
	creds := []string{"GANTRY_ACCESS_KEY_ID=" + akid, "GANTRY_SECRET_ACCESS_KEY=" + secret}
	if err := b.startServer(ctx, bin, creds); err != nil {
		return err
	}
	b.ecs = ecs.New(ecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(b.serverURL),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
	})
	if err := waitUntil(ctx, time.Minute, 50*time.Millisecond, "the server's API", func() error {
		if err := b.server.Alive(); err != nil {
			return backoffStop{err}
		}
		_, err := b.ecs.ListClusters(ctx, &ecs.ListClustersInput{})
		return err
	}); err != nil {
		return err
	}
	if _, err := b.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(clusterName)}); err != nil {
		return fmt.Errorf("create cluster: %w", err)
	}
	// The agent runs from gantry-agent, the agent's own binary, as on a
	// production host (gantry agent links the server too and takes more
	// memory).
	agentBin := b.cfg.AgentBinary
	if agentBin == "" {
		if agentBin, err = buildCommand(ctx, root, b.tmp, "gantry-agent"); err != nil {
			return err
		}
	}
	if err := b.startAgent(ctx, agentBin, creds); err != nil {
		return err
	}
	if res.agentIdle, err = benchproc.ReadMemStatus(b.agent.Pid()); err != nil {
		return err
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family:      aws.String(familyName),
		NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String(webContainer),
			Image:        aws.String(b.image),
			Memory:       aws.Int32(taskMemory),
			Essential:    aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(webPort), HostPort: aws.Int32(0), Protocol: types.TransportProtocolTcp}},
		}},
	}
	if b.cfg.Fargate {
		in = fargateTaskDefinition(b.image)
	}
	out, err := b.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return fmt.Errorf("register task definition: %w", err)
	}
	b.taskDef = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	return nil
}

// startServer starts `gantry server` on a free loopback port.
func (b *bench) startServer(ctx context.Context, bin string, creds []string) error {
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	b.serverURL = "http://" + addr
	dataDir := filepath.Join(b.tmp, "server")
	b.log.Info("starting gantry server", "url", b.serverURL)
	b.server, err = benchproc.Start("gantry server", bin, []string{"server", "--listen", addr, "--data-dir", dataDir},
		creds, filepath.Join(b.logDir, "server.log"))
	if err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { b.server.Stop(15 * time.Second) })
	return nil
}

// startAgent starts `gantry agent` and waits until its container instance
// is ACTIVE and connected.
func (b *bench) startAgent(ctx context.Context, bin string, creds []string) error {
	dataDir := filepath.Join(b.tmp, "agent")
	var err error
	// The agent keeps its instance ID in its data directory; creating it
	// first tells us the label of its containers.
	if b.instanceID, err = agent.LoadInstanceID(dataDir); err != nil {
		return err
	}
	b.onCleanup(func(ctx context.Context) { b.removeContainers(ctx, labelInstance+"="+b.instanceID) })
	args := []string{"--server", b.serverURL, "--cluster", clusterName, "--data-dir", dataDir,
		"--cpu", strconv.Itoa(agentCPU), "--memory", strconv.Itoa(agentMemoryMiB(b.cfg.Tasks)), "--task-cleanup-wait", "1s"}
	// A Fargate pool host registers into the pool's hidden cluster
	// (--cluster is then ignored).
	instanceCluster := clusterName
	if b.cfg.Fargate {
		args = append(args, "--capacity-provider", "FARGATE")
		instanceCluster = fargatePoolCluster
	}
	b.log.Info("starting gantry agent", "instance", b.instanceID, "env", strings.Join(b.cfg.AgentEnv, " "))
	if filepath.Base(bin) == "gantry" {
		args = append([]string{"agent"}, args...) // gantry agent
	}
	b.agent, err = benchproc.Start("gantry agent", bin, args, append(creds, b.cfg.AgentEnv...), filepath.Join(b.logDir, "agent.log"))
	if err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { b.agent.Stop(15 * time.Second) })
	return waitUntil(ctx, time.Minute, 50*time.Millisecond, "the agent's registration", func() error {
		if err := b.agent.Alive(); err != nil {
			return backoffStop{err}
		}
		list, err := b.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(instanceCluster)})
		if err != nil {
			return err
		}
		if len(list.ContainerInstanceArns) == 0 {
			return errors.New("no container instance yet")
		}
		out, err := b.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String(instanceCluster), ContainerInstances: list.ContainerInstanceArns})
		if err != nil {
			return err
		}
		for _, ci := range out.ContainerInstances {
			if aws.ToString(ci.Status) == "ACTIVE" && ci.AgentConnected {
				return nil
			}
		}
		return errors.New("container instance not yet ACTIVE and connected")
	})
}

// fargateTaskDefinition is the Fargate task definition of the benchmark:
// the same container as the bridge one, in awsvpc network mode,
// requiresCompatibilities FARGATE, task cpu 256 and memory 512 (Fargate's
// smallest size), the container's port 8080 on the task's own address.
func fargateTaskDefinition(image string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(familyName + "-fargate"),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String(fargateTaskCPU),
		Memory:                  aws.String(fargateTaskMemory),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String(webContainer),
			Image:        aws.String(image),
			Essential:    aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(webPort), Protocol: types.TransportProtocolTcp}},
		}},
	}
}

// agentMemoryMiB is the memory the agent registers: room for twice the
// tasks of the memory measurement, at least minAgentMemoryMiB.
func agentMemoryMiB(tasks int) int { return max(minAgentMemoryMiB, 2*tasks*taskMemory) }

// teardown runs the cleanups, last registered first, under a fresh
// context: it also runs after a Ctrl-C.
func (b *bench) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b.log.Info("cleaning up")
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i](ctx)
	}
}

// onCleanup registers a cleanup.
func (b *bench) onCleanup(f func(ctx context.Context)) { b.cleanups = append(b.cleanups, f) }

// removeContainers forcibly removes every container labelled label.
func (b *bench) removeContainers(ctx context.Context, label string) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		b.log.Warn("list containers to remove", "label", label, "err", err)
		return
	}
	for _, c := range list {
		err := b.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			b.log.Warn("remove container", "id", c.ID, "err", err)
		}
	}
}

// countContainers counts the containers labelled label, running or not.
func (b *bench) countContainers(ctx context.Context, label string) (int, error) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	return len(list), err
}

// backoffStop makes waitUntil give up at once with the error it wraps.
type backoffStop struct{ err error }

func (e backoffStop) Error() string { return e.err.Error() }

// waitUntil calls cond every interval until it returns nil, returns a
// backoffStop, ctx ends, or timeout passes; what names the wait in errors.
func waitUntil(ctx context.Context, timeout, interval time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return fmt.Errorf("waiting for %s: %w", what, stop.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not done after %v: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
