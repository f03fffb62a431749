// Command gantry-statsbench measures what the agent's utilisation sampling
// (internal/agent/stats) costs with many containers: the agent's CPU and
// dockerd's, for the two ways of reading Docker's stats.
//
// Usage:
//
//	go run ./cmd/gantry-statsbench [-containers 50] [-interval 10s] [-rounds 3] [-stream 15s] [-write docs/performance.md]
//
// It builds the test server image through the Docker API, starts
// -containers containers of it sleeping (`app sleep`), labelled as one
// agent's task containers (one task each), then measures in this process:
//
//  1. one-shot (what the agent does): the agent's sampler, on the agent's
//     Docker runtime, reading every container once per -interval
//     (ContainerStats: stream=0, one-shot=1, all in flight) for -rounds
//     rounds and shipping each round's figures as the agent does
//     (GantryPutTaskMetrics: JSON, SigV4, HTTP) to a local server that
//     discards them; CPU of this process (getrusage: sampler, runtime,
//     client and the discarding server) and of dockerd (/proc/PID/stat)
//     over the rounds, as a share of one core, and per round;
//  2. streaming (the alternative): one stats stream per container
//     (stream=1; Docker sends a reading a second) for -stream, decoding
//     every reading; the same CPU figures.
//
// It prints a markdown report; with -write FILE it replaces the section
// "## Agent: utilisation sampling" of FILE (appending it when missing).
// Everything it creates is removed at the end (containers by label). It
// needs a reachable Docker Engine.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	agentruntime "github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/runtime/docker"
	"github.com/gantry-dev/gantry/internal/agent/stats"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// sectionTitle is the heading of the report's section.
const sectionTitle = "## Agent: utilisation sampling"

// goalShare is issue 13's goal: the agent under 1% of a core for 50
// containers.
const goalShare = 0.01

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	containers int
	interval   time.Duration
	rounds     int
	stream     time.Duration
	write      string
	args       []string
}

func run(args []string, stdout, stderr io.Writer) int {
	o := options{args: args}
	fs := flag.NewFlagSet("gantry-statsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.containers, "containers", 50, "containers to sample")
	fs.DurationVar(&o.interval, "interval", stats.DefaultInterval, "sampling interval of the one-shot phase (the agent's --metrics-interval)")
	fs.IntVar(&o.rounds, "rounds", 3, "sampling rounds measured in the one-shot phase")
	fs.DurationVar(&o.stream, "stream", 15*time.Second, "length of the streaming phase")
	fs.StringVar(&o.write, "write", "", "replace the report's section of this markdown file (docs/performance.md)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	r, err := bench(ctx, o, logger)
	if err != nil {
		fmt.Fprintln(stderr, "gantry-statsbench:", err)
		return 1
	}
	report := format(o, r)
	fmt.Fprint(stdout, report)
	if o.write != "" {
		if err := writeSection(o.write, report); err != nil {
			fmt.Fprintln(stderr, "gantry-statsbench:", err)
			return 1
		}
	}
	return 0
}

// phase is what one phase measured.
type phase struct {
	wall, self, dockerd time.Duration
	readings            int64
	rounds              int
	shipped             int64
}

type results struct {
	date    time.Time
	machine string
	load    string
	oneShot phase
	stream  phase
}

func bench(ctx context.Context, o options, logger *slog.Logger) (*results, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res := &results{date: time.Now().UTC(), machine: benchproc.Machine(), load: benchproc.LoadAverage()}
	logger.Info("building the test image")
	if _, err := testutil.BuildImageContext(ctx, cli, testutil.TestServerTag, testutil.TestServerSource()); err != nil {
		return nil, err
	}
	instance := "i-statsbench" + randomHex(6)
	label := docker.LabelInstance + "=" + instance
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := testutil.RemoveLabelled(cctx, cli, label); err != nil {
			logger.Warn("remove containers", "err", err)
		}
	}()
	logger.Info("starting containers", "n", o.containers)
	for i := range o.containers {
		c, err := cli.ContainerCreate(ctx, &container.Config{
			Image: testutil.TestServerTag, Cmd: []string{"sleep", "1h"},
			Labels: map[string]string{
				docker.LabelInstance: instance, docker.LabelTaskARN: fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/bench/%032d", i),
				docker.LabelContainerName: "app", docker.LabelFamily: "statsbench", docker.LabelRevision: "1", docker.LabelCluster: "bench",
			},
		}, &container.HostConfig{}, nil, nil, "")
		if err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return nil, fmt.Errorf("start container: %w", err)
		}
	}
	rt, err := docker.New(docker.Config{InstanceID: instance})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	dockerd := benchproc.FindPIDs("dockerd")
	dockerdCPU := func() time.Duration {
		var d time.Duration
		for _, pid := range dockerd {
			if c, err := benchproc.ProcCPU(pid); err == nil {
				d += c
			}
		}
		return d
	}

	// 1. One-shot, through the agent's sampler and sink path.
	var shipped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"accepted":0}`))
	}))
	defer srv.Close()
	sink := &clientSink{c: ecsclient.New(srv.URL, "us-east-1", "AKIDBENCH", "bench-secret"), n: &shipped}
	var rounds atomic.Int64
	var readings atomic.Int64
	sampler, err := stats.New(stats.Config{Cluster: "bench", InstanceArn: func() string {
		return "arn:aws:ecs:us-east-1:000000000000:container-instance/bench/" + instance
	}, Interval: o.interval, Source: rt, Sink: sink, Logger: logger,
		OnRound: func(d time.Duration, n int, err error) {
			rounds.Add(1)
			readings.Add(int64(n))
			logger.Debug("round", "took", d, "containers", n, "err", err)
		}})
	if err != nil {
		return nil, err
	}
	// Prime (the first round reads without shipping), then measure from
	// just after it.
	if _, _, err := sampler.Sample(ctx); err != nil {
		return nil, err
	}
	logger.Info("one-shot phase", "interval", o.interval, "rounds", o.rounds)
	runtime.GC()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	c0, d0, w0 := benchproc.SelfCPU(), dockerdCPU(), time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); sampler.Run(sctx) }()
	// Run's first round is at once; the measured span ends just before
	// round rounds+1 would start.
	sleep(ctx, time.Duration(o.rounds)*o.interval-o.interval/10)
	c1, d1, w1 := benchproc.SelfCPU(), dockerdCPU(), time.Now()
	cancel()
	wg.Wait()
	res.oneShot = phase{wall: w1.Sub(w0), self: c1 - c0, dockerd: d1 - d0, readings: readings.Load(), rounds: int(rounds.Load()), shipped: shipped.Load()}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// 2. One stream per container.
	logger.Info("streaming phase", "for", o.stream)
	list, err := rt.ListContainers(ctx)
	if err != nil {
		return nil, err
	}
	var got atomic.Int64
	sctx, cancel = context.WithCancel(ctx)
	for _, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = rt.StreamStats(sctx, c.ID, func(agentruntime.ContainerStats) { got.Add(1) })
		}()
	}
	sleep(ctx, 2*time.Second) // the streams are open
	runtime.GC()
	c0, d0, w0, g0 := benchproc.SelfCPU(), dockerdCPU(), time.Now(), got.Load()
	sleep(ctx, o.stream)
	c1, d1, w1, g1 := benchproc.SelfCPU(), dockerdCPU(), time.Now(), got.Load()
	cancel()
	wg.Wait()
	res.stream = phase{wall: w1.Sub(w0), self: c1 - c0, dockerd: d1 - d0, readings: g1 - g0}
	if len(dockerd) == 0 {
		res.oneShot.dockerd, res.stream.dockerd = -1, -1
	}
	return res, ctx.Err()
}

// clientSink ships as the agent does.
type clientSink struct {
	c *ecsclient.Client
	n *atomic.Int64
}

func (s *clientSink) PutTaskMetrics(ctx context.Context, req *ecsapi.GantryPutTaskMetricsRequest) error {
	if err := s.c.Call(ctx, "GantryPutTaskMetrics", req, nil); err != nil {
		return err
	}
	s.n.Add(int64(len(req.Tasks)))
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
