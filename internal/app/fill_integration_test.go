package app_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// TestTwoServersFillAClusterTogether: 32 callers split over two servers on
// one etcd fill a cluster of 300 instances to the last task (6,000, in
// calls of 10, 6,400 asked): placements conflict between the servers all
// the time and are retried, yet every task that fits is placed, none more,
// and no call fails.
func TestTwoServersFillAClusterTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	urls := serversOnOneEtcd(t, 2)
	c0 := apitest.NewClient(urls[0])
	if _, err := c0.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("st")}); err != nil {
		t.Fatal(err)
	}
	raw := ecsclient.New(urls[1], apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	var arns []string
	for i := 0; i < 300; i++ {
		var out ecsapi.RegisterContainerInstanceResponse
		if err := raw.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "st",
			TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 4096}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 2000}}}, &out); err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.ContainerInstance.ContainerInstanceArn)
	}
	// The instances' agents stay connected as real ones do, with a
	// heartbeat every 2 s: placement refuses an instance whose agent has
	// been silent for the agent TTL (AGENT), which a slow run (-race on a
	// busy machine) would otherwise outlast.
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	var hb sync.WaitGroup
	defer func() { stopHeartbeats(); hb.Wait() }()
	// Real agents beat independently: ten heartbeat loops of 30
	// instances each, so one slow round under the placement load does not
	// hold back every instance's heartbeat.
	for group := range slices.Chunk(arns, 30) {
		hb.Go(func() {
			for {
				for _, a := range group {
					var out ecsapi.GantryPollTasksResponse
					_ = raw.Call(hbCtx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "st", ContainerInstance: a, OmitTasks: true}, &out)
				}
				select {
				case <-hbCtx.Done():
					return
				case <-time.After(2 * time.Second):
				}
			}
		})
	}
	if _, err := c0.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("m"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("b"), Memory: aws.Int32(100)}}}); err != nil {
		t.Fatal(err)
	}
	var placed, errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		c := apitest.NewClient(urls[w%2])
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("st"), TaskDefinition: aws.String("m"), Count: aws.Int32(10)})
				if err != nil {
					errs.Add(1)
					t.Log(err)
					continue
				}
				placed.Add(int64(len(out.Tasks)))
			}
		})
	}
	wg.Wait()
	t.Logf("placed %d in %v, errors %d", placed.Load(), time.Since(start), errs.Load())
	if placed.Load() != 6000 || errs.Load() != 0 {
		t.Fatalf("placed %d tasks with %d failed calls; want 6000 (the capacity) and none", placed.Load(), errs.Load())
	}
	var all []string
	var tok *string
	for {
		l, err := c0.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("st"), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l.ContainerInstanceArns...)
		if l.NextToken == nil {
			break
		}
		tok = l.NextToken
	}
	total := 0
	for i := 0; i < len(all); i += 100 {
		d, err := c0.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("st"), ContainerInstances: all[i:min(i+100, len(all))]})
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range d.ContainerInstances {
			total += int(ci.PendingTasksCount)
			if ci.PendingTasksCount > 20 {
				t.Errorf("instance %s over-committed: %d tasks of 100 MiB on 2000 MiB", aws.ToString(ci.ContainerInstanceArn), ci.PendingTasksCount)
			}
		}
	}
	if len(all) != 300 || total != 6000 {
		t.Fatalf("%d instances holding %d tasks; want 300 holding 6000", len(all), total)
	}
}
