// Package stats samples the resource usage of the agent's containers and
// ships it, per task, to the control plane, which turns it into the
// AWS/ECS and ECS/ContainerInsights CloudWatch metrics.
//
// Every Interval (DefaultInterval) the Sampler lists the agent's running
// containers and reads each one's counters once from the container engine
// (runtime.StatsReader: Docker's one-shot stats, all requests in
// parallel, since the Engine answers them on its collector's next tick).
// From two successive readings of a container it derives the CPU it used
// (CPU units, 1,024 to a vCPU, averaged over the interval), its memory in
// use and the network and block I/O bytes of the interval; it sums them
// per task and sends one GantryPutTaskMetrics request for the
// instance. A container's first reading only primes it, so a new task's
// figures start one interval after its container started; a counter that
// goes backwards (the container restarted) primes again.
//
//	runtime (Docker)  --ListContainers, ContainerStats-->  Sampler
//	Sampler  --per-task deltas-->  Sink (GantryPutTaskMetrics)  --> server
//
// Delivery is at most once: a request that fails is logged and not sent
// again, so the server never counts an interval twice; the next interval
// carries the next figures (CloudWatch sees a gap, as it would on AWS).
//
// The latest figures per task stay readable (Latest) for the agent's own
// Prometheus exposition and, later, the task metadata endpoint's /stats.
package stats
