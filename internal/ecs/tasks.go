package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// Task statuses, in the order a task goes through them.
const (
	taskProvisioning   = "PROVISIONING"
	taskPending        = "PENDING"
	taskActivating     = "ACTIVATING"
	taskRunning        = "RUNNING"
	taskDeactivating   = "DEACTIVATING"
	taskStopping       = "STOPPING"
	taskDeprovisioning = "DEPROVISIONING"
	taskStopped        = "STOPPED"
)

// taskRank and containerRank are taskstatus's order.
// TODO(lead): call taskstatus directly from statechange.go and delete these.
func taskRank(s string) int      { return taskstatus.Rank(s) }
func containerRank(s string) int { return taskstatus.ContainerRank(s) }

// taskRef resolves a task given by ID or ARN.
func (s *API) taskRef(cluster, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		a, ok := ParseARN(ref)
		if !ok || a.Type != "task" {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid task ID or ARN.", ref)
		}
		parts := strings.Split(a.Path, "/")
		if len(parts) == 2 && parts[0] != cluster {
			return "", apierror.InvalidParameter("Task %s does not belong to cluster %s.", ref, cluster)
		}
		return parts[len(parts)-1], nil
	}
	if ref == "" || strings.ContainsAny(ref, "/:") {
		return "", apierror.InvalidParameter("Invalid identifier: Unexpected format for task: %s.", ref)
	}
	return ref, nil
}

// taskDefForRun finds the task definition a RunTask or StartTask names:
// family (latest ACTIVE revision), family:revision or ARN, from the
// server's watch-fed view of task definitions. The result is shared: do not
// modify it.
func (s *API) taskDefForRun(ctx context.Context, ref string) (*ecsapi.TaskDefinition, error) {
	rec, err := s.lookupTaskDef(ctx, ref)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.TaskDefinition.Status == "DELETE_IN_PROGRESS" {
		return nil, apierror.Client("Unable to describe task definition.")
	}
	return &rec.TaskDefinition, nil
}

// taskDefForService finds the task definition a service's deployment
// runs. Unlike RunTask, a service keeps running and scaling on a
// revision that has since been deregistered (INACTIVE) or is being
// deleted (DELETE_IN_PROGRESS), as in ECS.
func (s *API) taskDefForService(ctx context.Context, ref string) (*ecsapi.TaskDefinition, error) {
	rec, err := s.lookupTaskDef(ctx, ref)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, apierror.Client("Unable to describe task definition.")
	}
	return &rec.TaskDefinition, nil
}

// runOptions is what RunTask and StartTask share.
type runOptions struct {
	td               *ecsapi.TaskDefinition
	overrides        *ecsapi.TaskOverride
	startedBy, group string
	launchType       string
	// capacityProvider, when set, is the capacity provider the tasks run
	// on: only its instances take them.
	capacityProvider string
	// hostCluster, when set, is the cluster whose instances take the
	// tasks: the Fargate pool's (fargate.go); else the tasks' own.
	hostCluster          string
	tags                 []ecsapi.Tag
	networkConfiguration *ecsapi.NetworkConfiguration
	enableExecuteCommand bool
	// forService marks the tasks of a service, which may run an INACTIVE
	// revision.
	forService bool
}

func (s *API) validateRun(o *runOptions) error {
	if len(o.startedBy) > 128 {
		return apierror.InvalidParameter("startedBy may contain up to 128 characters.")
	}
	if len(o.group) > 255 {
		return apierror.InvalidParameter("group may contain up to 255 characters.")
	}
	if o.launchType == "EXTERNAL" && o.td.NetworkMode == "awsvpc" {
		return apierror.InvalidParameter("The awsvpc network mode is not supported for the EXTERNAL launch type. Use the bridge, host or none network mode.")
	}
	if o.td.Status == "INACTIVE" && !o.forService {
		return apierror.Client("TaskDefinition is inactive")
	}
	if err := validateTags(o.tags); err != nil {
		return err
	}
	if o.overrides != nil {
		names := map[string]bool{}
		for _, c := range o.td.ContainerDefinitions {
			names[c.Name] = true
		}
		for _, co := range o.overrides.ContainerOverrides {
			if co.Name == "" {
				return apierror.InvalidParameter("Container overrides must name a container.")
			}
			if !names[co.Name] {
				return apierror.InvalidParameter("Override for container named %s is not a container in the TaskDefinition.", co.Name)
			}
			if co.Cpu != nil && *co.Cpu < 0 || co.Memory != nil && *co.Memory < 4 && *co.Memory != 0 {
				return apierror.InvalidParameter("Invalid cpu or memory override for container %s.", co.Name)
			}
		}
	}
	if s.CheckTaskDefinition != nil {
		if err := s.CheckTaskDefinition(*o.td); err != nil {
			return unsupported(err)
		}
	}
	if s.CheckOverrides != nil && o.overrides != nil {
		if err := s.CheckOverrides(*o.td, *o.overrides); err != nil {
			return unsupported(err)
		}
	}
	return nil
}

// unsupported is the error for members the runtime cannot honour.
func unsupported(err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	return apierror.InvalidParameter("Gantry's container runtime cannot honour: %s", msg)
}

// newTask builds the record of a task about to be placed on instance.
func (s *API) newTask(cluster string, inst *ecsapi.ContainerInstance, o *runOptions, now time.Time, id string) *taskRecord {
	arn := s.TaskARN(cluster, id)
	ov := o.overrides
	if ov == nil {
		ov = &ecsapi.TaskOverride{}
	}
	if ov.ContainerOverrides == nil {
		ov.ContainerOverrides = []ecsapi.ContainerOverride{}
	}
	if ov.InferenceAcceleratorOverrides == nil {
		ov.InferenceAcceleratorOverrides = []ecsapi.InferenceAcceleratorOverride{}
	}
	d, _ := demandOf(o.td, o.overrides)
	t := ecsapi.Task{
		TaskArn:              arn,
		ClusterArn:           s.ClusterARN(cluster),
		TaskDefinitionArn:    o.td.TaskDefinitionArn,
		ContainerInstanceArn: inst.ContainerInstanceArn,
		Overrides:            ov,
		LastStatus:           taskProvisioning,
		DesiredStatus:        taskRunning,
		Cpu:                  strconv.FormatInt(d.CPU, 10),
		Memory:               strconv.FormatInt(d.Memory, 10),
		StartedBy:            o.startedBy,
		Group:                o.group,
		LaunchType:           ecsapi.LaunchType(o.launchType),
		CapacityProviderName: o.capacityProvider,
		CreatedAt:            ecsapiNow(now),
		Version:              1,
		Tags:                 o.tags,
		HealthStatus:         "UNKNOWN",
		EnableExecuteCommand: o.enableExecuteCommand,
		Attachments:          []ecsapi.Attachment{},
		Attributes:           []ecsapi.Attribute{{Name: "ecs.cpu-architecture", Value: attrValue(inst.Attributes, "ecs.cpu-architecture")}},
		AvailabilityZone:     attrValue(inst.Attributes, "ecs.availability-zone"),
	}
	if t.Group == "" {
		t.Group = "family:" + o.td.Family
	}
	ovs := map[string]ecsapi.ContainerOverride{}
	for _, co := range ov.ContainerOverrides {
		ovs[co.Name] = co
	}
	for _, cd := range o.td.ContainerDefinitions {
		c := ecsapi.Container{
			ContainerArn:      s.ContainerARN(cluster, id, newID()[:8]+"-"+newID()[:4]+"-"+newID()[:4]+"-"+newID()[:4]+"-"+newID()[:12]),
			TaskArn:           arn,
			Name:              cd.Name,
			Image:             cd.Image,
			LastStatus:        "PENDING",
			NetworkInterfaces: []ecsapi.NetworkInterface{},
			Cpu:               strconv.Itoa(int(cd.Cpu)),
			HealthStatus:      "UNKNOWN",
		}
		if cd.HealthCheck == nil {
			c.HealthStatus = ""
		}
		co := ovs[cd.Name]
		if co.Cpu != nil {
			c.Cpu = strconv.Itoa(int(*co.Cpu))
		}
		if m := co.Memory; m != nil {
			c.Memory = strconv.Itoa(int(*m))
		} else if cd.Memory != nil {
			c.Memory = strconv.Itoa(int(*cd.Memory))
		}
		if m := co.MemoryReservation; m != nil {
			c.MemoryReservation = strconv.Itoa(int(*m))
		} else if cd.MemoryReservation != nil {
			c.MemoryReservation = strconv.Itoa(int(*cd.MemoryReservation))
		}
		t.Containers = append(t.Containers, c)
	}
	return &taskRecord{Task: t}
}

func attrValue(attrs []ecsapi.Attribute, name string) string {
	for _, a := range attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// instanceIDOf is the ID at the end of a container instance ARN.
func instanceIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// taskIDOf is the ID at the end of a task ARN.
func taskIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// runLaunchType checks the launch type of a RunTask, EC2 when empty.
func runLaunchType(t ecsapi.LaunchType) (string, error) {
	lt := string(t)
	switch lt {
	case "":
		lt = "EC2"
	case "EC2", "EXTERNAL", launchTypeFargate:
	default:
		return "", apierror.InvalidParameter("Invalid launchType %s.", lt)
	}
	return lt, nil
}

// RunTask starts count tasks of a task definition on instances of the
// cluster that have room for them, placed by the scheduler with the
// request's strategies and constraints. Tasks that cannot be placed are
// reported under failures, one per instance with the reason it refused.
func (s *API) RunTask(ctx context.Context, in *ecsapi.RunTaskRequest) (*ecsapi.RunTaskResponse, error) {
	cl, err := s.activeClusterInfo(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster, crev, rev := cl.name, cl.crev, cl.rev
	count := int32(1)
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > 10 {
		return nil, apierror.InvalidParameter("Count must be between 1 and 10.")
	}
	if in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0 {
		return nil, apierror.InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	lt, err := runLaunchType(in.LaunchType)
	if err != nil {
		return nil, err
	}
	strategy, err := runStrategy(cl, in.LaunchType, in.CapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	td, err := s.taskDefForRun(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	o := &runOptions{td: td, overrides: in.Overrides, startedBy: in.StartedBy, group: in.Group, launchType: lt,
		tags: in.Tags, networkConfiguration: in.NetworkConfiguration, enableExecuteCommand: in.EnableExecuteCommand}
	if lt == launchTypeFargate || fargateStrategy(strategy) {
		if err := checkFargateRun(td, in.PlatformVersion); err != nil {
			return nil, err
		}
		o.useFargate("")
		lt = launchTypeFargate
	} else if in.PlatformVersion != "" {
		return nil, apierror.InvalidParameter("The platform version must be null when specifying an %s launch type.", lt)
	}
	if err := s.validateRun(o); err != nil {
		return nil, err
	}
	if err := s.runExtras(ctx, cluster, o, lt, in.PropagateTags, in.EnableECSManagedTags, len(in.VolumeConfigurations)); err != nil {
		return nil, err
	}
	var token *runToken
	if in.ClientToken != "" {
		var done *ecsapi.RunTaskResponse
		if token, done, err = s.claimRunToken(ctx, cluster, in); err != nil || done != nil {
			return done, err
		}
	}
	var recs []*taskRecord
	var failures []ecsapi.Failure
	if len(strategy) > 0 {
		recs, failures, err = s.placeByStrategy(ctx, cluster, crev, rev, o, int(count), strategy, nil, in.PlacementConstraints, in.PlacementStrategy)
	} else {
		recs, failures, err = s.place(ctx, cluster, crev, rev, o, int(count), in.PlacementConstraints, in.PlacementStrategy)
	}
	if err != nil {
		if token != nil {
			token.release(ctx)
		}
		return nil, err
	}
	out := &ecsapi.RunTaskResponse{Tasks: make([]ecsapi.Task, 0, len(recs)), Failures: failures}
	if token != nil {
		token.complete(ctx, recs, failures)
	}
	if out.Failures == nil {
		out.Failures = []ecsapi.Failure{}
	}
	for _, r := range recs {
		out.Tasks = append(out.Tasks, s.taskView(r, false))
	}
	return out, nil
}

// StartTask starts a task on each of the container instances named: the
// hook for schedulers of the caller's own. Each instance must have room for
// the task; the others are failures.
func (s *API) StartTask(ctx context.Context, in *ecsapi.StartTaskRequest) (*ecsapi.StartTaskResponse, error) {
	cl, crev, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) < 1 || len(in.ContainerInstances) > 10 {
		return nil, apierror.InvalidParameter("containerInstances must have between 1 and 10 items.")
	}
	td, err := s.taskDefForRun(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	o := &runOptions{td: td, overrides: in.Overrides, startedBy: in.StartedBy, group: in.Group, launchType: "EC2",
		tags: in.Tags, networkConfiguration: in.NetworkConfiguration, enableExecuteCommand: in.EnableExecuteCommand}
	if err := s.validateRun(o); err != nil {
		return nil, err
	}
	if err := s.runExtras(ctx, cl.ClusterName, o, "EC2", in.PropagateTags, in.EnableECSManagedTags, len(in.VolumeConfigurations)); err != nil {
		return nil, err
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	v.SyncNow(ctx)
	out := &ecsapi.StartTaskResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ContainerInstances {
		iid, err := s.instanceID(cl.ClusterName, ref)
		if err != nil {
			return nil, err
		}
		arn := s.ContainerInstanceARN(cl.ClusterName, iid)
		rec, _, ok := v.Instance(cl.ClusterName, iid)
		if !ok || rec.Instance.Status == instanceInactive {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		// Placement restricted to the one instance named.
		only := ecsapi.PlacementConstraint{Type: "memberOf", Expression: "ec2InstanceId == " + quoteCQL(rec.Instance.Ec2InstanceId)}
		recs, failures, err := s.place(ctx, cl.ClusterName, crev, 0, o, 1, []ecsapi.PlacementConstraint{only}, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out.Tasks = append(out.Tasks, s.taskView(r, false))
		}
		if len(recs) == 0 {
			reason := "RESOURCE"
			for _, f := range failures {
				if f.Arn == arn {
					reason = f.Reason
				}
			}
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: reason})
		}
	}
	return out, nil
}

// quoteCQL quotes a value for the cluster query language.
func quoteCQL(v string) string { return "'" + strings.ReplaceAll(v, "'", "") + "'" }

// taskView is the task as the API shows it.
func (s *API) taskView(t *taskRecord, withTags bool) ecsapi.Task {
	v := t.Task
	if t.Deactivating && v.LastStatus == taskRunning {
		v.LastStatus = "DEACTIVATING"
	}
	if !withTags {
		v.Tags = nil
	}
	if v.LaunchType == launchTypeFargate {
		// A Fargate task runs on no container instance of its cluster.
		v.ContainerInstanceArn = ""
	}
	return v
}

// StopTask asks for a task to stop. The agent stops its containers (SIGTERM,
// then SIGKILL after each container's stopTimeout) and reports STOPPED.
func (s *API) StopTask(ctx context.Context, in *ecsapi.StopTaskRequest) (*ecsapi.StopTaskResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	if len(in.Reason) > 1024 {
		return nil, apierror.InvalidParameter("reason may contain up to 1024 characters.")
	}
	id, err := s.taskRef(cluster, in.Task)
	if err != nil {
		return nil, err
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	rec, err := s.requestStop(ctx, cluster, id, reason)
	if err != nil {
		return nil, err
	}
	v := s.taskView(rec, false)
	return &ecsapi.StopTaskResponse{Task: &v}, nil
}

// requestStop sets a task's desired status to STOPPED with reason and
// tells its instance. A task that never got an instance, or whose instance
// is gone, is stopped at once.
func (s *API) requestStop(ctx context.Context, cluster, id, reason string) (*taskRecord, error) {
	return s.requestStopCode(ctx, cluster, id, reason, "")
}

// requestStopCode is requestStop with stop code code (when not empty) in
// place of the one the task's starter implies.
func (s *API) requestStopCode(ctx context.Context, cluster, id, reason string, code ecsapi.TaskStopCode) (*taskRecord, error) {
	for attempt := 0; attempt < 50; attempt++ {
		var rec taskRecord
		rev, err := s.Store.Get(ctx, taskKey(cluster, id), &rec)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.InvalidParameter("The referenced task was not found.")
		}
		if err != nil {
			return nil, err
		}
		t := &rec.Task
		if t.DesiredStatus == taskStopped {
			return &rec, nil
		}
		now := s.now()
		wasWaiting := waiting(t)
		t.DesiredStatus = taskStopped
		t.StoppingAt = ecsapiNow(now)
		if t.StoppedReason == "" {
			t.StoppedReason = reason
		}
		if t.StopCode == "" && code != "" {
			t.StopCode = code
		}
		if t.StopCode == "" {
			t.StopCode = "UserInitiated"
			if strings.HasPrefix(t.StartedBy, "ecs-svc/") {
				t.StopCode = "ServiceSchedulerInitiated"
			}
		}
		if wasWaiting {
			// Waiting in PROVISIONING, on no instance: nothing runs.
			t.LastStatus = taskStopped
			t.StoppedAt = ecsapiNow(now)
			t.ExecutionStoppedAt = t.StoppedAt
			for i := range t.Containers {
				t.Containers[i].LastStatus = taskStopped
			}
		}
		if t.LastStatus == taskRunning {
			lb, err := s.behindLoadBalancer(ctx, cluster, t.Group, t.StartedBy)
			if err != nil {
				return nil, err
			}
			rec.Deactivating = lb
		}
		t.Version++
		b, err := json.Marshal(&rec)
		if err != nil {
			return nil, err
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(taskKey(cluster, id), rev)}, store.OpPut(taskKey(cluster, id), b))
		if err != nil {
			return nil, fmt.Errorf("stop task %s: %w", id, err)
		}
		if resp.Succeeded {
			return &rec, nil
		}
	}
	return nil, fmt.Errorf("stop task %s: %w", id, store.ErrConflict)
}

// DescribeTasks returns tasks by ID or ARN; unknown ones are failures with
// reason MISSING.
func (s *API) DescribeTasks(ctx context.Context, in *ecsapi.DescribeTasksRequest) (*ecsapi.DescribeTasksResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, apierror.InvalidParameter("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, apierror.InvalidParameter("tasks can have at most 100 items.")
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, apierror.InvalidParameter("Invalid include value %s.", f)
		}
		withTags = true
	}
	ids := make([]string, len(in.Tasks))
	// The cluster and every task in one read.
	gets := make([]store.Op, 1, 1+len(in.Tasks))
	gets[0] = store.OpCount(clusterKey(cluster))
	for i, ref := range in.Tasks {
		if ids[i], err = s.taskRef(cluster, ref); err != nil {
			return nil, err
		}
		gets = append(gets, store.OpGet(taskKey(cluster, ids[i])))
	}
	resp, err := s.Store.Txn(ctx, nil, gets...)
	if err != nil {
		return nil, fmt.Errorf("describe tasks: %w", err)
	}
	if resp.Reads[0].Count == 0 {
		return nil, apierror.ClusterNotFound()
	}
	out := &ecsapi.DescribeTasksResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
	for i, id := range ids {
		kvs := resp.Reads[i+1].Items
		if len(kvs) == 0 {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.TaskARN(cluster, id), Reason: "MISSING"})
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
			return nil, fmt.Errorf("decode task %s: %w", id, err)
		}
		out.Tasks = append(out.Tasks, s.taskView(&rec, withTags))
	}
	return out, nil
}

// ListTasks lists task ARNs of a cluster, filtered as ECS filters them:
// desiredStatus RUNNING unless asked otherwise.
func (s *API) ListTasks(ctx context.Context, in *ecsapi.ListTasksRequest) (*ecsapi.ListTasksResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	if in.ServiceName != "" && in.StartedBy != "" {
		return nil, apierror.InvalidParameter("startedBy and serviceName cannot both be specified.")
	}
	want := string(in.DesiredStatus)
	switch want {
	case "":
		want = taskRunning
	case taskRunning, taskPending, taskStopped:
	default:
		return nil, apierror.InvalidParameter("Invalid desiredStatus %s.", want)
	}
	instARN := ""
	if in.ContainerInstance != "" {
		iid, err := s.instanceID(cluster, in.ContainerInstance)
		if err != nil {
			return nil, err
		}
		instARN = s.ContainerInstanceARN(cluster, iid)
	}
	lt := string(in.LaunchType)
	family := in.Family
	svc := ""
	if in.ServiceName != "" {
		svc = "ecs-svc/"
		name, err := s.serviceRef(cluster, in.ServiceName)
		if err != nil {
			return nil, err
		}
		if _, _, err := s.ServiceRecord(ctx, cluster, name); errors.Is(err, store.ErrNotFound) {
			return nil, apierror.ServiceNotFound()
		} else if err != nil {
			return nil, err
		}
	}
	scope := strings.Join([]string{"tasks", cluster, want, instARN, lt, family, in.StartedBy, in.ServiceName}, "|")
	if instARN != "" || family != "" || in.StartedBy != "" || svc != "" {
		// A selective filter: answered from the task catalogue rather
		// than by decoding every task record of the cluster.
		f := state.TaskFilter{DesiredStatus: want, LaunchType: lt, Family: family, StartedBy: in.StartedBy}
		if instARN != "" {
			f.InstanceID = record.IDOf(instARN)
		}
		if svc != "" {
			name := in.ServiceName
			if i := strings.LastIndex(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			f.Group = "service:" + name
		}
		return s.listTasksFromCatalog(ctx, cluster, scope, in.NextToken, limit, f)
	}
	arns, next, err := listARNs(ctx, s, prefixOf("tasks", cluster), scope, in.NextToken, limit,
		func(rec *taskRecord) bool {
			t := &rec.Task
			switch want {
			case taskPending:
				if t.DesiredStatus != taskRunning || t.LastStatus == taskRunning || taskRank(t.LastStatus) > taskRank(taskRunning) {
					return false
				}
			default:
				if t.DesiredStatus != want {
					return false
				}
			}
			if instARN != "" && t.ContainerInstanceArn != instARN {
				return false
			}
			if lt != "" && string(t.LaunchType) != lt {
				return false
			}
			if family != "" && familyOfARN(t.TaskDefinitionArn) != family {
				return false
			}
			if in.StartedBy != "" && t.StartedBy != in.StartedBy {
				return false
			}
			if svc != "" && !taskOfService(t, in.ServiceName) {
				return false
			}
			return true
		}, func(rec *taskRecord) string { return rec.Task.TaskArn })
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListTasksResponse{TaskArns: arns, NextToken: next}, nil
}

// listTasksFromCatalog is ListTasks' page of the tasks of cluster that f
// selects, read from the placement views' task catalogue; its tokens carry
// the last task's key, as scanPage's do.
func (s *API) listTasksFromCatalog(ctx context.Context, cluster, scope, nextToken string, limit int, f state.TaskFilter) (*ecsapi.ListTasksResponse, error) {
	after, err := decodeToken(nextToken, scope)
	if err != nil {
		return nil, err
	}
	prefix := prefixOf("tasks", cluster)
	if after != "" && !strings.HasPrefix(after, prefix) {
		return nil, apierror.InvalidParameter("Invalid nextToken.")
	}
	views, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	ids, more := views.ListTasks(ctx, cluster, f, strings.TrimPrefix(after, prefix), limit)
	out := &ecsapi.ListTasksResponse{TaskArns: make([]string, len(ids))}
	for i, id := range ids {
		out.TaskArns[i] = s.TaskARN(cluster, id)
	}
	if more {
		out.NextToken = encodeToken(prefix+ids[len(ids)-1], scope)
	}
	return out, nil
}

// taskOfService reports whether a task belongs to service name (by ARN or
// name): ECS marks them with the group service:NAME.
func taskOfService(t *ecsapi.Task, name string) bool {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return t.Group == "service:"+name
}

// familyOfARN is the family of a task definition ARN.
func familyOfARN(arn string) string {
	a, ok := ParseARN(arn)
	if !ok {
		return ""
	}
	f, _, _ := strings.Cut(a.Path, ":")
	return f
}
