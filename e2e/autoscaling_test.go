package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// waitRunning waits until the service has n tasks RUNNING and no other.
func (c *cluster) waitRunning(name string, n int, timeout time.Duration) {
	c.t.Helper()
	testutil.WaitFor(c.t, timeout, fmt.Sprintf("%d tasks RUNNING", n), func() error {
		running := 0
		for _, tk := range c.serviceTasks(name) {
			if aws.ToString(tk.DesiredStatus) != "RUNNING" {
				continue
			}
			if aws.ToString(tk.LastStatus) != "RUNNING" {
				return fmt.Errorf("task %s is %s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus))
			}
			running++
		}
		if running != n {
			return fmt.Errorf("%d tasks RUNNING", running)
		}
		return nil
	})
}

// TestAutoScalingScalesRealTasks: a step policy, invoked as CloudWatch
// invokes it, starts a second container of a service on a real agent; a
// scheduled action's maximum then stops it.
func TestAutoScalingScalesRealTasks(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("scaled"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("web"), Image: aws.String(c.image), Memory: aws.Int32(32), Essential: aws.Bool(true)}}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("scaled"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	c.waitRunning("scaled", 1, 60*time.Second)

	as := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	res, ns, dim := aws.String("service/"+c.name+"/scaled"), aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	if _, err := as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	pol, err := as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("busy"), ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{
			AdjustmentType:  aastypes.AdjustmentTypeChangeInCapacity,
			StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(0), ScalingAdjustment: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.env.Server.AutoScaling.Invoke(ctx, aws.ToString(pol.PolicyARN), cwlink.AlarmEvent{AlarmName: "busy-high", State: "ALARM",
		PreviousState: "OK", Timestamp: time.Now(), Value: 85, Threshold: 75}); err != nil {
		t.Fatal(err)
	}
	c.waitRunning("scaled", 2, 60*time.Second)

	at := time.Now().UTC().Add(2 * time.Second).Format("2006-01-02T15:04:05")
	if _, err := as.PutScheduledAction(ctx, &aas.PutScheduledActionInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		ScheduledActionName: aws.String("quiet"), Schedule: aws.String("at(" + at + ")"),
		ScalableTargetAction: &aastypes.ScalableTargetAction{MaxCapacity: aws.Int32(1)}}); err != nil {
		t.Fatal(err)
	}
	c.waitRunning("scaled", 1, 60*time.Second)
	if s := c.svc("scaled"); s.DesiredCount != 1 {
		t.Errorf("desired count %d, want 1", s.DesiredCount)
	}
	acts, err := as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ns, ResourceId: res})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts.ScalingActivities {
		got = append(got, aws.ToString(a.Description))
	}
	want := []string{"Setting desired count to 1.", "Setting min capacity to 1 and max capacity to 1", "Setting desired count to 2."}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("activities %q, want %q", got, want)
	}
}

// TestCPUUtilizationThroughTheCLI: a service's real container burns a
// fifth of a core (80% of its 256 CPU units); the agent samples it
// through the Docker Engine with its defaults, and Debian's unmodified
// `aws cloudwatch get-metric-statistics` reads back the service's AWS/ECS
// CPUUtilization near what Docker itself says the container used over
// the same span.
func TestCPUUtilizationThroughTheCLI(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	const image = "gantry-test/burner:latest"
	testutil.BuildImage(t, image, burnerSource)
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cliburn"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("burn"), Image: aws.String(image), Essential: aws.Bool(true),
		Cpu: 256, MemoryReservation: aws.Int32(64), Memory: aws.Int32(256), Command: []string{"0.2", "8"}}}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("burn"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	c.waitRunning("burn", 1, 90*time.Second)
	lt, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("burn")})
	if err != nil || len(lt.TaskArns) != 1 {
		t.Fatalf("tasks %v, %v", lt, err)
	}
	list, err := c.docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+lt.TaskArns[0]))})
	if err != nil || len(list) != 1 {
		t.Fatalf("container: %v %v", list, err)
	}
	read := func() container.StatsResponse {
		r, err := c.docker.ContainerStatsOneShot(ctx, list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var s container.StatsResponse
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Docker's account over whole 10-second periods (the agent's
	// sampling interval and the server's window, by default).
	time.Sleep(time.Until(time.Now().Truncate(10 * time.Second).Add(10 * time.Second)))
	d0 := read()
	time.Sleep(time.Until(d0.Read.Truncate(10 * time.Second).Add(40 * time.Second)))
	d1 := read()
	dockerCPU := 100 * float64(d1.CPUStats.CPUUsage.TotalUsage-d0.CPUStats.CPUUsage.TotalUsage) / float64(d1.Read.Sub(d0.Read).Nanoseconds()) * 1024 / 256
	from, to := d0.Read.Truncate(10*time.Second).Add(10*time.Second), d1.Read.Truncate(10*time.Second)

	cli := newAWSCLI(t, c.env.URL)
	var stats struct {
		Label      string
		Datapoints []struct {
			Timestamp string
			Average   float64
			Unit      string
		}
	}
	testutil.WaitFor(t, 60*time.Second, "the span's CPUUtilization through the CLI", func() error {
		stdout, stderr, err := cli.tryService("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ECS", "--metric-name", "CPUUtilization",
			"--dimensions", "Name=ClusterName,Value="+c.name, "Name=ServiceName,Value=burn",
			"--start-time", from.UTC().Format(time.RFC3339), "--end-time", to.UTC().Format(time.RFC3339),
			"--period", "10", "--statistics", "Average")
		if err != nil {
			return fmt.Errorf("aws cloudwatch get-metric-statistics: %v: %s", err, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &stats); err != nil {
			return err
		}
		if n := int(to.Sub(from) / (10 * time.Second)); len(stats.Datapoints) < n {
			return fmt.Errorf("%d datapoints of %d", len(stats.Datapoints), n)
		}
		return nil
	})
	var sum float64
	for _, d := range stats.Datapoints {
		if d.Unit != "Percent" {
			t.Fatalf("datapoint %+v: unit %q, want Percent", d, d.Unit)
		}
		sum += d.Average
	}
	gantryCPU := sum / float64(len(stats.Datapoints))
	t.Logf("CPUUtilization %s to %s: aws cloudwatch get-metric-statistics %.1f%% (%d datapoints), Docker %.1f%%",
		from.Format(time.TimeOnly), to.Format(time.TimeOnly), gantryCPU, len(stats.Datapoints), dockerCPU)
	if stats.Label != "CPUUtilization" || math.Abs(gantryCPU-dockerCPU) > 0.15*dockerCPU+3 {
		t.Errorf("CPUUtilization %.1f%% through the CLI (label %q), Docker measured %.1f%%", gantryCPU, stats.Label, dockerCPU)
	}
	if dockerCPU < 10 {
		t.Errorf("the burner used %.1f%% of its reservation: the machine starved it, the comparison means little", dockerCPU)
	}
}
