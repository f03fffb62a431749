package ecs

import (
	"context"
	"math"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
)

// TaskUsage is one task's usage over an interval as its agent measured it
// (GantryPutTaskMetrics), with what the server knows of the task: its
// group and what it reserved on its instance.
type TaskUsage struct {
	ecsapi.GantryTaskMetrics
	// TaskArn is the task's full ARN and Group its task group
	// (service:NAME for a service's tasks).
	TaskArn string
	Group   string
	// CPUReserved (units) and MemoryReserved (MiB) are the task's
	// reservation: the task-level size, else the sum of its containers'
	// (memoryReservation before memory), as placement counts it.
	CPUReserved    int64
	MemoryReserved int64
}

// UsageIngester takes the usage of tasks the agents report
// (GantryPutTaskMetrics) into the CloudWatch metrics computed from it.
// The application sets it on API.Usage.
type UsageIngester interface {
	// IngestTaskUsage takes the usage of cluster's tasks over the period
	// ending at at, reported by one agent. It must not block for long.
	IngestTaskUsage(cluster string, at time.Time, period time.Duration, tasks []TaskUsage)
}

// maxMetricsPeriod bounds PeriodSeconds: an agent samples at least once
// an hour.
const maxMetricsPeriod = 3600

// maxClockSkew is how far an agent's timestamp may be from the server's
// clock before the server's is used instead: an agent whose clock is off
// still has its figures in the current window.
const maxClockSkew = 30 * time.Second

// GantryPutTaskMetrics takes one interval's usage of the tasks on the
// calling agent's instance. Tasks the server does not know as holding
// resources on that instance (stopped since, or not its own) are skipped;
// the answer counts those accepted. A Fargate pool host's report names the
// pool's cluster: each task's usage is taken under the cluster of its ARN. Delivery is at most once: the agent
// does not send an interval again.
func (s *API) GantryPutTaskMetrics(ctx context.Context, in *ecsapi.GantryPutTaskMetricsRequest) (*ecsapi.GantryPutTaskMetricsResponse, error) {
	if s.Usage == nil {
		return nil, apierror.New(apierror.CodeUnsupportedFeature, "This server keeps no task metrics.")
	}
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	iid, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	if in.Timestamp == nil || in.Timestamp.IsZero() {
		return nil, apierror.InvalidParameter("timestamp is required.")
	}
	if !(in.PeriodSeconds > 0 && in.PeriodSeconds <= maxMetricsPeriod) {
		return nil, apierror.InvalidParameter("periodSeconds must be greater than 0 and at most %d.", maxMetricsPeriod)
	}
	for _, t := range in.Tasks {
		if bad(t.CpuUsed) || bad(t.MemoryUsedMiB) || t.NetworkRxBytes < 0 || t.NetworkTxBytes < 0 ||
			t.StorageReadBytes < 0 || t.StorageWriteBytes < 0 || t.Containers < 0 {
			return nil, apierror.InvalidParameter("The figures of task %s must be finite and not negative.", t.Task)
		}
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	// A Fargate pool host reports the tasks of every cluster: each task's
	// usage goes to its own cluster (and service), never to the pool's.
	host := v.Cluster(cluster)
	byCluster := map[string][]TaskUsage{}
	var order []string
	accepted := 0
	for _, t := range in.Tasks {
		tc := poolTaskCluster(cluster, t.Task)
		id, err := s.taskRef(tc, t.Task)
		if err != nil {
			continue
		}
		arn := s.TaskARN(tc, id)
		// The view of the instance's own cluster accounts for the tasks on
		// it, a pool host's from other clusters included.
		st, ok := host.Task(arn)
		if !ok || record.IDOf(st.InstanceARN) != iid || !st.Running {
			continue
		}
		if _, seen := byCluster[tc]; !seen {
			order = append(order, tc)
		}
		byCluster[tc] = append(byCluster[tc], TaskUsage{GantryTaskMetrics: t, TaskArn: arn, Group: st.Group,
			CPUReserved: st.Demand.CPU, MemoryReserved: st.Demand.Memory})
		accepted++
	}
	if accepted > 0 {
		period := time.Duration(in.PeriodSeconds * float64(time.Second))
		at, now := in.Timestamp.Time, s.now()
		if at.Sub(now).Abs() > maxClockSkew {
			at = now
		}
		for _, tc := range order {
			s.Usage.IngestTaskUsage(tc, at, period, byCluster[tc])
		}
	}
	return &ecsapi.GantryPutTaskMetricsResponse{Accepted: int32(accepted)}, nil
}

// bad reports whether a figure is negative or not a finite number.
func bad(f float64) bool { return f < 0 || math.IsNaN(f) || math.IsInf(f, 0) }

// ClusterCapacity is the registered and reserved resources of a cluster's
// ACTIVE and DRAINING container instances, as the AWS/ECS CPUReservation,
// MemoryReservation and cluster CPUUtilization and MemoryUtilization count
// them.
type ClusterCapacity struct {
	// Instances is the number of ACTIVE and DRAINING instances.
	Instances int
	// RegisteredCPU (units) and RegisteredMemory (MiB) are their
	// registered resources; ReservedCPU and ReservedMemory what tasks
	// hold of them.
	RegisteredCPU, RegisteredMemory int64
	ReservedCPU, ReservedMemory     int64
	// RunningTasks and PendingTasks count the tasks on them.
	RunningTasks, PendingTasks int
}

// Capacity returns cluster's capacity from the placement views.
func (s *API) Capacity(ctx context.Context, cluster string) (ClusterCapacity, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return ClusterCapacity{}, err
	}
	var out ClusterCapacity
	for _, in := range v.Cluster(cluster).Instances() {
		if in.Status != instanceActive && in.Status != instanceDraining {
			continue
		}
		out.Instances++
		out.RegisteredCPU += in.CPU
		out.RegisteredMemory += in.Memory
		out.ReservedCPU += in.CPU - in.RemainingCPU
		out.ReservedMemory += in.Memory - in.RemainingMemory
		out.RunningTasks += in.RunningTasks
		out.PendingTasks += in.PendingTasks
	}
	return out, nil
}
