// Command gantry-prepullbench measures what image pre-pull saves a
// rolling update: the time from UpdateService to all tasks of the new
// image RUNNING, with pre-pull on (the default --prepull-timeout) and off
// (--prepull-timeout 0), in one run.
//
// Usage:
//
//	go build -o /tmp/gantry-prepullbench ./cmd/gantry-prepullbench
//	/tmp/gantry-prepullbench [-tasks 10] [-mib 100] [-layers 4]
//
// It builds, through the local Docker Engine, two images of -layers
// layers of random bytes (-mib MiB in all) on top of the test web server
// (v1 and v2: their big layers differ). Then, for each mode (pre-pull on,
// then off), it starts in this process a control plane whose registry
// listens on loopback and one agent on the same Docker Engine
// (internal/benchenv), pushes both images to a repository of that
// registry, removes v2 from the Engine (the agent's image cache), runs a
// service of -tasks tasks of v1 until it is steady, and updates it to v2.
// It reports the time from UpdateService to -tasks tasks of v2 RUNNING;
// the pull time (pre-pull: the span the service's "pre-pulled" event
// gives; both modes: from the first new task's pull start to the last
// one's pull end); and the CPU seconds of this process (control plane,
// agent and the polling client together) and of dockerd during the
// rollout. The Markdown table it prints is what docs/performance.md
// records.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/benchenv"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/controller/service"
)

func main() { os.Exit(run(os.Args[1:])) }

// options are the flags.
type options struct {
	tasks, mib, layers int
	timeout            time.Duration
}

func run(args []string) int {
	fs := flag.NewFlagSet("gantry-prepullbench", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.tasks, "tasks", 10, "tasks of the service")
	fs.IntVar(&o.mib, "mib", 100, "size in MiB of each image's own layers")
	fs.IntVar(&o.layers, "layers", 4, "number of those layers")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long one rollout may take at most")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := bench(ctx, o, logger); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-prepullbench:", err)
		return 1
	}
	return 0
}

// result is one mode's rollout.
type result struct {
	mode             string
	rollout          time.Duration
	prePull          time.Duration // from the service's event; 0 when off
	taskPull         time.Duration // first new task's pull start to last one's pull end
	procCPU, engCPU  float64
	loadBefore, load string
}

func bench(ctx context.Context, o options, logger *slog.Logger) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	var results []result
	for _, m := range []struct {
		name    string
		timeout time.Duration
	}{{"pre-pull on (--prepull-timeout " + service.DefaultPrePullTimeout.String() + ")", service.DefaultPrePullTimeout}, {"pre-pull off (--prepull-timeout 0)", 0}} {
		logger.Info("rollout", "mode", m.name)
		r, err := rollout(ctx, cli, o, m.timeout, logger)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		r.mode = m.name
		results = append(results, r)
		logger.Info("rolled out", "mode", m.name, "took", r.rollout.Round(time.Millisecond))
	}
	fmt.Printf("%d tasks rolled from v1 to v2, each image %d MiB of its own in %d layers of random bytes on the test web server; one agent on the local Docker Engine, v2 absent from it at UpdateService. CPU seconds during the rollout: this process (control plane + agent + polling client) and dockerd.\n\n", o.tasks, o.mib, o.layers)
	fmt.Println("| mode | UpdateService to all RUNNING s | pre-pull s | tasks' pulls s (first start to last end) | server+agent CPU s | dockerd CPU s | load average (before / after) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range results {
		pp := "-"
		if r.prePull > 0 {
			pp = fmt.Sprintf("%.2f", r.prePull.Seconds())
		}
		fmt.Printf("| %s | %.2f | %s | %.2f | %.2f | %.2f | %s / %s |\n", r.mode, r.rollout.Seconds(), pp, r.taskPull.Seconds(), r.procCPU, r.engCPU, r.loadBefore, r.load)
	}
	return nil
}

var prePulledIn = regexp.MustCompile(`pre-pulled image\(s\) \S+ on \d+ of \d+ container instances in ([0-9hmsµn.]+)`)

// rollout runs one mode on a fresh control plane and agent.
func rollout(ctx context.Context, cli *client.Client, o options, prePull time.Duration, logger *slog.Logger) (res result, err error) {
	env, err := benchenv.Start(ctx, benchenv.Options{Name: "prepullbench", Cluster: "prepullbench", Server: func(c *config.Server) {
		c.RegistryListen = "127.0.0.1:0"
		c.PrePullTimeout = prePull
	}}, logger)
	if err != nil {
		return res, err
	}
	defer env.Close()
	local := [2]string{"gantry-prepullbench/big:v1", "gantry-prepullbench/big:v2"}
	defer func() {
		for _, t := range local {
			_, _ = cli.ImageRemove(context.Background(), t, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	}()
	ids := [2]string{}
	for i, t := range local {
		logger.Info("building", "image", t, "MiB", o.mib, "layers", o.layers)
		if ids[i], err = buildImage(ctx, cli, env.Image, t, o.mib, o.layers); err != nil {
			return res, fmt.Errorf("build %s: %w", t, err)
		}
	}
	ecl := ecr.New(ecr.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	cr, err := ecl.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("bench/prepull")})
	if err != nil {
		return res, err
	}
	uri := aws.ToString(cr.Repository.RepositoryUri)
	auth, err := registryAuth(ctx, ecl)
	if err != nil {
		return res, err
	}
	refs := [2]string{uri + ":v1", uri + ":v2"}
	for i := range local {
		logger.Info("pushing", "image", refs[i])
		if err := cli.ImageTag(ctx, local[i], refs[i]); err != nil {
			return res, err
		}
		rc, err := cli.ImagePush(ctx, refs[i], image.PushOptions{RegistryAuth: auth})
		if err != nil {
			return res, err
		}
		err = streamError(rc)
		rc.Close()
		if err != nil {
			return res, fmt.Errorf("push %s: %w", refs[i], err)
		}
		if _, err := cli.ImageRemove(ctx, refs[i], image.RemoveOptions{}); err != nil {
			return res, err
		}
	}
	// The agent shares this Engine: v2 gone, its layers must be pulled.
	if _, err := cli.ImageRemove(ctx, ids[1], image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return res, err
	}
	tds := [2]string{}
	for i := range refs {
		out, err := env.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("prepullbench"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(refs[i]), Essential: aws.Bool(true),
				Cpu: 64, Memory: aws.Int32(64)}}})
		if err != nil {
			return res, err
		}
		tds[i] = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	svcName := "prepull"
	if _, err := env.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(env.Cluster), ServiceName: aws.String(svcName),
		TaskDefinition: aws.String(tds[0]), DesiredCount: aws.Int32(int32(o.tasks))}); err != nil {
		return res, err
	}
	defer func() {
		c := context.Background()
		_, _ = env.ECS.DeleteService(c, &ecs.DeleteServiceInput{Cluster: aws.String(env.Cluster), Service: aws.String(svcName), Force: aws.Bool(true)})
	}()
	logger.Info("waiting for the v1 tasks", "tasks", o.tasks)
	if _, err := waitRunning(ctx, env, svcName, tds[0], o.tasks, o.timeout); err != nil {
		return res, err
	}
	// Let the deployment settle (COMPLETED) so the update is a plain
	// rolling update from a steady service.
	if err := waitSteady(ctx, env, svcName, o.timeout); err != nil {
		return res, err
	}
	eng := benchproc.PIDOf("dockerd")
	res.loadBefore = loadavg()
	p0, e0 := benchproc.SelfCPU().Seconds(), benchproc.CPUSeconds(eng)
	start := time.Now()
	if _, err := env.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(env.Cluster), Service: aws.String(svcName),
		TaskDefinition: aws.String(tds[1])}); err != nil {
		return res, err
	}
	tasks, err := waitRunning(ctx, env, svcName, tds[1], o.tasks, o.timeout)
	if err != nil {
		return res, err
	}
	res.rollout = time.Since(start)
	res.procCPU, res.engCPU = benchproc.SelfCPU().Seconds()-p0, benchproc.CPUSeconds(eng)-e0
	res.load = loadavg()
	var first, last time.Time
	for _, t := range tasks {
		s, e := aws.ToTime(t.PullStartedAt), aws.ToTime(t.PullStoppedAt)
		if !s.IsZero() && (first.IsZero() || s.Before(first)) {
			first = s
		}
		if e.After(last) {
			last = e
		}
	}
	if !first.IsZero() {
		res.taskPull = last.Sub(first)
	}
	d, err := env.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(env.Cluster), Services: []string{svcName}})
	if err != nil || len(d.Services) != 1 {
		return res, fmt.Errorf("describe service: %v", err)
	}
	for _, ev := range d.Services[0].Events {
		if m := prePulledIn.FindStringSubmatch(aws.ToString(ev.Message)); m != nil {
			res.prePull, _ = time.ParseDuration(m[1])
			break
		}
	}
	if prePull > 0 && res.prePull == 0 {
		return res, errors.New("pre-pull on, but the service has no pre-pulled event")
	}
	return res, nil
}

// waitRunning polls until n tasks of td of the service are RUNNING and
// returns them.
func waitRunning(ctx context.Context, env *benchenv.Env, svc, td string, n int, timeout time.Duration) ([]types.Task, error) {
	deadline := time.Now().Add(timeout)
	for {
		tasks, err := env.ServiceTasks(ctx, svc)
		if err != nil {
			return nil, err
		}
		var running []types.Task
		for _, t := range tasks {
			if aws.ToString(t.TaskDefinitionArn) == td && aws.ToString(t.LastStatus) == "RUNNING" {
				running = append(running, t)
			}
		}
		if len(running) >= n {
			return running, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d tasks of %s RUNNING after %v", len(running), n, td, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSteady waits for the service's only deployment to be COMPLETED.
func waitSteady(ctx context.Context, env *benchenv.Env, svc string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := env.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(env.Cluster), Services: []string{svc}})
		if err != nil {
			return err
		}
		if len(d.Services) == 1 && len(d.Services[0].Deployments) == 1 && d.Services[0].Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s not steady after %v", svc, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// registryAuth returns Docker's X-Registry-Auth for the Gantry registry,
// from GetAuthorizationToken.
func registryAuth(ctx context.Context, cl *ecr.Client) (string, error) {
	out, err := cl.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", err
	}
	if len(out.AuthorizationData) == 0 {
		return "", errors.New("GetAuthorizationToken returned no authorizationData")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return "", err
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	js, err := json.Marshal(map[string]string{"username": user, "password": pass,
		"serveraddress": strings.TrimPrefix(aws.ToString(d.ProxyEndpoint), "http://")})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(js), nil
}

// buildImage builds FROM base an image of layers layers of random bytes,
// mib MiB in all, tagged tag, and returns its ID.
func buildImage(ctx context.Context, cli *client.Client, base, tag string, mib, layers int) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := "FROM " + base + "\n"
	per := mib << 20 / layers
	for i := range layers {
		data := make([]byte, per)
		if _, err := rand.Read(data); err != nil {
			return "", err
		}
		name := fmt.Sprintf("layer%d.bin", i)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(per)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(data); err != nil {
			return "", err
		}
		df += fmt.Sprintf("COPY %s /%s\n", name, name)
	}
	df += "LABEL dev.gantry.bench=prepull\n"
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return "", err
	}
	if _, err := tw.Write([]byte(df)); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", err
	}
	err = streamError(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

// streamError reads a Docker JSON message stream and returns its error.
func streamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// loadavg is the one-minute load average.
func loadavg() string {
	one, _, _ := strings.Cut(benchproc.LoadAverage(), " ")
	return one
}
