package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestELBv2ListenerServesThroughTheServer drives the ELBv2 API of a real
// server with the AWS SDK: a load balancer, a target group of two
// backends, a listener with a path rule; the server's data plane answers
// on the listener's port, the targets become healthy in
// DescribeTargetHealth, a fixed-response rule answers, and a
// deregistered target takes no new request.
func TestELBv2ListenerServesThroughTheServer(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{LBDataPlane: true})
	c := elbv2.New(elbv2.Options{
		Region: apitest.Region, BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
	})
	ctx := context.Background()
	var ports []int32
	for _, name := range []string{"one", "two"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
		n, _ := strconv.Atoi(p)
		ports = append(ports, int32(n))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2), HealthCheckPath: aws.String("/health")})
	if err != nil {
		t.Fatal(err)
	}
	tgArn := tg.TargetGroups[0].TargetGroupArn
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgArn, Targets: []types.TargetDescription{
		{Id: aws.String("127.0.0.1"), Port: aws.Int32(ports[0])}, {Id: aws.String("127.0.0.1"), Port: aws.Int32(ports[1])}}}); err != nil {
		t.Fatal(err)
	}
	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgArn}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/maintenance*"}}}},
		Actions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("503"), ContentType: aws.String("text/plain"), MessageBody: aws.String("back soon")}}}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string) (int, string, error) {
		resp, err := http.Get(url + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	// The data plane binds the listener within a second or two of the API
	// call; until the targets are healthy it routes to both (fail-open).
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		if code, body, err := get("/"); err == nil && code == 200 {
			seen[body] = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !seen["one"] || !seen["two"] {
		t.Fatalf("through the listener reached %v, want both targets", seen)
	}
	// The rule was created after the listener: it may reach the data plane
	// in a later snapshot, within a second of the call.
	var code int
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body, err = get("/maintenance/x")
		if (err == nil && code == 503 && body == "back soon") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || code != 503 || body != "back soon" {
		t.Errorf("fixed-response rule: %d %q %v", code, body, err)
	}
	// The health checks (the backends answer 200 on /health) make both
	// healthy: two checks 5 s apart.
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgArn})
		if err != nil {
			t.Fatal(err)
		}
		healthy := 0
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth.State == types.TargetHealthStateEnumHealthy {
				healthy++
			}
		}
		if healthy == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets never healthy: %+v", out.TargetHealthDescriptions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Deregistered (draining): no new request reaches it.
	if _, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: tgArn,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(ports[1])}}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for only := 0; only < 20; {
		_, body, err := get("/")
		switch {
		case err != nil:
			t.Fatalf("during deregistration: %v", err)
		case body == "one":
			only++
		default:
			only = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the deregistered target still takes requests")
		}
	}
}
