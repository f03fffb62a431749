// Package service is the service controller: it keeps each ECS service's
// tasks running and rolls out its deployments, as the Amazon ECS service
// scheduler does.
//
// One server of the control plane leads (an Elector); it turns every
// change that may concern a service (the service record, one of its tasks,
// an instance or agent connection of its cluster) into a key of a
// de-duplicating work queue (a ChangeFeed), and resyncs every service
// periodically. A worker reconciles a key in three steps:
//
//	observe: the service record and its revision (ServiceRecords), the
//	         service's tasks and the cluster's instances (ClusterObserver)
//	plan:    pure; desired + observed + now -> record to write, tasks to
//	         stop with reasons, tasks to start, events, next look
//	apply:   write the record guarded by its revision and the leadership,
//	         stop tasks, start them (TaskRunner), then prepend the events
//
// The controller declares these small interfaces (deps.go) and the
// application provides them; it imports neither the ECS operations nor the
// store, and matches their errors by type (ErrNotFound, ErrConflict,
// ErrNoInstances, *RefusedError).
//
// A conflict or failure requeues the key with backoff; a timer in the plan
// (health check grace, lost-instance grace, start throttle) requeues it
// when it ends. Because each step reads what is, a crash or a new leader
// halfway through only repeats work that is still needed.
//
// Policies (plan.go): REPLICA services keep desiredCount tasks of the
// PRIMARY deployment, within maximumPercent live and minimumHealthyPercent
// healthy; tasks of older deployments and of DRAINING instances are
// replaced; tasks whose agent has been disconnected longer than
// LostInstanceGrace are stopped and replaced; a RUNNING task whose health
// is UNHEALTHY after healthCheckGracePeriodSeconds is replaced; a deployment
// whose tasks keep failing to start is throttled (ThrottleBase doubling to
// ThrottleMax) and, with the circuit breaker, FAILED and rolled back to the
// last COMPLETED deployment. A task counts as healthy only after it has run
// for MinHealthyTime; one that stops by itself sooner counts as failed, as
// one that failed to start. DAEMON services run one task on every ACTIVE,
// connected instance that meets their memberOf constraints. Services with
// the BLUE_GREEN, LINEAR or CANARY strategy start each new deployment
// beside the old one in their alternate target groups and move traffic
// by listener rule weights (bluegreen.go).
package service
