package ecs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Task scale-in protection: a task of a service protected with
// UpdateTaskProtection is not stopped by the service's scale-in or
// deployments until its protection expires or is turned off (the service
// controller reads it through ServiceTaskProtections). The expiry is kept
// in the task's record (record.Task.ProtectedUntil).

// Bounds of expiresInMinutes, as ECS has them: 1 minute to 48 hours, 2
// hours when not given.
const (
	protectionDefaultMinutes = 120
	protectionMaxMinutes     = 2880
	protectionMaxTasks       = 10
)

// failureTaskNotValid is ECS's failure reason for a task that cannot be
// protected: it is not a task of a service (or no longer runs).
const failureTaskNotValid = "TASK_NOT_VALID"

// protectedRef is a task of a protection request: its cluster and ID.
type protectedRef struct{ cluster, id string }

// protectionTasks checks the tasks of a protection request of cluster and
// resolves them to their cluster and ID. A Fargate pool host's agent calls
// with the pool's cluster: a task ARN's own cluster is the task's.
func (s *API) protectionTasks(cluster string, refs []string) ([]protectedRef, error) {
	if len(refs) == 0 {
		return nil, apierror.InvalidParameter("Tasks cannot be empty.")
	}
	if len(refs) > protectionMaxTasks {
		return nil, apierror.InvalidParameter("tasks can have at most %d items.", protectionMaxTasks)
	}
	out := make([]protectedRef, len(refs))
	for i, ref := range refs {
		tc := poolTaskCluster(cluster, ref)
		id, err := s.taskRef(tc, ref)
		if err != nil {
			return nil, err
		}
		out[i] = protectedRef{cluster: tc, id: id}
	}
	return out, nil
}

// protectedView is the protection of rec as ECS shows it at now.
func protectedView(rec *taskRecord, now time.Time) ecsapi.ProtectedTask {
	p := ecsapi.ProtectedTask{TaskArn: rec.Task.TaskArn}
	if rec.ProtectedUntil != nil && now.Before(rec.ProtectedUntil.Time) {
		p.ProtectionEnabled = true
		p.ExpirationDate = rec.ProtectedUntil
	}
	return p
}

// UpdateTaskProtection turns the scale-in protection of up to 10 tasks of
// services on (for expiresInMinutes, 1 to 2880, 120 by default, counted
// from now: a repeated call extends it) or off. A task that does not exist
// is a failure with reason MISSING; one that is not a service's, or has
// been asked to stop, a failure with reason TASK_NOT_VALID.
func (s *API) UpdateTaskProtection(ctx context.Context, in *ecsapi.UpdateTaskProtectionRequest) (*ecsapi.UpdateTaskProtectionResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	minutes := int32(protectionDefaultMinutes)
	if in.ExpiresInMinutes != nil {
		minutes = *in.ExpiresInMinutes
		if !in.ProtectionEnabled {
			return nil, apierror.InvalidParameter("expiresInMinutes can only be specified when protectionEnabled is true.")
		}
		if minutes < 1 || minutes > protectionMaxMinutes {
			return nil, apierror.InvalidParameter("expiresInMinutes must be between 1 and %d.", protectionMaxMinutes)
		}
	}
	refs, err := s.protectionTasks(cl.ClusterName, in.Tasks)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.UpdateTaskProtectionResponse{ProtectedTasks: []ecsapi.ProtectedTask{}, Failures: []ecsapi.Failure{}}
	for _, ref := range refs {
		arn := s.TaskARN(ref.cluster, ref.id)
		var failure string
		now := s.now()
		rec, err := store.Mutate(ctx, s.Store, taskKey(ref.cluster, ref.id), func(rec *taskRecord, exists bool) error {
			switch {
			case !exists:
				failure = "MISSING"
				return errSkip
			case !isServiceTask(&rec.Task) || rec.Task.DesiredStatus == taskStopped:
				failure = failureTaskNotValid
				return errSkip
			}
			if in.ProtectionEnabled {
				rec.ProtectedUntil = ecsapi.NewTimestamp(now.Add(time.Duration(minutes) * time.Minute).Truncate(time.Millisecond))
			} else {
				rec.ProtectedUntil = nil
			}
			rec.Task.Version++
			return nil
		})
		if errors.Is(err, errSkip) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: failure})
			continue
		}
		if err != nil {
			return nil, err
		}
		out.ProtectedTasks = append(out.ProtectedTasks, protectedView(rec, now))
	}
	return out, nil
}

// GetTaskProtection returns the scale-in protection of up to 10 tasks:
// unknown ones are failures with reason MISSING, tasks that are not a
// service's failures with reason TASK_NOT_VALID.
func (s *API) GetTaskProtection(ctx context.Context, in *ecsapi.GetTaskProtectionRequest) (*ecsapi.GetTaskProtectionResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	refs, err := s.protectionTasks(cl.ClusterName, in.Tasks)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.GetTaskProtectionResponse{ProtectedTasks: []ecsapi.ProtectedTask{}, Failures: []ecsapi.Failure{}}
	now := s.now()
	for _, ref := range refs {
		arn := s.TaskARN(ref.cluster, ref.id)
		var rec taskRecord
		_, err := s.Store.Get(ctx, taskKey(ref.cluster, ref.id), &rec)
		if errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		if !isServiceTask(&rec.Task) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: failureTaskNotValid})
			continue
		}
		out.ProtectedTasks = append(out.ProtectedTasks, protectedView(&rec, now))
	}
	return out, nil
}

// errSkip aborts a store.Mutate that has nothing to write.
var errSkip = errors.New("skip")

// isServiceTask reports whether t was started by a service (group
// service:NAME).
func isServiceTask(t *ecsapi.Task) bool {
	name, ok := strings.CutPrefix(t.Group, "service:")
	return ok && name != ""
}

// ServiceTaskProtections returns when the scale-in protection of each task
// of service name of cluster expires, for those that have one (expired
// ones too), by task ARN, from the server's live state once it reflects
// every write committed when called.
func (s *API) ServiceTaskProtections(ctx context.Context, cluster, name string) (map[string]time.Time, error) {
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	return v.ServiceTaskProtections(ctx, cluster, name), nil
}
