package ecs_test

import (
	"context"
	"fmt"
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
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestTaskSetLoadBalancersAndCapacityProviders: CreateTaskSet with
// loadBalancers and a capacityProviderStrategy, through the AWS SDK
// against real target groups. The loadBalancers are checked as a
// service's (target group known and behind a load balancer, target type
// fitting the network mode, container and port in the task definition);
// the strategy spreads the task set's own tasks over the providers as
// RunTask does (base first, then by weight), and each task reports its
// capacityProviderName. Once the (simulated) agent reports the tasks
// RUNNING with their host ports, the controller registers them as instance
// targets in the task set's target group only; DeleteTaskSet with force
// makes them DEACTIVATING while their targets drain. A task set's target
// group cannot be deleted (ResourceInUse).
func TestTaskSetLoadBalancersAndCapacityProviders(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	cl := aws.String("tslb")
	createProvider(t, c, "ts-a")
	createProvider(t, c, "ts-b")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cl, CapacityProviders: []string{"ts-a", "ts-b"}}); err != nil {
		t.Fatal(err)
	}
	attr := func(p string) ecsapi.Attribute {
		return ecsapi.Attribute{Name: gantryecs.CapacityProviderAttribute, Value: p}
	}
	agentA := newSimAgent(t, env, "tslb", 4096, 4096, attr("ts-a"))
	agentB := newSimAgent(t, env, "tslb", 4096, 4096, attr("ts-b"))
	registerWeb(t, c, "web", 64, 0)

	lbc := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	lb, err := lbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("tslb")})
	if err != nil {
		t.Fatal(err)
	}
	tg := func(name string, tt elbtypes.TargetTypeEnum, listen bool) string {
		out, err := lbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(80), TargetType: tt})
		if err != nil {
			t.Fatal(err)
		}
		arn := out.TargetGroups[0].TargetGroupArn
		if _, err := lbc.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: arn,
			Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("30")}}}); err != nil {
			t.Fatal(err)
		}
		if listen {
			if _, err := lbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
				Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(freePort(t)),
				DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: arn}}}); err != nil {
				t.Fatal(err)
			}
		}
		return aws.ToString(arn)
	}
	prod := tg("prod", elbtypes.TargetTypeEnumInstance, true)
	test := tg("test", elbtypes.TargetTypeEnumInstance, true)
	ip := tg("ip", elbtypes.TargetTypeEnumIp, true)
	lonely := tg("lonely", elbtypes.TargetTypeEnumInstance, false)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cl, ServiceName: aws.String("ext"), DesiredCount: aws.Int32(4),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	lbOn := func(arn, container string, port int32) []types.LoadBalancer {
		return []types.LoadBalancer{{TargetGroupArn: aws.String(arn), ContainerName: aws.String(container), ContainerPort: aws.Int32(port)}}
	}

	// Bad loadBalancers and strategies: AWS's errors.
	for _, tc := range []struct {
		name string
		in   ecs.CreateTaskSetInput
		msg  string
	}{
		{"unknown target group", ecs.CreateTaskSetInput{LoadBalancers: lbOn(strings.Replace(prod, "/prod/", "/nope/", 1), "web", 8080)}, "Unable to find target group"},
		{"no load balancer", ecs.CreateTaskSetInput{LoadBalancers: lbOn(lonely, "web", 8080)}, "does not have an associated load balancer"},
		{"ip target group for bridge", ecs.CreateTaskSetInput{LoadBalancers: lbOn(ip, "web", 8080)}, "has target type ip, which is incompatible with the bridge network mode"},
		{"unknown container", ecs.CreateTaskSetInput{LoadBalancers: lbOn(prod, "nope", 8080)}, "The container nope does not exist in the task definition."},
		{"unknown port", ecs.CreateTaskSetInput{LoadBalancers: lbOn(prod, "web", 9999)}, "The container web did not have a container port 9999 defined."},
		{"no container port", ecs.CreateTaskSetInput{LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(prod), ContainerName: aws.String("web")}}}, "containerPort must be specified"},
		{"Classic Load Balancer", ecs.CreateTaskSetInput{LoadBalancers: []types.LoadBalancer{{LoadBalancerName: aws.String("classic"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}}, "Classic Load Balancers"},
		{"EXTERNAL launch type", ecs.CreateTaskSetInput{LaunchType: types.LaunchTypeExternal, LoadBalancers: lbOn(prod, "web", 8080)}, "not supported for task sets with the EXTERNAL launch type"},
		{"two bases", ecs.CreateTaskSetInput{CapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("ts-a"), Base: 1, Weight: 1}, {CapacityProvider: aws.String("ts-b"), Base: 1, Weight: 1}}}, "base value on only one capacity provider"},
		{"no weight", ecs.CreateTaskSetInput{CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("ts-a")}}}, "at least one capacity provider with a weight greater than zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Cluster, in.Service, in.TaskDefinition = cl, aws.String("ext"), aws.String("web")
			_, err := c.CreateTaskSet(ctx, &in)
			if apiCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want InvalidParameterException with %q", err, tc.msg)
			}
		})
	}

	// Blue: 100% of 4, in prod, ts-a base 1 weight 1 and ts-b weight 1:
	// the base goes to ts-a, the next three by weight (ts-a on a tie):
	// 3 on ts-a, 1 on ts-b.
	strategy := []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("ts-a"), Base: 1, Weight: 1}, {CapacityProvider: aws.String("ts-b"), Weight: 1}}
	blue, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
		Scale: &types.Scale{Value: 100, Unit: types.ScaleUnitPercent}, LoadBalancers: lbOn(prod, "web", 8080), CapacityProviderStrategy: strategy})
	if err != nil {
		t.Fatal(err)
	}
	b := blue.TaskSet
	if len(b.LoadBalancers) != 1 || aws.ToString(b.LoadBalancers[0].TargetGroupArn) != prod || aws.ToInt32(b.LoadBalancers[0].ContainerPort) != 8080 ||
		b.LaunchType != "" || len(b.CapacityProviderStrategy) != 2 || aws.ToString(b.CapacityProviderStrategy[0].CapacityProvider) != "ts-a" ||
		b.CapacityProviderStrategy[0].Base != 1 {
		t.Fatalf("blue task set %+v", b)
	}
	blueID := aws.ToString(b.Id)
	if _, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: cl, Service: aws.String("ext"), PrimaryTaskSet: aws.String(blueID)}); err != nil {
		t.Fatal(err)
	}
	// Green: 25% (1 task), in test, launch type EC2.
	green, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskDefinition: aws.String("web"),
		Scale: &types.Scale{Value: 25, Unit: types.ScaleUnitPercent}, LoadBalancers: lbOn(test, "web", 8080), LaunchType: types.LaunchTypeEc2})
	if err != nil {
		t.Fatal(err)
	}
	greenID := aws.ToString(green.TaskSet.Id)

	// tasksOf describes the tasks of a task set (desired RUNNING unless
	// desired says otherwise).
	tasksOf := func(id string, desired ...types.DesiredStatus) []types.Task {
		t.Helper()
		in := &ecs.ListTasksInput{Cluster: cl, StartedBy: aws.String(id)}
		if len(desired) > 0 {
			in.DesiredStatus = desired[0]
		}
		l, err := c.ListTasks(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.TaskArns) == 0 {
			return nil
		}
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: cl, Tasks: l.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		return d.Tasks
	}
	testutil.WaitFor(t, 30*time.Second, "task set tasks", func() error {
		if n, m := len(tasksOf(blueID)), len(tasksOf(greenID)); n != 4 || m != 1 {
			return fmt.Errorf("blue %d, green %d", n, m)
		}
		return nil
	})
	byProvider := map[string]int{}
	for _, tk := range tasksOf(blueID) {
		p := aws.ToString(tk.CapacityProviderName)
		byProvider[p]++
		if want := map[string]string{"ts-a": agentA.arn, "ts-b": agentB.arn}[p]; aws.ToString(tk.ContainerInstanceArn) != want {
			t.Errorf("task of %q on %s", p, aws.ToString(tk.ContainerInstanceArn))
		}
	}
	if byProvider["ts-a"] != 3 || byProvider["ts-b"] != 1 {
		t.Fatalf("blue's tasks by capacity provider %v, want ts-a 3, ts-b 1", byProvider)
	}
	if g := tasksOf(greenID)[0]; g.CapacityProviderName != nil || g.LaunchType != types.LaunchTypeEc2 {
		t.Fatalf("green's task %+v", g)
	}

	// The agents run them, each on its own host port.
	port := int32(32000)
	ports := map[string]int32{}
	for _, a := range []*simAgent{agentA, agentB} {
		for _, at := range a.poll(0) {
			port++
			ports[at.Task.TaskArn] = port
			for _, st := range []string{"PENDING", "RUNNING"} {
				a.report(at.Task.TaskArn, st, "", ecsapi.GantryContainerState{ContainerName: "web", RuntimeId: "rt-" + fmt.Sprint(port),
					Status:          map[bool]string{true: "RUNNING", false: "PENDING"}[st == "RUNNING"],
					NetworkBindings: []ecsapi.NetworkBinding{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(port), BindIP: "0.0.0.0", Protocol: "tcp"}}})
			}
		}
	}
	targets := func(arn string) map[int32]string {
		out, err := lbc.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[int32]string{}
		for _, d := range out.TargetHealthDescriptions {
			m[aws.ToInt32(d.Target.Port)] = string(d.TargetHealth.State)
		}
		return m
	}
	wantPorts := func(id string) map[int32]bool {
		m := map[int32]bool{}
		for _, tk := range tasksOf(id) {
			m[ports[aws.ToString(tk.TaskArn)]] = true
		}
		return m
	}
	testutil.WaitFor(t, 30*time.Second, "targets registered in each task set's group", func() error {
		for id, arn := range map[string]string{blueID: prod, greenID: test} {
			got, want := targets(arn), wantPorts(id)
			if len(got) != len(want) {
				return fmt.Errorf("%s: targets %v, want ports %v", arn, got, want)
			}
			for p := range want {
				if _, ok := got[p]; !ok {
					return fmt.Errorf("%s: targets %v, want ports %v", arn, got, want)
				}
			}
		}
		return nil
	})

	// Green is deleted with force: its task is DEACTIVATING while its
	// target drains (30s), and blue's targets stay.
	if _, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: cl, Service: aws.String("ext"), TaskSet: aws.String(greenID), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "green's task deactivating", func() error {
		g := tasksOf(greenID, types.DesiredStatusStopped)
		if len(g) != 1 || aws.ToString(g[0].LastStatus) != "DEACTIVATING" || aws.ToString(g[0].DesiredStatus) != "STOPPED" {
			return fmt.Errorf("green's tasks %d", len(g))
		}
		for p, st := range targets(test) {
			if st != "draining" {
				return fmt.Errorf("green's target on %d is %s", p, st)
			}
		}
		return nil
	})
	if got := targets(prod); len(got) != 4 {
		t.Fatalf("blue's targets %v", got)
	}
	// A task set's target group is in use, as a service's.
	if _, err := lbc.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(prod)}); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Errorf("delete the target group of a task set: %v", err)
	}
	d, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cl, Service: aws.String("ext"), TaskSets: []string{greenID}})
	if err != nil || len(d.TaskSets) != 1 || aws.ToString(d.TaskSets[0].Status) != "DRAINING" {
		t.Fatalf("green while its target drains: %v %+v", err, d)
	}
}
