package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// connsPerClient is how many connections one ecsclient.Client keeps idle;
// callers beyond it get clients of their own so that no call reconnects.
const connsPerClient = 64

// execute runs the load of cfg and returns its result. A nil error with a
// result that has problems means the run completed and found them.
func execute(ctx context.Context, cfg *config, progress io.Writer) (res *result, err error) {
	say := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	res = &result{Date: time.Now().UTC(), Machine: readMachine(), Cfg: *cfg}
	url, akid, secret, pid := cfg.Server, cfg.AccessKeyID, cfg.SecretAccessKey, cfg.ServerPID
	if url == "" {
		var srv *child
		if srv, err = startChild(ctx, cfg.Gantry, cfg.Region, say); err != nil {
			return nil, err
		}
		// err is the named result: a server that died during the run
		// is reported with the run's own error.
		defer func() {
			if serr := srv.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}()
		url, akid, secret, pid = srv.URL, srv.AccessKeyID, srv.SecretAccessKey, srv.PID
		res.StartedServer = true
	}
	res.ServerPID = pid
	newCaller := func(retried *tally) *caller {
		return &caller{cli: ecsclient.New(url, cfg.Region, akid, secret), retries: cfg.Retries, retried: retried}
	}
	retried := &tally{}
	admin := newCaller(retried)
	runID := "lg-" + res.Date.Format("20060102-150405") + "-" + randomHex(2)
	res.RunID = runID
	res.Cluster = "loadgen-" + runID

	if err := admin.call(ctx, "CreateCluster", &ecsapi.CreateClusterRequest{ClusterName: res.Cluster}, &ecsapi.CreateClusterResponse{}, nil); err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	mem := int32(taskMemory)
	essential := true
	var td ecsapi.RegisterTaskDefinitionResponse
	if err := admin.call(ctx, "RegisterTaskDefinition", &ecsapi.RegisterTaskDefinitionRequest{
		Family: "gantry-loadgen",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: "busybox:latest", Cpu: taskCPU, Memory: &mem, Essential: &essential,
			Command: []string{"sleep", "infinity"},
		}},
	}, &td, nil); err != nil {
		return nil, fmt.Errorf("register task definition: %w", err)
	}
	if td.TaskDefinition == nil {
		return nil, errors.New("register task definition: answer without a task definition")
	}
	say("cluster %s, task definition %s", res.Cluster, td.TaskDefinition.TaskDefinitionArn)

	// Instances, kept connected from the first registration to the end of
	// the placement.
	fl := newFleet(res.Cluster, cfg.Region, cfg.Instances, cfg.AZ)
	hb := &heartbeats{}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var hbWG sync.WaitGroup
	stopped := false
	stopBeats := func() {
		if !stopped {
			stopped = true
			stopHeartbeat()
			hbWG.Wait()
		}
	}
	defer stopBeats()
	if cfg.Heartbeat {
		// A client of its own: its connections are not the RunTask callers'.
		hbCaller := &caller{cli: ecsclient.New(url, cfg.Region, akid, secret), retried: retried}
		hbWG.Go(func() { fl.heartbeat(hbCtx, hbCaller, hb) })
	}
	say("registering %d instances over %d zones, %d at a time", cfg.Instances, cfg.AZ, cfg.Concurrency)
	res.Registration, err = fl.register(ctx, admin, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	say("registered %d instances in %.1fs (%.0f/s, p99 %v)", res.Registration.Instances, res.Registration.Duration.Seconds(),
		float64(res.Registration.Instances)/res.Registration.Duration.Seconds(), res.Registration.Latency.P99.Round(time.Microsecond))

	// Placement.
	p := &placer{cfg: cfg, cluster: res.Cluster, taskDef: td.TaskDefinition.TaskDefinitionArn, runID: runID,
		retries: retried, pid: pid, out: progress}
	for range (cfg.Concurrency + connsPerClient - 1) / connsPerClient {
		p.callers = append(p.callers, newCaller(retried))
	}
	var perf *perfRecorder
	if cfg.Perf != "" {
		if perf, err = startPerf(pid, cfg.Perf); err != nil {
			return nil, err
		}
		res.Perf = cfg.Perf
	}
	say("placing %d tasks: RunTask count %d from %d callers, strategy %s", cfg.Tasks, cfg.Count, cfg.Concurrency, cfg.Strategy)
	res.Placement = p.run(ctx)
	if perf != nil {
		if err := perf.Stop(); err != nil {
			say("%v", err)
			res.Perf = ""
		}
	}
	if pid != 0 {
		if m, err := readMemory(pid); err == nil {
			res.MemoryAfterPlacement = &m
		}
	}
	// The instances need to look connected only to receive tasks: the
	// heartbeats end with the placement, leaving the server to the checks.
	if cfg.Heartbeat {
		st := hb.stats(fl)
		res.Heartbeat = &st
	}
	stopBeats()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("placement: %w", err)
	}

	// Checks.
	say("checking: ListTasks of the run, DescribeContainerInstances of %d instances", len(fl.all()))
	if res.Listing, err = listTasks(ctx, admin, res.Cluster, runID, res.Placement.tasks); err != nil {
		return res, err
	}
	if res.Census, err = describeInstances(ctx, admin, res.Cluster, fl.all(), res.Placement.tasks); err != nil {
		return res, err
	}
	res.Checked = true

	if cfg.Ack {
		say("acknowledging: each instance polls its tasks once and reports them RUNNING")
		ack := fl.ack(ctx, admin, cfg.Concurrency, progress)
		res.Ack = &ack
		say("acknowledged %d tasks in %.1fs (%.0f/s)", ack.Acked, ack.Duration.Seconds(), float64(ack.Acked)/ack.Duration.Seconds())
		c, err := describeInstances(ctx, admin, res.Cluster, fl.all(), res.Placement.tasks)
		if err != nil {
			return res, err
		}
		res.AckCensus = &c
	}
	res.Retried = retried.snapshot()
	if pid != 0 {
		if m, err := readMemory(pid); err == nil {
			res.Memory = &m
		}
		res.ServerCPU, _ = benchproc.ProcCPU(pid)
	}
	res.LoadEnd = benchproc.LoadAverage()
	return res, nil
}

// commandLine is the command as a reader would type it.
func commandLine(args []string) string {
	var b strings.Builder
	b.WriteString("go run ./cmd/gantry-loadgen")
	for _, a := range args {
		b.WriteByte(' ')
		if strings.ContainsAny(a, " \t'\"$`\\") {
			b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}
