package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// EssentialContainerExitedReason is the stoppedReason ECS gives a task
// stopped because an essential container exited.
const EssentialContainerExitedReason = "Essential container in task exited"

// taskState is a state report from an agent, whichever call carried it.
type taskState struct {
	cluster, task string
	status        string
	reason        string
	stopCode      string
	health        string
	containers    []ecsapi.GantryContainerState
	pullStartedAt *ecsapi.Timestamp
	pullStoppedAt *ecsapi.Timestamp
	execStoppedAt *ecsapi.Timestamp
	startedAt     *ecsapi.Timestamp
	attachments   []ecsapi.AttachmentStateChange
	networks      []ecsapi.Attachment
}

// SubmitTaskStateChange records a task state change reported by an agent.
func (s *API) SubmitTaskStateChange(ctx context.Context, in *ecsapi.SubmitTaskStateChangeRequest) (*ecsapi.SubmitTaskStateChangeResponse, error) {
	st := taskState{cluster: in.Cluster, task: in.Task, status: in.Status, reason: in.Reason,
		pullStartedAt: in.PullStartedAt, pullStoppedAt: in.PullStoppedAt, execStoppedAt: in.ExecutionStoppedAt,
		attachments: in.Attachments}
	for _, c := range in.Containers {
		st.containers = append(st.containers, ecsapi.GantryContainerState{ContainerName: c.ContainerName,
			RuntimeId: c.RuntimeId, Status: c.Status, ExitCode: c.ExitCode, Reason: c.Reason,
			NetworkBindings: c.NetworkBindings, ImageDigest: c.ImageDigest})
	}
	if err := s.applyTaskState(ctx, &st); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitTaskStateChangeResponse{Acknowledgment: "true"}, nil
}

// SubmitContainerStateChange records one container's state change.
func (s *API) SubmitContainerStateChange(ctx context.Context, in *ecsapi.SubmitContainerStateChangeRequest) (*ecsapi.SubmitContainerStateChangeResponse, error) {
	if in.ContainerName == "" {
		return nil, apierror.InvalidParameter("containerName is required.")
	}
	st := taskState{cluster: in.Cluster, task: in.Task, containers: []ecsapi.GantryContainerState{{
		ContainerName: in.ContainerName, RuntimeId: in.RuntimeId, Status: in.Status, ExitCode: in.ExitCode,
		Reason: in.Reason, NetworkBindings: in.NetworkBindings}}}
	if err := s.applyTaskState(ctx, &st); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitContainerStateChangeResponse{Acknowledgment: "true"}, nil
}

// GantrySubmitTaskState records the full state of a task, its containers
// and their health, as the Gantry agent reports it.
func (s *API) GantrySubmitTaskState(ctx context.Context, in *ecsapi.GantrySubmitTaskStateRequest) (*ecsapi.GantrySubmitTaskStateResponse, error) {
	st := taskState{cluster: in.Cluster, task: in.Task, status: in.Status, reason: in.Reason,
		stopCode: string(in.StopCode), health: string(in.HealthStatus), containers: in.Containers,
		pullStartedAt: in.PullStartedAt, pullStoppedAt: in.PullStoppedAt, execStoppedAt: in.ExecutionStoppedAt,
		startedAt: in.StartedAt, attachments: in.Attachments, networks: in.NetworkAttachments}
	if err := s.applyTaskState(ctx, &st); err != nil {
		return nil, err
	}
	return &ecsapi.GantrySubmitTaskStateResponse{Acknowledgment: "true"}, nil
}

// applyTaskState moves a task (and its instance's accounting) forward to
// what the agent reports. Statuses never go backwards, so replays and
// reports that cross in flight are harmless.
func (s *API) applyTaskState(ctx context.Context, st *taskState) error {
	cluster, err := s.clusterName(st.cluster)
	if err != nil {
		return err
	}
	cluster = poolTaskCluster(cluster, st.task)
	id, err := s.taskRef(cluster, st.task)
	if err != nil {
		return err
	}
	if st.status != "" && taskRank(st.status) == 0 {
		return apierror.InvalidParameter("Invalid task status %s.", st.status)
	}
	for _, c := range st.containers {
		if c.Status != "" && containerRank(c.Status) == 0 {
			return apierror.InvalidParameter("Invalid container status %s.", c.Status)
		}
	}
	for attempt := 0; attempt < 50; attempt++ {
		var rec taskRecord
		trev, err := s.Store.Get(ctx, taskKey(cluster, id), &rec)
		if errors.Is(err, store.ErrNotFound) {
			return apierror.InvalidParameter("The referenced task was not found.")
		}
		if err != nil {
			return err
		}
		changed := s.mergeTaskState(&rec.Task, st)
		if !changed {
			return nil
		}
		rec.Task.Version++
		tb, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		put := store.OpPut(taskKey(cluster, id), tb)
		if rec.Task.LastStatus == taskStopped {
			// Stopped tasks stay describable for about an hour, as in ECS.
			lease, err := s.stoppedTaskLease(ctx)
			if err != nil {
				return err
			}
			put = store.OpPutLeased(taskKey(cluster, id), tb, lease)
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(taskKey(cluster, id), trev)}, put)
		if err != nil {
			return fmt.Errorf("task state %s: %w", id, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("task state %s: %w", id, store.ErrConflict)
}

// mergeTaskState applies st to t and reports whether anything changed.
func (s *API) mergeTaskState(t *ecsapi.Task, st *taskState) bool {
	before, _ := json.Marshal(t)
	now := s.now()
	if st.pullStartedAt != nil && t.PullStartedAt == nil {
		t.PullStartedAt = st.pullStartedAt
	}
	if st.pullStoppedAt != nil && t.PullStoppedAt == nil {
		t.PullStoppedAt = st.pullStoppedAt
	}
	if st.execStoppedAt != nil && t.ExecutionStoppedAt == nil {
		t.ExecutionStoppedAt = st.execStoppedAt
	}
	for _, cs := range st.containers {
		for i := range t.Containers {
			c := &t.Containers[i]
			if c.Name != cs.ContainerName {
				continue
			}
			if cs.RuntimeId != "" {
				c.RuntimeId = cs.RuntimeId
			}
			if cs.ImageDigest != "" {
				c.ImageDigest = cs.ImageDigest
			}
			if containerRank(cs.Status) > containerRank(c.LastStatus) {
				c.LastStatus = cs.Status
			}
			if cs.ExitCode != nil {
				c.ExitCode = cs.ExitCode
			}
			if cs.Reason != "" {
				c.Reason = cs.Reason
			}
			if cs.NetworkBindings != nil {
				c.NetworkBindings = cs.NetworkBindings
			}
			if cs.HealthStatus != "" {
				c.HealthStatus = cs.HealthStatus
			}
		}
	}
	if st.health != "" {
		t.HealthStatus = ecsapi.HealthStatus(st.health)
	}
	if taskRank(st.status) > taskRank(t.LastStatus) {
		t.LastStatus = st.status
		if taskRank(st.status) >= taskRank(taskRunning) && t.StartedAt == nil && st.status == taskRunning {
			t.StartedAt = ecsapiNow(now)
			if st.startedAt != nil {
				t.StartedAt = st.startedAt
			}
			t.Connectivity = "CONNECTED"
			t.ConnectivityAt = t.StartedAt
		}
		if taskRank(st.status) > taskRank(taskRunning) {
			// The task is on its way down, whoever decided it.
			if t.DesiredStatus != taskStopped {
				t.DesiredStatus = taskStopped
			}
			if t.StoppingAt == nil {
				t.StoppingAt = ecsapiNow(now)
			}
			if t.StoppedReason == "" && st.reason != "" {
				t.StoppedReason = st.reason
			}
			if t.StopCode == "" {
				switch {
				case st.stopCode != "":
					t.StopCode = ecsapi.TaskStopCode(st.stopCode)
				case t.StartedAt == nil:
					t.StopCode = "TaskFailedToStart"
				case strings.HasPrefix(st.reason, EssentialContainerExitedReason):
					t.StopCode = "EssentialContainerExited"
				}
			}
		}
		if st.status == taskStopped {
			t.StoppedAt = ecsapiNow(now)
			if t.ExecutionStoppedAt == nil {
				t.ExecutionStoppedAt = t.StoppedAt
			}
			for i := range t.Containers {
				if t.Containers[i].LastStatus != "STOPPED" {
					t.Containers[i].LastStatus = "STOPPED"
				}
			}
			t.Connectivity = ""
		}
	}
	for _, n := range st.networks {
		replaced := false
		for i := range t.Attachments {
			if t.Attachments[i].Id == n.Id {
				t.Attachments[i] = n
				replaced = true
			}
		}
		if !replaced {
			t.Attachments = append(t.Attachments, n)
		}
	}
	for _, a := range st.attachments {
		for i := range t.Attachments {
			if strings.HasSuffix(a.AttachmentArn, t.Attachments[i].Id) {
				t.Attachments[i].Status = a.Status
			}
		}
	}
	after, _ := json.Marshal(t)
	return string(before) != string(after)
}

// StoppedTaskRetention is how long a STOPPED task stays describable.
const StoppedTaskRetention = time.Hour

// stoppedTaskLease returns an etcd lease that expires about
// StoppedTaskRetention from now. One lease serves every task stopped within
// five minutes, so expiring stopped tasks costs one lease per five minutes.
func (s *API) stoppedTaskLease(ctx context.Context) (store.LeaseID, error) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	now := s.now()
	if s.leases.stopped != 0 && now.Before(s.leases.stoppedUntil) {
		return s.leases.stopped, nil
	}
	id, err := s.Store.Grant(ctx, StoppedTaskRetention)
	if err != nil {
		return 0, fmt.Errorf("grant stopped-task lease: %w", err)
	}
	s.leases.stopped, s.leases.stoppedUntil = id, now.Add(5*time.Minute)
	return id, nil
}
