package elb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/testutil"
)

type cli struct {
	t        *testing.T
	bin, url string
}

func (c cli) cmd(args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string{"elbv2"}, args...), "--endpoint-url", c.url, "--region", apitest.Region, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	return cmd
}

// run runs `aws elbv2 ARGS...` and decodes its JSON output into out.
func (c cli) run(out any, args ...string) {
	c.t.Helper()
	b, err := c.cmd(args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		c.t.Fatalf("aws elbv2 %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatalf("aws elbv2 %s: %v: %s", strings.Join(args, " "), err, b)
	}
}

// fail runs a command that must fail with the error code.
func (c cli) fail(code string, args ...string) {
	c.t.Helper()
	out, err := c.cmd(args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "("+code+")") {
		c.t.Fatalf("aws elbv2 %s: want %s, got %v: %s", strings.Join(args, " "), code, err, out)
	}
}

func TestELBv2ThroughTheCLI(t *testing.T) {
	t.Parallel()
	bin := testutil.AWSCLI(t)
	env := apitest.Start(t, apitest.Options{})
	c := cli{t, bin, env.URL}
	port := fmt.Sprint(freePort(t))

	var lbs struct {
		LoadBalancers []struct{ LoadBalancerArn, DNSName, VpcId string }
	}
	c.run(&lbs, "create-load-balancer", "--name", "web", "--tags", "Key=team,Value=web")
	lb := lbs.LoadBalancers[0]
	if lb.DNSName != "127.0.0.1" || !strings.HasPrefix(lb.VpcId, "vpc-") {
		t.Fatalf("load balancer: %+v", lb)
	}
	var tgs struct {
		TargetGroups []struct {
			TargetGroupArn, HealthCheckPath string
			HealthCheckIntervalSeconds      int
		}
	}
	c.run(&tgs, "create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80", "--target-type", "ip",
		"--vpc-id", lb.VpcId, "--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2")
	tg := tgs.TargetGroups[0]
	if tg.HealthCheckPath != "/health" || tg.HealthCheckIntervalSeconds != 5 {
		t.Fatalf("target group: %+v", tg)
	}
	c.run(nil, "register-targets", "--target-group-arn", tg.TargetGroupArn, "--targets", "Id=127.0.0.1,Port=8081", "Id=127.0.0.1,Port=8082")
	var health struct {
		TargetHealthDescriptions []struct {
			Target       struct{ Id string }
			TargetHealth struct{ State, Reason string }
		}
	}
	c.run(&health, "describe-target-health", "--target-group-arn", tg.TargetGroupArn)
	if len(health.TargetHealthDescriptions) != 2 || health.TargetHealthDescriptions[0].TargetHealth.Reason != "Target.NotInUse" {
		t.Fatalf("health before a listener: %+v", health)
	}
	var ls struct {
		Listeners []struct{ ListenerArn string }
	}
	c.run(&ls, "create-listener", "--load-balancer-arn", lb.LoadBalancerArn, "--protocol", "HTTP", "--port", port,
		"--default-actions", "Type=forward,TargetGroupArn="+tg.TargetGroupArn)
	c.run(&health, "describe-target-health", "--target-group-arn", tg.TargetGroupArn)
	if st := health.TargetHealthDescriptions[0].TargetHealth; st.State != "initial" || st.Reason != "Elb.RegistrationInProgress" {
		t.Fatalf("health with a listener: %+v", health)
	}
	// A data plane's report shows in the CLI.
	sink := env.Server.ELB.HealthSink(context.Background(), "cli-test")
	if err := sink.Report(context.Background(), tg.TargetGroupArn, "127.0.0.1", 8082, lbconf.Health{State: lbconf.StateUnhealthy,
		Reason: lbconf.ReasonFailedHealthChecks, Description: "Health checks failed"}); err != nil {
		t.Fatal(err)
	}
	c.run(&health, "describe-target-health", "--target-group-arn", tg.TargetGroupArn, "--targets", "Id=127.0.0.1,Port=8082")
	if st := health.TargetHealthDescriptions[0].TargetHealth; st.State != "unhealthy" || st.Reason != "Target.FailedHealthChecks" {
		t.Fatalf("reported health: %+v", health)
	}
	var rules struct{ Rules []struct{ Priority string } }
	c.run(&rules, "create-rule", "--listener-arn", ls.Listeners[0].ListenerArn, "--priority", "5",
		"--conditions", "Field=path-pattern,Values=/api/*", "--actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain,MessageBody=no}")
	c.run(&rules, "describe-rules", "--listener-arn", ls.Listeners[0].ListenerArn)
	if len(rules.Rules) != 2 || rules.Rules[0].Priority != "5" || rules.Rules[1].Priority != "default" {
		t.Fatalf("rules: %+v", rules)
	}
	var all struct {
		LoadBalancers []struct{ LoadBalancerName string }
	}
	c.run(&all, "describe-load-balancers", "--names", "web")
	if len(all.LoadBalancers) != 1 || all.LoadBalancers[0].LoadBalancerName != "web" {
		t.Fatalf("describe: %+v", all)
	}
	c.fail("DuplicateListener", "create-listener", "--load-balancer-arn", lb.LoadBalancerArn, "--protocol", "HTTP", "--port", port,
		"--default-actions", "Type=forward,TargetGroupArn="+tg.TargetGroupArn)
	c.fail("PriorityInUse", "create-rule", "--listener-arn", ls.Listeners[0].ListenerArn, "--priority", "5",
		"--conditions", "Field=path-pattern,Values=/b", "--actions", "Type=forward,TargetGroupArn="+tg.TargetGroupArn)
	c.fail("ValidationError", "create-load-balancer", "--name", strings.Repeat("x", 40))
	c.fail("LoadBalancerNotFound", "describe-load-balancers", "--names", "nope")
	c.run(nil, "delete-load-balancer", "--load-balancer-arn", lb.LoadBalancerArn)
}
