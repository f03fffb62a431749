package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// placeResult is one placement measure: RunTask (count 10) from workers
// spread over Servers servers for a fixed time.
type placeResult struct {
	Servers   int
	Tasks     int
	Seconds   float64
	PerSecond float64
	Failed    int
	P99       string
	// CPUPerTask is the servers' processes' CPU (user + system, from
	// /proc) per task placed.
	CPUPerTask string
}

const placeCluster = "placebench"

// placements measures tasks placed a second through all three servers and
// through one, on simulated container instances (registered and kept
// connected by heartbeats, as gantry-loadgen does; no containers start).
func (h *harness) placements(ctx context.Context, d time.Duration, workers int) ([]placeResult, error) {
	e := h.env
	cl := ecsClient(e.servers[0].url)
	if _, err := cl.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(placeCluster)}); err != nil {
		return nil, err
	}
	td, err := cl.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("placebench"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String(taskImage), Cpu: 1, Memory: aws.Int32(4)}}})
	if err != nil {
		return nil, err
	}
	var arns []string
	for i := 0; i < 20; i++ {
		out, err := cl.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(placeCluster),
			TotalResources: []types.Resource{{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 1 << 20},
				{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 1 << 22}}})
		if err != nil {
			return nil, fmt.Errorf("register a simulated instance: %w", err)
		}
		arns = append(arns, aws.ToString(out.ContainerInstance.ContainerInstanceArn))
	}
	hctx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	beat := func() {
		for i, arn := range arns {
			s := e.servers[i%len(e.servers)]
			c := ecsclient.New(s.url, region, accessKeyID, secretAccessKey)
			var out ecsapi.GantryPollTasksResponse
			_ = c.Call(hctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: placeCluster, ContainerInstance: arn, OmitTasks: true}, &out)
		}
	}
	beat()
	go func() {
		for hctx.Err() == nil {
			time.Sleep(3 * time.Second)
			beat()
		}
	}()
	var out []placeResult
	for _, n := range []int{3, 1, 3, 1} {
		r, err := h.place(ctx, aws.ToString(td.TaskDefinition.TaskDefinitionArn), n, d, workers)
		if err != nil {
			return out, err
		}
		h.logger.Info("placements", "servers", n, "perSecond", r.PerSecond, "cpuPerTask", r.CPUPerTask)
		out = append(out, r)
	}
	return out, nil
}

// serversCPU is the CPU the server containers' processes have used.
func (e *env) serversCPU(ctx context.Context) time.Duration {
	var sum time.Duration
	for _, s := range e.servers {
		in, err := e.docker.ContainerInspect(ctx, s.id)
		if err != nil || in.State == nil || in.State.Pid == 0 {
			continue
		}
		if c, err := benchproc.ProcCPU(in.State.Pid); err == nil {
			sum += c
		}
	}
	return sum
}

func (h *harness) place(ctx context.Context, td string, servers int, d time.Duration, workers int) (placeResult, error) {
	e := h.env
	var placed, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := e.serversCPU(ctx)
	t0 := time.Now()
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := ecsClient(e.servers[w%servers].url)
			for pctx.Err() == nil {
				start := time.Now()
				out, err := cl.RunTask(pctx, &ecs.RunTaskInput{Cluster: aws.String(placeCluster), TaskDefinition: aws.String(td), Count: aws.Int32(10)})
				if pctx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				placed.Add(int64(len(out.Tasks)))
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	cpu := e.serversCPU(ctx) - cpu0
	r := placeResult{Servers: servers, Tasks: int(placed.Load()), Seconds: secs, Failed: int(failed.Load())}
	r.PerSecond = float64(r.Tasks) / secs
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.P99 = lat[len(lat)*99/100].Round(time.Millisecond).String()
	}
	if r.Tasks > 0 {
		r.CPUPerTask = (cpu / time.Duration(r.Tasks)).Round(time.Microsecond).String()
	}
	return r, nil
}

func printPlacements(w io.Writer, ps []placeResult) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintf(w, "placements (RunTask count 10, simulated instances): %8s %8s %10s %8s %8s %14s\n", "servers", "tasks", "tasks/s", "failed", "p99", "server CPU/task")
	for _, p := range ps {
		fmt.Fprintf(w, "%50s %8d %8d %10.0f %8d %8s %14s\n", "", p.Servers, p.Tasks, p.PerSecond, p.Failed, p.P99, p.CPUPerTask)
	}
}
