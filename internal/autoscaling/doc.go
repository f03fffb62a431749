// Package autoscaling owns Application Auto Scaling for ECS services
// (ServiceNamespace ecs, ScalableDimension ecs:service:DesiredCount): the
// scalable targets, their scaling policies and scheduled actions, the
// scaling activities they record, and the engine that changes a service's
// desired count when CloudWatch invokes a policy (Invoke, the
// cwlink.Invoker of the server) or a scheduled action comes due (Run, on
// the elected leader).
//
// # Storage
//
// A scalable target is one etcd record (autoscaling/targets/ecs/<resource
// id>/<dimension>) that holds the target, its tags, its policies, its
// scheduled actions and its cooldown state, so that every change to a
// target and what belongs to it is one guarded write (store.Mutate) and a
// deregistration removes all of it at once. An index record per ARN
// (autoscaling/arns/<target id>) resolves the tagging operations' ARNs.
// Scaling activities are records of their own under autoscaling/activities,
// keyed newest first, kept six weeks as AWS keeps them.
//
// # Scaling
//
// The desired count is read from and written to ECS through Services: the
// write names the count the decision was computed from
// (SetDesiredCount(from, to)), so two decisions made concurrently never
// both apply; the loser recomputes from the new count. Target tracking's
// alarms (TargetTracking-<resource id>-AlarmHigh-<uuid> and -AlarmLow-)
// are created and deleted through cwlink.Alarms, with AWS's shapes except
// the period (DefaultAlarmPeriod, 10 s instead of 60 s: see
// docs/architecture.md).
package autoscaling
