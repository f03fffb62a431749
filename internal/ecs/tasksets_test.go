package ecs

import (
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestComputedDesiredCount(t *testing.T) {
	for _, c := range []struct {
		desired int32
		scale   float64
		want    int32
	}{{2, 100, 2}, {2, 50, 1}, {4, 50, 2}, {6, 50, 3}, {3, 50, 2}, {30, 10, 3}, {10, 33.3, 4}, {0, 100, 0}, {7, 0, 0}, {1, 0.01, 1}} {
		if got := ComputedDesiredCount(c.desired, &ecsapi.Scale{Value: c.scale, Unit: "PERCENT"}); got != c.want {
			t.Errorf("ComputedDesiredCount(%d, %v%%) = %d, want %d", c.desired, c.scale, got, c.want)
		}
	}
}

func TestTaskSetRef(t *testing.T) {
	const arn = "arn:aws:ecs:us-east-1:123456789012:task-set/c/s/ecs-svc/1234567890123456789"
	tests := []struct {
		name, ref, want string
		bad             bool
	}{
		{name: "id", ref: "ecs-svc/1234567890123456789", want: "ecs-svc/1234567890123456789"},
		{name: "arn", ref: arn, want: "ecs-svc/1234567890123456789"},
		{name: "arn of another service", ref: "arn:aws:ecs:us-east-1:123456789012:task-set/c/t/ecs-svc/1", bad: true},
		{name: "arn of another cluster", ref: "arn:aws:ecs:us-east-1:123456789012:task-set/d/s/ecs-svc/1", bad: true},
		{name: "service arn", ref: "arn:aws:ecs:us-east-1:123456789012:service/c/s", bad: true},
		{name: "no digits", ref: "ecs-svc/", bad: true},
		{name: "letters", ref: "ecs-svc/12a", bad: true},
		{name: "other prefix", ref: "svc/123", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskSetRef("c", "s", tt.ref)
			if (err != nil) != tt.bad || got != tt.want && !tt.bad {
				t.Fatalf("taskSetRef(%q) = %q, %v", tt.ref, got, err)
			}
		})
	}
}

func TestCheckScale(t *testing.T) {
	if sc, err := checkScale(nil); err != nil || sc.Value != 0 || sc.Unit != "PERCENT" {
		t.Fatalf("no scale: %+v %v", sc, err)
	}
	if sc, err := checkScale(&ecsapi.Scale{Value: 50}); err != nil || sc.Unit != "PERCENT" {
		t.Fatalf("no unit: %+v %v", sc, err)
	}
	for _, bad := range []ecsapi.Scale{{Value: -0.5}, {Value: 100.01}, {Value: 5, Unit: "COUNT"}} {
		if _, err := checkScale(&bad); err == nil {
			t.Errorf("scale %+v accepted", bad)
		}
	}
}

func TestDeploymentAlarmsState(t *testing.T) {
	on := &ecsapi.DeploymentConfiguration{Alarms: &ecsapi.DeploymentAlarms{Enable: true, AlarmNames: []string{"errors", "latency, p99", "cpu"}}}
	off := &ecsapi.DeploymentConfiguration{Alarms: &ecsapi.DeploymentAlarms{Enable: false, AlarmNames: []string{"errors"}}}
	tests := []struct {
		name      string
		dc        *ecsapi.DeploymentConfiguration
		d         ecsapi.Deployment
		status    ecsapi.ServiceDeploymentRollbackMonitorsStatus
		names     []string
		triggered []string
	}{
		{"no configuration", nil, ecsapi.Deployment{RolloutState: RolloutInProgress}, "DISABLED", []string{}, []string{}},
		{"disabled", off, ecsapi.Deployment{RolloutState: RolloutInProgress}, "DISABLED", []string{}, []string{}},
		{"in progress", on, ecsapi.Deployment{RolloutState: RolloutInProgress}, "MONITORING", on.Alarms.AlarmNames, []string{}},
		{"completed", on, ecsapi.Deployment{RolloutState: RolloutCompleted}, "MONITORING_COMPLETE", on.Alarms.AlarmNames, []string{}},
		{"failed by alarms", on, ecsapi.Deployment{RolloutState: RolloutFailed,
			RolloutStateReason: "ECS deployment alarms: alarm(s) errors, latency, p99 in ALARM state."}, "TRIGGERED", on.Alarms.AlarmNames, []string{"errors", "latency, p99"}},
		{"failed by the circuit breaker", on, ecsapi.Deployment{RolloutState: RolloutFailed,
			RolloutStateReason: "ECS deployment circuit breaker: tasks failed to start."}, "MONITORING", on.Alarms.AlarmNames, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deploymentAlarms(tt.dc, &tt.d)
			if got.Status != tt.status || !slices.Equal(got.AlarmNames, tt.names) || !slices.Equal(got.TriggeredAlarmNames, tt.triggered) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
