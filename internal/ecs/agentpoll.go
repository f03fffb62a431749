package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// AgentTTL is how long an agent counts as connected after its last call.
// Agents poll at most MaxPollWait apart, so a live agent never lapses.
const AgentTTL = state.AgentTTL

// MaxPollWait bounds how long GantryPollTasks waits for a change.
const MaxPollWait = 5 * time.Second

// leases holds the lease of recently stopped tasks, used until
// stoppedUntil.
type leases struct {
	mu           sync.Mutex
	stopped      store.LeaseID
	stoppedUntil time.Time
}

// markConnected records that the agent of instance id called (see
// state.Agents).
func (s *API) markConnected(ctx context.Context, cluster, id string) {
	s.State.Agents.Connected(ctx, cluster, id)
}

// connectedSet returns the IDs of the cluster's instances whose agents are
// connected.
func (s *API) connectedSet(ctx context.Context, cluster string) (map[string]bool, error) {
	p := prefixOf("connected", cluster)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("connected agents: %w", err)
	}
	out := make(map[string]bool, len(resp.Items))
	for _, kv := range resp.Items {
		k := kv.Key
		out[k[strings.LastIndex(k, "/")+1:]] = true
	}
	return out, nil
}

// GantryPollTasks returns the tasks assigned to the calling agent's
// instance that are not yet STOPPED: all their ARNs, and in full, with their
// task definitions, those changed since the revision of the previous answer
// (all of them without one; none with omitTasks). Given a revision and
// waitSeconds, it first waits (at most MaxPollWait) until something
// changes. Each call also tells the control plane the agent is connected,
// records the agent's image pre-pulls (ImagePulls), and answers the images
// the service controller wants it to pre-pull (PrePullImages, prepull.go);
// a pre-pull request this server writes ends a waiting poll at once.
//
// The assignments come from the placement views, which follow them through
// the etcd watch: a poll reads etcd only for the tasks that changed, and a
// waiting poll waits on its instance's entry in the views.
func (s *API) GantryPollTasks(ctx context.Context, in *ecsapi.GantryPollTasksRequest) (*ecsapi.GantryPollTasksResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	iid, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	if in.Revision > 0 {
		// The revision may come from another server's answer.
		v.Sync(ctx, in.Revision)
	}
	status, err := s.instanceStatus(ctx, cluster, iid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.InvalidParameter("Container instance %s is not registered in cluster %s.", in.ContainerInstance, cluster)
	}
	if err != nil {
		return nil, err
	}
	if status != instanceInactive {
		s.markConnected(ctx, cluster, iid)
		if err := s.putImagePulls(ctx, cluster, iid, in.ImagePulls); err != nil {
			return nil, err
		}
	}
	k := cluster + "/" + iid
	arn := s.ContainerInstanceARN(cluster, iid)
	prePull, err := s.prePullImages(ctx, cluster, arn)
	if err != nil {
		return nil, err
	}
	if in.Revision > 0 && in.WaitSeconds > 0 {
		wait := time.Duration(in.WaitSeconds) * time.Second
		if wait > MaxPollWait {
			wait = MaxPollWait
		}
		timer := time.NewTimer(wait)
		wake := s.prePullWake()
		for waiting := true; waiting; {
			ch := v.AssignChange(k, in.Revision)
			if ch == nil {
				break
			}
			select {
			case <-ch:
			case <-wake:
				// A pre-pull request was written: answer with it.
				waiting = false
			case <-timer.C:
				waiting = false
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			}
		}
		timer.Stop()
		if status != instanceInactive {
			s.markConnected(ctx, cluster, iid)
		}
		if prePull, err = s.prePullImages(ctx, cluster, arn); err != nil {
			return nil, err
		}
	}
	// A placement notes its assignments as soon as it is written, maybe
	// before the views have followed the watch that far: the answer's
	// revision must cover them, or the next poll would see them again.
	v.Sync(ctx, v.AssignedAt(k))
	rev, ids, changed := v.Assigned(k, in.Revision)
	out := &ecsapi.GantryPollTasksResponse{Revision: rev, TaskArns: make([]string, len(ids)),
		Tasks: []ecsapi.GantryAssignedTask{}, InstanceStatus: status, PrePullImages: prePull}
	for i, tid := range ids {
		out.TaskArns[i] = s.TaskARN(assignedTask(cluster, tid))
	}
	if len(changed) == 0 || in.OmitTasks {
		return out, nil
	}
	// The changed tasks, read in one transaction.
	gets := make([]store.Op, len(changed))
	for i, tid := range changed {
		gets[i] = store.OpGet(taskKey(assignedTask(cluster, tid)))
	}
	tresp, err := s.Store.Txn(ctx, nil, gets...)
	if err != nil {
		return nil, fmt.Errorf("poll tasks: %w", err)
	}
	var logMode string
	for _, r := range tresp.Reads {
		if len(r.Items) == 0 {
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(r.Items[0].Value, &rec); err != nil {
			return nil, fmt.Errorf("poll tasks: decode task: %w", err)
		}
		at := ecsapi.GantryAssignedTask{Task: rec.Task}
		// A deactivating task runs on until its targets have drained.
		at.Task.DesiredStatus = rec.AgentDesiredStatus()
		if td, err := s.lookupTaskDef(ctx, rec.Task.TaskDefinitionArn); err != nil {
			return nil, err
		} else if td != nil {
			at.TaskDefinition = td.TaskDefinition
		}
		if err := s.applyLogDriverMode(ctx, &at.TaskDefinition, &logMode); err != nil {
			return nil, err
		}
		out.Tasks = append(out.Tasks, at)
	}
	return out, nil
}

// assignedTask returns the cluster and ID of a task assigned to an
// instance of cluster, as the placement views name it: ID for a task of
// cluster, CLUSTER/ID for one of another cluster (on a Fargate pool host).
func assignedTask(cluster, name string) (string, string) {
	if c, id, ok := strings.Cut(name, "/"); ok {
		return c, id
	}
	return cluster, name
}

// applyLogDriverMode gives every awslogs container of def whose
// logConfiguration has no mode option the account's defaultLogDriverMode
// (non-blocking unless the account default says blocking: ECS's default
// since June 2025), as ECS applies the setting when it launches the task.
// def's container definitions are copied before they are changed (def
// comes from the task definition cache). *mode caches the setting's
// value for one poll.
func (s *API) applyLogDriverMode(ctx context.Context, def *ecsapi.TaskDefinition, mode *string) error {
	needs := false
	for _, c := range def.ContainerDefinitions {
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" && lc.Options["mode"] == "" {
			needs = true
		}
	}
	if !needs {
		return nil
	}
	if *mode == "" {
		st, err := s.effectiveSetting(ctx, s.rootPrincipal(), "defaultLogDriverMode")
		if err != nil {
			return fmt.Errorf("poll tasks: defaultLogDriverMode: %w", err)
		}
		*mode = st.Value
	}
	defs := slices.Clone(def.ContainerDefinitions)
	for i, c := range defs {
		lc := c.LogConfiguration
		if lc == nil || lc.LogDriver != "awslogs" || lc.Options["mode"] != "" {
			continue
		}
		copied := *lc
		copied.Options = maps.Clone(lc.Options)
		if copied.Options == nil {
			copied.Options = map[string]string{}
		}
		copied.Options["mode"] = *mode
		defs[i].LogConfiguration = &copied
	}
	def.ContainerDefinitions = defs
	return nil
}

// instanceStatus returns an instance's status from the placement views,
// which every poll would otherwise read and decode from etcd; an instance
// the views do not have yet (just registered) is read from etcd.
// store.ErrNotFound if there is none.
func (s *API) instanceStatus(ctx context.Context, cluster, id string) (string, error) {
	if v, err := s.placementViews(ctx); err == nil {
		if rec, _, ok := v.Instance(cluster, id); ok && rec.Instance.Status != "" {
			return rec.Instance.Status, nil
		}
	}
	var rec instanceRecord
	if _, err := s.Store.Get(ctx, instanceKey(cluster, id), &rec); err != nil {
		return "", err
	}
	return rec.Instance.Status, nil
}
