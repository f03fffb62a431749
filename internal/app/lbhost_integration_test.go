package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/etcdembed"
)

// TestDedicatedDataPlanes runs two `gantry lb` data planes (app.StartLB,
// as the command does) beside a server that serves no listener itself
// (--lb-data-plane=false), all on one etcd: both serve the load
// balancer's listener (each on an address of its own, --bind-address),
// a ModifyListener applies on both within a second without closing a
// kept-alive client connection, both data planes' health reports make the
// targets healthy in DescribeTargetHealth, their metrics reach the
// server's CloudWatch, and a data plane that stops withdraws its reports
// while the other serves on.
func TestDedicatedDataPlanes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	cfg := config.DefaultServer()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.EtcdEndpoints = []string{etcd.ClientURL}
	cfg.LBDataPlane = false
	cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
	srv, err := app.StartServer(ctx, cfg, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	var hosts []*app.LBHost
	addrs := []string{"127.0.0.2", "127.0.0.3"}
	for i, a := range addrs {
		lcfg := config.DefaultLB()
		lcfg.EtcdEndpoints = []string{etcd.ClientURL}
		lcfg.BindAddress = a
		lcfg.MetricsPeriod = time.Second
		lcfg.Name = fmt.Sprintf("lb%d", i)
		h, err := app.StartLB(ctx, lcfg, apitest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		hosts = append(hosts, h)
	}

	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	c := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds})
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds})
	var ports []int32
	for _, name := range []string{"one", "two"} {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(b.Close)
		_, p, _ := net.SplitHostPort(b.Listener.Addr().String())
		n, _ := strconv.Atoi(p)
		ports = append(ports, int32(n))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	lbo, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("shared"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	tgArn := tg.TargetGroups[0].TargetGroupArn
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgArn, Targets: []types.TargetDescription{
		{Id: aws.String("127.0.0.1"), Port: aws.Int32(ports[0])}, {Id: aws.String("127.0.0.1"), Port: aws.Int32(ports[1])}}}); err != nil {
		t.Fatal(err)
	}
	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lbo.LoadBalancers[0].LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgArn}}})
	if err != nil {
		t.Fatal(err)
	}
	listenerArn := l.Listeners[0].ListenerArn

	// One kept-alive client per data plane; reused records whether a
	// request went on a connection opened before.
	type client struct {
		url string
		hc  *http.Client
	}
	var clients []client
	for _, a := range addrs {
		clients = append(clients, client{url: fmt.Sprintf("http://%s:%d/", a, port),
			hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}})
	}
	get := func(cl client) (body string, reused bool, err error) {
		req, _ := http.NewRequest(http.MethodGet, cl.url, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := cl.hc.Do(req)
		if err != nil {
			return "", false, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), reused, err
	}
	// Each data plane binds the listener on its address and reaches both
	// targets (fail-open until they are healthy).
	for i, cl := range clients {
		seen := map[string]bool{}
		for deadline := time.Now().Add(10 * time.Second); len(seen) < 2 && time.Now().Before(deadline); {
			if body, _, err := get(cl); err == nil {
				seen[body] = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !seen["one"] || !seen["two"] {
			t.Fatalf("data plane %d (%s) reached %v, want both targets", i, cl.url, seen)
		}
		if got := hosts[i].Addr(*listenerArn); got != net.JoinHostPort(addrs[i], fmt.Sprint(port)) {
			t.Errorf("data plane %d bound %q", i, got)
		}
	}

	// A configuration change applies on both within a second, on the
	// connections the clients already hold.
	start := time.Now()
	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: listenerArn,
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("200"), ContentType: aws.String("text/plain"), MessageBody: aws.String("changed")}}}}); err != nil {
		t.Fatal(err)
	}
	for i, cl := range clients {
		for {
			body, reused, err := get(cl)
			if err != nil {
				t.Fatalf("data plane %d during the change: %v", i, err)
			}
			if !reused {
				t.Errorf("data plane %d: the kept-alive connection was not reused across the change", i)
			}
			if body == "changed" {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("data plane %d still answers %q %v after the change", i, body, time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("the change applied on both data planes within %v", time.Since(start))
	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: listenerArn,
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgArn}}}); err != nil {
		t.Fatal(err)
	}

	// Both report health; the targets turn healthy (two checks 5 s apart).
	healthy := func() int {
		out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgArn})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth.State == types.TargetHealthStateEnumHealthy {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); healthy() != 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("targets never healthy")
		}
	}

	// The data planes' metrics reach the server: RequestCount of the load
	// balancer counts the requests served through both addresses.
	for _, cl := range clients {
		for range 5 {
			if _, _, err := get(cl); err != nil {
				t.Fatal(err)
			}
		}
	}
	dim := *lbo.LoadBalancers[0].LoadBalancerArn
	dim = dim[len("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/"):]
	var sum float64
	for deadline := time.Now().Add(10 * time.Second); sum < 10; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("RequestCount on the server: %v, want at least 10", sum)
		}
		now := time.Now()
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/ApplicationELB"),
			MetricName: aws.String("RequestCount"), Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(dim)}},
			StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)), Period: aws.Int32(3600),
			Statistics: []cwtypes.Statistic{cwtypes.StatisticSum}})
		if err != nil {
			t.Fatal(err)
		}
		sum = 0
		for _, d := range out.Datapoints {
			sum += aws.ToFloat64(d.Sum)
		}
	}

	// One data plane stops: its listener closes, the other serves on and
	// the targets stay healthy by its reports.
	if err := hosts[0].Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(client{url: clients[0].url, hc: &http.Client{Timeout: time.Second}}); err == nil {
		t.Error("the stopped data plane still answers")
	}
	if body, _, err := get(clients[1]); err != nil || (body != "one" && body != "two") {
		t.Errorf("the other data plane: %q %v", body, err)
	}
	if n := healthy(); n != 2 {
		t.Errorf("%d targets healthy after one data plane stopped, want 2", n)
	}
}
