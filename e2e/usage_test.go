package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// burnerSource is a program that uses a fraction of one core and holds
// some memory: burn FRACTION MIB.
const burnerSource = `package main

import (
	"os"
	"strconv"
	"time"
)

var sink int

func main() {
	f, _ := strconv.ParseFloat(os.Args[1], 64)
	mib, _ := strconv.Atoi(os.Args[2])
	mem := make([]byte, mib<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	const period = 20 * time.Millisecond
	busy := time.Duration(f * float64(period))
	for {
		start := time.Now()
		for time.Since(start) < busy {
			sink++
		}
		time.Sleep(period - busy)
		sink += int(mem[len(mem)/2])
	}
}
`

// usageRecorder is a cwlink.Recorder that keeps what it is given, as
// CloudWatch would store it.
type usageRecorder struct {
	mu   sync.Mutex
	data map[string][]cloudwatchapi.MetricDatum
}

func (r *usageRecorder) Record(_ context.Context, ns string, data []cloudwatchapi.MetricDatum) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		r.data = map[string][]cloudwatchapi.MetricDatum{}
	}
	r.data[ns] = append(r.data[ns], data...)
	return nil
}

func (r *usageRecorder) find(ns, name string, dims ...string) []cloudwatchapi.MetricDatum {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloudwatchapi.MetricDatum
next:
	for _, d := range r.data[ns] {
		if d.MetricName != name || len(d.Dimensions)*2 != len(dims) {
			continue
		}
		for i, dim := range d.Dimensions {
			if dim.Name != dims[2*i] || dim.Value != dims[2*i+1] {
				continue next
			}
		}
		out = append(out, d)
	}
	return out
}

func avgOf(d cloudwatchapi.MetricDatum) float64 {
	return *d.StatisticValues.Sum / *d.StatisticValues.SampleCount
}

// TestServiceUtilisationFromDocker: an agent samples a service's two
// CPU-burning containers through the real Docker Engine; the server's
// AWS/ECS CPUUtilization and MemoryUtilization of the service are near
// what Docker itself says the containers used, over what they reserve;
// CPUReservation is exact; Container Insights counts the tasks; the
// server's and the agent's /metrics expose the series.
func TestServiceUtilisationFromDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	docker := testutil.RequireDocker(t)
	// Built once and reused while the source is the same (labelled as a
	// test image, like the test server's).
	const image = "gantry-test/burner:latest"
	testutil.BuildImage(t, image, burnerSource)

	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.DebugListen = "127.0.0.1:0"
	cfg.ECSMetricsPeriod = 2 * time.Second
	cfg.Region, cfg.AccountID = apitest.Region, apitest.Account
	cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "tester", apitest.Account))
	srv, err := app.StartServer(context.Background(), cfg, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rec := &usageRecorder{}
	srv.SetMetricsRecorder(rec)
	client := apitest.NewClient(srv.URL)
	ctx := context.Background()
	const clusterName = "usage"
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(clusterName),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}}); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	id, err := agent.LoadInstanceID(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
	ag, err := agentapp.StartAgent(ctx, agent.Config{
		Server: srv.URL, Cluster: clusterName, DataDir: dataDir, Region: apitest.Region,
		AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey,
		CPU: 2048, MemoryMiB: 2048, AvailabilityZone: "us-east-1a", InstanceType: "gantry.test",
		MetricsInterval: time.Second,
	}, agentapp.AgentOptions{DebugListen: "127.0.0.1:0"}, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Close() })

	// Each task reserves 256 CPU units and 64 MiB (memoryReservation) and
	// burns a fifth of a core (about 205 units, 80%) holding 24 MiB.
	if _, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("burner"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("burn"), Image: aws.String(image), Essential: aws.Bool(true),
			Cpu: 256, MemoryReservation: aws.Int32(64), Memory: aws.Int32(256),
			Command: []string{"0.2", "24"},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(clusterName), ServiceName: aws.String("burn"),
		TaskDefinition: aws.String("burner"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	var taskArns []string
	testutil.WaitFor(t, 60*time.Second, "two RUNNING tasks", func() error {
		lt, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(clusterName), ServiceName: aws.String("burn"),
			DesiredStatus: types.DesiredStatusRunning})
		if err != nil || len(lt.TaskArns) != 2 {
			return fmt.Errorf("tasks %v, %v", lt, err)
		}
		dt, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: lt.TaskArns})
		if err != nil {
			return err
		}
		for _, tk := range dt.Tasks {
			if aws.ToString(tk.LastStatus) != "RUNNING" {
				return fmt.Errorf("task %s", aws.ToString(tk.LastStatus))
			}
		}
		taskArns = lt.TaskArns
		time.Sleep(200 * time.Millisecond)
		return nil
	})

	// Docker's own account of the containers' CPU over a span of about
	// ten seconds, and the server's windows within it.
	containerIDs := map[string]string{}
	for _, arn := range taskArns {
		list, err := docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+arn))})
		if err != nil || len(list) != 1 {
			t.Fatalf("container of %s: %v %v", arn, list, err)
		}
		containerIDs[arn] = list[0].ID
	}
	read := func() map[string]container.StatsResponse {
		out := map[string]container.StatsResponse{}
		for arn, id := range containerIDs {
			r, err := docker.ContainerStatsOneShot(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var s container.StatsResponse
			err = json.NewDecoder(r.Body).Decode(&s)
			r.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[arn] = s
		}
		return out
	}
	time.Sleep(2 * time.Second) // the agent has primed its readings
	// Docker's readings every 250 ms for 10 s.
	var readings []map[string]container.StatsResponse
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		readings = append(readings, read())
	}
	s0, s1 := readings[0], readings[len(readings)-1]
	// nearest returns the reading of arn taken nearest to at.
	nearest := func(arn string, at time.Time) container.StatsResponse {
		best := readings[0][arn]
		for _, r := range readings {
			if r[arn].Read.Sub(at).Abs() < best.Read.Sub(at).Abs() {
				best = r[arn]
			}
		}
		return best
	}
	var memMiB float64
	for arn := range containerIDs {
		b := s1[arn]
		memMiB += float64(b.MemoryStats.Usage-b.MemoryStats.Stats["inactive_file"]) / (1 << 20)
	}
	dockerMem := 100 * memMiB / 128
	from, to := s0[taskArns[0]].Read, s1[taskArns[0]].Read
	var windows []cloudwatchapi.MetricDatum
	testutil.WaitFor(t, 20*time.Second, "the service's windows", func() error {
		windows = nil
		for _, d := range rec.find("AWS/ECS", "CPUUtilization", "ClusterName", clusterName, "ServiceName", "burn") {
			if !d.Timestamp.Before(from) && !d.Timestamp.Add(2*time.Second).After(to) {
				windows = append(windows, d)
			}
		}
		if len(windows) < 3 {
			return fmt.Errorf("%d windows within the span", len(windows))
		}
		return nil
	})
	var sum float64
	for _, d := range windows {
		sum += avgOf(d)
	}
	gantryCPU := sum / float64(len(windows))
	// The agent's samples of a window end within it and each covers the
	// second before: the windows measure from about half a second before
	// the first one's start to half a second before the last one's end.
	lo := windows[0].Timestamp.Add(-500 * time.Millisecond)
	hi := windows[len(windows)-1].Timestamp.Add(1500 * time.Millisecond)
	var used float64 // CPU units, both tasks
	for arn := range containerIDs {
		a, b := nearest(arn, lo), nearest(arn, hi)
		used += float64(b.CPUStats.CPUUsage.TotalUsage-a.CPUStats.CPUUsage.TotalUsage) / float64(b.Read.Sub(a.Read).Nanoseconds()) * 1024
	}
	dockerCPU := 100 * used / 512
	t.Logf("service CPUUtilization: Gantry %.1f%% (%d windows), Docker %.1f%%", gantryCPU, len(windows), dockerCPU)
	if math.Abs(gantryCPU-dockerCPU) > 0.15*dockerCPU+3 {
		t.Errorf("service CPUUtilization %.1f%%, Docker measured %.1f%% over the same span", gantryCPU, dockerCPU)
	}
	if dockerCPU < 10 {
		t.Errorf("the burners used %.1f%% of their reservation: the machine starved them, the comparison means little", dockerCPU)
	}
	last := windows[len(windows)-1]
	if *last.StatisticValues.SampleCount != 2 || *last.StatisticValues.Minimum > avgOf(last) || *last.StatisticValues.Maximum < avgOf(last) {
		t.Errorf("window %+v: want 2 tasks, min <= average <= max", last.StatisticValues)
	}
	mem := rec.find("AWS/ECS", "MemoryUtilization", "ClusterName", clusterName, "ServiceName", "burn")
	gantryMem := avgOf(mem[len(mem)-1])
	t.Logf("service MemoryUtilization: Gantry %.1f%%, Docker %.1f%%", gantryMem, dockerMem)
	if math.Abs(gantryMem-dockerMem) > 0.2*dockerMem+3 || gantryMem < 100*24.0/64 {
		t.Errorf("service MemoryUtilization %.1f%%, Docker says %.1f%% (each task holds at least 24 of its 64 MiB)", gantryMem, dockerMem)
	}
	// Cluster reservation: 2 x 256 of 2,048 units, 2 x 64 of 2,048 MiB.
	for name, want := range map[string]float64{"CPUReservation": 25, "MemoryReservation": 6.25} {
		d := rec.find("AWS/ECS", name, "ClusterName", clusterName)
		if len(d) == 0 || avgOf(d[len(d)-1]) != want {
			t.Errorf("%s = %v, want %v", name, d, want)
		}
	}
	for name, want := range map[string]float64{"RunningTaskCount": 2, "DesiredTaskCount": 2, "TaskCount": 2} {
		d := rec.find("ECS/ContainerInsights", name, "ClusterName", clusterName, "ServiceName", "burn")
		if len(d) == 0 || avgOf(d[len(d)-1]) != want {
			t.Errorf("Container Insights %s = %v, want %v", name, d, want)
		}
	}

	// The servers' and the agent's Prometheus metrics.
	body := scrape(t, srv.DebugURL+"/metrics")
	for _, re := range []string{
		`gantry_api_request_duration_seconds_count\{operation="GantryPutTaskMetrics",result="ok",service="ecs"\} [1-9]`,
		`gantry_task_usage_reports_total [1-9]`,
		`gantry_ecs_metric_datums_total\{result="ok"\} [1-9]`,
		`gantry_placed_tasks_total [2-9]`,
		`gantry_store_request_duration_seconds_count\{op="txn",result="ok"\} [1-9]`,
		`gantry_service_reconcile_duration_seconds_count\{result="ok"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("server /metrics has no %s", re)
		}
	}
	body = scrape(t, ag.MetricsURL)
	for _, re := range []string{
		`gantry_agent_containers\{state="RUNNING"\} 2\n`,
		`gantry_agent_usage_reports_total\{result="ok"\} [1-9]`,
		`gantry_agent_task_cpu_units\{task_arn="` + regexp.QuoteMeta(taskArns[0]) + `"\} [0-9.e+]+\n`,
		`process_cpu_seconds_total [0-9.e+-]+\n`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("agent /metrics has no %s:\n%s", re, body)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "gantry_agent_task_cpu_units{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if v <= 0 || v > 2048 {
				t.Errorf("agent: %s", line)
			}
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
