package elb_test

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/lbconf"
)

// The benchmarks measure whole ELBv2 calls against a real server (embedded
// etcd): the AWS SDK for Go v2 signs a query request, the server verifies
// and decodes it, reads every ELBv2 record, commits its transaction and
// writes XML, and the SDK decodes it. The configuration is that of a busy
// load balancer: 200 registered targets with health reports, a listener
// with 50 rules. Run them with
//
//	go test ./internal/elb -run '^$' -bench . -benchtime 300x
//
// cpu-us/op is the process's CPU (client and server, user and system) per
// call.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchEnv struct {
	url      string
	c        *elbv2.Client
	tg       string
	listener string
}

func busyLoadBalancer(b *testing.B) benchEnv {
	b.Helper()
	env := apitest.Start(b, apitest.Options{})
	// The SDK's default retries: under load its client now and then
	// closes a connection while it reads a large answer ("use of closed
	// network connection"), which net/http's plain client, reading the
	// same answers, never meets; a retry hides that from the figures.
	c := newClient(env.URL, func(o *elbv2.Options) { o.RetryMaxAttempts = 3 })
	ctx := context.Background()
	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("bench"), Protocol: "HTTP", Port: aws.Int32(80), TargetType: "ip"})
	if err != nil {
		b.Fatal(err)
	}
	arn := *tg.TargetGroups[0].TargetGroupArn
	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: "HTTP",
		Port: aws.Int32(freePortB(b)), DefaultActions: forward(arn)})
	if err != nil {
		b.Fatal(err)
	}
	var ts []types.TargetDescription
	for i := range 200 {
		ts = append(ts, types.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))})
	}
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: ts}); err != nil {
		b.Fatal(err)
	}
	sink := env.Server.ELB.HealthSink(ctx, "bench")
	for i, t := range ts {
		h := lbconf.Health{State: lbconf.StateHealthy}
		if i%10 == 0 {
			h = lbconf.Health{State: lbconf.StateUnhealthy, Reason: lbconf.ReasonTimeout, Description: "Request timed out"}
		}
		if err := sink.Report(ctx, arn, *t.Id, 80, h); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 50 {
		if _, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(int32(i + 1)),
			Conditions: []types.RuleCondition{cond("path-pattern", fmt.Sprintf("/r%d/*", i))}, Actions: forward(arn)}); err != nil {
			b.Fatal(err)
		}
	}
	return benchEnv{url: env.URL, c: c, tg: arn, listener: *l.Listeners[0].ListenerArn}
}

// freePortB returns a loopback port nothing listens on.
func freePortB(b *testing.B) int32 {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

// BenchmarkRegisterDeregisterTarget registers a target and deregisters it
// (deregistration delay 0): two guarded transactions.
func BenchmarkRegisterDeregisterTarget(b *testing.B) {
	e := busyLoadBalancer(b)
	ctx := context.Background()
	if _, err := e.c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(e.tg),
		Attributes: []types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("0")}}}); err != nil {
		b.Fatal(err)
	}
	t := []types.TargetDescription{{Id: aws.String("10.9.9.9")}}
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(e.tg), Targets: t}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(e.tg), Targets: t}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}

// BenchmarkDescribeTargetHealth200 describes the health of 200 targets.
func BenchmarkDescribeTargetHealth200(b *testing.B) {
	e := busyLoadBalancer(b)
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		out, err := e.c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(e.tg)})
		if err != nil {
			b.Fatalf("call %d: %v", i, err)
		}
		if len(out.TargetHealthDescriptions) != 200 {
			b.Fatalf("%d targets", len(out.TargetHealthDescriptions))
		}
	}
	report(b, cpu0)
}

// BenchmarkModifyRule changes a rule's condition on a listener of 50
// rules.
func BenchmarkModifyRule(b *testing.B) {
	e := busyLoadBalancer(b)
	ctx := context.Background()
	rules, err := e.c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(e.listener)})
	if err != nil {
		b.Fatal(err)
	}
	rule := rules.Rules[0].RuleArn
	cpu0 := cpuTime()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if _, err := e.c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: rule, Conditions: []types.RuleCondition{cond("path-pattern", fmt.Sprintf("/m%d/*", i))}}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}
