package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestTargetTrackingThroughCloudWatch joins CloudWatch and Application
// Auto Scaling in one server: a target tracking policy creates its alarms
// in CloudWatch, AWS/ECS datapoints recorded above the target put the
// AlarmHigh alarm in ALARM, and its action scales the service out.
func TestTargetTrackingThroughCloudWatch(t *testing.T) {
	env := apitest.Start(t, apitest.Options{AlarmEvaluationInterval: 200 * time.Millisecond})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cw")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("cw"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	scaling := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})
	target := func(in *aas.RegisterScalableTargetInput) *aas.RegisterScalableTargetInput {
		in.ServiceNamespace, in.ResourceId, in.ScalableDimension = aastypes.ServiceNamespaceEcs, aws.String("service/cw/web"), aastypes.ScalableDimensionECSServiceDesiredCount
		return in
	}
	if _, err := scaling.RegisterScalableTarget(ctx, target(&aas.RegisterScalableTargetInput{MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(5)})); err != nil {
		t.Fatal(err)
	}
	if _, err := scaling.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("cpu50"), PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/cw/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(50),
			PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization}}}); err != nil {
		t.Fatal(err)
	}
	alarms, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("TargetTracking-service/cw/web-")})
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.MetricAlarms) != 2 || !strings.Contains(aws.ToString(alarms.MetricAlarms[0].AlarmName), "-AlarmHigh-") {
		t.Fatalf("target tracking alarms: %+v", alarms.MetricAlarms)
	}
	// CPU at 90% in the last three 10-second periods, as the agents'
	// metrics would record it.
	b0 := time.Now().Truncate(10 * time.Second)
	var data []cloudwatchapi.MetricDatum
	for i := 0; i < 3; i++ {
		v := 90.0
		data = append(data, cloudwatchapi.MetricDatum{MetricName: "CPUUtilization", Value: &v, Unit: "Percent", StorageResolution: aws.Int32(1),
			Timestamp:  awstime.NewTimestamp(b0.Add(time.Duration(i-2)*10*time.Second + time.Second)),
			Dimensions: []cloudwatchapi.Dimension{{Name: "ClusterName", Value: "cw"}, {Name: "ServiceName", Value: "web"}}})
	}
	if err := env.Server.CloudWatch.Record(ctx, "AWS/ECS", data); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the service scaled out", func() error {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("cw"), Services: []string{"web"}})
		if err != nil {
			return err
		}
		if n := out.Services[0].DesiredCount; n < 2 {
			return fmt.Errorf("desired count %d", n)
		}
		return nil
	})
	// The activity is recorded once the desired count is written.
	testutil.WaitFor(t, 10*time.Second, "the scaling activity", func() error {
		acts, err := scaling.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/cw/web")})
		if err != nil {
			return err
		}
		if len(acts.ScalingActivities) == 0 || !strings.Contains(aws.ToString(acts.ScalingActivities[0].Cause), "AlarmHigh") {
			return fmt.Errorf("activities %+v", acts.ScalingActivities)
		}
		return nil
	})
}
