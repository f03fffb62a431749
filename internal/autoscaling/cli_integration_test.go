package autoscaling_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// cli runs `aws application-autoscaling args...` against url: its JSON
// output decoded into out (when not nil), or its stderr when it fails.
func cli(t *testing.T, bin, url string, out any, args ...string) (stderr string, failed bool) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, append(append([]string{"application-autoscaling"}, args...),
		"--endpoint-url", url, "--region", apitest.Region, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+apitest.SecretAccessKey,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	b, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(ee.Stderr), true
		}
		t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	return "", false
}

func mustCLI(t *testing.T, bin, url string, out any, args ...string) {
	t.Helper()
	if stderr, failed := cli(t, bin, url, out, args...); failed {
		t.Fatalf("aws application-autoscaling %s: %s", strings.Join(args, " "), stderr)
	}
}

// TestCLI drives the unmodified aws CLI through a target's life: register,
// a step policy that scales the real service, a scheduled action with a
// time zone, tags, AWS errors, and the deletes.
func TestCLI(t *testing.T) {
	t.Parallel()
	bin := testutil.AWSCLI(t)
	env, _ := scalingEnv(t)
	url := env.URL
	target := []string{"--service-namespace", "ecs", "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", "service/scale/web"}
	with := func(args ...string) []string { return append(append([]string{}, args...), target...) }

	// Debian's CLI (2.9) predates ScalableTargetARN and the tagging
	// operations: the SDK tests cover those.
	mustCLI(t, bin, url, nil, with("register-scalable-target", "--min-capacity", "1", "--max-capacity", "4")...)
	var targets struct {
		ScalableTargets []struct {
			ResourceId               string
			MinCapacity, MaxCapacity int
			RoleARN                  string
			SuspendedState           map[string]bool
		}
	}
	mustCLI(t, bin, url, &targets, "describe-scalable-targets", "--service-namespace", "ecs")
	if len(targets.ScalableTargets) != 1 || targets.ScalableTargets[0].MaxCapacity != 4 || targets.ScalableTargets[0].SuspendedState["DynamicScalingInSuspended"] {
		t.Errorf("describe-scalable-targets: %+v", targets)
	}

	var pol struct{ PolicyARN string }
	mustCLI(t, bin, url, &pol, with("put-scaling-policy", "--policy-name", "scale-out", "--policy-type", "StepScaling",
		"--step-scaling-policy-configuration", `{"AdjustmentType":"PercentChangeInCapacity","MinAdjustmentMagnitude":2,"Cooldown":30,`+
			`"StepAdjustments":[{"MetricIntervalLowerBound":0,"ScalingAdjustment":50}]}`)...)
	var pols struct {
		ScalingPolicies []struct {
			PolicyName, PolicyType         string
			StepScalingPolicyConfiguration struct {
				AdjustmentType         string
				MinAdjustmentMagnitude int
				Cooldown               int
			}
		}
	}
	mustCLI(t, bin, url, &pols, "describe-scaling-policies", "--service-namespace", "ecs", "--resource-id", "service/scale/web")
	if len(pols.ScalingPolicies) != 1 || pols.ScalingPolicies[0].PolicyType != "StepScaling" ||
		pols.ScalingPolicies[0].StepScalingPolicyConfiguration.MinAdjustmentMagnitude != 2 || pols.ScalingPolicies[0].StepScalingPolicyConfiguration.Cooldown != 30 {
		t.Errorf("describe-scaling-policies: %+v", pols)
	}
	// CloudWatch invokes it: 1 task + 50% is under the magnitude of 2: 3.
	if err := env.Server.AutoScaling.Invoke(context.Background(), pol.PolicyARN, cwlink.AlarmEvent{AlarmName: "queue-deep", State: "ALARM", Value: 120, Threshold: 100}); err != nil {
		t.Fatal(err)
	}
	if n := desired(t, env, "web"); n != 3 {
		t.Fatalf("desired count %d, want 3", n)
	}
	var acts struct {
		ScalingActivities []struct{ Description, Cause, StatusCode string }
	}
	mustCLI(t, bin, url, &acts, "describe-scaling-activities", "--service-namespace", "ecs", "--resource-id", "service/scale/web")
	if len(acts.ScalingActivities) != 1 || acts.ScalingActivities[0].Description != "Setting desired count to 3." ||
		acts.ScalingActivities[0].Cause != "monitor alarm queue-deep in state ALARM triggered policy scale-out" || acts.ScalingActivities[0].StatusCode != "Successful" {
		t.Errorf("describe-scaling-activities: %+v", acts)
	}

	mustCLI(t, bin, url, nil, with("put-scheduled-action", "--scheduled-action-name", "weekday-mornings", "--schedule", "cron(0 9 ? * MON-FRI *)",
		"--timezone", "Europe/Berlin", "--scalable-target-action", "MinCapacity=2,MaxCapacity=4")...)
	var sched struct {
		ScheduledActions []struct {
			ScheduledActionName, Schedule, Timezone, ScheduledActionARN string
			ScalableTargetAction                                        struct{ MinCapacity, MaxCapacity int }
		}
	}
	mustCLI(t, bin, url, &sched, "describe-scheduled-actions", "--service-namespace", "ecs", "--scheduled-action-names", "weekday-mornings")
	if len(sched.ScheduledActions) != 1 || sched.ScheduledActions[0].Timezone != "Europe/Berlin" || sched.ScheduledActions[0].ScalableTargetAction.MinCapacity != 2 ||
		!strings.HasSuffix(sched.ScheduledActions[0].ScheduledActionARN, ":scheduledActionName/weekday-mornings") {
		t.Errorf("describe-scheduled-actions: %+v", sched)
	}

	for _, tc := range []struct {
		name string
		args []string
		code string
	}{
		{"min over max", with("register-scalable-target", "--min-capacity", "5", "--max-capacity", "2"), "ValidationException"},
		{"unregistered target", []string{"put-scaling-policy", "--policy-name", "p", "--service-namespace", "ecs", "--scalable-dimension", "ecs:service:DesiredCount",
			"--resource-id", "service/scale/api", "--policy-type", "StepScaling", "--step-scaling-policy-configuration",
			`{"AdjustmentType":"ChangeInCapacity","StepAdjustments":[{"MetricIntervalLowerBound":0,"ScalingAdjustment":1}]}`}, "ObjectNotFoundException"},
		{"invalid expression", with("put-scheduled-action", "--scheduled-action-name", "bad", "--schedule", "rate(2 fortnights)",
			"--scalable-target-action", "MinCapacity=1"), "ValidationException"},
		{"invalid time zone", with("put-scheduled-action", "--scheduled-action-name", "bad", "--schedule", "rate(1 day)", "--timezone", "Nowhere/Else",
			"--scalable-target-action", "MinCapacity=1"), "ValidationException"},
		{"unknown policy", with("delete-scaling-policy", "--policy-name", "nope"), "ObjectNotFoundException"},
	} {
		stderr, failed := cli(t, bin, url, nil, tc.args...)
		if !failed || !strings.Contains(stderr, "("+tc.code+")") {
			t.Errorf("%s: failed=%v stderr %q, want %s", tc.name, failed, stderr, tc.code)
		}
	}

	mustCLI(t, bin, url, nil, with("delete-scheduled-action", "--scheduled-action-name", "weekday-mornings")...)
	mustCLI(t, bin, url, nil, with("delete-scaling-policy", "--policy-name", "scale-out")...)
	mustCLI(t, bin, url, nil, with("deregister-scalable-target")...)
	mustCLI(t, bin, url, &targets, "describe-scalable-targets", "--service-namespace", "ecs")
	if len(targets.ScalableTargets) != 0 {
		t.Errorf("targets after deregistering: %+v", targets)
	}
}
