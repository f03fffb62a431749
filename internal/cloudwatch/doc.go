// Package cloudwatch owns the CloudWatch API of a Gantry server: metrics
// (PutMetricData, GetMetricStatistics, GetMetricData with metric math,
// ListMetrics) over the embedded datapoint store
// (internal/cloudwatch/metricstore, Pebble), and metric alarms
// (PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric,
// DescribeAlarmHistory, DeleteAlarms, SetAlarmState, Enable/
// DisableAlarmActions, tags) kept in etcd, with AWS's validation rules and
// error codes. It implements internal/cwlink: Recorder for the namespaces
// AWS publishes, Alarms and AlarmStates.
//
// # Alarm evaluation
//
// Run campaigns for the evaluator's leadership and, while it leads,
// evaluates every alarm each interval: the last EvaluationPeriods periods
// (ending with the current period once it has data), M out of N with
// TreatMissingData (decide, a pure function), a state change written in
// one transaction guarded by the alarm's revision and the leadership, and
// the actions of the new state invoked (Auto Scaling policies again each
// period while the alarm stays in it).
package cloudwatch
