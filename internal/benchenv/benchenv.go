// Package benchenv starts what the in-process benchmark commands
// (cmd/gantry-svcbench, cmd/gantry-scalebench) measure against: a Gantry
// server and one agent in this process, a cluster, and the test web image
// built into the local Docker Engine. Close undoes all of it.
package benchenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// Env is a running server and agent with a cluster and the test image.
type Env struct {
	// Docker is a client of the local Docker Engine.
	Docker *client.Client
	// Image is the test web server image (it answers on 8080, /health).
	Image string
	// URL is the server's API endpoint; ECS an SDK client of it with the
	// test credentials (apitest's).
	URL string
	ECS *ecs.Client
	// Cluster is the cluster the agent joined.
	Cluster string

	undo []func()
}

// Options are what a benchmark chooses of its environment.
type Options struct {
	// Name names the temporary directory and the image
	// ("gantry-NAME/web:latest").
	Name string
	// Cluster is the cluster to create and join.
	Cluster string
	// Server, when set, adjusts the server's configuration before it
	// starts.
	Server func(*config.Server)
}

// Start builds the image, starts the server and the agent and creates the
// cluster, logging its steps to logger. On error what was started is
// undone.
func Start(ctx context.Context, o Options, logger *slog.Logger) (_ *Env, err error) {
	e := &Env{Image: "gantry-" + o.Name + "/web:latest", Cluster: o.Cluster}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.Docker, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { e.Docker.Close() })
	tmp, err := os.MkdirTemp("", "gantry-"+o.Name+"-")
	if err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { os.RemoveAll(tmp) })
	logger.Info("building the test image")
	if _, err := testutil.BuildImageContext(ctx, e.Docker, e.Image, testutil.TestServerSource()); err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { _, _ = exec.Command("docker", "rmi", "-f", e.Image).CombinedOutput() })

	quiet := slog.New(slog.DiscardHandler)
	cfg := config.DefaultServer()
	cfg.Listen, cfg.DataDir, cfg.Region, cfg.AccountID = "127.0.0.1:0", tmp+"/server", apitest.Region, apitest.Account
	cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "bench", cfg.AccountID))
	if o.Server != nil {
		o.Server(&cfg)
	}
	srv, err := app.StartServer(ctx, cfg, quiet)
	if err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { srv.Close() })
	e.URL = srv.URL
	e.ECS = apitest.NewClient(srv.URL)
	if _, err := e.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(o.Cluster)}); err != nil {
		return nil, err
	}
	agentDir := tmp + "/agent"
	id, err := agent.LoadInstanceID(agentDir)
	if err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { _ = testutil.RemoveLabelled(context.Background(), e.Docker, "dev.gantry.instance="+id) })
	ag, err := agentapp.StartAgent(ctx, agent.Config{Server: srv.URL, Cluster: o.Cluster, DataDir: agentDir, Region: apitest.Region,
		AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey, CPU: 4096, MemoryMiB: 4096,
		AvailabilityZone: "us-east-1a", InstanceType: "bench", CleanupDelay: time.Second}, agentapp.AgentOptions{}, quiet)
	if err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { ag.Close() })
	return e, nil
}

// Close stops the agent and the server, removes the agent's containers,
// the image and the temporary directory.
func (e *Env) Close() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
	e.undo = nil
}

// ServiceTasks returns the tasks of the cluster's service that should be
// running.
func (e *Env) ServiceTasks(ctx context.Context, service string) ([]types.Task, error) {
	l, err := e.ECS.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(e.Cluster), ServiceName: aws.String(service)})
	if err != nil || len(l.TaskArns) == 0 {
		return nil, err
	}
	d, err := e.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.Cluster), Tasks: l.TaskArns})
	if err != nil {
		return nil, fmt.Errorf("describe tasks: %w", err)
	}
	return d.Tasks, nil
}
