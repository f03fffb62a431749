package lb

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// metricSink records published metrics.
type metricSink struct {
	mu   sync.Mutex
	data map[string][]lbconf.Metric // by namespace
}

func (s *metricSink) PublishMetrics(_ context.Context, ns string, data []lbconf.Metric) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		s.data = make(map[string][]lbconf.Metric)
	}
	s.data[ns] = append(s.data[ns], data...)
	return nil
}

// dimsKey is a metric's dimensions as "Name=Value,..." in their order.
func dimsKey(ds []lbconf.Dimension) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Name+"="+d.Value)
	}
	return strings.Join(parts, ",")
}

// sum adds up a metric's datapoints (Sum, or values times counts) with
// exactly these dimensions; n is how many datapoints there were.
func (s *metricSink) sum(ns, name, dims string) (total float64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.data[ns] {
		if m.Name != name || dimsKey(m.Dimensions) != dims {
			continue
		}
		n++
		if len(m.Values) > 0 {
			for i, v := range m.Values {
				total += v * m.Counts[i]
			}
			continue
		}
		total += m.Sum
	}
	return total, n
}

// count adds up the counts of a histogram metric.
func (s *metricSink) count(ns, name, dims string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total float64
	for _, m := range s.data[ns] {
		if m.Name == name && dimsKey(m.Dimensions) == dims {
			for _, c := range m.Counts {
				total += c
			}
		}
	}
	return total
}

// last is the latest datapoint of a metric with these dimensions.
func (s *metricSink) last(ns, name, dims string) (lbconf.Metric, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.data[ns]) - 1; i >= 0; i-- {
		if m := s.data[ns][i]; m.Name == name && dimsKey(m.Dimensions) == dims {
			return m, true
		}
	}
	return lbconf.Metric{}, false
}

func waitMetric(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	testLBArn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
	testTGArn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"
	testLBDim = "LoadBalancer=app/web/50dc6c495c0c9188"
	testTGDim = "TargetGroup=targetgroup/web/73e2d6bc24d8a067"
)

// TestApplicationMetrics sends requests through an application load
// balancer and reads back what it published, as Elastic Load Balancing
// names and dimensions its metrics: RequestCount per load balancer and
// per target group, RequestCountPerTarget (per healthy target), the
// targets' codes, TargetResponseTime (histogram values), healthy host
// counts, the answers the load balancer wrote itself (fixed-response,
// redirect, 503 with no target) and connections.
func TestApplicationMetrics(t *testing.T) {
	t.Parallel()
	a, b := startBackend(t, "a"), startBackend(t, "b")
	ls := lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd(testTGArn), Rules: []lbconf.Rule{
		{Arn: "r1", Priority: 1, Conditions: []lbconf.Condition{{Field: "path-pattern", Values: []string{"/fixed"}}},
			Actions: []lbconf.Action{{Type: lbconf.ActionFixedResponse, FixedResponse: &lbconf.FixedResponse{StatusCode: 404}}}},
		{Arn: "r2", Priority: 2, Conditions: []lbconf.Condition{{Field: "path-pattern", Values: []string{"/moved"}}},
			Actions: []lbconf.Action{{Type: lbconf.ActionRedirect, Redirect: &lbconf.Redirect{Path: "/elsewhere", StatusCode: 301}}}},
		{Arn: "r3", Priority: 3, Conditions: []lbconf.Condition{{Field: "path-pattern", Values: []string{"/empty"}}},
			Actions: fwd("empty")},
	}}
	lb := appLB(ls)
	lb.Arn = testLBArn
	sink := &metricSink{}
	h := startWith(t, snapshot(1, []lbconf.LoadBalancer{lb}, tg(testTGArn, a.target(), b.target()), tg("empty")),
		Options{Metrics: sink, MetricsPeriod: 100 * time.Millisecond})
	h.waitHealthy(a.target(), b.target())
	url := h.url("l1")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	codes := map[string]int{}
	for i := range 40 {
		path := "/"
		switch i % 10 {
		case 7:
			path = "/fixed"
		case 8:
			path = "/moved"
		case 9:
			path = "/empty"
		}
		resp, err := client.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[path+" "+fmt.Sprint(resp.StatusCode)]++
	}
	// A request with a body goes through net/http's proxy: counted too.
	resp, err := client.Post(url+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if codes["/ 200"] != 28 || codes["/fixed 404"] != 4 || codes["/moved 301"] != 4 || codes["/empty 503"] != 4 {
		t.Fatalf("answers %v", codes)
	}
	ns := lbconf.NamespaceApplication
	both := testTGDim + "," + testLBDim
	waitMetric(t, "RequestCount", func() error {
		if v, _ := sink.sum(ns, "RequestCount", testLBDim); v != 29 {
			return fmt.Errorf("RequestCount (LoadBalancer) %v, want 29 (forwarded to a target only)", v)
		}
		return nil
	})
	checks := []struct {
		name, dims string
		want       float64
	}{
		{"RequestCount", both, 29},
		{"HTTPCode_Target_2XX_Count", testLBDim, 29},
		{"HTTPCode_Target_2XX_Count", both, 29},
		{"RequestCountPerTarget", testTGDim, 14.5},
		{"RequestCountPerTarget", both, 14.5},
		{"HTTPCode_ELB_4XX_Count", testLBDim, 4},
		{"HTTPCode_ELB_3XX_Count", testLBDim, 4},
		{"HTTPCode_ELB_5XX_Count", testLBDim, 4},
		{"HTTPCode_ELB_503_Count", testLBDim, 4},
		{"HTTP_Fixed_Response_Count", testLBDim, 4},
		{"HTTP_Redirect_Count", testLBDim, 4},
		{"NewConnectionCount", testLBDim, 1}, // one keep-alive connection: the POST goes over it too (handed to net/http)
	}
	for _, c := range checks {
		waitMetric(t, c.name+" "+c.dims, func() error {
			if v, _ := sink.sum(ns, c.name, c.dims); math.Abs(v-c.want) > 1e-9 {
				return fmt.Errorf("%v, want %v", v, c.want)
			}
			return nil
		})
	}
	for _, absent := range []string{"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_502_Count"} {
		if _, n := sink.sum(ns, absent, testLBDim); n != 0 {
			t.Errorf("%s published with no such answer", absent)
		}
	}
	if n := sink.count(ns, "TargetResponseTime", both); n != 29 {
		t.Errorf("TargetResponseTime counts %v, want 29", n)
	}
	rt, ok := sink.last(ns, "TargetResponseTime", testLBDim)
	if !ok || rt.Unit != "Seconds" || !slices.IsSorted(rt.Values) || rt.Values[0] <= 0 || rt.Values[len(rt.Values)-1] > 5 {
		t.Errorf("TargetResponseTime %+v", rt)
	}
	// Host counts come every period, with or without requests.
	for _, name := range []string{"HealthyHostCount", "UnHealthyHostCount"} {
		want := map[string]float64{"HealthyHostCount": 2, "UnHealthyHostCount": 0}[name]
		waitMetric(t, name, func() error {
			m, ok := sink.last(ns, name, both)
			if !ok || m.Sum != want || m.Unit != "Count" {
				return fmt.Errorf("%+v", m)
			}
			return nil
		})
	}
	// A target going unhealthy shows in the next periods.
	b.health.Store(http.StatusInternalServerError)
	h.waitState(lbconf.StateUnhealthy, b.target())
	waitMetric(t, "one unhealthy host", func() error {
		if m, _ := sink.last(ns, "UnHealthyHostCount", both); m.Sum != 1 {
			return fmt.Errorf("UnHealthyHostCount %v", m.Sum)
		}
		if m, _ := sink.last(ns, "HealthyHostCount", both); m.Sum != 1 {
			return fmt.Errorf("HealthyHostCount %v", m.Sum)
		}
		return nil
	})
	// Every datapoint is within its namespace's rules: at most 150 values.
	sink.mu.Lock()
	for _, m := range sink.data[ns] {
		if len(m.Values) > 150 || len(m.Values) != len(m.Counts) || m.Timestamp.IsZero() {
			t.Errorf("datapoint %+v", m)
		}
	}
	sink.mu.Unlock()
}

// TestNetworkMetrics passes connections through a network load balancer
// and reads back AWS/NetworkELB's NewFlowCount, ProcessedBytes and host
// counts, with net/NAME/ID as the LoadBalancer dimension.
func TestNetworkMetrics(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	target := lbconf.Target{ID: "echo", Port: echo.Addr().(*net.TCPAddr).Port, Host: "127.0.0.1"}
	tgArn := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tcp/0123456789abcdef"
	g := tg(tgArn, target)
	g.Protocol = lbconf.ProtocolTCP
	g.HealthCheck.Protocol = lbconf.ProtocolTCP
	nlb := lbconf.LoadBalancer{Arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/tcp/fedcba9876543210",
		Name: "tcp", Type: lbconf.TypeNetwork, Address: "127.0.0.1",
		Listeners: []lbconf.Listener{{Arn: "t1", Protocol: lbconf.ProtocolTCP, DefaultActions: fwd(tgArn)}}}
	sink := &metricSink{}
	h := startWith(t, snapshot(1, []lbconf.LoadBalancer{nlb}, g), Options{Metrics: sink, MetricsPeriod: 100 * time.Millisecond})
	h.waitHealthy(target)
	for range 3 {
		c, err := net.Dial("tcp", h.lb.Addr("t1"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("0123456789"))
		_ = c.(*net.TCPConn).CloseWrite()
		got, _ := io.ReadAll(c)
		c.Close()
		if string(got) != "0123456789" {
			t.Fatalf("echo %q", got)
		}
	}
	ns, lbDim := lbconf.NamespaceNetwork, "LoadBalancer=net/tcp/fedcba9876543210"
	waitMetric(t, "flows and bytes", func() error {
		if v, _ := sink.sum(ns, "NewFlowCount", lbDim); v != 3 {
			return fmt.Errorf("NewFlowCount %v", v)
		}
		if v, _ := sink.sum(ns, "ProcessedBytes", lbDim); v != 60 {
			return fmt.Errorf("ProcessedBytes %v, want 60 (10 bytes each way, 3 flows)", v)
		}
		if m, ok := sink.last(ns, "HealthyHostCount", "TargetGroup=targetgroup/tcp/0123456789abcdef,"+lbDim); !ok || m.Sum != 1 {
			return fmt.Errorf("HealthyHostCount %+v", m)
		}
		return nil
	})
	if _, n := sink.sum(lbconf.NamespaceApplication, "RequestCount", lbDim); n != 0 {
		t.Error("a network load balancer published application metrics")
	}
}

// TestResponseTimeBuckets checks the histogram's buckets: each value
// stands within 5% of the times it holds, and the extremes are clamped.
func TestResponseTimeBuckets(t *testing.T) {
	for _, s := range []float64{0.00012, 0.001, 0.0137, 0.25, 1, 7.5, 60} {
		v := rtValue(rtBucket(s))
		if math.Abs(v-s)/s > 0.05 {
			t.Errorf("%v s is counted as %v s", s, v)
		}
	}
	if rtBucket(0) != 0 || rtBucket(-1) != 0 || rtBucket(math.NaN()) != 0 || rtBucket(1e9) != rtBuckets-1 {
		t.Error("extremes not clamped")
	}
	if rtBuckets > 150 {
		t.Error("more buckets than PutMetricData takes values")
	}
}
