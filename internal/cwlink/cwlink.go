// Package cwlink is the contract between CloudWatch (internal/cloudwatch:
// metrics, alarms) and the parts that feed it and follow it: the ECS
// metrics computed from the agents' samples, Application Auto Scaling,
// and the service controller's deployment alarms. Each side depends on
// these interfaces, never on the other's package; internal/app joins them.
package cwlink

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// Recorder stores datapoints in the namespaces AWS itself publishes
// (AWS/ECS, ECS/ContainerInsights, AWS/ApplicationELB, AWS/NetworkELB), which PutMetricData
// refuses from clients. Datapoints are validated as PutMetricData's.
type Recorder interface {
	Record(ctx context.Context, namespace string, data []cloudwatchapi.MetricDatum) error
}

// Alarms manages metric alarms in-process, with the same inputs, checks
// and errors as the CloudWatch API (Application Auto Scaling's target
// tracking creates and deletes its TargetTracking-* alarms through it).
type Alarms interface {
	PutMetricAlarm(ctx context.Context, in *cloudwatchapi.PutMetricAlarmInput) (*struct{}, error)
	DeleteAlarms(ctx context.Context, in *cloudwatchapi.DeleteAlarmsInput) (*struct{}, error)
	DescribeAlarms(ctx context.Context, in *cloudwatchapi.DescribeAlarmsInput) (*cloudwatchapi.DescribeAlarmsOutput, error)
}

// AlarmEvent is an alarm's state when one of its actions is invoked.
type AlarmEvent struct {
	AlarmName string
	AlarmArn  string
	// State and PreviousState are OK, ALARM or INSUFFICIENT_DATA.
	State         string
	PreviousState string
	// Reason is the state reason CloudWatch recorded.
	Reason string
	// Timestamp is when the alarm entered State.
	Timestamp time.Time
	// Value is the last datapoint the alarm evaluated (NaN if none), and
	// Threshold the alarm's threshold: step scaling measures the breach
	// from them.
	Value     float64
	Threshold float64
}

// Invoker runs alarm actions that are not SNS topics: Application Auto
// Scaling policy ARNs (arn:aws:autoscaling:...:scalingPolicy:...). As on
// AWS, CloudWatch invokes an Auto Scaling action when the alarm enters the
// action's state and again each evaluation period while it stays in it;
// the policy's cooldown decides whether anything happens. An error is
// recorded in the alarm's history, never retried at once.
type Invoker interface {
	Invoke(ctx context.Context, actionArn string, ev AlarmEvent) error
}

// AlarmStates answers the current state of alarms by name, for the ECS
// service controller's deploymentConfiguration.alarms. An alarm that does
// not exist is absent from the map.
type AlarmStates interface {
	AlarmStates(ctx context.Context, names []string) (map[string]string, error)
}
