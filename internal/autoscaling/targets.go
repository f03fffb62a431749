package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/store"
)

// targetRecord is a scalable target as stored, with everything that
// belongs to it: one record, one guarded write per change.
type targetRecord struct {
	ID       string                         `json:"id"`
	Target   autoscalingapi.ScalableTarget  `json:"target"`
	Tags     map[string]string              `json:"tags,omitempty"`
	Policies []autoscalingapi.ScalingPolicy `json:"policies,omitempty"`
	Actions  []actionRecord                 `json:"actions,omitempty"`
	Cooldown cooldown                       `json:"cooldown"`
	// NotScaled is the last not scaled activity recorded per policy
	// (reason/capacity), so that a repeated one is recorded once.
	NotScaled map[string]string `json:"notScaled,omitempty"`
}

// actionRecord is a scheduled action and the last occurrence it ran.
type actionRecord struct {
	Action  autoscalingapi.ScheduledAction `json:"action"`
	LastRun time.Time                      `json:"lastRun,omitzero"`
}

// cooldown is a target's scaling history that cooldowns look at: until
// ScaleOutUntil a scale-out counts from ScaleOutFrom (the capacity before
// it) and no scale-in happens; until ScaleInUntil no scale-in happens.
type cooldown struct {
	ScaleOutUntil time.Time `json:"scaleOutUntil,omitzero"`
	ScaleOutFrom  int32     `json:"scaleOutFrom,omitempty"`
	ScaleInUntil  time.Time `json:"scaleInUntil,omitzero"`
}

func (r *targetRecord) policy(name string) int {
	return slices.IndexFunc(r.Policies, func(p autoscalingapi.ScalingPolicy) bool { return p.PolicyName == name })
}

func (r *targetRecord) action(name string) int {
	return slices.IndexFunc(r.Actions, func(a actionRecord) bool { return a.Action.ScheduledActionName == name })
}

func (r *targetRecord) bounds() (int32, int32) {
	return *r.Target.MinCapacity, *r.Target.MaxCapacity
}

func suspended(s *autoscalingapi.SuspendedState) (in, out, scheduled bool) {
	if s == nil {
		return false, false, false
	}
	b := func(p *bool) bool { return p != nil && *p }
	return b(s.DynamicScalingInSuspended), b(s.DynamicScalingOutSuspended), b(s.ScheduledScalingSuspended)
}

// getTarget reads the target of resourceID; ErrNotFound (wrapped) if none.
func (a *API) getTarget(ctx context.Context, resourceID string) (*targetRecord, int64, error) {
	var rec targetRecord
	rev, err := a.Store.Get(ctx, targetKey(resourceID), &rec)
	if err != nil {
		return nil, 0, err
	}
	return &rec, rev, nil
}

func noTarget(resourceID string) error {
	return objectNotFound("No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
		NamespaceECS, resourceID, DimensionDesired)
}

// mutateTarget changes the target of resourceID with fn, guarded by the
// revision read and retried on conflict; ObjectNotFoundException if there
// is none.
func (a *API) mutateTarget(ctx context.Context, resourceID string, fn func(*targetRecord) error) (*targetRecord, error) {
	rec, err := store.Mutate(ctx, a.Store, targetKey(resourceID), func(r *targetRecord, exists bool) error {
		if !exists {
			return noTarget(resourceID)
		}
		return fn(r)
	})
	if err != nil && errors.Is(err, store.ErrConflict) {
		return nil, concurrentUpdate()
	}
	return rec, err
}

// RegisterScalableTarget registers an ECS service's desired count as a
// scalable target, or updates the one registered: MinCapacity and
// MaxCapacity (both required for a new target), SuspendedState, RoleARN;
// Tags only when it is created. A desired count outside the new bounds is
// brought inside them at once, as AWS does.
func (a *API) RegisterScalableTarget(ctx context.Context, in *autoscalingapi.RegisterScalableTargetRequest) (_ *autoscalingapi.RegisterScalableTargetResponse, rerr error) {
	defer a.fault(&rerr)
	svc, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name string
		v    *int32
	}{{"minCapacity", in.MinCapacity}, {"maxCapacity", in.MaxCapacity}} {
		if c.v != nil && *c.v < 0 {
			return nil, validation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 0", *c.v, c.name)
		}
	}
	if in.RoleARN != "" {
		if err := checkLength("roleARN", in.RoleARN, 1, 1600); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(in.RoleARN, "arn:") {
			return nil, validation("Invalid RoleARN: %s is not an ARN", in.RoleARN)
		}
	}
	if err := checkTags(in.Tags, 0); err != nil {
		return nil, err
	}
	if _, err := a.Services.DesiredCount(ctx, svc.cluster, svc.name); err != nil {
		if errors.Is(err, ErrServiceNotFound) {
			return nil, validation("ECS service doesn't exist: %s", in.ResourceId)
		}
		return nil, err
	}
	key := targetKey(in.ResourceId)
	var created bool
	rec, err := store.Mutate(ctx, a.Store, key, func(r *targetRecord, exists bool) error {
		created = !exists
		if !exists {
			if in.MinCapacity == nil || in.MaxCapacity == nil {
				return validation("Minimum capacity and maximum capacity are required for registering a new scalable target")
			}
			*r = targetRecord{ID: newID(18), Tags: in.Tags, Target: autoscalingapi.ScalableTarget{
				ServiceNamespace: NamespaceECS, ResourceId: in.ResourceId, ScalableDimension: DimensionDesired,
				RoleARN: a.defaultRoleARN(), CreationTime: awstime.NewTimestamp(a.now()),
				SuspendedState: &autoscalingapi.SuspendedState{DynamicScalingInSuspended: new(false),
					DynamicScalingOutSuspended: new(false), ScheduledScalingSuspended: new(false)},
			}}
			r.Target.ScalableTargetARN = a.targetARN(r.ID)
		}
		lo, hi := r.Target.MinCapacity, r.Target.MaxCapacity
		if in.MinCapacity != nil {
			lo = in.MinCapacity
		}
		if in.MaxCapacity != nil {
			hi = in.MaxCapacity
		}
		if *lo > *hi {
			return validation("Minimum capacity cannot be greater than maximum capacity")
		}
		r.Target.MinCapacity, r.Target.MaxCapacity = new(*lo), new(*hi)
		if in.RoleARN != "" {
			r.Target.RoleARN = in.RoleARN
		}
		if s := in.SuspendedState; s != nil {
			cur := r.Target.SuspendedState
			if s.DynamicScalingInSuspended != nil {
				cur.DynamicScalingInSuspended = new(*s.DynamicScalingInSuspended)
			}
			if s.DynamicScalingOutSuspended != nil {
				cur.DynamicScalingOutSuspended = new(*s.DynamicScalingOutSuspended)
			}
			if s.ScheduledScalingSuspended != nil {
				cur.ScheduledScalingSuspended = new(*s.ScheduledScalingSuspended)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, concurrentUpdate()
		}
		return nil, err
	}
	if created {
		// The ARN index; a target deleted and registered again gets a new ID.
		if _, err := a.Store.Txn(ctx, nil, store.OpPut(arnKey(rec.ID), []byte(key))); err != nil {
			return nil, err
		}
	}
	lo, hi := rec.bounds()
	if err := a.clampCapacity(ctx, rec, lo, hi, func(n int32) string {
		if n < lo {
			return fmt.Sprintf("minimum capacity was set to %d", lo)
		}
		return fmt.Sprintf("maximum capacity was set to %d", hi)
	}); err != nil {
		a.logger().Warn("bring the desired count within the target's bounds", "resource", in.ResourceId, "err", err)
	}
	return &autoscalingapi.RegisterScalableTargetResponse{ScalableTargetARN: rec.Target.ScalableTargetARN}, nil
}

// DeregisterScalableTarget deletes a scalable target with its scaling
// policies (and their target tracking alarms) and scheduled actions.
func (a *API) DeregisterScalableTarget(ctx context.Context, in *autoscalingapi.DeregisterScalableTargetRequest) (_ *autoscalingapi.DeregisterScalableTargetResponse, rerr error) {
	defer a.fault(&rerr)
	if _, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rec, rev, err := a.getTarget(ctx, in.ResourceId)
		if errors.Is(err, store.ErrNotFound) {
			return nil, objectNotFound("No scalable target found for service namespace: %s, resource ID: %s, scalable dimension: %s",
				NamespaceECS, in.ResourceId, DimensionDesired)
		}
		if err != nil {
			return nil, err
		}
		key := targetKey(in.ResourceId)
		res, err := a.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, rev)}, store.OpDelete(key), store.OpDelete(arnKey(rec.ID)))
		if err != nil {
			return nil, err
		}
		if !res.Succeeded {
			if attempt > 20 {
				return nil, concurrentUpdate()
			}
			continue
		}
		for _, p := range rec.Policies {
			a.deleteAlarms(ctx, p.Alarms)
		}
		return &autoscalingapi.DeregisterScalableTargetResponse{}, nil
	}
}

// DescribeScalableTargets lists the scalable targets of a namespace (only
// ecs has any), filtered by resource IDs and dimension, 50 a page.
func (a *API) DescribeScalableTargets(ctx context.Context, in *autoscalingapi.DescribeScalableTargetsRequest) (_ *autoscalingapi.DescribeScalableTargetsResponse, rerr error) {
	defer a.fault(&rerr)
	ecs, err := checkNamespace(in.ServiceNamespace)
	if err != nil {
		return nil, err
	}
	if err := checkDimension(in.ScalableDimension); err != nil {
		return nil, err
	}
	if in.ScalableDimension != "" && len(in.ResourceIds) == 0 {
		return nil, errDimensionWithoutResource
	}
	n, err := maxResults(in.MaxResults, 50, 50)
	if err != nil {
		return nil, err
	}
	if len(in.ResourceIds) > 50 {
		return nil, validation("1 validation error detected: Value at 'resourceIds' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	for _, id := range in.ResourceIds {
		if err := checkLength("resourceIds.member", id, 1, 1600); err != nil {
			return nil, err
		}
	}
	out := &autoscalingapi.DescribeScalableTargetsResponse{ScalableTargets: []autoscalingapi.ScalableTarget{}}
	if !ecs || (in.ScalableDimension != "" && in.ScalableDimension != DimensionDesired) {
		if _, _, err := page([]int{}, nil, in.NextToken, n); err != nil {
			return nil, err
		}
		return out, nil
	}
	recs, err := a.listTargets(ctx, in.ResourceIds)
	if err != nil {
		return nil, err
	}
	got, next, err := page(recs, func(r keyed[targetRecord]) string { return r.key }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	for _, r := range got {
		out.ScalableTargets = append(out.ScalableTargets, r.v.Target)
	}
	out.NextToken = next
	return out, nil
}

// keyed is a record and its key.
type keyed[T any] struct {
	key string
	v   T
}

// listTargets returns the targets in key order, only those of ids when
// ids is not empty.
func (a *API) listTargets(ctx context.Context, ids []string) ([]keyed[targetRecord], error) {
	items, err := a.Store.List(ctx, targetsPrefix(), "", 0)
	if err != nil {
		return nil, err
	}
	var keys map[string]bool
	if len(ids) > 0 {
		keys = make(map[string]bool, len(ids))
		for _, id := range ids {
			keys[targetKey(id)] = true
		}
	}
	out := make([]keyed[targetRecord], 0, len(items))
	for _, it := range items {
		if keys != nil && !keys[it.Key] {
			continue
		}
		var r targetRecord
		if err := json.Unmarshal(it.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", it.Key, err)
		}
		out = append(out, keyed[targetRecord]{key: it.Key, v: r})
	}
	return out, nil
}
