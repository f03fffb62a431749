package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestLoadBalancerMetricsDriveTargetTracking joins the data plane,
// CloudWatch and Application Auto Scaling in one server: requests through
// a listener show in AWS/ApplicationELB (GetMetricStatistics by
// LoadBalancer, and by TargetGroup and LoadBalancer), and a target
// tracking policy on ALBRequestCountPerTarget (target 600 requests per
// target per minute) scales the service out under about 1,800: its
// AlarmHigh alarm (3 of 3 periods of 10 s, the sum scaled to a minute's;
// while fewer periods have data, every one present must breach) goes to
// ALARM within seconds of the load.
func TestLoadBalancerMetricsDriveTargetTracking(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{LBDataPlane: true, AlarmEvaluationInterval: 200 * time.Millisecond,
		Configure: func(c *config.Server) { c.LBMetricsPeriod = time.Second }})
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	elb := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds, RetryMaxAttempts: 1})
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})
	scaling := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	_, bp, _ := net.SplitHostPort(backend.Listener.Addr().String())
	backendPort, _ := strconv.Atoi(bp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	lbOut, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("metrics")})
	if err != nil {
		t.Fatal(err)
	}
	lbArn := aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn)
	tgOut, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("metrics"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumIp, HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2), HealthCheckPath: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	tgArn := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgArn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(backendPort))}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lbArn), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(int32(port)), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgArn)}}}); err != nil {
		t.Fatal(err)
	}
	lbDim := lbArn[strings.Index(lbArn, ":loadbalancer/")+len(":loadbalancer/"):]
	tgDim := tgArn[strings.LastIndexByte(tgArn, ':')+1:]

	// An ECS service for the policy to scale (no agent: its desired count
	// is what is read).
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lbm")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("lbm"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	resource := func(in *aas.RegisterScalableTargetInput) *aas.RegisterScalableTargetInput {
		in.ServiceNamespace, in.ResourceId, in.ScalableDimension = aastypes.ServiceNamespaceEcs, aws.String("service/lbm/web"), aastypes.ScalableDimensionECSServiceDesiredCount
		return in
	}
	if _, err := scaling.RegisterScalableTarget(ctx, resource(&aas.RegisterScalableTargetInput{MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(4)})); err != nil {
		t.Fatal(err)
	}
	if _, err := scaling.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("requests"), PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/lbm/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(600),
			PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeALBRequestCountPerTarget,
				ResourceLabel: aws.String(lbDim + "/" + tgDim)}}}); err != nil {
		t.Fatal(err)
	}

	// The target becomes healthy, then load: about 30 requests a second
	// (1,800 a minute for the one target), a few of them answered 404.
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	testutil.WaitFor(t, 20*time.Second, "the target healthy", func() error {
		out, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgArn)})
		if err != nil {
			return err
		}
		if s := out.TargetHealthDescriptions[0].TargetHealth.State; s != elbtypes.TargetHealthStateEnumHealthy {
			return fmt.Errorf("target %s", s)
		}
		return nil
	})
	t0 := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sent, missing int
	wg.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			path := "/"
			if sent%10 == 9 {
				path = "/missing"
				missing++
			}
			sent++
			if resp, err := client.Get(url + path); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	defer func() {
		stopLoad()
		wg.Wait()
	}()
	testutil.WaitFor(t, 90*time.Second, "the service scaled out on requests per target", func() error {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("lbm"), Services: []string{"web"}})
		if err != nil {
			return err
		}
		if n := out.Services[0].DesiredCount; n < 2 {
			return fmt.Errorf("desired count %d", n)
		}
		return nil
	})
	t.Logf("scaled out %v after the load began", time.Since(t0).Round(100*time.Millisecond))
	// The activity is recorded once the desired count is written.
	testutil.WaitFor(t, 10*time.Second, "the scaling activity", func() error {
		acts, err := scaling.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/lbm/web")})
		if err != nil {
			return err
		}
		if len(acts.ScalingActivities) == 0 || !strings.Contains(aws.ToString(acts.ScalingActivities[0].Cause), "AlarmHigh") {
			return fmt.Errorf("activities %+v", acts.ScalingActivities)
		}
		return nil
	})
	stopLoad()
	wg.Wait()

	// The metrics read back through CloudWatch as ELB publishes them.
	stat := func(name string, st cwtypes.Statistic, dims ...cwtypes.Dimension) (float64, error) {
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/ApplicationELB"),
			MetricName: aws.String(name), Dimensions: dims, StartTime: aws.Time(time.Now().Add(-5 * time.Minute)),
			EndTime: aws.Time(time.Now().Add(time.Minute)), Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{st}})
		if err != nil {
			return 0, err
		}
		if len(out.Datapoints) != 1 {
			return 0, fmt.Errorf("%s: datapoints %+v", name, out.Datapoints)
		}
		d := out.Datapoints[0]
		switch st {
		case cwtypes.StatisticSum:
			return aws.ToFloat64(d.Sum), nil
		case cwtypes.StatisticMaximum:
			return aws.ToFloat64(d.Maximum), nil
		}
		return aws.ToFloat64(d.Average), nil
	}
	lbD := cwtypes.Dimension{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)}
	tgD := cwtypes.Dimension{Name: aws.String("TargetGroup"), Value: aws.String(tgDim)}
	testutil.WaitFor(t, 10*time.Second, "every request counted", func() error {
		for _, dims := range [][]cwtypes.Dimension{{lbD}, {tgD, lbD}} {
			v, err := stat("RequestCount", cwtypes.StatisticSum, dims...)
			if err != nil {
				return err
			}
			if int(v) != sent {
				return fmt.Errorf("RequestCount %v, sent %d", v, sent)
			}
		}
		if v, err := stat("HTTPCode_Target_4XX_Count", cwtypes.StatisticSum, lbD); err != nil || int(v) != missing {
			return fmt.Errorf("HTTPCode_Target_4XX_Count %v (%v), want %d", v, err, missing)
		}
		if v, err := stat("HTTPCode_Target_2XX_Count", cwtypes.StatisticSum, tgD, lbD); err != nil || int(v) != sent-missing {
			return fmt.Errorf("HTTPCode_Target_2XX_Count %v (%v), want %d", v, err, sent-missing)
		}
		if v, err := stat("RequestCountPerTarget", cwtypes.StatisticSum, tgD); err != nil || int(v) != sent {
			return fmt.Errorf("RequestCountPerTarget %v (%v), want %d (one target)", v, err, sent)
		}
		if v, err := stat("HealthyHostCount", cwtypes.StatisticMaximum, tgD, lbD); err != nil || v != 1 {
			return fmt.Errorf("HealthyHostCount %v (%v)", v, err)
		}
		return nil
	})
	t.Logf("metrics read back %v after the load began", time.Since(t0).Round(100*time.Millisecond))
	if v, err := stat("TargetResponseTime", cwtypes.StatisticAverage, lbD); err != nil || v <= 0 || v > 1 {
		t.Errorf("TargetResponseTime average %v (%v)", v, err)
	}
	p99, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/ApplicationELB"),
		MetricName: aws.String("TargetResponseTime"), Dimensions: []cwtypes.Dimension{tgD, lbD}, StartTime: aws.Time(time.Now().Add(-5 * time.Minute)),
		EndTime: aws.Time(time.Now().Add(time.Minute)), Period: aws.Int32(3600), ExtendedStatistics: []string{"p99"}})
	if err != nil || len(p99.Datapoints) != 1 || p99.Datapoints[0].ExtendedStatistics["p99"] <= 0 {
		t.Errorf("TargetResponseTime p99: %+v, %v", p99, err)
	}
	list, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("RequestCountPerTarget")})
	if err != nil || len(list.Metrics) != 2 {
		t.Errorf("RequestCountPerTarget series (TargetGroup; TargetGroup, LoadBalancer): %+v, %v", list, err)
	}
}
