// Package usage turns the task usage agents report (GantryPutTaskMetrics,
// through ecs.UsageIngester) into the CloudWatch metrics Amazon ECS
// publishes, and hands them to CloudWatch through cwlink.Recorder:
//
//	AWS/ECS  CPUUtilization, MemoryUtilization   ClusterName, and ClusterName+ServiceName
//	         CPUReservation, MemoryReservation   ClusterName
//	ECS/ContainerInsights (when the cluster's containerInsights setting is
//	enabled or enhanced; a new cluster takes the account setting)
//	         CpuUtilized, CpuReserved, MemoryUtilized, MemoryReserved,
//	         NetworkRxBytes, NetworkTxBytes, StorageReadBytes,
//	         StorageWriteBytes, TaskCount        ClusterName; +ServiceName; +TaskDefinitionFamily
//	         RunningTaskCount, PendingTaskCount, DesiredTaskCount   ClusterName+ServiceName
//	         ContainerInstanceCount, ServiceCount                   ClusterName
//
// # Windows
//
// Reports are gathered into windows of Period (DefaultPeriod) by the time
// the agent measured them; a window is published once Grace has passed
// after its end, as one datum per metric and dimension set, stamped with
// the window's start. A task reported twice in a window counts once, with
// its figures averaged (CPU, memory) or added (bytes). A report for a
// window already published is dropped (counted in Dropped). When the
// server stops, Run publishes the windows still open with what they have,
// so an acknowledged report is not lost; a server that crashes loses the
// reports of its open windows (at most Period + Grace).
//
// # How the figures are computed (as the ECS developer guide defines them)
//
// Service utilisation is used over reserved: the Average is
// 100 x (CPU units used by the service's tasks) / (CPU units they
// reserve), Minimum and Maximum the utilisation of the least and the most
// loaded task, SampleCount the number of tasks measured and Sum
// Average x SampleCount, so that CloudWatch's Average (Sum / SampleCount)
// over several windows is the mean of the windows' averages weighted by
// their tasks. A task's reservation is its task-level size, else the sum
// of its containers' (memoryReservation before memory), as placement
// counts it; tasks that reserve no CPU are left out of CPU utilisation.
// Cluster utilisation is 100 x (used by every task measured in the
// cluster) / (registered by its ACTIVE and DRAINING instances), and
// CPUReservation and MemoryReservation 100 x reserved / registered over
// the same instances; each is one sample a window. As on ECS, a cluster or
// service without running (reporting) tasks gets no datapoints.
//
// # Several servers
//
// An agent reports to one server at a time and each report is ingested
// once (the agent never resends it), so no sample is recorded twice. The
// tasks of one service may report to different servers: each server then
// publishes a datum for the part it saw, and CloudWatch combines them as
// statistic sets (Average over the whole service stays used over
// reserved only when the servers' parts are alike; documented in
// docs/architecture.md).
package usage
