package ecs

import (
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/scheduler"
)

func TestCheckFargateRun(t *testing.T) {
	fargate := &ecsapi.TaskDefinition{Compatibilities: []ecsapi.Compatibility{"EC2", "FARGATE"}}
	ec2 := &ecsapi.TaskDefinition{Compatibilities: []ecsapi.Compatibility{"EC2", "EXTERNAL"}}
	for _, tc := range []struct {
		name, version, msg string
		td                 *ecsapi.TaskDefinition
	}{
		{name: "no version", td: fargate},
		{name: "LATEST", td: fargate, version: "LATEST"},
		{name: "1.4.0", td: fargate, version: "1.4.0"},
		{name: "1.3.0", td: fargate, version: "1.3.0", msg: "The specified platform version does not exist."},
		{name: "EC2 only", td: ec2, msg: "Task definition does not support launch_type FARGATE."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkFargateRun(tc.td, tc.version)
			if got := errMessage(err); got != tc.msg {
				t.Fatalf("got %q, want %q", got, tc.msg)
			}
		})
	}
}

// TestFargateRequiredAttributes: a Fargate task needs a pool host of its
// provider (FARGATE for launchType FARGATE) and no launch-type attribute.
func TestFargateRequiredAttributes(t *testing.T) {
	td := &ecsapi.TaskDefinition{}
	o := &runOptions{td: td, launchType: "EC2"}
	o.useFargate("")
	want := []ecsapi.Attribute{{Name: CapacityProviderAttribute, Value: ProviderFargate}}
	if got := o.requiredAttributes(); !slices.Equal(got, want) || o.hostCluster != FargatePoolCluster {
		t.Fatalf("launchType FARGATE: %+v on %q", got, o.hostCluster)
	}
	o.useFargate(ProviderFargateSpot)
	want = []ecsapi.Attribute{{Name: CapacityProviderAttribute, Value: ProviderFargateSpot}}
	if got := o.requiredAttributes(); !slices.Equal(got, want) {
		t.Fatalf("FARGATE_SPOT: %+v", got)
	}
	ec2 := &runOptions{td: td, launchType: "EC2"}
	if got := ec2.requiredAttributes(); !slices.Equal(got, []ecsapi.Attribute{{Name: scheduler.LaunchTypeAttribute, Value: "EC2"}}) || ec2.hostCluster != "" {
		t.Fatalf("EC2: %+v", got)
	}
}

func TestPoolTaskCluster(t *testing.T) {
	arn := "arn:aws:ecs:us-east-1:123456789012:task/prod/abc"
	if got := poolTaskCluster(FargatePoolCluster, arn); got != "prod" {
		t.Fatalf("pool caller: %q", got)
	}
	if got := poolTaskCluster("other", arn); got != "other" {
		t.Fatalf("other caller: %q", got)
	}
	if got := poolTaskCluster(FargatePoolCluster, "abc"); got != FargatePoolCluster {
		t.Fatalf("task ID: %q", got)
	}
}

// errMessage is err's API error message, "" for nil.
func errMessage(err error) string {
	if err == nil {
		return ""
	}
	if ae, ok := apierror.As(err); ok && ae.Code == apierror.CodeInvalidParameter {
		return ae.Message
	}
	return err.Error()
}
