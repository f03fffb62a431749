package ecs_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// recorder is a cwlink.Recorder that keeps the datums by namespace.
type recorder struct {
	mu   sync.Mutex
	data map[string][]cloudwatchapi.MetricDatum
}

func (r *recorder) Record(_ context.Context, ns string, data []cloudwatchapi.MetricDatum) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		r.data = map[string][]cloudwatchapi.MetricDatum{}
	}
	r.data[ns] = append(r.data[ns], data...)
	return nil
}

// find returns the datums of metric name in ns whose dimensions are dims
// (name, value pairs), in order.
func (r *recorder) find(ns, name string, dims ...string) []cloudwatchapi.MetricDatum {
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

// TestGantryPutTaskMetrics: the usage two agents report becomes the
// AWS/ECS service and cluster metrics, used over reserved, with each
// task's reservation as the server knows it; an agent's report of a task
// on another instance is not taken; bad figures are refused.
func TestGantryPutTaskMetrics(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	rec := &recorder{}
	env.Server.SetMetricsRecorder(rec)
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("use"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("burn"), Cpu: aws.String("256"), Memory: aws.String("128"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Essential: aws.Bool(true)}},
	}); err != nil {
		t.Fatal(err)
	}
	a1 := newSimAgent(t, env, "use", 1024, 1024)
	a2 := newSimAgent(t, env, "use", 1024, 1024)
	out, err := env.Client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("use"), TaskDefinition: aws.String("burn"),
		Count: aws.Int32(3), Group: aws.String("service:web")})
	if err != nil || len(out.Tasks) != 3 {
		t.Fatalf("run task: %v %+v", err, out)
	}
	on := map[string][]string{} // agent ARN -> its tasks
	for _, tk := range out.Tasks {
		on[aws.ToString(tk.ContainerInstanceArn)] = append(on[aws.ToString(tk.ContainerInstanceArn)], aws.ToString(tk.TaskArn))
	}
	for _, a := range []*simAgent{a1, a2} {
		a.poll(0)
		for _, task := range on[a.arn] {
			a.report(task, "RUNNING", "", ecsapi.GantryContainerState{ContainerName: "app", Status: "RUNNING"})
		}
	}
	// The placement views, which the operation reads, follow the store's
	// watch: let them catch up with the reports.
	env.Server.State.Views.SyncNow(ctx)
	// Used CPU units per task: 128 (50%), 256 (100%), 512 (200%); memory
	// 32, 64, 64 MiB of 128.
	cpu := []float64{128, 256, 512}
	mem := []float64{32, 64, 64}
	at := time.Now()
	i := 0
	for _, a := range []*simAgent{a1, a2} {
		var figures []ecsapi.GantryTaskMetrics
		for _, task := range on[a.arn] {
			figures = append(figures, ecsapi.GantryTaskMetrics{Task: task, Family: "burn", CpuUsed: cpu[i], MemoryUsedMiB: mem[i],
				NetworkRxBytes: 1000, Containers: 1})
			i++
		}
		if len(figures) == 0 {
			continue
		}
		var resp ecsapi.GantryPutTaskMetricsResponse
		if err := a.c.Call(ctx, "GantryPutTaskMetrics", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", ContainerInstance: a.arn,
			Timestamp: ecsapi.NewTimestamp(at), PeriodSeconds: 10, Tasks: figures}, &resp); err != nil {
			t.Fatal(err)
		}
		if int(resp.Accepted) != len(figures) {
			t.Fatalf("accepted %d of %d", resp.Accepted, len(figures))
		}
	}
	// A report of another instance's task is not taken.
	other := a2
	if len(on[a1.arn]) > 0 {
		other = a1
	}
	foreign := on[other.arn][0]
	reporter := a1
	if other == a1 {
		reporter = a2
	}
	var resp ecsapi.GantryPutTaskMetricsResponse
	if err := reporter.c.Call(ctx, "GantryPutTaskMetrics", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", ContainerInstance: reporter.arn,
		Timestamp: ecsapi.NewTimestamp(at), PeriodSeconds: 10, Tasks: []ecsapi.GantryTaskMetrics{{Task: foreign, CpuUsed: 99999}}}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 0 {
		t.Fatalf("a task of another instance was accepted")
	}

	env.Server.Usage.Flush(ctx, at.Add(time.Hour))
	svc := rec.find("AWS/ECS", "CPUUtilization", "ClusterName", "use", "ServiceName", "web")
	if len(svc) != 1 {
		t.Fatalf("%d service CPUUtilization datums, want 1: %+v", len(svc), rec.data)
	}
	s := svc[0].StatisticValues
	avg := 100 * (128 + 256 + 512) / (3 * 256.0)
	if *s.SampleCount != 3 || math.Abs(*s.Sum/3-avg) > 1e-9 || *s.Minimum != 50 || *s.Maximum != 200 {
		t.Errorf("service CPUUtilization n %v avg %v min %v max %v; want 3, %v, 50, 200", *s.SampleCount, *s.Sum / *s.SampleCount, *s.Minimum, *s.Maximum, avg)
	}
	m := rec.find("AWS/ECS", "MemoryUtilization", "ClusterName", "use", "ServiceName", "web")[0].StatisticValues
	if want := 100 * 160 / 384.0; math.Abs(*m.Sum / *m.SampleCount - want) > 1e-9 || *m.Minimum != 25 || *m.Maximum != 50 {
		t.Errorf("service MemoryUtilization avg %v min %v max %v; want %v, 25, 50", *m.Sum / *m.SampleCount, *m.Minimum, *m.Maximum, want)
	}
	// The cluster: 896 units used of 2,048 registered; 768 reserved.
	for name, want := range map[string]float64{"CPUUtilization": 100 * 896 / 2048.0, "CPUReservation": 37.5,
		"MemoryUtilization": 100 * 160 / 2048.0, "MemoryReservation": 100 * 384 / 2048.0} {
		d := rec.find("AWS/ECS", name, "ClusterName", "use")
		if len(d) != 1 || math.Abs(*d[0].StatisticValues.Sum-want) > 1e-9 {
			t.Errorf("cluster %s = %+v, want %v", name, d, want)
		}
	}
	// Container Insights is on for the cluster.
	if d := rec.find("ECS/ContainerInsights", "CpuUtilized", "ClusterName", "use", "TaskDefinitionFamily", "burn"); len(d) != 1 || *d[0].StatisticValues.Sum != 896 {
		t.Errorf("CpuUtilized by family = %+v, want 896", d)
	}
	if d := rec.find("ECS/ContainerInsights", "TaskCount", "ClusterName", "use", "ServiceName", "web"); len(d) != 1 || *d[0].StatisticValues.Sum != 3 {
		t.Errorf("TaskCount of the service = %+v, want 3", d)
	}

	// Bad input: AWS-form errors.
	c := ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	for _, tc := range []struct {
		name string
		req  *ecsapi.GantryPutTaskMetricsRequest
	}{
		{"negative cpu", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", ContainerInstance: a1.arn, Timestamp: ecsapi.NewTimestamp(at),
			PeriodSeconds: 10, Tasks: []ecsapi.GantryTaskMetrics{{Task: foreign, CpuUsed: -1}}}},
		{"no period", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", ContainerInstance: a1.arn, Timestamp: ecsapi.NewTimestamp(at)}},
		{"no timestamp", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", ContainerInstance: a1.arn, PeriodSeconds: 10}},
		{"instance of another cluster", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "other", ContainerInstance: a1.arn,
			Timestamp: ecsapi.NewTimestamp(at), PeriodSeconds: 10}},
		{"no instance", &ecsapi.GantryPutTaskMetricsRequest{Cluster: "use", Timestamp: ecsapi.NewTimestamp(at), PeriodSeconds: 10}},
	} {
		err := c.Call(ctx, "GantryPutTaskMetrics", tc.req, nil)
		var ae *ecsclient.Error
		if !errors.As(err, &ae) || ae.Code != "InvalidParameterException" || ae.Status != 400 {
			t.Errorf("%s: err %v, want InvalidParameterException", tc.name, err)
		}
	}
}
