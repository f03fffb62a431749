package authz

import (
	"context"
	"reflect"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/iampolicy"
)

// Instance is a container instance whose own key signed a request.
type Instance struct {
	// Cluster and ContainerInstance are the ARNs of the instance.
	Cluster           string
	ContainerInstance string
}

// Instances knows the container instances' own keys and what they may
// touch.
type Instances interface {
	// Instance returns the instance whose key akid is, if it is one; err
	// when that could not be found out (the store unreachable).
	Instance(ctx context.Context, akid string) (inst Instance, ok bool, err error)
	// TaskOwner returns the ARN of the container instance that task (an
	// ARN or ID in cluster) is assigned to, "" when the task is unknown or
	// unassigned.
	TaskOwner(ctx context.Context, cluster, task string) (string, error)
	// LogDestination returns where container of task (an ARN or ID in
	// cluster) may ship its output with the awslogs driver; ok is false
	// when the task or container is unknown or does not log with awslogs.
	LogDestination(ctx context.Context, cluster, task, container string) (dest LogDestination, ok bool, err error)
}

// LogDestination is a container's awslogs configuration, as its task
// definition names it, and the container's runtime ID when known.
type LogDestination struct {
	Group, StreamPrefix, Stream, RuntimeID string
}

// Allows reports whether the container (named container, of task) may
// write to group and stream: the group is its awslogs-group; the stream is
// PREFIX/CONTAINER/TASK_ID with awslogs-stream-prefix, else awslogs-stream
// when set, else the container's runtime ID (a Docker container ID while
// the server does not know it yet), as ECS names them.
func (d LogDestination) Allows(task, container, group, stream string) bool {
	if d.Group == "" || group != d.Group {
		return false
	}
	switch {
	case d.StreamPrefix != "":
		return stream == d.StreamPrefix+"/"+container+"/"+lastPart(task)
	case d.Stream != "":
		return stream == d.Stream
	case d.RuntimeID != "":
		return stream == d.RuntimeID
	}
	if len(stream) != 64 {
		return false
	}
	for _, r := range stream {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// instanceOps are the ECS operations an instance key may call besides
// Gantry's extensions (every Gantry* operation is the agent's): the
// agent's, as ECS's agent calls them.
var instanceOps = map[string]bool{
	"RegisterContainerInstance":    true, // its own only: re-registration at start
	"DiscoverPollEndpoint":         true,
	"SubmitTaskStateChange":        true,
	"SubmitContainerStateChange":   true,
	"SubmitAttachmentStateChanges": true,
	// The task metadata endpoint's task protection (ECS_AGENT_URI), for
	// the tasks assigned to the instance only (their Tasks member).
	"GetTaskProtection":    true,
	"UpdateTaskProtection": true,
}

// instancePullOps are the ECR operations an instance key may call: those
// that pull images (AmazonEC2ContainerServiceforEC2Role's ECR actions).
var instancePullOps = map[string]bool{
	"GetAuthorizationToken":       true,
	"BatchGetImage":               true,
	"GetDownloadUrlForLayer":      true,
	"BatchCheckLayerAvailability": true,
}

// IssueOperation is the extension operation that issues an instance's own
// key. Keys with a policy need ecs:RegisterContainerInstance on the cluster
// to call it (the join key's permission), as the action that matters.
const IssueOperation = "GantryIssueInstanceCredentials"

// authorizeInstance lets an instance key make the agent's operations for
// its own instance, in its own cluster, about the tasks assigned to it, and
// nothing else.
func (a *Authorizer) authorizeInstance(ctx context.Context, c *Call, inst Instance) error {
	action := Action(c.Service, c.Operation)
	ar := arns{prefix: "arn:aws:ecs:" + a.region + ":" + a.account + ":"}
	deny := func(resource string) error {
		a.logger.Info("access denied", "request_id", c.RequestID, "principal", c.Principal, "action", action, "resource", resource, "decision", "instance key")
		return apierror.New(apierror.CodeAccessDenied, "%s", iampolicy.DeniedMessage(c.Principal, action, resource, iampolicy.ImplicitDeny))
	}
	if c.Service == "ecr" && instancePullOps[c.Operation] {
		return nil // pulling task images, as ECS's instance role may
	}
	if c.Service != "ecs" || !instanceOps[c.Operation] && !strings.HasPrefix(c.Operation, "Gantry") {
		res, _ := Resources(a.region, a.account, c.Service, c.Operation, c.Input)
		return deny(res[0])
	}
	v := reflect.ValueOf(c.Input)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return deny("*")
	}
	cluster := inst.Cluster
	if hasField(v, "Cluster") {
		cl := str(v, "Cluster")
		if clusterName(cl) != clusterName(inst.Cluster) {
			return deny(ar.cluster(cl))
		}
	}
	for _, name := range []string{"ContainerInstance", "ContainerInstanceArn"} {
		if !hasField(v, name) {
			continue
		}
		ci := str(v, name)
		if ci == "" && c.Operation == "RegisterContainerInstance" {
			// An instance key re-registers its own instance; it does not
			// make new ones.
			return deny(ar.cluster(cluster))
		}
		if ci != "" && lastPart(ci) != lastPart(inst.ContainerInstance) {
			return deny(ar.child("container-instance", cluster, ci))
		}
	}
	if c.Operation == "GetTaskProtection" || c.Operation == "UpdateTaskProtection" {
		tasks := list(v, "Tasks")
		if len(tasks) == 0 {
			return deny(ar.child("task", cluster, "*"))
		}
		for _, task := range tasks {
			owner, err := a.instances.TaskOwner(ctx, clusterName(cluster), task)
			if err != nil {
				return err
			}
			if owner == "" || lastPart(owner) != lastPart(inst.ContainerInstance) {
				return deny(ar.child("task", cluster, task))
			}
		}
	}
	if task := str(v, "Task"); task != "" {
		owner, err := a.instances.TaskOwner(ctx, clusterName(cluster), task)
		if err != nil {
			return err
		}
		if owner == "" || lastPart(owner) != lastPart(inst.ContainerInstance) {
			return deny(ar.child("task", cluster, task))
		}
	}
	if c.Operation == "GantryPutLogEvents" {
		// Only where its own task's container logs: its awslogs-group and
		// the stream ECS names for it.
		task, container, group, stream := str(v, "Task"), str(v, "ContainerName"), str(v, "LogGroupName"), str(v, "LogStreamName")
		resource := "arn:aws:logs:" + a.region + ":" + a.account + ":log-group:" + group + ":log-stream:" + stream
		if task == "" {
			return deny(resource)
		}
		dest, ok, err := a.instances.LogDestination(ctx, clusterName(cluster), task, container)
		if err != nil {
			return err
		}
		if !ok || !dest.Allows(task, container, group, stream) {
			return deny(resource)
		}
	}
	return nil
}

func lastPart(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
