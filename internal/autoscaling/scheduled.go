package autoscaling

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // Timezone names resolve on hosts without a zone database

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awstime"
)

// MaxActionsPerTarget is AWS's quota of scheduled actions per scalable
// target.
const MaxActionsPerTarget = 200

// location resolves a Timezone (IANA name; UTC when empty).
func location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if err := checkLength("timezone", tz, 1, 1600); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.EqualFold(tz, "local") {
		return nil, validation("Invalid timezone: %s is not a time zone of the IANA database", tz)
	}
	return loc, nil
}

// PutScheduledAction creates or updates a scheduled action of a
// registered target: a schedule (at, rate or cron, in Timezone, between
// StartTime and EndTime) that sets the target's minimum and maximum
// capacity.
func (a *API) PutScheduledAction(ctx context.Context, in *autoscalingapi.PutScheduledActionRequest) (_ *autoscalingapi.PutScheduledActionResponse, rerr error) {
	defer a.fault(&rerr)
	if _, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	if err := checkName("scheduledActionName", in.ScheduledActionName); err != nil {
		return nil, err
	}
	if in.Schedule != "" {
		if err := checkLength("schedule", in.Schedule, 1, 1600); err != nil {
			return nil, err
		}
	}
	if _, err := location(in.Timezone); err != nil {
		return nil, err
	}
	if t := in.ScalableTargetAction; t != nil {
		for _, c := range []struct {
			name string
			v    *int32
		}{{"minCapacity", t.MinCapacity}, {"maxCapacity", t.MaxCapacity}} {
			if c.v != nil && *c.v < 0 {
				return nil, validation("1 validation error detected: Value '%d' at 'scalableTargetAction.%s' failed to satisfy constraint: Member must have value greater than or equal to 0", *c.v, c.name)
			}
		}
		if t.MinCapacity == nil && t.MaxCapacity == nil {
			return nil, validation("At least one of minimum capacity and maximum capacity should be provided")
		}
		if t.MinCapacity != nil && t.MaxCapacity != nil && *t.MinCapacity > *t.MaxCapacity {
			return nil, validation("Minimum capacity cannot be greater than maximum capacity")
		}
	}
	_, err := a.mutateTarget(ctx, in.ResourceId, func(r *targetRecord) error {
		i := r.action(in.ScheduledActionName)
		var act autoscalingapi.ScheduledAction
		if i >= 0 {
			act = r.Actions[i].Action
		} else {
			if len(r.Actions) >= MaxActionsPerTarget {
				return apierror.New(CodeLimitExceeded, "Unable to create a new scheduled action for %s: the limit of %d scheduled actions per scalable target is reached", in.ResourceId, MaxActionsPerTarget)
			}
			if in.Schedule == "" {
				return validation("Schedule is required when creating a scheduled action")
			}
			if in.ScalableTargetAction == nil {
				return validation("At least one of minimum capacity and maximum capacity should be provided")
			}
			act = autoscalingapi.ScheduledAction{
				ScheduledActionName: in.ScheduledActionName, ServiceNamespace: NamespaceECS, ResourceId: in.ResourceId,
				ScalableDimension: DimensionDesired, CreationTime: awstime.NewTimestamp(a.now()),
				ScheduledActionARN: a.actionARN(newUUID(), in.ResourceId, in.ScheduledActionName),
			}
		}
		if in.Schedule != "" {
			act.Schedule = in.Schedule
		}
		if in.Timezone != "" {
			act.Timezone = in.Timezone
		}
		if in.StartTime != nil {
			act.StartTime = in.StartTime
		}
		if in.EndTime != nil {
			act.EndTime = in.EndTime
		}
		if in.ScalableTargetAction != nil {
			act.ScalableTargetAction = &autoscalingapi.ScalableTargetAction{MinCapacity: in.ScalableTargetAction.MinCapacity, MaxCapacity: in.ScalableTargetAction.MaxCapacity}
		}
		loc, err := location(act.Timezone)
		if err != nil {
			return err
		}
		if _, err := parseSchedule(act.Schedule, loc); err != nil {
			return validation("Invalid schedule expression %s: %v", act.Schedule, err)
		}
		if act.StartTime != nil && act.EndTime != nil && !act.EndTime.After(act.StartTime.Time) {
			return validation("The end time of a scheduled action must be after its start time")
		}
		if i >= 0 {
			r.Actions[i] = actionRecord{Action: act} // changed: its schedule starts again
		} else {
			r.Actions = append(r.Actions, actionRecord{Action: act})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &autoscalingapi.PutScheduledActionResponse{}, nil
}

// DescribeScheduledActions lists scheduled actions, filtered by names,
// resource ID and dimension, 50 a page.
func (a *API) DescribeScheduledActions(ctx context.Context, in *autoscalingapi.DescribeScheduledActionsRequest) (_ *autoscalingapi.DescribeScheduledActionsResponse, rerr error) {
	defer a.fault(&rerr)
	ecs, err := checkNamespace(in.ServiceNamespace)
	if err != nil {
		return nil, err
	}
	if err := checkDimension(in.ScalableDimension); err != nil {
		return nil, err
	}
	if in.ScalableDimension != "" && in.ResourceId == "" {
		return nil, errDimensionWithoutResource
	}
	if len(in.ScheduledActionNames) > 50 {
		return nil, validation("1 validation error detected: Value at 'scheduledActionNames' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	n, err := maxResults(in.MaxResults, 50, 50)
	if err != nil {
		return nil, err
	}
	var acts []keyed[autoscalingapi.ScheduledAction]
	if ecs && (in.ScalableDimension == "" || in.ScalableDimension == DimensionDesired) {
		var ids []string
		if in.ResourceId != "" {
			ids = []string{in.ResourceId}
		}
		recs, err := a.listTargets(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			as := slices.Clone(r.v.Actions)
			slices.SortFunc(as, func(x, y actionRecord) int {
				return strings.Compare(x.Action.ScheduledActionName, y.Action.ScheduledActionName)
			})
			for _, x := range as {
				if len(in.ScheduledActionNames) > 0 && !slices.Contains(in.ScheduledActionNames, x.Action.ScheduledActionName) {
					continue
				}
				acts = append(acts, keyed[autoscalingapi.ScheduledAction]{key: r.key + "\x00" + x.Action.ScheduledActionName, v: x.Action})
			}
		}
	}
	got, next, err := page(acts, func(k keyed[autoscalingapi.ScheduledAction]) string { return k.key }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	out := &autoscalingapi.DescribeScheduledActionsResponse{ScheduledActions: []autoscalingapi.ScheduledAction{}, NextToken: next}
	for _, k := range got {
		out.ScheduledActions = append(out.ScheduledActions, k.v)
	}
	return out, nil
}

// DeleteScheduledAction deletes a scheduled action.
func (a *API) DeleteScheduledAction(ctx context.Context, in *autoscalingapi.DeleteScheduledActionRequest) (_ *autoscalingapi.DeleteScheduledActionResponse, rerr error) {
	defer a.fault(&rerr)
	if _, err := checkTarget(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	if err := checkName("scheduledActionName", in.ScheduledActionName); err != nil {
		return nil, err
	}
	notFound := objectNotFound("No scheduled action found for service namespace: %s, resource ID: %s, scalable dimension: %s, scheduled action name: %s",
		NamespaceECS, in.ResourceId, DimensionDesired, in.ScheduledActionName)
	_, err := a.mutateTarget(ctx, in.ResourceId, func(r *targetRecord) error {
		i := r.action(in.ScheduledActionName)
		if i < 0 {
			return notFound
		}
		r.Actions = slices.Delete(r.Actions, i, i+1)
		return nil
	})
	if apierror.IsCode(err, CodeObjectNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	return &autoscalingapi.DeleteScheduledActionResponse{}, nil
}

// due returns the latest occurrence of x at or before now that has not
// run, if any: occurrences count from the action's creation (a rate's
// from its StartTime when set), within StartTime and EndTime.
func (x *actionRecord) due(now time.Time) (time.Time, bool) {
	act := &x.Action
	loc, err := location(act.Timezone)
	if err != nil {
		return time.Time{}, false
	}
	s, err := parseSchedule(act.Schedule, loc)
	if err != nil {
		return time.Time{}, false
	}
	created := act.CreationTime.Time
	anchor := created
	if act.StartTime != nil {
		anchor = act.StartTime.Time
	}
	from := x.LastRun
	if from.IsZero() {
		from = created.Add(-time.Second)
		if s.cron == nil && s.rate == 0 {
			from = time.Time{} // at(): runs once, even if its time passed before it was created
		}
	}
	if act.StartTime != nil && from.Before(act.StartTime.Add(-time.Second)) {
		from = act.StartTime.Add(-time.Second)
	}
	t, ok := s.next(from, anchor)
	if !ok || t.After(now) {
		return time.Time{}, false
	}
	if act.EndTime != nil && t.After(act.EndTime.Time) {
		return time.Time{}, false
	}
	// Occurrences missed while no server led run once: the latest.
	for i := 0; i < 10000; i++ {
		n, ok := s.next(t, anchor)
		if !ok || n.After(now) || (act.EndTime != nil && n.After(act.EndTime.Time)) {
			break
		}
		t = n
	}
	return t, true
}

// runScheduled runs the scheduled actions of every target that are due at
// now. Each runs once: the occurrence is recorded in the target guarded by
// its revision before the capacity changes.
func (a *API) runScheduled(ctx context.Context, now time.Time) error {
	recs, err := a.listTargets(ctx, nil)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, _, susp := suspended(r.v.Target.SuspendedState); susp {
			continue
		}
		for _, x := range r.v.Actions {
			when, ok := x.due(now)
			if !ok {
				continue
			}
			if err := a.runAction(ctx, r.v.Target.ResourceId, x.Action.ScheduledActionName, when, now); err != nil {
				a.logger().Warn("run a scheduled action", "resource", r.v.Target.ResourceId, "action", x.Action.ScheduledActionName, "err", err)
			}
		}
	}
	return nil
}

// runAction sets the target's bounds as the action says, once for the
// occurrence when, and brings the desired count within them.
func (a *API) runAction(ctx context.Context, resourceID, name string, when, now time.Time) error {
	var act autoscalingapi.ScheduledAction
	var ran, invalid bool
	rec, err := a.mutateTarget(ctx, resourceID, func(r *targetRecord) error {
		ran, invalid = false, false
		i := r.action(name)
		if i < 0 {
			return nil
		}
		x := &r.Actions[i]
		if !x.LastRun.Before(when) {
			return nil // another server ran it
		}
		x.LastRun = when
		act = x.Action
		ran = true
		lo, hi := r.bounds()
		if t := act.ScalableTargetAction; t != nil {
			if t.MinCapacity != nil {
				lo = *t.MinCapacity
			}
			if t.MaxCapacity != nil {
				hi = *t.MaxCapacity
			}
		}
		if lo > hi {
			invalid = true
			return nil
		}
		r.Target.MinCapacity, r.Target.MaxCapacity = new(lo), new(hi)
		return nil
	})
	if err != nil || !ran {
		return err
	}
	cause := fmt.Sprintf("scheduled action name %s was triggered", name)
	lo, hi := rec.bounds()
	if t := act.ScalableTargetAction; invalid && t != nil {
		lo, hi = *cmp.Or(t.MinCapacity, &lo), *cmp.Or(t.MaxCapacity, &hi)
	}
	st := autoscalingapi.ScalingActivityStatusCode("Successful")
	msg := fmt.Sprintf("Successfully set min capacity to %d and max capacity to %d", lo, hi)
	if invalid {
		st, msg = "Failed", "Minimum capacity cannot be greater than maximum capacity"
	}
	a.recordActivity(ctx, rec.Target, now, fmt.Sprintf("Setting min capacity to %d and max capacity to %d", lo, hi), cause, st, msg)
	if invalid {
		return nil
	}
	return a.clampCapacity(ctx, rec, lo, hi, func(int32) string { return cause })
}
