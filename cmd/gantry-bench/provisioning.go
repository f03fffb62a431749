package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/dockerprov"
)

// provisioningSection is the heading of the managed scaling benchmark's
// section of docs/performance.md.
const provisioningSection = "## Managed scaling: PROVISIONING to RUNNING when an instance must be added"

// runProvisioningBench is `gantry-bench provisioning`: a `gantry server`
// with --provisioner pointing at the Docker provisioner (served by this
// process), a managed-scaling capacity provider with no instance, and N
// rounds of: RunTask of one task (it waits in PROVISIONING), time until
// the scale-out action reaches the provisioner, until the new agent's
// instance registers, and until the task is RUNNING; then the task stops
// and managed scaling removes the instance before the next round. Beside
// it, in the same run, `docker run -d` of the agent image (the start of the
// container that becomes the instance) and of the task image.
func runProvisioningBench(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("provisioning", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 3, "rounds (each adds and removes an instance)")
	write := fs.String("write", "", "markdown file whose managed scaling section the report replaces")
	if err := fs.Parse(args); err != nil {
		return err
	}
	run := randomHex(6)
	tmp, err := os.MkdirTemp("", "gantry-bench-prov-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer docker.Close()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	logger.Info("building gantry")
	bin, err := buildGantry(ctx, root, tmp)
	if err != nil {
		return err
	}
	agentImage := "gantry-bench/agent:" + run
	logger.Info("building the agent image", "image", agentImage)
	if err := dockerprov.BuildAgentImage(ctx, docker, root, agentImage); err != nil {
		return err
	}
	webImage := "gantry-bench/web:" + run
	if _, err := buildImage(ctx, docker, webImage, map[string]string{labelBench: run}); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The peers' containers and the task's, by label.
		if cs, err := docker.ContainerList(cctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelBench+"="+run))}); err == nil {
			for _, c := range cs {
				_ = docker.ContainerRemove(cctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
		_ = removeImage(cctx, docker, webImage)
		_ = removeImage(cctx, docker, agentImage)
	}()
	addr, err := benchproc.FreeAddr()
	if err != nil {
		return err
	}
	serverURL := "http://" + addr
	akid := "AKIDBENCH" + strings.ToUpper(randomHex(6))
	secret := randomHex(20)
	prov := dockerprov.New(dockerprov.Config{Name: "bench-" + run, Image: agentImage, Server: serverURL, Region: region,
		AccessKeyID: akid, SecretAccessKey: secret, CPU: 1024, MemoryMiB: 1024,
		Args: []string{"--metrics-interval", "0s", "--task-cleanup-wait", "1s"}, StopTimeout: 5 * time.Second}, docker, logger)
	var hookMu sync.Mutex
	var hookAt []time.Time
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookMu.Lock()
		hookAt = append(hookAt, time.Now())
		hookMu.Unlock()
		prov.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hook.Serve(ln) }()
	defer hook.Close()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = prov.RemoveAll(cctx)
	}()
	creds := []string{"GANTRY_ACCESS_KEY_ID=" + akid, "GANTRY_SECRET_ACCESS_KEY=" + secret}
	srv, err := benchproc.Start("gantry server", bin, []string{"server", "--listen", addr, "--data-dir", filepath.Join(tmp, "server"),
		"--provisioner", "http://" + ln.Addr().String() + "/", "--managed-scaling-interval", "250ms", "--managed-scaling-scale-in-after", "1s",
		"--registry-listen", "", "--lb-data-plane=false"},
		creds, filepath.Join(tmp, "server.log"))
	if err != nil {
		return err
	}
	defer srv.Stop(15 * time.Second)
	cl := ecs.New(ecs.Options{Region: region, BaseEndpoint: aws.String(serverURL), Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")})
	if err := waitUntil(ctx, 3*time.Minute, 100*time.Millisecond, "the server's API", func() error {
		if err := srv.Alive(); err != nil {
			return backoffStop{err}
		}
		_, err := cl.ListClusters(ctx, &ecs.ListClustersInput{})
		return err
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, srv.LogTail(30))
	}
	const cluster, provider = "bench-ms", "bench-ms-asg"
	if _, err := cl.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String(provider),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{
			AutoScalingGroupArn: aws.String("arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:8e1f0b39-0000-4000-8000-0000000000b1:autoScalingGroupName/" + provider),
			ManagedScaling: &types.ManagedScaling{Status: types.ManagedScalingStatusEnabled, TargetCapacity: aws.Int32(100),
				MinimumScalingStepSize: aws.Int32(1), MaximumScalingStepSize: aws.Int32(10), InstanceWarmupPeriod: aws.Int32(60)},
			ManagedTerminationProtection: types.ManagedTerminationProtectionEnabled}}); err != nil {
		return err
	}
	if _, err := cl.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster), CapacityProviders: []string{provider},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String(provider), Weight: 1}}}); err != nil {
		return err
	}
	td, err := cl.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bench-ms"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(webImage), Cpu: 256,
			Memory: aws.Int32(64), Essential: aws.Bool(true), DockerLabels: map[string]string{labelBench: run}}}})
	if err != nil {
		return err
	}
	var toHook, toRegistered, toRunning, cpu []time.Duration
	var agentRun, webRun []time.Duration
	load0 := benchproc.LoadAverage()
	for i := 0; i < *n; i++ {
		// The peers: docker run -d of the agent image and of the task image.
		for _, img := range []string{agentImage, webImage} {
			t0 := time.Now()
			args := []string{"run", "-d", "--label", labelBench + "=" + run}
			if img == agentImage {
				args = append(args, "--entrypoint", "/gantry-agent", img, "--help")
			} else {
				args = append(args, img)
			}
			if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("docker run: %w: %s", err, out)
			}
			if img == agentImage {
				agentRun = append(agentRun, time.Since(t0))
			} else {
				webRun = append(webRun, time.Since(t0))
			}
		}
		hookMu.Lock()
		hooks := len(hookAt)
		hookMu.Unlock()
		cpu0, _ := benchproc.ProcCPU(srv.Pid())
		t0 := time.Now()
		out, err := cl.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: td.TaskDefinition.TaskDefinitionArn})
		if err != nil {
			return err
		}
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "PROVISIONING" || aws.ToString(out.Tasks[0].ContainerInstanceArn) != "" {
			return fmt.Errorf("round %d: RunTask did not leave the task waiting in PROVISIONING: %+v %+v", i, out.Tasks, out.Failures)
		}
		arn := aws.ToString(out.Tasks[0].TaskArn)
		var inst string
		if err := waitUntil(ctx, 3*time.Minute, 20*time.Millisecond, "the task RUNNING", func() error {
			d, err := cl.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{arn}})
			if err != nil {
				return err
			}
			if len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].LastStatus) != "RUNNING" {
				return errors.New("not yet")
			}
			inst = aws.ToString(d.Tasks[0].ContainerInstanceArn)
			return nil
		}); err != nil {
			return err
		}
		toRunning = append(toRunning, time.Since(t0))
		cpu1, _ := benchproc.ProcCPU(srv.Pid())
		cpu = append(cpu, cpu1-cpu0)
		hookMu.Lock()
		if len(hookAt) > hooks {
			toHook = append(toHook, hookAt[hooks].Sub(t0))
		}
		hookMu.Unlock()
		d, err := cl.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{inst}})
		if err == nil && len(d.ContainerInstances) == 1 && d.ContainerInstances[0].RegisteredAt != nil {
			toRegistered = append(toRegistered, d.ContainerInstances[0].RegisteredAt.Sub(t0))
		}
		logger.Info("round", "i", i, "running", toRunning[len(toRunning)-1])
		if _, err := cl.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}); err != nil {
			return err
		}
		if err := waitUntil(ctx, 2*time.Minute, 100*time.Millisecond, "the instance removed", func() error {
			l, err := cl.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
			if err != nil {
				return err
			}
			if len(l.ContainerInstanceArns) > 0 {
				return fmt.Errorf("%d instances", len(l.ContainerInstanceArns))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	load1 := benchproc.LoadAverage()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", provisioningSection)
	fmt.Fprintf(&b, "Run %s on %s (load average %s before, %s after). Command: `go run ./cmd/gantry-bench provisioning -n %d`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), benchproc.Machine(), load0, load1, *n)
	b.WriteString("A task of a managed-scaling capacity provider with no instance: RunTask answers it PROVISIONING; managed scaling (pass every 250 ms) asks the Docker provisioner for an instance; the new `gantry-agent` container registers; the task is placed and RUNNING. Each round then stops the task and managed scaling drains and removes the idle instance (scale-in after 1 s).\n\n")
	b.WriteString("| measure | p50 | p90 | mean | max |\n|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		s    []time.Duration
	}{{"RunTask → scale-out action at the provisioner", toHook}, {"RunTask → instance registered", toRegistered},
		{"RunTask → task RUNNING", toRunning}, {"peer: `docker run -d` of the agent image", agentRun},
		{"peer: `docker run -d` of the task image", webRun}, {"server CPU per round (RunTask to RUNNING)", cpu}} {
		s := summarize(row.s)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.name, ms(s.P50), ms(s.P90), ms(s.Mean), ms(s.Max))
	}
	b.WriteString("\nECS takes minutes for the same (an EC2 instance boots and its agent registers); here an instance is a container, so the time is the managed scaling pass, the agent's start and registration, and the task's start.\n")
	fmt.Fprint(stdout, b.String())
	if *write != "" {
		return writeSection(*write, b.String())
	}
	return nil
}
