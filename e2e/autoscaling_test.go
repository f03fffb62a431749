package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

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
