package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/dockerprov"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestManagedScalingDockerProvisioner: a capacity provider with managed
// scaling, managed termination protection and managed draining, no
// instance at all, and the Docker provisioner (gantry-agent in
// containers) behind `--provisioner http://...`. RunTask of 3 tasks
// answers them waiting in PROVISIONING on no instance; managed scaling
// adds the instances they need (two agents of room for two tasks each)
// and they run. Then the tasks of one instance stop: that idle instance
// goes DRAINING and is removed (deregistered, its container gone), the
// one with a task stays and its task keeps running. Not parallel: it
// builds gantry-agent.
func TestManagedScalingDockerProvisioner(t *testing.T) {
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	ctx := context.Background()
	const agentImage = "gantry-e2e-agent:local"
	if err := dockerprov.BuildAgentImage(ctx, docker, "..", agentImage); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := "e2e-ms-" + hex.EncodeToString(b[:])
	// The hook exists before the server (whose --provisioner names it);
	// the provisioner, which needs the server's URL, after.
	var prov atomic.Pointer[dockerprov.Provisioner]
	var mu sync.Mutex
	var actions []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := prov.Load()
		if p == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		actions = append(actions, r.Method)
		mu.Unlock()
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	env := apitest.Start(t, apitest.Options{Configure: func(c *config.Server) {
		c.Provisioner = hook.URL + "/"
		c.ManagedScalingInterval = 500 * time.Millisecond
		c.ManagedScalingScaleInAfter = 2 * time.Second
	}})
	p := dockerprov.New(dockerprov.Config{Name: run, Image: agentImage, Server: env.URL, Region: apitest.Region,
		AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey, CPU: 1024, MemoryMiB: 1024,
		Args: []string{"--availability-zone", "us-east-1a", "--metrics-interval", "0s", "--task-cleanup-wait", "1s"}, StopTimeout: 5 * time.Second},
		docker, apitest.Logger())
	prov.Store(p)
	seen := map[string]bool{} // ec2InstanceIds of the agents, whose task containers the cleanup removes
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = p.RemoveAll(cctx)
		for id := range seen {
			_ = testutil.RemoveLabelled(cctx, docker, "dev.gantry.instance="+id)
		}
	})
	c := env.Client
	const cluster, provider = "e2e-ms", "e2e-ms-asg"
	if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String(provider),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{
			AutoScalingGroupArn: aws.String("arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:8e1f0b39-0000-4000-8000-000000000001:autoScalingGroupName/" + provider),
			ManagedScaling: &types.ManagedScaling{Status: types.ManagedScalingStatusEnabled, TargetCapacity: aws.Int32(100),
				MinimumScalingStepSize: aws.Int32(1), MaximumScalingStepSize: aws.Int32(10), InstanceWarmupPeriod: aws.Int32(30)},
			ManagedTerminationProtection: types.ManagedTerminationProtectionEnabled,
			ManagedDraining:              types.ManagedDrainingEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster), CapacityProviders: []string{provider},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String(provider), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("e2e-ms"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(image), Cpu: 512, Memory: aws.Int32(256), Essential: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, Count: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 3 || len(out.Failures) != 0 {
		t.Fatalf("RunTask: %d tasks, failures %+v; want 3 waiting tasks", len(out.Tasks), out.Failures)
	}
	var arns []string
	for _, tk := range out.Tasks {
		if aws.ToString(tk.LastStatus) != "PROVISIONING" || aws.ToString(tk.ContainerInstanceArn) != "" || aws.ToString(tk.CapacityProviderName) != provider {
			t.Fatalf("task %s: lastStatus %s on %q of %q; want PROVISIONING on no instance of %s", aws.ToString(tk.TaskArn),
				aws.ToString(tk.LastStatus), aws.ToString(tk.ContainerInstanceArn), aws.ToString(tk.CapacityProviderName), provider)
		}
		arns = append(arns, aws.ToString(tk.TaskArn))
	}
	onInstance := map[string][]string{} // instance ARN -> its tasks
	testutil.WaitFor(t, 90*time.Second, "the waiting tasks RUNNING on added instances", func() error {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
		if err != nil {
			return err
		}
		clear(onInstance)
		for _, tk := range d.Tasks {
			if aws.ToString(tk.LastStatus) != "RUNNING" {
				return fmt.Errorf("task %s is %s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus))
			}
			in := aws.ToString(tk.ContainerInstanceArn)
			onInstance[in] = append(onInstance[in], aws.ToString(tk.TaskArn))
		}
		return nil
	})
	insts := describeInstances(t, c, cluster, seen)
	if len(insts) != 2 {
		t.Fatalf("%d instances after scale-out, want 2 (3 tasks, room for 2 on each)", len(insts))
	}
	agents, err := p.Agents(ctx, cluster, provider)
	if err != nil || len(agents) != 2 {
		t.Fatalf("agent containers %v (%v), want 2", agents, err)
	}
	// Stop the tasks of the instance with the fewest: it goes idle.
	var idle, busy string
	for in, ts := range onInstance {
		if idle == "" || len(ts) < len(onInstance[idle]) {
			idle = in
		}
	}
	for in := range onInstance {
		if in != idle {
			busy = in
		}
	}
	if busy == "" {
		t.Fatalf("all tasks on one instance: %v", onInstance)
	}
	for _, arn := range onInstance[idle] {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "the idle instance removed", func() error {
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{idle, busy}})
		if err != nil {
			return err
		}
		for _, ci := range d.ContainerInstances {
			st := aws.ToString(ci.Status)
			switch aws.ToString(ci.ContainerInstanceArn) {
			case busy:
				if st != "ACTIVE" {
					t.Fatalf("the instance with tasks is %s", st)
				}
			case idle:
				if st != "INACTIVE" {
					return fmt.Errorf("idle instance is %s", st)
				}
			}
		}
		return nil
	})
	agents, err = p.Agents(ctx, cluster, provider)
	if err != nil || len(agents) != 1 {
		t.Fatalf("agent containers %v (%v) after scale-in, want 1", agents, err)
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: onInstance[busy]})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range d.Tasks {
		if aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(tk.DesiredStatus) != "RUNNING" {
			t.Fatalf("task %s of the kept instance is %s/%s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus))
		}
	}
}

// describeInstances returns the cluster's ACTIVE instances, noting their
// ec2InstanceIds in seen.
func describeInstances(t *testing.T, c *ecs.Client, cluster string, seen map[string]bool) []types.ContainerInstance {
	t.Helper()
	ctx := context.Background()
	l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.ContainerInstanceArns) == 0 {
		return nil
	}
	d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: l.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range d.ContainerInstances {
		seen[aws.ToString(ci.Ec2InstanceId)] = true
	}
	return d.ContainerInstances
}
