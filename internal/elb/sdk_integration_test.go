package elb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/elb"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/store"
)

func newClient(url string, opts ...func(*elbv2.Options)) *elbv2.Client {
	return elbv2.New(elbv2.Options{
		Region:           apitest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	}, opts...)
}

// wantErr fails unless err is the API error code.
func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func start(t *testing.T) (*apitest.Env, *elbv2.Client) {
	t.Helper()
	env := apitest.Start(t, apitest.Options{})
	return env, newClient(env.URL)
}

func createALB(t *testing.T, c *elbv2.Client, name string) types.LoadBalancer {
	t.Helper()
	out := must[*elbv2.CreateLoadBalancerOutput](t)(c.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{Name: aws.String(name)}))
	return out.LoadBalancers[0]
}

func createTG(t *testing.T, c *elbv2.Client, name string, proto types.ProtocolEnum, tt types.TargetTypeEnum) types.TargetGroup {
	t.Helper()
	out := must[*elbv2.CreateTargetGroupOutput](t)(c.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: proto, Port: aws.Int32(80), TargetType: tt}))
	return out.TargetGroups[0]
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

func forward(arn string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}
}

func TestLoadBalancersThroughTheSDK(t *testing.T) {
	t.Parallel()
	env, c := start(t)
	ctx := context.Background()
	vpc := elb.VPCID(apitest.Region, apitest.Account)

	lb := createALB(t, c, "web")
	if !strings.HasPrefix(*lb.LoadBalancerArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/") ||
		*lb.DNSName != "127.0.0.1" || *lb.VpcId != vpc || lb.Type != types.LoadBalancerTypeEnumApplication ||
		lb.Scheme != types.LoadBalancerSchemeEnumInternetFacing || lb.State.Code != types.LoadBalancerStateEnumActive ||
		len(lb.AvailabilityZones) != 3 || len(lb.SecurityGroups) != 1 || lb.IpAddressType != types.IpAddressTypeIpv4 || lb.CreatedTime == nil {
		t.Fatalf("created: %+v", lb)
	}
	// The same name and settings answer the same load balancer; other
	// settings are a duplicate.
	again := createALB(t, c, "web")
	if *again.LoadBalancerArn != *lb.LoadBalancerArn {
		t.Fatalf("idempotent create: %s != %s", *again.LoadBalancerArn, *lb.LoadBalancerArn)
	}
	_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Type: types.LoadBalancerTypeEnumNetwork})
	wantErr(t, err, "DuplicateLoadBalancerName")
	for _, bad := range []string{strings.Repeat("a", 33), "under_score", "-lead", "trail-", "internal-web", ""} {
		_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(bad)})
		wantErr(t, err, "ValidationError")
	}
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: "classic"})
	wantErr(t, err, "ValidationError")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Scheme: "public"})
	wantErr(t, err, "ValidationError")

	// Subnets: two zones at least for an application load balancer,
	// known subnets, one per zone.
	sa, sb := elb.SubnetID(apitest.Region, apitest.Account, "us-east-1a"), elb.SubnetID(apitest.Region, apitest.Account, "us-east-1b")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("one-zone"), Subnets: []string{sa}})
	wantErr(t, err, "ValidationError")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("unknown"), Subnets: []string{sa, "subnet-0123456789abcdef0"}})
	wantErr(t, err, "SubnetNotFound")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("bad-sg"), SecurityGroups: []string{"default"}})
	wantErr(t, err, "InvalidSecurityGroup")
	two := must[*elbv2.CreateLoadBalancerOutput](t)(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("two"), Subnets: []string{sb, sa}, Scheme: types.LoadBalancerSchemeEnumInternal,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})).LoadBalancers[0]
	if len(two.AvailabilityZones) != 2 || *two.AvailabilityZones[0].ZoneName != "us-east-1a" || *two.AvailabilityZones[0].SubnetId != sa {
		t.Fatalf("zones: %+v", two.AvailabilityZones)
	}
	nlb := must[*elbv2.CreateLoadBalancerOutput](t)(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("tcp"), Type: types.LoadBalancerTypeEnumNetwork, SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(sa)}}})).LoadBalancers[0]
	if !strings.Contains(*nlb.LoadBalancerArn, ":loadbalancer/net/tcp/") || len(nlb.AvailabilityZones) != 1 || len(nlb.SecurityGroups) != 0 {
		t.Fatalf("nlb: %+v", nlb)
	}

	// Describe: by name, by ARN, by pages.
	d := must[*elbv2.DescribeLoadBalancersOutput](t)(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"tcp", "web"}}))
	if len(d.LoadBalancers) != 2 || *d.LoadBalancers[0].LoadBalancerName != "tcp" {
		t.Fatalf("by name: %+v", d.LoadBalancers)
	}
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"web", "nope"}})
	wantErr(t, err, "LoadBalancerNotFound")
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{strings.Replace(*lb.LoadBalancerArn, "/web/", "/wex/", 1)}})
	wantErr(t, err, "LoadBalancerNotFound")
	var names []string
	p := elbv2.NewDescribeLoadBalancersPaginator(c, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		out := must[*elbv2.DescribeLoadBalancersOutput](t)(p.NextPage(ctx))
		pages++
		for _, l := range out.LoadBalancers {
			names = append(names, *l.LoadBalancerName)
		}
	}
	if !slices.Equal(names, []string{"web", "two", "tcp"}) || pages != 3 {
		t.Fatalf("pages %d: %v", pages, names)
	}
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Marker: aws.String("not a marker")})
	wantErr(t, err, "ValidationError")
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(401)})
	wantErr(t, err, "ValidationError")

	// Attributes.
	attrs := must[*elbv2.DescribeLoadBalancerAttributesOutput](t)(c.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: lb.LoadBalancerArn}))
	want := map[string]string{"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false", "routing.http2.enabled": "true"}
	got := map[string]string{}
	for _, a := range attrs.Attributes {
		got[*a.Key] = aws.ToString(a.Value)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("attribute %s = %q, want %q (%v)", k, got[k], v, got)
		}
	}
	mod := must[*elbv2.ModifyLoadBalancerAttributesOutput](t)(c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: lb.LoadBalancerArn, Attributes: []types.LoadBalancerAttribute{
			{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("120")},
			{Key: aws.String("deletion_protection.enabled"), Value: aws.String("true")}}}))
	if len(mod.Attributes) != len(attrs.Attributes) {
		t.Fatalf("modify answers every attribute: %d != %d", len(mod.Attributes), len(attrs.Attributes))
	}
	for _, bad := range [][2]string{{"idle_timeout.timeout_seconds", "0"}, {"idle_timeout.timeout_seconds", "x"}, {"routing.http2.enabled", "yes"}, {"no.such.key", "1"}} {
		_, err = c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: lb.LoadBalancerArn,
			Attributes: []types.LoadBalancerAttribute{{Key: aws.String(bad[0]), Value: aws.String(bad[1])}}})
		wantErr(t, err, "ValidationError")
	}
	_, err = c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: nlb.LoadBalancerArn,
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("10")}}})
	wantErr(t, err, "ValidationError")

	// Deletion protection refuses; without it the load balancer goes,
	// and deleting it again is no error.
	_, err = c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn})
	wantErr(t, err, "OperationNotPermitted")
	must[*elbv2.ModifyLoadBalancerAttributesOutput](t)(c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: lb.LoadBalancerArn, Attributes: []types.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("false")}}}))
	must[*elbv2.DeleteLoadBalancerOutput](t)(c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}))
	must[*elbv2.DeleteLoadBalancerOutput](t)(c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}))
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"web"}})
	wantErr(t, err, "LoadBalancerNotFound")
	_, err = c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String("web")})
	wantErr(t, err, "ValidationError")

	// A restart loses nothing.
	env.Restart(t)
	c = newClient(env.URL)
	d = must[*elbv2.DescribeLoadBalancersOutput](t)(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}))
	if len(d.LoadBalancers) != 2 || *d.LoadBalancers[0].LoadBalancerArn != *two.LoadBalancerArn {
		t.Fatalf("after restart: %+v", d.LoadBalancers)
	}
}

func TestTargetGroupsThroughTheSDK(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	httpTG := createTG(t, c, "web", types.ProtocolEnumHttp, "")
	if *httpTG.HealthCheckPort != "traffic-port" || httpTG.HealthCheckProtocol != types.ProtocolEnumHttp || *httpTG.HealthCheckPath != "/" ||
		*httpTG.HealthCheckIntervalSeconds != 30 || *httpTG.HealthCheckTimeoutSeconds != 5 || *httpTG.HealthyThresholdCount != 5 ||
		*httpTG.UnhealthyThresholdCount != 2 || *httpTG.Matcher.HttpCode != "200" || httpTG.TargetType != types.TargetTypeEnumInstance ||
		!*httpTG.HealthCheckEnabled || *httpTG.ProtocolVersion != "HTTP1" || *httpTG.VpcId != elb.VPCID(apitest.Region, apitest.Account) ||
		len(httpTG.LoadBalancerArns) != 0 || !strings.HasPrefix(*httpTG.TargetGroupArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/") {
		t.Fatalf("HTTP defaults: %+v", httpTG)
	}
	tcpTG := createTG(t, c, "tcp", types.ProtocolEnumTcp, types.TargetTypeEnumIp)
	if tcpTG.HealthCheckProtocol != types.ProtocolEnumTcp || tcpTG.HealthCheckPath != nil || tcpTG.Matcher != nil ||
		*tcpTG.HealthCheckTimeoutSeconds != 10 || *tcpTG.HealthCheckIntervalSeconds != 30 || *tcpTG.HealthyThresholdCount != 5 {
		t.Fatalf("TCP defaults: %+v", tcpTG)
	}
	tcpHTTP := must[*elbv2.CreateTargetGroupOutput](t)(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tcp-http"),
		Protocol: types.ProtocolEnumTcp, Port: aws.Int32(81), HealthCheckProtocol: types.ProtocolEnumHttp})).TargetGroups[0]
	if *tcpHTTP.Matcher.HttpCode != "200-399" || *tcpHTTP.HealthCheckTimeoutSeconds != 6 || *tcpHTTP.HealthCheckPath != "/" {
		t.Fatalf("TCP with HTTP checks: %+v", tcpHTTP)
	}
	// The same settings again answer the group; others are a duplicate.
	if again := createTG(t, c, "web", types.ProtocolEnumHttp, ""); *again.TargetGroupArn != *httpTG.TargetGroupArn {
		t.Fatal("idempotent create answered another group")
	}
	_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080)})
	wantErr(t, err, "DuplicateTargetGroupName")
	bad := []struct {
		in   elbv2.CreateTargetGroupInput
		code string
	}{
		{elbv2.CreateTargetGroupInput{Name: aws.String(strings.Repeat("t", 33)), Protocol: "HTTP", Port: aws.Int32(80)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Port: aws.Int32(80)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP"}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(70000)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTPS", Port: aws.Int32(443)}, "UnsupportedProtocol"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "SMTP", Port: aws.Int32(25)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(5)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), HealthyThresholdCount: aws.Int32(11)}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), Matcher: &types.Matcher{HttpCode: aws.String("600")}}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), HealthCheckPath: aws.String("health")}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), HealthCheckProtocol: "TCP"}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), VpcId: aws.String("vpc-0123456789abcdef0")}, "ValidationError"},
		{elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: "HTTP", Port: aws.Int32(80), TargetType: "lambda"}, "InvalidConfigurationRequest"},
	}
	for i, b := range bad {
		_, err := c.CreateTargetGroup(ctx, &b.in)
		t.Run(fmt.Sprint(i), func(t *testing.T) { wantErr(t, err, b.code) })
	}
	m := must[*elbv2.ModifyTargetGroupOutput](t)(c.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: httpTG.TargetGroupArn,
		HealthCheckPath: aws.String("/health"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		Matcher: &types.Matcher{HttpCode: aws.String("200-299")}})).TargetGroups[0]
	if *m.HealthCheckPath != "/health" || *m.HealthCheckIntervalSeconds != 5 || *m.Matcher.HttpCode != "200-299" || *m.HealthyThresholdCount != 5 {
		t.Fatalf("modified: %+v", m)
	}
	_, err = c.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: httpTG.TargetGroupArn, HealthCheckTimeoutSeconds: aws.Int32(6)})
	wantErr(t, err, "ValidationError")

	// Attributes.
	attrs := must[*elbv2.DescribeTargetGroupAttributesOutput](t)(c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: httpTG.TargetGroupArn}))
	got := map[string]string{}
	for _, a := range attrs.Attributes {
		got[*a.Key] = aws.ToString(a.Value)
	}
	for k, v := range map[string]string{"deregistration_delay.timeout_seconds": "300", "slow_start.duration_seconds": "0", "stickiness.enabled": "false",
		"stickiness.type": "lb_cookie", "stickiness.lb_cookie.duration_seconds": "86400", "load_balancing.algorithm.type": "round_robin"} {
		if got[k] != v {
			t.Fatalf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	must[*elbv2.ModifyTargetGroupAttributesOutput](t)(c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: httpTG.TargetGroupArn,
		Attributes: []types.TargetGroupAttribute{{Key: aws.String("stickiness.enabled"), Value: aws.String("true")},
			{Key: aws.String("load_balancing.algorithm.type"), Value: aws.String("least_outstanding_requests")},
			{Key: aws.String("slow_start.duration_seconds"), Value: aws.String("30")},
			{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("0")}}}))
	for _, bad := range [][2]string{{"deregistration_delay.timeout_seconds", "3601"}, {"slow_start.duration_seconds", "10"},
		{"load_balancing.algorithm.type", "random"}, {"stickiness.type", "source_ip"}, {"bogus", "1"}} {
		_, err = c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: httpTG.TargetGroupArn,
			Attributes: []types.TargetGroupAttribute{{Key: aws.String(bad[0]), Value: aws.String(bad[1])}}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" && ae.ErrorCode() != "InvalidConfigurationRequest" {
			t.Fatalf("%v: %v", bad, err)
		}
	}

	// In use by a listener: not deleted; LoadBalancerArns names the user.
	lb := createALB(t, c, "front")
	must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(freePort(t)), DefaultActions: forward(*httpTG.TargetGroupArn)}))
	_, err = c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: httpTG.TargetGroupArn})
	wantErr(t, err, "ResourceInUse")
	byLB := must[*elbv2.DescribeTargetGroupsOutput](t)(c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: lb.LoadBalancerArn}))
	if len(byLB.TargetGroups) != 1 || !slices.Equal(byLB.TargetGroups[0].LoadBalancerArns, []string{*lb.LoadBalancerArn}) {
		t.Fatalf("by load balancer: %+v", byLB.TargetGroups)
	}
	_, err = c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"web", "none"}})
	wantErr(t, err, "TargetGroupNotFound")
	all := must[*elbv2.DescribeTargetGroupsOutput](t)(c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)}))
	if len(all.TargetGroups) != 2 || all.NextMarker == nil {
		t.Fatalf("first page: %+v", all)
	}
	rest := must[*elbv2.DescribeTargetGroupsOutput](t)(c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Marker: all.NextMarker}))
	if len(rest.TargetGroups) != 1 || rest.NextMarker != nil || *rest.TargetGroups[0].TargetGroupName != "tcp-http" {
		t.Fatalf("second page: %+v", rest)
	}
	must[*elbv2.DeleteTargetGroupOutput](t)(c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tcpTG.TargetGroupArn}))
	_, err = c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{*tcpTG.TargetGroupArn}})
	wantErr(t, err, "TargetGroupNotFound")
}

func health(t *testing.T, c *elbv2.Client, tg string, targets ...types.TargetDescription) map[string]types.TargetHealth {
	t.Helper()
	out := must[*elbv2.DescribeTargetHealthOutput](t)(c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg), Targets: targets}))
	m := map[string]types.TargetHealth{}
	for _, d := range out.TargetHealthDescriptions {
		m[fmt.Sprintf("%s:%d", *d.Target.Id, *d.Target.Port)] = *d.TargetHealth
	}
	return m
}

func wantHealth(t *testing.T, got map[string]types.TargetHealth, key string, state types.TargetHealthStateEnum, reason types.TargetHealthReasonEnum) {
	t.Helper()
	h, ok := got[key]
	if !ok || h.State != state || h.Reason != reason {
		t.Fatalf("%s: want %s/%s, got %+v (all: %+v)", key, state, reason, h, got)
	}
}

func TestTargetsAndHealthThroughTheSDK(t *testing.T) {
	t.Parallel()
	env, c := start(t)
	ctx := context.Background()
	tg := createTG(t, c, "ips", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	arn := *tg.TargetGroupArn
	must[*elbv2.RegisterTargetsOutput](t)(c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(8001)}, {Id: aws.String("127.0.0.2")}}}))
	_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn, Targets: []types.TargetDescription{{Id: aws.String("i-0123456789abcdef0")}}})
	wantErr(t, err, "InvalidTarget")
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn, Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1"), Port: aws.Int32(0)}}})
	wantErr(t, err, "ValidationError")

	// No listener uses the group yet: unused / Target.NotInUse.
	h := health(t, c, arn)
	if len(h) != 2 {
		t.Fatalf("targets: %+v", h)
	}
	wantHealth(t, h, "127.0.0.1:8001", types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotInUse)
	wantHealth(t, h, "127.0.0.2:80", types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotInUse)

	lb := createALB(t, c, "web")
	must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(freePort(t)), DefaultActions: forward(arn)}))
	h = health(t, c, arn)
	wantHealth(t, h, "127.0.0.1:8001", types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumRegistrationInProgress)

	// Data planes report: a healthy and an unhealthy target; one data
	// plane's unhealthy word wins over another's healthy one.
	sinkCtx, stopSink := context.WithCancel(ctx)
	defer stopSink()
	a := env.Server.ELB.HealthSink(sinkCtx, "plane-a")
	b := env.Server.ELB.HealthSink(sinkCtx, "plane-b")
	report := func(s lbconf.HealthSink, id string, port int, hl lbconf.Health) {
		t.Helper()
		if err := s.Report(ctx, arn, id, port, hl); err != nil {
			t.Fatal(err)
		}
	}
	report(a, "127.0.0.1", 8001, lbconf.Health{State: lbconf.StateHealthy})
	report(a, "127.0.0.2", 80, lbconf.Health{State: lbconf.StateUnhealthy, Reason: lbconf.ReasonResponseCodeMismatch, Description: "Health checks failed with these codes: [503]"})
	h = health(t, c, arn)
	wantHealth(t, h, "127.0.0.1:8001", types.TargetHealthStateEnumHealthy, "")
	wantHealth(t, h, "127.0.0.2:80", types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumResponseCodeMismatch)
	report(b, "127.0.0.1", 8001, lbconf.Health{State: lbconf.StateUnhealthy, Reason: lbconf.ReasonTimeout, Description: "Request timed out"})
	wantHealth(t, health(t, c, arn), "127.0.0.1:8001", types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumTimeout)
	report(b, "127.0.0.1", 8001, lbconf.Health{State: lbconf.StateHealthy})
	wantHealth(t, health(t, c, arn), "127.0.0.1:8001", types.TargetHealthStateEnumHealthy, "")
	// A report on a target that is not registered is dropped.
	report(a, "10.9.9.9", 80, lbconf.Health{State: lbconf.StateHealthy})

	// Asked for explicitly: an unknown target is unused / NotRegistered.
	h = health(t, c, arn, types.TargetDescription{Id: aws.String("10.9.9.9")}, types.TargetDescription{Id: aws.String("127.0.0.1"), Port: aws.Int32(8001)})
	wantHealth(t, h, "10.9.9.9:80", types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotRegistered)
	wantHealth(t, h, "127.0.0.1:8001", types.TargetHealthStateEnumHealthy, "")

	// Deregistration drains for the delay, then the target is gone.
	must[*elbv2.ModifyTargetGroupAttributesOutput](t)(c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn,
		Attributes: []types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("2")}}}))
	must[*elbv2.DeregisterTargetsOutput](t)(c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(8001)}, {Id: aws.String("10.1.1.1")}}}))
	wantHealth(t, health(t, c, arn), "127.0.0.1:8001", types.TargetHealthStateEnumDraining, types.TargetHealthReasonEnumDeregistrationInProgress)
	snap, err := env.Server.ELB.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts := snap.TargetGroups[arn].Targets; len(ts) != 2 || !slices.ContainsFunc(ts, func(t lbconf.Target) bool { return t.ID == "127.0.0.1" && t.Draining }) {
		t.Fatalf("snapshot targets while draining: %+v", ts)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h = health(t, c, arn)
		if _, ok := h["127.0.0.1:8001"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still there after the delay: %+v", h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Run removed the record (and its health reports) from the store.
	tgID := arn[strings.LastIndexByte(arn, '/')+1:]
	deadline = time.Now().Add(5 * time.Second)
	for {
		n, err := env.Server.ECS.Store.Count(ctx, store.Key("elbv2", "target", tgID, "127.0.0.1")+"/")
		if err != nil {
			t.Fatal(err)
		}
		hn, err := env.Server.ECS.Store.Count(ctx, store.Key("elbv2-health", tgID, "127.0.0.1")+"/")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && hn == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drained target not removed from the store: %d records, %d reports", n, hn)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Registered again: initial, its old reports gone.
	must[*elbv2.RegisterTargetsOutput](t)(c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(8001)}}}))
	wantHealth(t, health(t, c, arn), "127.0.0.1:8001", types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumRegistrationInProgress)

	// Instance targets: the container instance's ec2InstanceId, dialled
	// at its gantry.host-address attribute.
	ec := env.Client
	must[*ecs.CreateClusterOutput](t)(ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lb")}))
	must[*ecs.RegisterContainerInstanceOutput](t)(ec.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("lb"),
		InstanceIdentityDocument: aws.String(`{"instanceId":"i-0abc1234def567890","availabilityZone":"us-east-1d"}`),
		TotalResources:           []ecstypes.Resource{{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 1024}, {Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 1024}},
		Attributes:               []ecstypes.Attribute{{Name: aws.String("gantry.host-address"), Value: aws.String("127.0.0.9")}, {Name: aws.String("ecs.availability-zone"), Value: aws.String("us-east-1d")}}}))
	itg := createTG(t, c, "instances", types.ProtocolEnumHttp, types.TargetTypeEnumInstance)
	must[*elbv2.RegisterTargetsOutput](t)(c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: itg.TargetGroupArn,
		Targets: []types.TargetDescription{{Id: aws.String("i-0abc1234def567890"), Port: aws.Int32(32768)}}}))
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: itg.TargetGroupArn, Targets: []types.TargetDescription{{Id: aws.String("i-0000000000000000f")}}})
	wantErr(t, err, "InvalidTarget")
	snap, err = env.Server.ELB.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts := snap.TargetGroups[*itg.TargetGroupArn].Targets; len(ts) != 1 || ts[0].Host != "127.0.0.9" || ts[0].Port != 32768 {
		t.Fatalf("instance target: %+v", ts)
	}
	// The instance's zone has a subnet in the default VPC.
	if _, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("zone-d"), Type: types.LoadBalancerTypeEnumNetwork,
		Subnets: []string{elb.SubnetID(apitest.Region, apitest.Account, "us-east-1d")}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(strings.Replace(arn, "/ips/", "/ipx/", 1))})
	wantErr(t, err, "TargetGroupNotFound")
}

func TestConcurrentWritesLoseNothing(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	tg := createTG(t, c, "many", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	lb := createALB(t, c, "web")
	l := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(freePort(t)), DefaultActions: forward(*tg.TargetGroupArn)})).Listeners[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
				Targets: []types.TargetDescription{{Id: aws.String(fmt.Sprintf("10.0.0.%d", i+1))}}})
			if err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(7),
				Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{fmt.Sprintf("/p%d/*", i)}}},
				Actions:    forward(*tg.TargetGroupArn)})
			var ae smithy.APIError
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case errors.As(err, &ae) && ae.ErrorCode() == "PriorityInUse":
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if h := health(t, c, *tg.TargetGroupArn); len(h) != 16 {
		t.Fatalf("registered %d of 16 targets", len(h))
	}
	if won != 1 {
		t.Fatalf("%d rules got priority 7", won)
	}
}

// TestWatchFollowsTheAPI: the data plane's Source, over the server's etcd,
// sends each change made through the API within a second.
func TestWatchFollowsTheAPI(t *testing.T) {
	t.Parallel()
	env, c := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := env.Server.ELB.Watch(ctx)
	first := <-ch
	if len(first.LoadBalancers) != 0 {
		t.Fatalf("first snapshot: %+v", first)
	}
	lb := createALB(t, c, "web")
	tg := createTG(t, c, "tg", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	port := freePort(t)
	must[*elbv2.CreateListenerOutput](t)(c.CreateListener(context.Background(), &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: "HTTP", Port: aws.Int32(port), DefaultActions: forward(*tg.TargetGroupArn)}))
	changed := time.Now()
	for {
		select {
		case s := <-ch:
			if len(s.LoadBalancers) == 1 && len(s.LoadBalancers[0].Listeners) == 1 {
				if l := s.LoadBalancers[0].Listeners[0]; l.Port != int(port) || s.Revision <= first.Revision {
					t.Fatalf("listener %+v at revision %d", l, s.Revision)
				}
				if d := time.Since(changed); d > time.Second {
					t.Fatalf("the listener reached the snapshot after %v", d)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no snapshot with the listener")
		}
	}
}
