package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/lbload"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// lbSetup is a load balancer with an HTTP listener forwarding to a target
// group of type instance.
type lbSetup struct {
	elb  *elbv2.Client
	tg   string
	url  string
	port int32
}

func (c *cluster) newLB(name string, drainSeconds int) lbSetup {
	c.t.Helper()
	ctx := context.Background()
	cl := elbv2.New(elbv2.Options{
		Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	lb, err := cl.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name)})
	if err != nil {
		c.t.Fatal(err)
	}
	tg, err := cl.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumInstance, HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthCheckPath: aws.String("/health")})
	if err != nil {
		c.t.Fatal(err)
	}
	arn := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	if _, err := cl.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(fmt.Sprint(drainSeconds))}}}); err != nil {
		c.t.Fatal(err)
	}
	if _, err := cl.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}}); err != nil {
		c.t.Fatal(err)
	}
	return lbSetup{elb: cl, tg: arn, url: fmt.Sprintf("http://127.0.0.1:%d/", port), port: port}
}

// healthyTargets counts the target group's healthy targets.
func (l lbSetup) targetStates(t *testing.T) map[string]int {
	out, err := l.elb.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(l.tg)})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, d := range out.TargetHealthDescriptions {
		n[string(d.TargetHealth.State)]++
	}
	return n
}

// TestServiceBehindLoadBalancerLosesNoRequest runs a service of two web
// tasks (bridge mode, dynamic host ports) behind an application load
// balancer of the server's data plane, with a real agent: the controller
// registers both as instance targets (dialled at the agent's
// gantry.host-address), they turn healthy, and under continuous load
// (keep-alive and new connections mixed) a rolling deployment and then a
// scale-in lose no request, because each task is deregistered and drained
// (DEACTIVATING) before it gets SIGTERM. The events and the stopped
// tasks' reasons read as ECS's.
func TestServiceBehindLoadBalancerLosesNoRequest(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	lb := c.newLB("svc-lb", 2)
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("lbweb"), ContainerDefinitions: []types.ContainerDefinition{
		webContainer("web", c.image)}})

	// Validation as ECS's.
	_, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("bad"),
		TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(lb.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(9999)}}})
	if err == nil || !strings.Contains(err.Error(), "did not have a container port 9999") {
		t.Fatalf("create service with a port the container lacks: %v", err)
	}

	// The service is created with Debian's aws CLI.
	cli := newAWSCLI(t, c.env.URL)
	var created struct {
		Service struct {
			LoadBalancers []struct {
				TargetGroupArn string `json:"targetGroupArn"`
				ContainerName  string `json:"containerName"`
				ContainerPort  int    `json:"containerPort"`
			} `json:"loadBalancers"`
			HealthCheckGracePeriodSeconds int `json:"healthCheckGracePeriodSeconds"`
		} `json:"service"`
	}
	cli.run(&created, "create-service", "--cluster", c.name, "--service-name", "web", "--task-definition", td, "--desired-count", "2",
		"--load-balancers", "targetGroupArn="+lb.tg+",containerName=web,containerPort=8080", "--health-check-grace-period-seconds", "30",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100")
	if lbs := created.Service.LoadBalancers; len(lbs) != 1 || lbs[0].TargetGroupArn != lb.tg || lbs[0].ContainerPort != 8080 || created.Service.HealthCheckGracePeriodSeconds != 30 {
		t.Fatalf("create-service answered %+v", created.Service)
	}
	c.waitCompleted("web", 90*time.Second)
	stdout, stderr, err := cli.tryService("elbv2", "describe-target-health", "--target-group-arn", lb.tg)
	if err != nil {
		t.Fatalf("aws elbv2 describe-target-health: %v %s", err, stderr)
	}
	var health struct {
		TargetHealthDescriptions []struct {
			Target       struct{ Id string }
			TargetHealth struct{ State string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &health); err != nil {
		t.Fatalf("describe-target-health output %q: %v", stdout, err)
	}
	healthy := 0
	for _, d := range health.TargetHealthDescriptions {
		if d.TargetHealth.State == "healthy" && strings.HasPrefix(d.Target.Id, "i-") {
			healthy++
		}
	}
	if healthy != 2 {
		t.Fatalf("aws elbv2 describe-target-health after the service completed: %s", stdout)
	}
	if s := c.svc("web"); !hasEvent(s, "registered 2 targets in (target-group "+lb.tg+")") && !hasEvent(s, "registered 1 targets in") {
		t.Errorf("no registration event: %v", eventMessages(s, 10))
	}
	if code, err := get(lb.url); err != nil || code != 200 {
		t.Fatalf("GET through the listener: %d %v", code, err)
	}
	before := c.serviceTasks("web")

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	type outcome struct {
		res lbload.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := lbload.Run(loadCtx, lbload.Config{URL: lb.url, Rate: 300, Duration: 5 * time.Minute, Workers: 16, Timeout: 5 * time.Second})
		done <- outcome{res, err}
	}()

	// A rolling deployment under load.
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 120*time.Second, "the old tasks stopped", func() error {
		s := c.svc("web")
		if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments: %v", len(s.Deployments), eventMessages(s, 4))
		}
		for _, old := range before {
			if got := c.describe(aws.ToString(old.TaskArn)); aws.ToString(got.LastStatus) != "STOPPED" {
				return fmt.Errorf("old task %s is %s", aws.ToString(old.TaskArn), aws.ToString(got.LastStatus))
			}
		}
		return nil
	})
	old := c.describe(aws.ToString(before[0].TaskArn))
	if r := aws.ToString(old.StoppedReason); !strings.HasPrefix(r, "Scaling activity initiated by (deployment ecs-svc/") {
		t.Errorf("old task's stoppedReason %q", r)
	}
	if s := c.svc("web"); !hasEvent(s, "has begun draining connections on") || !hasEvent(s, "deregistered") {
		t.Errorf("no draining events: %v", eventMessages(s, 12))
	}

	// A scale-in under load.
	two := c.serviceTasks("web")
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	sawDeactivating := false
	testutil.WaitFor(t, 60*time.Second, "one task left", func() error {
		tasks, err := c.listServiceTasks("web")
		if err != nil {
			return err
		}
		for _, tk := range two {
			// ListTasks lists desiredStatus RUNNING: a DEACTIVATING
			// task (desiredStatus STOPPED) is described by its ARN.
			if d := c.describe(aws.ToString(tk.TaskArn)); aws.ToString(d.LastStatus) == "DEACTIVATING" {
				sawDeactivating = true
				if aws.ToString(d.DesiredStatus) != "STOPPED" {
					return fmt.Errorf("a DEACTIVATING task wants %s", aws.ToString(d.DesiredStatus))
				}
			}
		}
		if len(tasks) != 1 || lb.targetStates(t)["healthy"] != 1 || len(lb.targetStates(t)) != 1 {
			return fmt.Errorf("%d tasks, targets %v", len(tasks), lb.targetStates(t))
		}
		return nil
	})
	if !sawDeactivating {
		t.Error("the scaled-in task was never seen DEACTIVATING while its target drained")
	}
	stopLoad()
	out := <-done
	if out.err != nil {
		t.Fatal(out.err)
	}
	r := out.res
	t.Logf("load: %d requests (%d on new connections) at %.0f/s: %d ok, %d connection errors, %d LB 5xx, %d target 5xx, %d other; p50 %v p99 %v; first errors %v",
		r.Requests, r.NewConns, r.Rate, r.OK, r.ConnErrors, r.LB5xx, r.Target5xx, r.Other, r.P50, r.P99, r.FirstErrors)
	if r.Requests < 1000 || r.ConnErrors != 0 || r.LB5xx != 0 || r.Target5xx != 0 || r.Other != 0 {
		t.Fatalf("requests lost during the rollout and scale-in: %+v", r)
	}
}
