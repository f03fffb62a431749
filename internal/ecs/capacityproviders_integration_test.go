package ecs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
	"github.com/gantry-dev/gantry/internal/testutil"
)

func asgARN(name string) string {
	return "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:0f6b8b4a-1111-2222-3333-444455556666:autoScalingGroupName/" + name
}

func createProvider(t *testing.T, c *ecs.Client, name string) *types.CapacityProvider {
	t.Helper()
	out, err := c.CreateCapacityProvider(context.Background(), &ecs.CreateCapacityProviderInput{Name: aws.String(name),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN(name))}})
	if err != nil {
		t.Fatalf("create capacity provider %s: %v", name, err)
	}
	return out.CapacityProvider
}

// TestCapacityProviderAPI drives every capacity provider operation through
// the AWS SDK: creation with ECS's defaults and each validation error,
// the built-in FARGATE and FARGATE_SPOT, paging, failures, tags, updates,
// cluster association with its default strategy, and deletion refused
// while a cluster has the provider.
func TestCapacityProviderAPI(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()

	cp := createProvider(t, c, "pool-a")
	if cp.Status != types.CapacityProviderStatusActive || cp.Type != "EC2_AUTOSCALING" ||
		*cp.CapacityProviderArn != env.Server.ECS.CapacityProviderARN("pool-a") {
		t.Fatalf("created provider: %+v", cp)
	}
	asg := cp.AutoScalingGroupProvider
	ms := asg.ManagedScaling
	if asg.ManagedTerminationProtection != "DISABLED" || asg.ManagedDraining != "ENABLED" || ms.Status != "DISABLED" ||
		*ms.TargetCapacity != 100 || *ms.MinimumScalingStepSize != 1 || *ms.MaximumScalingStepSize != 10000 || *ms.InstanceWarmupPeriod != 300 {
		t.Fatalf("defaults: %+v %+v", asg, ms)
	}
	createProvider(t, c, "pool-b")

	bad := []struct {
		name string
		in   *ecs.CreateCapacityProviderInput
		code string
	}{
		{"exists", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-a"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("other"))}}, "ClientException"},
		{"group taken", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-c"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("pool-a"))}}, "ClientException"},
		{"prefix aws", &ecs.CreateCapacityProviderInput{Name: aws.String("awsPool"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x"))}}, "InvalidParameterException"},
		{"prefix ECS", &ecs.CreateCapacityProviderInput{Name: aws.String("ECSpool"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x"))}}, "InvalidParameterException"},
		{"prefix fargate", &ecs.CreateCapacityProviderInput{Name: aws.String("fargate-mine"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x"))}}, "InvalidParameterException"},
		{"bad name", &ecs.CreateCapacityProviderInput{Name: aws.String("has space"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x"))}}, "InvalidParameterException"},
		{"no group", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-x")}, "InvalidParameterException"},
		{"bad group ARN", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-x"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String("arn:aws:ec2:us-east-1:0:instance/i-1")}}, "InvalidParameterException"},
		{"target capacity", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-x"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x")),
				ManagedScaling: &types.ManagedScaling{TargetCapacity: aws.Int32(101)}}}, "InvalidParameterException"},
		{"steps", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-x"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x")),
				ManagedScaling: &types.ManagedScaling{MinimumScalingStepSize: aws.Int32(5), MaximumScalingStepSize: aws.Int32(2)}}}, "InvalidParameterException"},
		{"protection without scaling", &ecs.CreateCapacityProviderInput{Name: aws.String("pool-x"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(asgARN("x")),
				ManagedTerminationProtection: "ENABLED"}}, "InvalidParameterException"},
	}
	for _, b := range bad {
		_, err := c.CreateCapacityProvider(ctx, b.in)
		t.Logf("%s: %v", b.name, err)
		assertECSError(t, err, b.code)
	}

	// Describe: all, FARGATE first; paging; failures; tags.
	all, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range all.CapacityProviders {
		names = append(names, *p.Name)
	}
	if strings.Join(names, ",") != "FARGATE,FARGATE_SPOT,pool-a,pool-b" || all.NextToken != nil {
		t.Fatalf("providers %v, token %v", names, all.NextToken)
	}
	if all.CapacityProviders[0].Status != "ACTIVE" || all.CapacityProviders[0].AutoScalingGroupProvider != nil {
		t.Fatalf("FARGATE: %+v", all.CapacityProviders[0])
	}
	page, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{MaxResults: aws.Int32(3)})
	if err != nil || len(page.CapacityProviders) != 3 || page.NextToken == nil {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	page, err = c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{MaxResults: aws.Int32(3), NextToken: page.NextToken})
	if err != nil || len(page.CapacityProviders) != 1 || *page.CapacityProviders[0].Name != "pool-b" || page.NextToken != nil {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	_, err = c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{MaxResults: aws.Int32(11)})
	assertECSError(t, err, "InvalidParameterException")
	some, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{
		CapacityProviders: []string{env.Server.ECS.CapacityProviderARN("pool-b"), "nope", "FARGATE_SPOT"}})
	if err != nil || len(some.CapacityProviders) != 2 || len(some.Failures) != 1 || *some.Failures[0].Reason != "MISSING" ||
		*some.Failures[0].Arn != env.Server.ECS.CapacityProviderARN("nope") {
		t.Fatalf("named: %+v, %v", some, err)
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: cp.CapacityProviderArn, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	tagged, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"pool-a"}, Include: []types.CapacityProviderField{"TAGS"}})
	if err != nil || len(tagged.CapacityProviders[0].Tags) != 1 {
		t.Fatalf("tags: %+v, %v", tagged, err)
	}

	// Update merges managed scaling.
	up, err := c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("pool-a"),
		AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{ManagedScaling: &types.ManagedScaling{Status: "ENABLED", TargetCapacity: aws.Int32(80)},
			ManagedTerminationProtection: "ENABLED"}})
	if err != nil {
		t.Fatal(err)
	}
	ms = up.CapacityProvider.AutoScalingGroupProvider.ManagedScaling
	if ms.Status != "ENABLED" || *ms.TargetCapacity != 80 || *ms.InstanceWarmupPeriod != 300 || up.CapacityProvider.UpdateStatus != "UPDATE_COMPLETE" ||
		up.CapacityProvider.AutoScalingGroupProvider.ManagedTerminationProtection != "ENABLED" {
		t.Fatalf("updated: %+v", up.CapacityProvider)
	}
	_, err = c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("FARGATE"), AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{}})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("nope"), AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{}})
	assertECSError(t, err, "InvalidParameterException")

	// Cluster association.
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp1")}); err != nil {
		t.Fatal(err)
	}
	put := func(cluster string, providers []string, strategy ...types.CapacityProviderStrategyItem) error {
		if strategy == nil {
			strategy = []types.CapacityProviderStrategyItem{}
		}
		_, err := c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String(cluster),
			CapacityProviders: providers, DefaultCapacityProviderStrategy: strategy})
		return err
	}
	strat := func(name string, base, weight int32) types.CapacityProviderStrategyItem {
		return types.CapacityProviderStrategyItem{CapacityProvider: aws.String(name), Base: base, Weight: weight}
	}
	assertECSError(t, put("cp1", []string{"nope"}), "InvalidParameterException")
	assertECSError(t, put("cp1", []string{"pool-a"}, strat("pool-b", 0, 1)), "InvalidParameterException")
	assertECSError(t, put("cp1", []string{"pool-a", "pool-b"}, strat("pool-a", 1, 1), strat("pool-b", 1, 1)), "InvalidParameterException")
	assertECSError(t, put("cp1", []string{"pool-a", "FARGATE"}, strat("pool-a", 0, 1), strat("FARGATE", 0, 1)), "InvalidParameterException")
	assertECSError(t, put("missing", []string{"pool-a"}), "ClusterNotFoundException")
	if err := put("cp1", []string{"pool-a", "pool-b", "FARGATE"}, strat("pool-a", 2, 1), strat("pool-b", 0, 3)); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"cp1"}})
	if err != nil || len(d.Clusters[0].CapacityProviders) != 3 || len(d.Clusters[0].DefaultCapacityProviderStrategy) != 2 {
		t.Fatalf("cluster: %+v, %v", d, err)
	}
	// An Auto Scaling group provider belongs to one cluster.
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp2")}); err != nil {
		t.Fatal(err)
	}
	assertECSError(t, put("cp2", []string{"pool-a"}), "InvalidParameterException")
	_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp3"), CapacityProviders: []string{"pool-b"}})
	assertECSError(t, err, "InvalidParameterException")
	// FARGATE may be in any number of clusters.
	if err := put("cp2", []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
		t.Fatal(err)
	}

	// Deletion: refused while a cluster has the provider; the built-ins never.
	_, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("pool-b")})
	assertECSError(t, err, "ResourceInUseException")
	_, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("FARGATE")})
	assertECSError(t, err, "InvalidParameterException")
	if err := put("cp1", []string{"pool-a"}, strat("pool-a", 0, 1)); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("pool-b")})
	if err != nil || del.CapacityProvider.UpdateStatus != "DELETE_IN_PROGRESS" {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	after, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"pool-b"}})
	if err != nil || after.CapacityProviders[0].Status != "INACTIVE" || after.CapacityProviders[0].UpdateStatus != "DELETE_COMPLETE" {
		t.Fatalf("after delete: %+v, %v", after, err)
	}
	_, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("pool-b")})
	assertECSError(t, err, "InvalidParameterException")
	// The name is free again.
	createProvider(t, c, "pool-b")
}

// TestRunTaskCapacityProviderStrategy places with strategies on instances
// that belong to providers (the ecs.capacity-provider attribute the agent
// registers): 10 tasks with base 2 on A and weights 1:3 land 4 on A and 6
// on B, each task names its provider, a task never lands on another
// provider's instance, and the cluster's default strategy applies when
// RunTask names neither a launch type nor a strategy.
func TestRunTaskCapacityProviderStrategy(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	createProvider(t, c, "cap-a")
	createProvider(t, c, "cap-b")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cps"), CapacityProviders: []string{"cap-a", "cap-b"}}); err != nil {
		t.Fatal(err)
	}
	attr := func(p string) ecsapi.Attribute {
		return ecsapi.Attribute{Name: gantryecs.CapacityProviderAttribute, Value: p}
	}
	instA := newSimAgent(t, env, "cps", 4096, 4096, attr("cap-a"))
	instB := newSimAgent(t, env, "cps", 4096, 4096, attr("cap-b"))
	plain := newSimAgent(t, env, "cps", 4096, 4096)
	di, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("cps"), ContainerInstances: []string{instA.arn, plain.arn}})
	if err != nil || aws.ToString(di.ContainerInstances[0].CapacityProviderName) == "" && aws.ToString(di.ContainerInstances[1].CapacityProviderName) == "" {
		t.Fatalf("instances: %+v, %v", di, err)
	}
	registerWeb(t, c, "cpweb", 64, 0)
	strat := []types.CapacityProviderStrategyItem{
		{CapacityProvider: aws.String("cap-a"), Base: 2, Weight: 1},
		{CapacityProvider: aws.String("cap-b"), Weight: 3},
	}
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"), Count: aws.Int32(10), CapacityProviderStrategy: strat})
	if err != nil {
		t.Fatal(err)
	}
	count := func(tasks []types.Task) map[string]int {
		m := map[string]int{}
		for _, tk := range tasks {
			p := aws.ToString(tk.CapacityProviderName)
			m[p]++
			want := map[string]string{"cap-a": instA.arn, "cap-b": instB.arn}[p]
			if aws.ToString(tk.ContainerInstanceArn) != want {
				t.Fatalf("task of %s on %s", p, aws.ToString(tk.ContainerInstanceArn))
			}
		}
		return m
	}
	if got := count(out.Tasks); got["cap-a"] != 4 || got["cap-b"] != 6 || len(out.Failures) != 0 {
		t.Fatalf("placed %v, failures %+v", got, out.Failures)
	}
	var arns []string
	for _, tk := range out.Tasks {
		arns = append(arns, *tk.TaskArn)
	}
	desc, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("cps"), Tasks: arns})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(desc.Tasks); got["cap-a"] != 4 || got["cap-b"] != 6 {
		t.Fatalf("described %v", got)
	}

	// Errors: both a launch type and a strategy, a provider the cluster
	// does not have, FARGATE with no pool.
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"), LaunchType: "EC2", CapacityProviderStrategy: strat})
	assertECSError(t, err, "InvalidParameterException")
	createProvider(t, c, "cap-c")
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cap-c"), Weight: 1}}})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cap-a"), Weight: 0}}})
	assertECSError(t, err, "InvalidParameterException")

	// The cluster's default strategy: everything on cap-b.
	if _, err := c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("cps"),
		CapacityProviders:               []string{"cap-a", "cap-b"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cap-b"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"), Count: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(out.Tasks); got["cap-b"] != 3 {
		t.Fatalf("default strategy placed %v", got)
	}
	// A launch type bypasses the providers: EC2 may use any instance.
	out, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"), LaunchType: "EC2",
		PlacementConstraints: []types.PlacementConstraint{{Type: "memberOf", Expression: aws.String("ec2InstanceId == " + instIDOf(plain.arn))}}})
	if err != nil || len(out.Tasks) != 1 || out.Tasks[0].CapacityProviderName != nil {
		t.Fatalf("EC2 run: %+v, %v", out, err)
	}
	// A provider whose instances are full: failures, not another
	// provider's instance.
	full, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cps"), TaskDefinition: aws.String("cpweb"), Count: aws.Int32(10),
		Overrides:                &types.TaskOverride{Memory: aws.String("1024")},
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cap-a"), Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Tasks) >= 10 || len(full.Failures) == 0 {
		t.Fatalf("full provider: %d tasks, failures %+v", len(full.Tasks), full.Failures)
	}
	count(full.Tasks)
}

func instIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// TestCapacityProvidersWithTheCLI checks the capacity provider commands of
// the aws CLI, an error included.
func TestCapacityProvidersWithTheCLI(t *testing.T) {
	bin := testutil.AWSCLI(t)
	env := apitest.Start(t, apitest.Options{})
	run := func(out any, args ...string) (string, bool) {
		t.Helper()
		cmd := exec.CommandContext(context.Background(), bin, append(append([]string{"ecs"}, args...), "--endpoint-url", env.URL, "--region", apitest.Region, "--output", "json")...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
			"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return stderr.String(), false
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("aws ecs %v: %v: %s", args, err, b)
			}
		}
		return "", true
	}
	var created struct{ CapacityProvider struct{ Name, Status string } }
	if msg, ok := run(&created, "create-capacity-provider", "--name", "cli-pool", "--auto-scaling-group-provider",
		"autoScalingGroupArn="+asgARN("cli"+"-pool")+",managedScaling={status=ENABLED,targetCapacity=90}"); !ok {
		t.Fatal(msg)
	}
	if created.CapacityProvider.Name != "cli-pool" || created.CapacityProvider.Status != "ACTIVE" {
		t.Fatalf("created %+v", created)
	}
	var described struct {
		CapacityProviders []struct {
			Name                     string
			AutoScalingGroupProvider struct{ ManagedScaling struct{ TargetCapacity int } }
		}
	}
	if msg, ok := run(&described, "describe-capacity-providers", "--capacity-providers", "cli-pool", "FARGATE"); !ok {
		t.Fatal(msg)
	}
	if len(described.CapacityProviders) != 2 || described.CapacityProviders[0].AutoScalingGroupProvider.ManagedScaling.TargetCapacity != 90 {
		t.Fatalf("described %+v", described)
	}
	if msg, ok := run(nil, "create-capacity-provider", "--name", "ecs-pool", "--auto-scaling-group-provider", "autoScalingGroupArn="+asgARN("y")); ok ||
		!strings.Contains(msg, "InvalidParameterException") {
		t.Fatalf("reserved prefix: ok=%v %s", ok, msg)
	}
	if msg, ok := run(nil, "create-cluster", "--cluster-name", "clicp", "--capacity-providers", "cli-pool",
		"--default-capacity-provider-strategy", "capacityProvider=cli-pool,base=1,weight=1"); !ok {
		t.Fatal(msg)
	}
	if msg, ok := run(nil, "delete-capacity-provider", "--capacity-provider", "cli-pool"); ok || !strings.Contains(msg, "ResourceInUseException") {
		t.Fatalf("delete in use: ok=%v %s", ok, msg)
	}
}

// registerExternal registers an instance as `gantry agent --external` does:
// an identity document whose instance ID has the mi- form.
func registerExternal(t *testing.T, env *apitest.Env, cluster, id string) *simAgent {
	t.Helper()
	a := &simAgent{t: t, c: ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey), cluster: cluster}
	var out ecsapi.RegisterContainerInstanceResponse
	if err := a.c.Call(context.Background(), "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{
		Cluster:                  cluster,
		InstanceIdentityDocument: `{"instanceId":"` + id + `","region":"us-east-1"}`,
		TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 4096},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: 4096}},
		VersionInfo: &ecsapi.VersionInfo{AgentVersion: "gantry-test"},
	}, &out); err != nil {
		t.Fatalf("register external instance: %v", err)
	}
	a.arn = out.ContainerInstance.ContainerInstanceArn
	return a
}

// TestExternalLaunchType: launchType EXTERNAL places only on external
// instances (mi- IDs) and EC2 (or no launch type) never does, a DAEMON
// service of launch type EXTERNAL runs one task on each external instance
// only, and ECS Anywhere's restrictions are refused (awsvpc tasks, load
// balancers).
func TestExternalLaunchType(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ext")}); err != nil {
		t.Fatal(err)
	}
	ext1 := registerExternal(t, env, "ext", "mi-0123456789abcdef0")
	ext2 := registerExternal(t, env, "ext", "mi-0123456789abcdef1")
	ec2 := newSimAgent(t, env, "ext", 4096, 4096)
	external := map[string]bool{ext1.arn: true, ext2.arn: true}
	registerWeb(t, c, "extweb", 64, 0)

	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ext"), TaskDefinition: aws.String("extweb"), LaunchType: "EXTERNAL", Count: aws.Int32(6)})
	if err != nil || len(out.Tasks) != 6 {
		t.Fatalf("EXTERNAL run: %+v, %v", out, err)
	}
	for _, tk := range out.Tasks {
		if !external[aws.ToString(tk.ContainerInstanceArn)] || tk.LaunchType != "EXTERNAL" {
			t.Fatalf("EXTERNAL task on %s (%s)", aws.ToString(tk.ContainerInstanceArn), tk.LaunchType)
		}
	}
	for _, lt := range []types.LaunchType{"EC2", ""} {
		out, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ext"), TaskDefinition: aws.String("extweb"), LaunchType: lt, Count: aws.Int32(6)})
		if err != nil || len(out.Tasks) != 6 {
			t.Fatalf("%q run: %+v, %v", lt, out, err)
		}
		for _, tk := range out.Tasks {
			if aws.ToString(tk.ContainerInstanceArn) != ec2.arn {
				t.Fatalf("%q task on external instance %s", lt, aws.ToString(tk.ContainerInstanceArn))
			}
		}
	}
	// An EC2 task with only external instances that have room fails on
	// the launch type, never lands there.
	big, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ext"), TaskDefinition: aws.String("extweb"), LaunchType: "EC2",
		Overrides: &types.TaskOverride{Memory: aws.String("4000")}})
	if err != nil || len(big.Tasks) != 0 || len(big.Failures) != 3 {
		t.Fatalf("EC2 task too big for the EC2 instance: %+v, %v", big, err)
	}

	// DAEMON on EXTERNAL: one task per external instance, none on EC2.
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("ext"), ServiceName: aws.String("extd"),
		TaskDefinition: aws.String("extweb"), LaunchType: "EXTERNAL", SchedulingStrategy: "DAEMON"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "a daemon task on each external instance", func() error {
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("ext"), ServiceName: aws.String("extd")})
		if err != nil {
			return err
		}
		if len(l.TaskArns) != 2 {
			return fmt.Errorf("%d daemon tasks", len(l.TaskArns))
		}
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("ext"), Tasks: l.TaskArns})
		if err != nil {
			return err
		}
		for _, tk := range d.Tasks {
			if !external[aws.ToString(tk.ContainerInstanceArn)] {
				t.Fatalf("daemon task on %s", aws.ToString(tk.ContainerInstanceArn))
			}
		}
		return nil
	})

	// Restrictions.
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("extvpc"), NetworkMode: "awsvpc",
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("gantry-test/web:1"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ext"), TaskDefinition: aws.String("extvpc"), LaunchType: "EXTERNAL",
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("ext"), ServiceName: aws.String("extlb"),
		TaskDefinition: aws.String("extweb"), LaunchType: "EXTERNAL", DesiredCount: aws.Int32(1),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/x/0123456789abcdef"),
			ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}})
	assertECSError(t, err, "InvalidParameterException")
}
