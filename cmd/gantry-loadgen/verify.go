package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// listing is what ListTasks says of the run's tasks.
type listing struct {
	Listed   int // tasks of the run listed (desiredStatus RUNNING)
	Pages    int
	Missing  int // returned by RunTask, not listed
	Extra    int // listed, not returned by RunTask
	Duration time.Duration
}

// listTasks pages through ListTasks (startedBy the run) and compares what
// it lists with what RunTask returned.
func listTasks(ctx context.Context, c *caller, cluster, runID string, placed []placedTask) (listing, error) {
	start := time.Now()
	want := make(map[string]bool, len(placed))
	for _, t := range placed {
		want[t.ARN] = true
	}
	var l listing
	seen := make(map[string]bool, len(placed))
	page := int32(100)
	in := &ecsapi.ListTasksRequest{Cluster: cluster, StartedBy: runID, MaxResults: &page}
	for {
		var out ecsapi.ListTasksResponse
		if err := c.call(ctx, "ListTasks", in, &out, nil); err != nil {
			return l, fmt.Errorf("ListTasks page %d: %w", l.Pages+1, err)
		}
		l.Pages++
		for _, arn := range out.TaskArns {
			if seen[arn] {
				return l, fmt.Errorf("ListTasks listed %s twice", arn)
			}
			seen[arn] = true
			if !want[arn] {
				l.Extra++
			}
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	l.Listed = len(seen)
	for arn := range want {
		if !seen[arn] {
			l.Missing++
		}
	}
	l.Duration = time.Since(start)
	return l, nil
}

// census is what DescribeContainerInstances says of the fleet.
type census struct {
	Instances    int
	Pending      int // sum of pendingTasksCount
	Running      int // sum of runningTasksCount
	Disconnected int // agentConnected false
	// Overcommitted counts instances with negative remaining CPU or
	// memory; Inconsistent those whose remaining resources are not the
	// registered ones minus their tasks' needs; Mismatched those whose
	// task count differs from the tasks RunTask returned on them.
	Overcommitted, Inconsistent, Mismatched int
	MinTasks, MaxTasks                      int
	Zones                                   map[string]int // tasks by availability zone
	Duration                                time.Duration
}

// describeInstances reads every instance (100 a call) and checks its
// accounting against the tasks RunTask put there.
func describeInstances(ctx context.Context, c *caller, cluster string, arns []string, placed []placedTask) (census, error) {
	start := time.Now()
	expect := make(map[string]int, len(arns))
	for _, t := range placed {
		expect[t.Instance]++
	}
	s := census{Zones: map[string]int{}, MinTasks: -1}
	for i := 0; i < len(arns); i += 100 {
		batch := arns[i:min(i+100, len(arns))]
		var out ecsapi.DescribeContainerInstancesResponse
		in := &ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: batch}
		if err := c.call(ctx, "DescribeContainerInstances", in, &out, nil); err != nil {
			return s, fmt.Errorf("DescribeContainerInstances: %w", err)
		}
		if len(out.Failures) > 0 {
			f := out.Failures[0]
			return s, fmt.Errorf("DescribeContainerInstances: %d failures, e.g. %s: %s", len(out.Failures), f.Arn, f.Reason)
		}
		for _, ci := range out.ContainerInstances {
			s.Instances++
			n := int(ci.PendingTasksCount + ci.RunningTasksCount)
			s.Pending += int(ci.PendingTasksCount)
			s.Running += int(ci.RunningTasksCount)
			if !ci.AgentConnected {
				s.Disconnected++
			}
			cpu, mem := resource(ci.RemainingResources, "CPU"), resource(ci.RemainingResources, "MEMORY")
			if cpu < 0 || mem < 0 {
				s.Overcommitted++
			}
			if resource(ci.RegisteredResources, "CPU")-cpu != int64(n*taskCPU) ||
				resource(ci.RegisteredResources, "MEMORY")-mem != int64(n*taskMemory) {
				s.Inconsistent++
			}
			if n != expect[ci.ContainerInstanceArn] {
				s.Mismatched++
			}
			if s.MinTasks < 0 || n < s.MinTasks {
				s.MinTasks = n
			}
			s.MaxTasks = max(s.MaxTasks, n)
			s.Zones[attribute(ci.Attributes, "ecs.availability-zone")] += n
		}
	}
	s.Duration = time.Since(start)
	return s, nil
}

func resource(rs []ecsapi.Resource, name string) int64 {
	for _, r := range rs {
		if r.Name == name {
			return int64(r.IntegerValue)
		}
	}
	return 0
}

func attribute(as []ecsapi.Attribute, name string) string {
	for _, a := range as {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}
