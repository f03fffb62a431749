package app_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
	"github.com/gantry-dev/gantry/internal/etcdembed"
)

// TestTwoServersShareAnExternalEtcd: with --etcd-endpoints, several servers
// serve the same data, and concurrent writers through both lose nothing.
func TestTwoServersShareAnExternalEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	var clients []*ecs.Client
	for _, u := range serversOnOneEtcd(t, 2) {
		clients = append(clients, apitest.NewClient(u))
	}
	if _, err := clients[0].CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	out, err := clients[1].DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"shared"}})
	if err != nil || len(out.Clusters) != 1 {
		t.Fatalf("the second server does not see the first one's cluster: %v %+v", err, out)
	}
	// Revisions registered through both servers at once: 1..20, no gaps.
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		c := clients[i%2]
		go func() {
			_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("both"),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("b"), Memory: aws.Int32(8)}}})
			errs <- err
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	list, err := clients[1].ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("both")})
	if err != nil || len(list.TaskDefinitionArns) != 20 {
		t.Fatalf("%v %d revisions", err, len(list.TaskDefinitionArns))
	}
	d, err := clients[0].DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("both")})
	if err != nil || d.TaskDefinition.Revision != 20 {
		t.Fatalf("latest revision: %v", err)
	}
}

// TestTwoServersNeverOvercommit: RunTask calls through two servers at once,
// each placing from its own view, never put more on an instance than it
// has: the commit guard of one fails and it places again.
func TestTwoServersNeverOvercommit(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	urls := serversOnOneEtcd(t, 2)
	c0 := apitest.NewClient(urls[0])
	if _, err := c0.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("oc")}); err != nil {
		t.Fatal(err)
	}
	raw := ecsclient.New(urls[1], apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	for i := 0; i < 3; i++ {
		var out ecsapi.RegisterContainerInstanceResponse
		if err := raw.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "oc",
			TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 4096}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1000}}}, &out); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c0.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("m"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("b"), Memory: aws.Int32(100)}}}); err != nil {
		t.Fatal(err)
	}
	placed := make(chan int, 40)
	for i := 0; i < 40; i++ {
		c := apitest.NewClient(urls[i%2])
		go func() {
			out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("oc"), TaskDefinition: aws.String("m"), Count: aws.Int32(2)})
			if err != nil {
				t.Error(err)
				placed <- 0
				return
			}
			placed <- len(out.Tasks)
		}()
	}
	total := 0
	for i := 0; i < 40; i++ {
		total += <-placed
	}
	if total != 30 {
		t.Fatalf("placed %d tasks on 3 instances of 10 tasks each", total)
	}
	list, _ := c0.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("oc")})
	for _, u := range urls {
		d, err := apitest.NewClient(u).DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("oc"), ContainerInstances: list.ContainerInstanceArns})
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range d.ContainerInstances {
			if ci.PendingTasksCount != 10 {
				t.Errorf("server %s: instance holds %d tasks", u, ci.PendingTasksCount)
			}
		}
	}
}

// serversOnOneEtcd starts an etcd member and n servers using it as an
// external cluster, all stopped when t ends, and returns their URLs.
func serversOnOneEtcd(t *testing.T, n int) []string {
	t.Helper()
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	var urls []string
	for i := 0; i < n; i++ {
		cfg := config.DefaultServer()
		cfg.Listen = "127.0.0.1:0"
		cfg.DataDir = t.TempDir() // each server's own log store
		cfg.EtcdEndpoints = []string{etcd.ClientURL}
		cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
		srv, err := app.StartServer(ctx, cfg, apitest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, srv.URL)
	}
	return urls
}
