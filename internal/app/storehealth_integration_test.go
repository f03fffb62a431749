package app_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
	"github.com/gantry-dev/gantry/internal/etcdembed"
)

// partitionProxy forwards TCP connections to a Unix socket (an embedded
// etcd member's) until cut: then it forwards nothing, in either
// direction, and leaves connections open, as a network partition does,
// until healed.
type partitionProxy struct {
	ln     net.Listener
	target string

	mu   sync.Mutex
	cut  bool
	heal chan struct{}
}

func startPartitionProxy(t *testing.T, unixPath string) *partitionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{ln: ln, target: unixPath, heal: make(chan struct{})}
	close(p.heal)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *partitionProxy) gate() {
	p.mu.Lock()
	h := p.heal
	p.mu.Unlock()
	<-h
}

func (p *partitionProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cut == p.cut {
		return
	}
	p.cut = cut
	if cut {
		p.heal = make(chan struct{})
	} else {
		close(p.heal)
	}
}

func (p *partitionProxy) serve(c net.Conn) {
	defer c.Close()
	p.gate()
	u, err := net.Dial("unix", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(u, c)
	pipe(c, u)
}

// TestAgentCallsFailFastWhenEtcdIsLost: a server cut off from its etcd
// (still up, its agents still reach it) ends a held agent poll with 503
// ServerException within about two seconds, answers agents' calls 503 at
// once while cut off, and serves them again once etcd answers.
func TestAgentCallsFailFastWhenEtcdIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	proxy := startPartitionProxy(t, strings.TrimPrefix(etcd.ClientURL, "unix://"))
	cfg := config.DefaultServer()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.EtcdEndpoints = []string{"http://" + proxy.ln.Addr().String()}
	cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
	srv, err := app.StartServer(ctx, cfg, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	if _, err := apitest.NewClient(srv.URL).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cut")}); err != nil {
		t.Fatal(err)
	}
	raw := ecsclient.New(srv.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	var reg ecsapi.RegisterContainerInstanceResponse
	if err := raw.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "cut",
		TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}}}, &reg); err != nil {
		t.Fatal(err)
	}
	ci := reg.ContainerInstance.ContainerInstanceArn
	poll := func(ctx context.Context, rev int64, wait int32) (ecsapi.GantryPollTasksResponse, error) {
		var out ecsapi.GantryPollTasksResponse
		err := raw.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "cut", ContainerInstance: ci,
			Session: "s1", Revision: rev, WaitSeconds: wait}, &out)
		return out, err
	}
	first, err := poll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	is503 := func(err error) bool {
		var e *ecsclient.Error
		return errors.As(err, &e) && e.Status == 503 && e.Code == "ServerException"
	}

	// A held poll (it would wait up to MaxPollWait), then the cut.
	held := make(chan error, 1)
	go func() {
		_, err := poll(ctx, first.Revision, 20)
		held <- err
	}()
	time.Sleep(300 * time.Millisecond)
	proxy.setCut(true)
	cutAt := time.Now()
	select {
	case err := <-held:
		if !is503(err) {
			t.Fatalf("the held poll ended with %v, want 503 ServerException", err)
		}
		if d := time.Since(cutAt); d > 3*time.Second {
			t.Fatalf("the held poll ended %v after the cut, want about 2 s", d)
		}
		t.Logf("held poll ended with 503 %v after the cut", time.Since(cutAt).Round(10*time.Millisecond))
	case <-time.After(8 * time.Second):
		t.Fatal("the held poll did not end within 8 s of the cut")
	}
	// New agent calls: 503 at once.
	for _, op := range []string{"GantryPollTasks", "DiscoverPollEndpoint", "GantrySubmitTaskState"} {
		start := time.Now()
		var in any = &ecsapi.GantryPollTasksRequest{Cluster: "cut", ContainerInstance: ci, Session: "s1"}
		switch op {
		case "DiscoverPollEndpoint":
			in = &ecsapi.DiscoverPollEndpointRequest{Cluster: "cut", ContainerInstance: ci}
		case "GantrySubmitTaskState":
			in = map[string]any{"cluster": "cut"}
		}
		err := raw.Call(ctx, op, in, nil)
		if !is503(err) {
			t.Fatalf("%s while cut off: %v, want 503 ServerException", op, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("%s while cut off took %v, want an answer at once", op, d)
		}
	}

	// Healed: agents are served again.
	proxy.setCut(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := poll(cctx, 0, 0)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents are not served 15 s after etcd is back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
