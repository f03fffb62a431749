package apiserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Slow clients hold no connection past the phase they are in: a body sent
// a byte at a time is cut after the body timeout, headers sent slowly after
// the header timeout, while signed calls keep their latency and a long poll
// still waits longer than both timeouts.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	const bodyTimeout, headerTimeout = time.Second, time.Second
	env := apitest.Start(t, apitest.Options{Configure: func(c *config.Server) {
		c.BodyTimeout, c.HeaderTimeout, c.WriteTimeout = bodyTimeout, headerTimeout, time.Second
	}})
	ctx := context.Background()
	addr := strings.TrimPrefix(env.URL, "http://")

	// Baseline latency of a normal call.
	baseline := maxLatency(t, env.Client, 10)

	const slow = 100
	closedAfter := make(chan time.Duration, slow+1)
	var wg sync.WaitGroup
	for i := range slow + 1 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			done := make(chan struct{})
			go func() {
				// Trickle: the body (or, for the last one, the headers)
				// a byte every 100 ms, until the server hangs up.
				defer close(done)
				var msg string
				if i < slow {
					_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-amz-json-1.1\r\n"+
						"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Length: 100000\r\n\r\n")
					msg = strings.Repeat(" ", 100000)
				} else {
					msg = "POST / HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("x", 1000)
				}
				for j := 0; j < len(msg); j++ {
					if _, err := io.WriteString(conn, msg[j:j+1]); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
					if time.Since(start) > 10*time.Second {
						return
					}
				}
			}()
			// Read until the server closes the connection (an answer may
			// come first).
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
			closedAfter <- time.Since(start)
			conn.Close()
			<-done
		}()
	}
	// Normal calls meanwhile.
	during := maxLatency(t, env.Client, 20)
	wg.Wait()
	close(closedAfter)
	for d := range closedAfter {
		if d > bodyTimeout+2*time.Second {
			t.Errorf("a slow connection was closed after %v (timeouts %v, %v)", d, bodyTimeout, headerTimeout)
		}
	}
	if during > 10*baseline+200*time.Millisecond {
		t.Errorf("calls beside %d slow connections took up to %v, %v alone", slow, during, baseline)
	}
	if _, err := env.Client.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatal(err)
	}

	// A long poll waits past the body and write timeouts.
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{}); err != nil {
		t.Fatal(err)
	}
	c := ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	var reg ecsapi.RegisterContainerInstanceResponse
	if err := c.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{TotalResources: []ecsapi.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}}}, &reg); err != nil {
		t.Fatal(err)
	}
	var first ecsapi.GantryPollTasksResponse
	if err := c.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{ContainerInstance: reg.ContainerInstance.ContainerInstanceArn}, &first); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var second ecsapi.GantryPollTasksResponse
	if err := c.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{ContainerInstance: reg.ContainerInstance.ContainerInstanceArn,
		Revision: first.Revision, WaitSeconds: 3}, &second); err != nil {
		t.Fatalf("long poll: %v", err)
	}
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Fatalf("the long poll answered after %v, want about 3s", d)
	}
}

func maxLatency(t *testing.T, c *ecs.Client, n int) time.Duration {
	t.Helper()
	var worst time.Duration
	for range n {
		start := time.Now()
		if _, err := c.ListClusters(context.Background(), &ecs.ListClustersInput{}); err != nil {
			t.Fatal(fmt.Errorf("ListClusters: %w", err))
		}
		worst = max(worst, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	return worst
}
