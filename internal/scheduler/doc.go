// Package scheduler places tasks on container instances as Amazon ECS does
// for the EC2 launch type. It is pure logic: no store, no network, no clock,
// and randomness only from a seed in the request.
//
// # Placement
//
// For each task, Place keeps the instances of the Cluster view that can
// take it (filters), ranks those by the strategies (rankers) and picks the
// best; it need not check every instance for every task (see Cost
// below):
//
//	instances
//	  -> status ACTIVE -> agent connected -> requiresAttributes
//	  -> CPU -> MEMORY -> PORTS -> PORTS_UDP -> GPU
//	  -> constraints, in order                  (the first check an instance
//	  -> candidates                              fails is its failure reason)
//	  -> strategy 1 -> ties -> strategy 2 -> ties -> ... -> seeded random
//	  -> instance
//
// The strategies and constraints:
//
//   - binpack cpu|memory ranks first the instance with the least of that
//     resource remaining.
//   - spread instanceId|host ranks first the instance with the fewest tasks
//     of the request's group; spread attribute:NAME the instance whose value
//     of NAME has the fewest tasks of the group across all instances with
//     that value (instances without NAME share one value).
//   - random ends the list: it breaks every tie, so strategies after it
//     cannot matter. Ties left after the last strategy are broken at random
//     too, so equal instances share load instead of the first one in the
//     view's order taking it all.
//   - With no strategy, placement is random: ECS's default for RunTask
//     ("The default task placement strategies depend on whether you run
//     tasks manually (standalone tasks) or within a service"; for services
//     it is spread over attribute:ecs.availability-zone, which
//     DefaultServiceStrategies returns for the service controller).
//   - distinctInstance rejects an instance that holds a task of the group,
//     counting the tasks placed earlier in the same request; memberOf
//     rejects one its cluster query expression (package cql) does not
//     select. runningTasksCount counts RUNNING tasks only, as ECS's does,
//     so tasks just placed (pending) do not raise it.
//
// Each placement reserves its resources at once, so the tasks of one
// request (RunTask count 10, or a service's 500 missing tasks) never
// overcommit an instance. A task that does not fit ends the request: the
// tasks after it would not fit either, and Plan.Failures reports, for every
// instance, the first check that refused it, one ecsapi.Failure per
// instance as RunTask does.
//
// Cost: with a strategy that ranks (binpack, spread), finding the
// candidates is one pass over the instances reading a packed per-instance
// record (remaining CPU, memory and GPUs, and whether the instance is
// ACTIVE with its agent connected) and, when the request needs them, a
// per-instance flag (group task count, static host port taken, cached
// filter result), plus an evaluation per instance of any memberOf
// expression that reads task:group or runningTasksCount. For the common
// strategy lists (binpack cpu|memory or spread instanceId|host alone,
// spread attribute:NAME alone or followed by one of those) a request of
// more than one task makes that pass once and keeps the candidates indexed
// by rank for the rest of the request: a placement changes only the
// instance it lands on (its remaining resources, its group count, its
// value's group count), so each later task costs a few steps, plus one per
// value of NAME, instead of a pass. Binpack over instances that all differ
// in remaining resource re-reads the remaining candidates when the
// instance being packed fills, and sorts them after a few such re-reads.
// Other strategy lists, and requests of one task, make the pass for every
// task. Either way the choice is uniform among all the candidates that tie
// for best. With random or no strategy, where every candidate
// ties, Place instead draws instances uniformly at random from the seed and
// takes the first that passes the same checks: about 1/p draws when a
// fraction p of the instances can take the task, so a few in a cluster that
// is not nearly full, whatever its size. After 64 draws that all miss it
// falls back to the pass and a uniform choice among all the candidates, so
// the placement is uniform over the candidates either way. Building a
// request reads the entries of the request's group in the view's per-group
// index (the instances holding its tasks) only for distinctInstance and
// spread, and those of its static host ports in the per-port index; it
// clears a per-instance array for distinctInstance or spread
// instanceId|host and for static host ports. It never scans tasks.
// Results that do not depend on tasks (requiresAttributes, memberOf
// expressions that read only instance fields, the values of a spread
// attribute) are cached in the view and recomputed only after an instance
// is added or removed or changes a field a query can read; the cache key of
// an expression is its canonical form, so RunTask calls with the same
// constraint share it.
//
// # The view and its concurrency
//
// A Cluster is the server's in-memory view of one cluster, fed by the store:
//
//	etcd watch ──► PutInstance / RemoveInstance      (container instance records)
//	           ──► PutTask / RemoveTask               (tasks holding resources: placed until STOPPED)
//	RunTask, service controller ──► Place ──► store txn ──► Commit | Rollback
//
// Remaining resources are derived, never stored in the view: registered
// capacity minus the demand of the tasks on the instance. So an instance
// update and the tasks on it can arrive in any order (a task whose instance
// is unknown is held aside and counted when the instance appears), and a
// task put twice, or put after its own tentative reservation, counts once:
// tasks are keyed by ARN.
//
// All methods take one mutex; Place holds it for the whole request, so
// choosing and reserving are atomic with respect to other Place calls and
// to watch updates. The protocol with the store:
//
//  1. The caller picks the new tasks' ARNs and calls Place. The placed tasks
//     now hold tentative reservations: other Place calls see the resources
//     taken.
//  2. The caller writes the tasks in one etcd transaction (internal/ecs
//     batches many requests into one), guarded by revisions that every
//     placement on the same instances rewrites: internal/state keeps one
//     slot key per shard of a cluster's instances, so that two servers
//     that placed on the same instance from stale views cannot both
//     commit: the loser's guard fails. (Placement.InstanceRevision, the
//     instance record's revision the view had, is there for callers that
//     guard on the records instead.)
//  3. On success the caller calls Commit(plan.PlacedIDs()...); the watch
//     may later deliver the same tasks through PutTask, which replaces the
//     reservations without counting them twice (a caller that knows the
//     tasks are its own may skip them). On failure it calls Rollback with
//     the same IDs, and retries once the view has caught up with the
//     store; Rollback leaves alone any ID the watch has already confirmed.
//
// When the watch must restart from a fresh list (compaction), build a new
// Cluster from the list and swap it in; placements still in flight on the
// old view are protected by their transaction's guard.
//
// Instance and Instances return copies with the remaining resources, used
// ports and task counts DescribeContainerInstances reports
// (InstanceState.RemainingResources), and Match evaluates a
// ListContainerInstances filter against the view.
package scheduler
