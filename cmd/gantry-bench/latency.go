package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-connections/nat"
)

// startTimeout bounds one measured start, until the container answers.
const startTimeout = time.Minute

// gantryStart is one measured RunTask, all durations since the call.
type gantryStart struct {
	// Running is when DescribeTasks first said RUNNING; HTTP when the
	// container first answered 200 on its host port (a Fargate task: on
	// its awsvpc address).
	Running, HTTP time.Duration
	// RunTask is when the RunTask call returned.
	RunTask time.Duration
	// Created, PullStarted, PullStopped and Started are the task's own
	// timestamps (createdAt from the server; the others from the agent),
	// to millisecond precision.
	Created, PullStarted, PullStopped, Started time.Duration
	// PauseCreated and PauseStarted are when Docker created and started
	// the task's pause container (a Fargate task's network namespace),
	// from Docker's own timestamps; zero for a bridge task.
	PauseCreated, PauseStarted time.Duration
	// WarmPause is set when the task claimed a warm pause container (the
	// pool host's, started before the RunTask call): PauseCreated and
	// PauseStarted are then 0.
	WarmPause bool
	// Polls is the number of DescribeTasks calls until RUNNING.
	Polls int
	// CPU is the CPU time each party used from the call until the HTTP
	// answer.
	CPU cpuSample
}

// dockerStart is one measured docker run, durations since the command
// was started.
type dockerStart struct {
	// Return is when the docker CLI exited; HTTP when the container first
	// answered 200 on its host port.
	Return, HTTP time.Duration
	// CPU is the CPU time each party used from the command's start until
	// the HTTP answer.
	CPU cpuSample
}

// measureLatency runs Warmup unmeasured and then N measured starts of each
// kind, alternating between Gantry and docker run (and which of them goes
// first) so both see the same conditions.
func (b *bench) measureLatency(ctx context.Context, res *results) error {
	total := b.cfg.Warmup + b.cfg.N
	for i := range total {
		measured := i >= b.cfg.Warmup
		gantryFirst := i%2 == 0
		for _, gantry := range []bool{gantryFirst, !gantryFirst} {
			if gantry {
				g, err := b.startGantry(ctx)
				if err != nil {
					return fmt.Errorf("gantry start %d: %w", i+1, err)
				}
				if measured {
					res.gantry = append(res.gantry, g)
				}
				b.log.Info("gantry task", "run", i+1, "of", total, "warmup", !measured,
					"running", ms(g.Running), "http", ms(g.HTTP))
			} else {
				d, err := b.startDocker(ctx)
				if err != nil {
					return fmt.Errorf("docker run %d: %w", i+1, err)
				}
				if measured {
					res.docker = append(res.docker, d)
				}
				b.log.Info("docker run", "run", i+1, "of", total, "warmup", !measured,
					"returned", ms(d.Return), "http", ms(d.HTTP))
			}
		}
	}
	return nil
}

// startGantry runs one task, measures it, then stops it and waits until
// the agent has removed its container.
func (b *bench) startGantry(parent context.Context) (gantryStart, error) {
	var g gantryStart
	if err := b.agent.Alive(); err != nil {
		return g, err
	}
	ctx, cancel := context.WithTimeout(parent, startTimeout)
	defer cancel()
	cpu0 := b.cpuNow()
	t0 := time.Now()
	in := &ecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(b.taskDef)}
	if b.cfg.Fargate {
		in.LaunchType = types.LaunchTypeFargate
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{fargateSubnet}}}
	}
	out, err := b.ecs.RunTask(ctx, in)
	if err != nil {
		return g, fmt.Errorf("run task: %w", err)
	}
	g.RunTask = time.Since(t0)
	if len(out.Tasks) != 1 {
		return g, fmt.Errorf("run task: no task started: %s", failures(out.Failures))
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	b.lastTask = arn
	defer func() {
		if parent.Err() != nil {
			return // interrupted: the teardown removes the containers
		}
		if err := b.stopAndWait(ctx, []string{arn}, labelTaskArn+"="+arn); err != nil {
			b.log.Warn("stop task", "task", arn, "err", err)
		}
	}()

	addrs := make(chan string, 1)
	answered := make(chan time.Duration, 1)
	pctx, stopProbe := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case addr := <-addrs:
			if d, err := probeHTTP(pctx, addr, b.cfg.Poll, t0); err == nil {
				answered <- d
			}
		case <-pctx.Done():
		}
	})
	defer wg.Wait()
	defer stopProbe()

	tick := time.NewTicker(b.cfg.Poll)
	defer tick.Stop()
	addrSent := false
	for {
		d, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: []string{arn}})
		seen := time.Since(t0)
		g.Polls++
		if err != nil {
			return g, fmt.Errorf("describe task: %w", err)
		}
		if len(d.Tasks) != 1 {
			return g, fmt.Errorf("describe task: %s", failures(d.Failures))
		}
		t := d.Tasks[0]
		if !addrSent {
			if addr := b.webAddr(t); addr != "" {
				addrs <- addr
				addrSent = true
			}
		}
		status := aws.ToString(t.LastStatus)
		if status == "RUNNING" {
			g.Running = seen
			rel := func(ts *time.Time) time.Duration {
				if ts == nil {
					return 0
				}
				return ts.Sub(t0)
			}
			g.Created, g.PullStarted, g.PullStopped, g.Started = rel(t.CreatedAt), rel(t.PullStartedAt), rel(t.PullStoppedAt), rel(t.StartedAt)
			if b.cfg.Fargate {
				created, started, err := b.pauseTimes(ctx, arn)
				if err != nil {
					return g, err
				}
				g.PauseCreated, g.PauseStarted = rel(&created), rel(&started)
				if g.PauseStarted < 0 {
					// A warm pause container, started before the RunTask
					// call and claimed by the task: no pause start in the
					// task's own.
					g.WarmPause, g.PauseCreated, g.PauseStarted = true, 0, 0
				}
			}
			if !addrSent {
				if b.cfg.Fargate {
					return g, errors.New("task RUNNING without an ElasticNetworkInterface attachment's privateIPv4Address")
				}
				return g, errors.New("task RUNNING without a host port binding")
			}
			break
		}
		if status == "STOPPED" {
			return g, fmt.Errorf("task stopped: %s", aws.ToString(t.StoppedReason))
		}
		select {
		case <-ctx.Done():
			return g, fmt.Errorf("task still %s: %w", status, ctx.Err())
		case <-tick.C:
		}
	}
	select {
	case g.HTTP = <-answered:
	case <-ctx.Done():
		return g, fmt.Errorf("container did not answer HTTP: %w", ctx.Err())
	}
	g.CPU = b.cpuNow().sub(cpu0)
	return g, nil
}

// pauseTimes returns when Docker created and started the pause container
// of task arn.
func (b *bench) pauseTimes(ctx context.Context, arn string) (created, started time.Time, err error) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelTaskArn+"="+arn), filters.Arg("label", labelContainerName+"="+pauseContainerName))})
	if err != nil {
		return created, started, fmt.Errorf("list the pause container: %w", err)
	}
	ref := ""
	switch len(list) {
	case 0:
		// A warm pause container the task claimed: it has the task's name,
		// not its labels.
		ref = "ecs-internalecspause-" + arn[strings.LastIndexByte(arn, '/')+1:]
	case 1:
		ref = list[0].ID
	default:
		return created, started, fmt.Errorf("task %s has %d pause containers", arn, len(list))
	}
	c, err := b.docker.ContainerInspect(ctx, ref)
	if err != nil {
		return created, started, fmt.Errorf("inspect the pause container: %w", err)
	}
	if created, err = time.Parse(time.RFC3339Nano, c.Created); err != nil {
		return created, started, fmt.Errorf("pause container created %q: %w", c.Created, err)
	}
	if c.State == nil {
		return created, started, errors.New("pause container has no state")
	}
	if started, err = time.Parse(time.RFC3339Nano, c.State.StartedAt); err != nil {
		return created, started, fmt.Errorf("pause container started %q: %w", c.State.StartedAt, err)
	}
	return created, started, nil
}

// stopAndWait stops the tasks and waits until they are STOPPED and no
// container labelled label is left.
func (b *bench) stopAndWait(ctx context.Context, arns []string, label string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	sem := make(chan struct{}, 10)
	errs := make(chan error, len(arns))
	for _, arn := range arns {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := b.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn), Reason: aws.String("gantry-bench")})
			errs <- err
		}()
	}
	var all []error
	for range arns {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return fmt.Errorf("stop task: %w", err)
	}
	if err := b.waitStatus(ctx, arns, "STOPPED", 100*time.Millisecond); err != nil {
		return err
	}
	return waitUntil(ctx, 2*time.Minute, 50*time.Millisecond, "containers to be removed", func() error {
		n, err := b.countContainers(ctx, label)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// waitStatus polls DescribeTasks until every task's lastStatus is status.
// A task that reaches STOPPED while another status is awaited is an error.
func (b *bench) waitStatus(ctx context.Context, arns []string, status string, every time.Duration) error {
	return waitUntil(ctx, 2*time.Minute, every, "tasks "+status, func() error {
		pending := 0
		for i := 0; i < len(arns); i += 100 {
			out, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: arns[i:min(i+100, len(arns))]})
			if err != nil {
				return err
			}
			if len(out.Failures) > 0 {
				return backoffStop{fmt.Errorf("describe tasks: %s", failures(out.Failures))}
			}
			for _, t := range out.Tasks {
				s := aws.ToString(t.LastStatus)
				if s == "STOPPED" && status != "STOPPED" {
					return backoffStop{fmt.Errorf("task %s stopped: %s", aws.ToString(t.TaskArn), aws.ToString(t.StoppedReason))}
				}
				if s != status {
					pending++
				}
			}
		}
		if pending > 0 {
			return fmt.Errorf("%d of %d tasks not %s", pending, len(arns), status)
		}
		return nil
	})
}

// startDocker runs the image with the docker CLI as a user would, measures
// it, then removes the container.
func (b *bench) startDocker(ctx context.Context) (dockerStart, error) {
	var d dockerStart
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.dockerCLI, "run", "-d", "--label", labelBench+"="+b.runID,
		"-p", "0:"+strconv.Itoa(webPort), b.image)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if b.cfg.DockerWithPoll && b.lastTask != "" {
		pctx, stopPoll := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { b.pollTask(pctx, b.lastTask) })
		defer wg.Wait()
		defer stopPoll()
	}
	cpu0 := b.cpuNow()
	t0 := time.Now()
	err := cmd.Run()
	d.Return = time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("docker run: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	id := strings.TrimSpace(stdout.String())
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := b.docker.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			b.log.Warn("remove docker run container", "id", id, "err", err)
		}
	}()
	c, err := b.docker.ContainerInspect(ctx, id)
	if err != nil {
		return d, fmt.Errorf("inspect: %w", err)
	}
	port := 0
	if c.NetworkSettings != nil {
		for _, pb := range c.NetworkSettings.Ports[nat.Port(strconv.Itoa(webPort)+"/tcp")] {
			if p, err := strconv.Atoi(pb.HostPort); err == nil && p > 0 {
				port = p
				break
			}
		}
	}
	if port == 0 {
		return d, errors.New("no host port published")
	}
	if d.HTTP, err = probeHTTP(ctx, "127.0.0.1:"+strconv.Itoa(port), b.cfg.Poll, t0); err != nil {
		return d, err
	}
	d.CPU = b.cpuNow().sub(cpu0)
	return d, nil
}

// pollTask describes task arn every Poll until ctx ends: the load of the
// Gantry measurement's polling, without a start.
func (b *bench) pollTask(ctx context.Context, arn string) {
	tick := time.NewTicker(b.cfg.Poll)
	defer tick.Stop()
	for {
		_, _ = b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: []string{arn}})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeHTTP GETs http://addr/ (addr is host:port) every interval, each
// time on a new connection, until it answers 200, and returns the time
// since t0 then.
func probeHTTP(ctx context.Context, addr string, every time.Duration, t0 time.Time) (time.Duration, error) {
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + addr + "/"
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := cl.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // drained only so the connection is reused
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no HTTP answer on %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// webAddr returns the host:port where the web container of task t answers
// from the benchmark's host, or "" while it is not known: its host port on
// loopback for a bridge task, its awsvpc address (the task's
// ElasticNetworkInterface attachment's privateIPv4Address, reachable from
// the host) for a Fargate task.
func (b *bench) webAddr(t types.Task) string {
	if !b.cfg.Fargate {
		if p := hostPort(t); p > 0 {
			return "127.0.0.1:" + strconv.Itoa(p)
		}
		return ""
	}
	if ip := eniAddress(t); ip != "" {
		return net.JoinHostPort(ip, strconv.Itoa(webPort))
	}
	return ""
}

// eniAddress returns the privateIPv4Address of task t's
// ElasticNetworkInterface attachment, or "".
func eniAddress(t types.Task) string {
	for _, a := range t.Attachments {
		if aws.ToString(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" {
				return aws.ToString(d.Value)
			}
		}
	}
	return ""
}

// hostPort returns the host port bound to the web container's port, or 0.
func hostPort(t types.Task) int {
	for _, c := range t.Containers {
		for _, nb := range c.NetworkBindings {
			if aws.ToInt32(nb.ContainerPort) == webPort && aws.ToInt32(nb.HostPort) > 0 {
				return int(aws.ToInt32(nb.HostPort))
			}
		}
	}
	return 0
}

// failures formats RunTask or DescribeTasks failures.
func failures(fs []types.Failure) string {
	if len(fs) == 0 {
		return "no failure reported"
	}
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %s %s", aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail)))
	}
	return strings.Join(parts, "; ")
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}
