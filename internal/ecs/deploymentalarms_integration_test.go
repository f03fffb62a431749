package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestServiceDeploymentAlarmState: a deployment of a service whose
// deploymentConfiguration.alarms is enabled reports its alarms MONITORING
// with their names while it is in progress, and, once one of them (a real
// CloudWatch alarm, set to ALARM) fails it, TRIGGERED with the alarm named
// in triggeredAlarmNames; a service without alarms reports DISABLED.
func TestServiceDeploymentAlarmState(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("al")}); err != nil {
		t.Fatal(err)
	}
	registerWeb(t, c, "web", 64, 0)
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})
	for _, name := range []string{"dep-errors", "dep-latency"} {
		if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String("Test"), MetricName: aws.String(name),
			Statistic: cwtypes.StatisticMaximum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold}); err != nil {
			t.Fatal(err)
		}
	}
	// No container instance: the deployments stay in progress.
	for _, s := range []struct {
		name string
		dc   *types.DeploymentConfiguration
	}{
		{"watched", &types.DeploymentConfiguration{Alarms: &types.DeploymentAlarms{Enable: true, Rollback: false, AlarmNames: []string{"dep-errors", "dep-latency"}}}},
		{"plain", nil},
	} {
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("al"), ServiceName: aws.String(s.name), TaskDefinition: aws.String("web"),
			DesiredCount: aws.Int32(1), DeploymentConfiguration: s.dc}); err != nil {
			t.Fatal(err)
		}
	}
	deployment := func(service string) types.ServiceDeployment {
		t.Helper()
		l, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("al"), Service: aws.String(service)})
		if err != nil || len(l.ServiceDeployments) != 1 {
			t.Fatalf("list: %v %+v", err, l)
		}
		d, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(l.ServiceDeployments[0].ServiceDeploymentArn)}})
		if err != nil || len(d.ServiceDeployments) != 1 {
			t.Fatalf("describe: %v %+v", err, d)
		}
		return d.ServiceDeployments[0]
	}
	if a := deployment("plain").Alarms; a == nil || a.Status != types.ServiceDeploymentRollbackMonitorsStatusDisabled {
		t.Fatalf("plain service's alarms %+v", a)
	}
	d := deployment("watched")
	if a := d.Alarms; a == nil || a.Status != types.ServiceDeploymentRollbackMonitorsStatusMonitoring ||
		!slices.Equal(a.AlarmNames, []string{"dep-errors", "dep-latency"}) || len(a.TriggeredAlarmNames) != 0 || d.Status != types.ServiceDeploymentStatusInProgress {
		t.Fatalf("in progress: status %s alarms %+v", d.Status, d.Alarms)
	}
	testutil.WaitFor(t, 30*time.Second, "deployment failed by its alarm", func() error {
		// The evaluator returns the alarm to its metric's state at its next
		// evaluation (no data here): set it again until the controller saw
		// it.
		if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("dep-errors"), StateValue: cwtypes.StateValueAlarm,
			StateReason: aws.String("test")}); err != nil {
			return err
		}
		d = deployment("watched")
		if a := d.Alarms; a == nil || a.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered || !slices.Equal(a.TriggeredAlarmNames, []string{"dep-errors"}) ||
			d.Status != types.ServiceDeploymentStatusStopped {
			return fmt.Errorf("status %s alarms %+v", d.Status, d.Alarms)
		}
		return nil
	})
}
