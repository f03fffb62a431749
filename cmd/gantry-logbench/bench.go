package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// Names of what the benchmark creates.
const (
	region      = "us-east-1"
	clusterName = "logbench"
	appName     = "app"
	prefix      = "bench"
	// labelRun marks the benchmark's own (floor) containers; the value is
	// the run's ID.
	labelRun      = "dev.gantry.logbench"
	labelInstance = "dev.gantry.instance"
	// eventOverhead is what CloudWatch counts per event beside its message
	// (storedBytes counts it too).
	eventOverhead = 26
)

// bench is one run: the processes it started, its clients, and what it
// must remove at the end.
type bench struct {
	o   options
	log *slog.Logger

	runID       string
	tmp         string
	docker      *client.Client
	server      *benchproc.Proc
	agent       *benchproc.Proc
	serverDebug string
	agentDebug  string
	ecs         *ecs.Client
	logs        *cloudwatchlogs.Client
	image       string
	dockerd     []int
	cleanups    []func(ctx context.Context)
}

// cpu is the CPU time used so far by each party.
type cpu struct{ agent, server, dockerd time.Duration }

func (c cpu) sub(o cpu) cpu {
	return cpu{agent: c.agent - o.agent, server: c.server - o.server, dockerd: c.dockerd - o.dockerd}
}

func (b *bench) cpuNow() cpu {
	c := cpu{agent: procCPU(b.agent.Pid()), server: procCPU(b.server.Pid())}
	for _, pid := range b.dockerd {
		c.dockerd += procCPU(pid)
	}
	return c
}

// results are what the report shows.
type results struct {
	date               time.Time
	machine            string
	loadStart, loadEnd string
	floor              floorResult
	full, steady       phaseResult
	reads              readResult
}

// floorResult is Docker alone.
type floorResult struct {
	lines   int64
	window  time.Duration // the printing
	dockerd time.Duration
	late    time.Duration // how late the last container started
}

// phaseResult is one phase through Gantry.
type phaseResult struct {
	printed     int64
	printWindow time.Duration
	// storedInWindow is what was stored by the end of the printing.
	storedInWindow int64
	// cpuPrint is the CPU over the printing; cpuAll until the last event
	// was stored (drain after the start).
	cpuPrint, cpuAll cpu
	drain            time.Duration
	stored           int64
	streams          int
	problems         []string
	lat              latency
	late             time.Duration
}

type latency struct {
	n             int
	p50, p99, max time.Duration
}

// readResult is the read side.
type readResult struct {
	getEvents       int
	getCalls        int
	get             []time.Duration
	putEvents       int
	put             time.Duration
	filterScanned   int
	filterMatched   int
	filter          []time.Duration
	filterPattern   string
	filterResponses int
}

func (b *bench) run(ctx context.Context) (*results, error) {
	res := &results{date: time.Now().UTC()}
	defer b.teardown()
	if err := b.setup(ctx, res); err != nil {
		return nil, err
	}
	res.loadStart = benchproc.LoadAverage()
	var err error
	if b.o.phases["floor"] {
		b.log.Info("phase 1: Docker's local driver alone (the floor)")
		if res.floor, err = b.floor(ctx); err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
	}
	if b.o.phases["full"] {
		b.log.Info("phase 2: Gantry at full rate")
		if res.full, err = b.gantryPhase(ctx, "/logbench/full", floodCommand(1_000_000_000, b.o.rate, b.o.size, b.o.duration), b.o.duration, "full"); err != nil {
			return nil, fmt.Errorf("full rate: %w", err)
		}
	}
	if b.o.phases["steady"] {
		b.log.Info("phase 3: Gantry at a steady rate")
		per := b.o.steadyRate / b.o.containers
		n := int(float64(per) * b.o.steadyDuration.Seconds())
		if res.steady, err = b.gantryPhase(ctx, "/logbench/steady", floodCommand(n, per, b.o.size, 0), b.o.steadyDuration, "steady"); err != nil {
			return nil, fmt.Errorf("steady rate: %w", err)
		}
	}
	if b.o.phases["reads"] {
		b.log.Info("phase 4: reads")
		if res.reads, err = b.readPhase(ctx); err != nil {
			return nil, fmt.Errorf("reads: %w", err)
		}
	}
	res.loadEnd = benchproc.LoadAverage()
	return res, nil
}

func floodCommand(n, rate, size int, d time.Duration) []string {
	cmd := []string{"flood", strconv.Itoa(n), strconv.Itoa(rate), strconv.Itoa(size)}
	if d > 0 {
		cmd = append(cmd, d.String())
	}
	return cmd
}

// setup starts Docker's client, the image, the server and the agent.
func (b *bench) setup(ctx context.Context, res *results) error {
	b.runID = randomHex(4)
	var err error
	if b.tmp, err = os.MkdirTemp("", "gantry-logbench-"); err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { os.RemoveAll(b.tmp) })
	if b.docker, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { b.docker.Close() })
	v, err := b.docker.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("the Docker Engine is unreachable: %w", err)
	}
	info, err := b.docker.Info(ctx)
	if err != nil {
		return err
	}
	b.dockerd = benchproc.FindPIDs("dockerd")
	if len(b.dockerd) == 0 {
		b.log.Warn("no dockerd process in /proc: its CPU is not measured")
	}
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	res.machine = fmt.Sprintf("%s: %d CPUs (%s), Linux %s, %s; Docker Engine %s (storage driver %s)",
		host, runtime.NumCPU(), benchproc.CPUModel(), strings.TrimSpace(string(kernel)), runtime.Version(), v.Version, info.Driver)

	b.image = "gantry-logbench/app:" + b.runID
	b.log.Info("building the test image", "image", b.image)
	if _, err := testutil.BuildImageContext(ctx, b.docker, b.image, testutil.TestServerSource()); err != nil {
		return err
	}
	b.onCleanup(func(ctx context.Context) {
		_, err := b.docker.ImageRemove(ctx, b.image, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			b.log.Warn("remove image", "err", err)
		}
	})
	b.onCleanup(func(ctx context.Context) { b.removeContainers(ctx, labelRun+"="+b.runID) })

	akid, secret := "AKIDLOGBENCH"+strings.ToUpper(randomHex(4)), randomHex(20)
	env := []string{envAccessKey + "=" + akid, envSecretKey + "=" + secret}
	addr, err := benchproc.FreeAddr()
	if err != nil {
		return err
	}
	if b.serverDebug, err = benchproc.FreeAddr(); err != nil {
		return err
	}
	url := "http://" + addr
	b.log.Info("starting the server", "url", url)
	if b.server, err = startProc("server", []string{childServer, "-listen", addr, "-data-dir", filepath.Join(b.tmp, "server"), "-debug", b.serverDebug},
		env, filepath.Join(b.tmp, "server.log")); err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { b.server.Stop(20 * time.Second) })
	creds := credentials.NewStaticCredentialsProvider(akid, secret, "")
	b.ecs = ecs.New(ecs.Options{Region: region, BaseEndpoint: aws.String(url), Credentials: creds})
	b.logs = cloudwatchlogs.New(cloudwatchlogs.Options{Region: region, BaseEndpoint: aws.String(url), Credentials: creds})
	if err := b.waitFor(ctx, time.Minute, "the server", func() error {
		if err := b.server.Alive(); err != nil {
			return stopWaiting{err}
		}
		_, err := b.ecs.ListClusters(ctx, &ecs.ListClustersInput{})
		return err
	}); err != nil {
		return err
	}
	if _, err := b.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(clusterName)}); err != nil {
		return err
	}

	dir := filepath.Join(b.tmp, "agent")
	id, err := agent.LoadInstanceID(dir)
	if err != nil {
		return err
	}
	b.onCleanup(func(ctx context.Context) { b.removeContainers(ctx, labelInstance+"="+id) })
	if b.agentDebug, err = benchproc.FreeAddr(); err != nil {
		return err
	}
	b.log.Info("starting the agent", "instance", id)
	if b.agent, err = startProc("agent", []string{childAgent, "-debug", b.agentDebug, "--server", url, "--cluster", clusterName,
		"--data-dir", dir, "--region", region, "--cpu", "4096", "--memory", "16384", "--task-cleanup-wait", "1h"},
		env, filepath.Join(b.tmp, "agent.log")); err != nil {
		return err
	}
	b.onCleanup(func(context.Context) { b.agent.Stop(20 * time.Second) })
	return b.waitFor(ctx, time.Minute, "the agent's registration", func() error {
		if err := b.agent.Alive(); err != nil {
			return stopWaiting{err}
		}
		list, err := b.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(clusterName)})
		if err != nil {
			return err
		}
		if len(list.ContainerInstanceArns) == 0 {
			return errors.New("no container instance yet")
		}
		out, err := b.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(clusterName), ContainerInstances: list.ContainerInstanceArns})
		if err != nil {
			return err
		}
		if len(out.ContainerInstances) == 1 && aws.ToString(out.ContainerInstances[0].Status) == "ACTIVE" && out.ContainerInstances[0].AgentConnected {
			return nil
		}
		return errors.New("container instance not ACTIVE and connected yet")
	})
}

// startLead is how long before their common start the containers of a
// phase are created: enough for all of them to be running by then.
func (b *bench) startLead() time.Duration {
	return 5*time.Second + time.Duration(b.o.containers)*time.Second
}

// floor runs the containers with the local log driver and nobody reading.
func (b *bench) floor(ctx context.Context) (floorResult, error) {
	var r floorResult
	start := time.Now().Add(b.startLead())
	cmd := floodCommand(1_000_000_000, b.o.rate, b.o.size, b.o.duration)
	var ids []string
	for i := range b.o.containers {
		c, err := b.docker.ContainerCreate(ctx, &container.Config{
			Image: b.image, Cmd: cmd, Labels: map[string]string{labelRun: b.runID},
			Env: []string{"START_AT=" + strconv.FormatInt(start.UnixMilli(), 10)},
		}, &container.HostConfig{
			LogConfig: container.LogConfig{Type: "local", Config: map[string]string{"max-size": "20m", "max-file": "5"}},
			Resources: container.Resources{Memory: 64 << 20},
		}, nil, nil, fmt.Sprintf("logbench-%s-floor-%d", b.runID, i))
		if err != nil {
			return r, err
		}
		ids = append(ids, c.ID)
		if err := b.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return r, err
		}
	}
	r.late = max(0, time.Since(start))
	sleepUntil(ctx, start)
	c0 := b.cpuNow()
	for _, id := range ids {
		wc, errc := b.docker.ContainerWait(ctx, id, container.WaitConditionNotRunning)
		select {
		case <-wc:
		case err := <-errc:
			return r, err
		}
	}
	r.dockerd = b.cpuNow().sub(c0).dockerd
	r.window = b.o.duration
	for _, id := range ids {
		n, err := b.lastLine(ctx, id)
		if err != nil {
			return r, err
		}
		r.lines += n
	}
	b.log.Info("floor", "lines", r.lines, "lines_per_s", int(float64(r.lines)/r.window.Seconds()), "dockerd_cpu", r.dockerd, "late", r.late)
	b.removeContainers(ctx, labelRun+"="+b.runID)
	return r, nil
}

// lastLine returns the number of the last line container id printed.
func (b *bench) lastLine(ctx context.Context, id string) (int64, error) {
	rc, err := b.docker.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, Tail: "1"})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, rc); err != nil {
		return 0, err
	}
	s := out.String()
	if len(s) < 10 {
		return 0, fmt.Errorf("container %.12s printed no line (stderr %q)", id, errOut.String())
	}
	return strconv.ParseInt(s[:10], 10, 64)
}

// gantryPhase runs the containers as awslogs tasks printing for window
// from a common start, then waits until everything they printed is
// stored, reads every stream back and checks it.
func (b *bench) gantryPhase(ctx context.Context, group string, command []string, window time.Duration, phase string) (phaseResult, error) {
	var r phaseResult
	family := "logbench" + strings.ReplaceAll(group, "/", "-")
	td, err := b.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String(appName), Image: aws.String(b.image), Memory: aws.Int32(64), Essential: aws.Bool(true), Command: command,
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": group, "awslogs-region": region, "awslogs-stream-prefix": prefix, "awslogs-create-group": "true"}},
		}}})
	if err != nil {
		return r, err
	}
	start := time.Now().Add(b.startLead())
	env := []types.KeyValuePair{{Name: aws.String("START_AT"), Value: aws.String(strconv.FormatInt(start.UnixMilli(), 10))}}
	var arns []string
	for left := b.o.containers; left > 0; left -= 10 {
		out, err := b.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			Count: aws.Int32(int32(min(left, 10))), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String(appName), Environment: env}}}})
		if err != nil {
			return r, err
		}
		if len(out.Failures) > 0 {
			return r, fmt.Errorf("RunTask: %s", aws.ToString(out.Failures[0].Reason))
		}
		for _, t := range out.Tasks {
			arns = append(arns, aws.ToString(t.TaskArn))
		}
	}
	if err := b.waitFor(ctx, b.startLead()+time.Minute, "the tasks RUNNING", func() error {
		if err := b.agent.Alive(); err != nil {
			return stopWaiting{err}
		}
		tasks, err := b.describe(ctx, arns)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if s := aws.ToString(t.LastStatus); s != "RUNNING" {
				if s == "STOPPED" {
					return stopWaiting{fmt.Errorf("task %s stopped: %s", aws.ToString(t.TaskArn), aws.ToString(t.StoppedReason))}
				}
				return fmt.Errorf("task %s is %s", aws.ToString(t.TaskArn), s)
			}
		}
		return nil
	}); err != nil {
		return r, err
	}
	r.late = max(0, time.Since(start))
	if r.late > 0 {
		b.log.Warn("the tasks were RUNNING after the common start", "late", r.late)
	}
	sleepUntil(ctx, start)
	c0 := b.cpuNow()
	profDone := make(chan error, 2)
	profiles := 0
	if dir := b.o.profile; dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return r, err
		}
		for name, addr := range map[string]string{"agent": b.agentDebug, "server": b.serverDebug} {
			profiles++
			go func() { profDone <- profile(ctx, addr, window, filepath.Join(dir, phase+"-"+name+".pprof")) }()
		}
	}
	stored := func() (int64, error) {
		out, err := b.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
		if err != nil || len(out.LogGroups) == 0 {
			return 0, err
		}
		return aws.ToInt64(out.LogGroups[0].StoredBytes) / int64(b.o.size+eventOverhead), nil
	}
	sleepUntil(ctx, start.Add(window))
	r.cpuPrint = b.cpuNow().sub(c0)
	r.printWindow = window
	if r.storedInWindow, err = stored(); err != nil {
		return r, err
	}
	// Every task stopped: what each printed is known.
	var tasks []types.Task
	if err := b.waitFor(ctx, 5*time.Minute, "the tasks STOPPED", func() error {
		var err error
		if tasks, err = b.describe(ctx, arns); err != nil {
			return err
		}
		for _, t := range tasks {
			if aws.ToString(t.LastStatus) != "STOPPED" {
				return errors.New("a task is still running")
			}
		}
		return nil
	}); err != nil {
		return r, err
	}
	printed := map[string]int64{}
	for _, t := range tasks {
		if len(t.Containers) != 1 || aws.ToString(t.Containers[0].RuntimeId) == "" {
			return r, fmt.Errorf("task %s has no container", aws.ToString(t.TaskArn))
		}
		n, err := b.lastLine(ctx, aws.ToString(t.Containers[0].RuntimeId))
		if err != nil {
			return r, err
		}
		arn := aws.ToString(t.TaskArn)
		printed[prefix+"/"+appName+"/"+arn[strings.LastIndexByte(arn, '/')+1:]] = n
		r.printed += n
	}
	var last int64
	lastChange := time.Now()
	for {
		n, err := stored()
		if err != nil {
			return r, err
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= r.printed {
			break
		}
		if time.Since(lastChange) > time.Minute {
			b.log.Warn("stored events stopped growing", "stored", n, "printed", r.printed)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.drain = time.Since(start)
	r.cpuAll = b.cpuNow().sub(c0)
	r.stored = last
	for range profiles {
		if err := <-profDone; err != nil {
			b.log.Warn("profile", "err", err)
		}
	}
	b.log.Info("stored", "group", group, "printed", r.printed, "stored", r.stored, "in_window", r.storedInWindow, "drain", r.drain.Round(time.Millisecond),
		"agent_cpu", r.cpuAll.agent, "server_cpu", r.cpuAll.server, "dockerd_cpu", r.cpuAll.dockerd)
	var lags []time.Duration
	for stream, n := range printed {
		l, problem, err := b.checkStream(ctx, group, stream, n)
		if err != nil {
			return r, err
		}
		if problem != "" {
			r.problems = append(r.problems, stream+": "+problem)
		}
		lags = append(lags, l...)
		r.streams++
	}
	r.lat = summarize(lags)
	return r, nil
}

// describe describes tasks, 100 at a time.
func (b *bench) describe(ctx context.Context, arns []string) ([]types.Task, error) {
	var out []types.Task
	for i := 0; i < len(arns); i += 100 {
		d, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: arns[i:min(len(arns), i+100)]})
		if err != nil {
			return nil, err
		}
		out = append(out, d.Tasks...)
	}
	return out, nil
}

// checkStream reads a stream from its head and checks that it holds lines
// 1 to n in order, once each. It returns the events' ingestion lags and
// what is wrong, if anything.
func (b *bench) checkStream(ctx context.Context, group, stream string, n int64) ([]time.Duration, string, error) {
	var lags []time.Duration
	var token *string
	var next int64 = 1
	problem := ""
	for {
		out, err := b.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true), NextToken: token, Limit: aws.Int32(10_000)})
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", stream, err)
		}
		for _, e := range out.Events {
			msg := aws.ToString(e.Message)
			seq, err := strconv.ParseInt(msg[:min(10, len(msg))], 10, 64)
			if (err != nil || seq != next || len(msg) != b.o.size) && problem == "" {
				problem = fmt.Sprintf("event %d is %.20q, want line %d", next, msg, next)
			}
			next++
			lags = append(lags, time.Duration(aws.ToInt64(e.IngestionTime)-aws.ToInt64(e.Timestamp))*time.Millisecond)
		}
		if len(out.Events) == 0 || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
			break
		}
		token = out.NextForwardToken
	}
	if got := next - 1; got != n && problem == "" {
		problem = fmt.Sprintf("%d events, want %d", got, n)
	}
	return lags, problem, nil
}

// teardown runs the cleanups, last registered first, under a fresh
// context (it also runs after a Ctrl-C).
func (b *bench) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b.log.Info("cleaning up")
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i](ctx)
	}
}

func (b *bench) onCleanup(f func(ctx context.Context)) { b.cleanups = append(b.cleanups, f) }

// removeContainers forcibly removes every container labelled label.
func (b *bench) removeContainers(ctx context.Context, label string) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		b.log.Warn("list containers to remove", "label", label, "err", err)
		return
	}
	for _, c := range list {
		if err := b.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			b.log.Warn("remove container", "id", c.ID, "err", err)
		}
	}
}

// stopWaiting makes waitFor give up at once with the error it wraps.
type stopWaiting struct{ err error }

func (e stopWaiting) Error() string { return e.err.Error() }

// waitFor calls cond every 200 ms until it returns nil or a stopWaiting,
// ctx ends, or timeout passes.
func (b *bench) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var stop stopWaiting
		if errors.As(err, &stop) {
			return fmt.Errorf("waiting for %s: %w", what, stop.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not done after %v: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
