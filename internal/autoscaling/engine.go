package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
)

// maxScaleAttempts bounds the retries of a scaling decision that lost a
// race with another change of the desired count.
const maxScaleAttempts = 20

// Invoke runs the scaling policy actionArn names for the alarm event ev
// (cwlink.Invoker): it computes the new desired count (step scaling from
// the breach ev.Value - ev.Threshold, target tracking proportionally to
// ev.Value over the target), applies cooldowns, suspension and the
// target's bounds, sets the service's desired count and records a scaling
// activity. A decision to do nothing is not an error. It returns
// ObjectNotFoundException for a policy that does not exist.
func (a *API) Invoke(ctx context.Context, actionArn string, ev cwlink.AlarmEvent) error {
	ref, ok := a.parsePolicyARN(actionArn)
	if !ok {
		return objectNotFound("No scaling policy found for ARN %s", actionArn)
	}
	svc, err := parseResourceID(ref.resourceID)
	if err != nil {
		return objectNotFound("No scaling policy found for ARN %s", actionArn)
	}
	unlock := a.lock(targetKey(ref.resourceID))
	defer unlock()
	for attempt := 0; attempt < maxScaleAttempts; attempt++ {
		rec, _, err := a.getTarget(ctx, ref.resourceID)
		if errors.Is(err, store.ErrNotFound) {
			return objectNotFound("No scaling policy found for ARN %s", actionArn)
		}
		if err != nil {
			return err
		}
		i := rec.policy(ref.name)
		if i < 0 || rec.Policies[i].PolicyARN != actionArn {
			return objectNotFound("No scaling policy found for ARN %s", actionArn)
		}
		pol := rec.Policies[i]
		cur, err := a.Services.DesiredCount(ctx, svc.cluster, svc.name)
		if err != nil {
			return fmt.Errorf("desired count of %s: %w", ref.resourceID, err)
		}
		now := a.now()
		lo, hi := rec.bounds()
		sin, sout, _ := suspended(rec.Target.SuspendedState)
		in := inputs{Current: cur, Min: lo, Max: hi, InSuspended: sin, OutSuspended: sout, Cooldown: rec.Cooldown,
			Now: now, Value: ev.Value, Threshold: ev.Threshold}
		var d decision
		switch pol.PolicyType {
		case "TargetTrackingScaling":
			for _, al := range pol.Alarms {
				if al.AlarmName == ev.AlarmName {
					in.HighKnown, in.High = true, strings.Contains(al.AlarmName, "-AlarmHigh-")
				}
			}
			d = decideTracking(pol.TargetTrackingScalingPolicyConfiguration, in)
		default:
			d = decideStep(pol.StepScalingPolicyConfiguration, in)
		}
		cause := fmt.Sprintf("monitor alarm %s in state %s triggered policy %s", ev.AlarmName, ev.State, pol.PolicyName)
		if !d.Scale {
			a.logger().Debug("policy did not scale", "policy", actionArn, "alarm", ev.AlarmName, "reason", d.Reason, "current", cur)
			if rec.NotScaled[pol.PolicyName] != notScaledMark(d, cur) {
				a.notScaled(ctx, rec.Target, pol.PolicyName, now, cause, d, cur)
			}
			return nil
		}
		err = a.Services.SetDesiredCount(ctx, svc.cluster, svc.name, cur, d.To)
		if errors.Is(err, ErrCountChanged) {
			continue
		}
		if err != nil {
			a.record(ctx, rec.Target, now, cause, d.To, err)
			return fmt.Errorf("set desired count of %s to %d: %w", ref.resourceID, d.To, err)
		}
		if _, err := a.mutateTarget(ctx, ref.resourceID, func(r *targetRecord) error {
			if d.Out {
				if !now.Before(r.Cooldown.ScaleOutUntil) {
					r.Cooldown.ScaleOutFrom = cur
				}
				r.Cooldown.ScaleOutUntil = now.Add(d.Cooldown)
			} else {
				r.Cooldown.ScaleInUntil = now.Add(d.Cooldown)
			}
			delete(r.NotScaled, pol.PolicyName)
			return nil
		}); err != nil {
			a.logger().Warn("record the cooldown", "resource", ref.resourceID, "err", err)
		}
		a.record(ctx, rec.Target, now, cause, d.To, nil)
		return nil
	}
	return concurrentUpdate()
}

// clampCapacity brings the service's desired count within [lo, hi] if it
// is outside, recording an activity whose cause is cause(current count).
func (a *API) clampCapacity(ctx context.Context, rec *targetRecord, lo, hi int32, cause func(int32) string) error {
	svc, err := parseResourceID(rec.Target.ResourceId)
	if err != nil {
		return err
	}
	unlock := a.lock(targetKey(rec.Target.ResourceId))
	defer unlock()
	for attempt := 0; attempt < maxScaleAttempts; attempt++ {
		cur, err := a.Services.DesiredCount(ctx, svc.cluster, svc.name)
		if err != nil {
			return err
		}
		to := clamp(cur, lo, hi)
		if to == cur {
			return nil
		}
		err = a.Services.SetDesiredCount(ctx, svc.cluster, svc.name, cur, to)
		if errors.Is(err, ErrCountChanged) {
			continue
		}
		a.record(ctx, rec.Target, a.now(), cause(cur), to, err)
		return err
	}
	return concurrentUpdate()
}

// activityRecord is a scaling activity as stored.
type activityRecord struct {
	Activity autoscalingapi.ScalingActivity `json:"activity"`
	// NotScaled marks a not scaled activity, listed only with
	// IncludeNotScaledActivities.
	NotScaled bool `json:"notScaled,omitempty"`
}

// notScaledMark is what a repeated not scaled activity has in common.
func notScaledMark(d decision, cur int32) string { return fmt.Sprintf("%s/%d", d.Reason, cur) }

// notScaled records a not scaled activity for one of AWS's reasons
// (AlreadyAtMaxCapacity, AlreadyAtMinCapacity, AlreadyAtDesiredCapacity),
// once while the same reason repeats for the policy at the same capacity:
// CloudWatch invokes a policy every period while its alarm stays in ALARM,
// and a record each time would be high-volume. Other reasons (cooldown,
// suspension, no step for the breach) are not activities on AWS either.
func (a *API) notScaled(ctx context.Context, t autoscalingapi.ScalableTarget, policy string, now time.Time, cause string, d decision, cur int32) {
	switch d.Reason {
	case reasonAlreadyAtMax, reasonAlreadyAtMin, reasonAlreadyAtDesired:
	default:
		return
	}
	mark := notScaledMark(d, cur)
	changed := false
	rec, err := a.mutateTarget(ctx, t.ResourceId, func(r *targetRecord) error {
		changed = r.NotScaled[policy] != mark
		if changed {
			if r.NotScaled == nil {
				r.NotScaled = map[string]string{}
			}
			r.NotScaled[policy] = mark
		}
		return nil
	})
	if err != nil || !changed {
		return
	}
	lo, hi := rec.bounds()
	reason := autoscalingapi.NotScaledReason{Code: d.Reason, CurrentCapacity: new(cur)}
	switch d.Reason {
	case reasonAlreadyAtMax:
		reason.MaxCapacity = new(hi)
	case reasonAlreadyAtMin:
		reason.MinCapacity = new(lo)
	}
	act := a.newActivity(t, now, "Attempting to scale due to alarm triggered", cause, "Failed", fmt.Sprintf("Failed to set desired count to %d", d.Want))
	act.NotScaledReasons = []autoscalingapi.NotScaledReason{reason}
	a.storeActivity(ctx, activityRecord{Activity: act, NotScaled: true}, now)
}

// record stores the activity of setting t's desired count to n at now,
// failed with err if not nil.
func (a *API) record(ctx context.Context, t autoscalingapi.ScalableTarget, now time.Time, cause string, n int32, err error) {
	st := autoscalingapi.ScalingActivityStatusCode("Successful")
	msg := fmt.Sprintf("Successfully set desired count to %d. Change successfully fulfilled by ecs.", n)
	if err != nil {
		st, msg = "Failed", fmt.Sprintf("Failed to set desired count to %d. Reason: %v", n, err)
	}
	a.recordActivity(ctx, t, now, fmt.Sprintf("Setting desired count to %d.", n), cause, st, msg)
}

// recordActivity stores a scaling activity of t that started at now. A
// failure to store is logged: the scaling itself happened.
func (a *API) recordActivity(ctx context.Context, t autoscalingapi.ScalableTarget, now time.Time, desc, cause string, st autoscalingapi.ScalingActivityStatusCode, msg string) {
	a.storeActivity(ctx, activityRecord{Activity: a.newActivity(t, now, desc, cause, st, msg)}, now)
}

func (a *API) newActivity(t autoscalingapi.ScalableTarget, now time.Time, desc, cause string, st autoscalingapi.ScalingActivityStatusCode, msg string) autoscalingapi.ScalingActivity {
	return autoscalingapi.ScalingActivity{
		ActivityId: newUUID(), ServiceNamespace: NamespaceECS, ResourceId: t.ResourceId, ScalableDimension: DimensionDesired,
		Description: desc, Cause: cause, StartTime: awstime.NewTimestamp(now), EndTime: awstime.NewTimestamp(a.now()),
		StatusCode: st, StatusMessage: msg,
	}
}

func (a *API) storeActivity(ctx context.Context, r activityRecord, now time.Time) {
	b, err := json.Marshal(r)
	if err == nil {
		_, err = a.Store.Txn(ctx, nil, store.OpPut(activityKey(a.activityTime(now), r.Activity.ActivityId), b))
	}
	if err != nil {
		a.logger().Error("record a scaling activity", "resource", r.Activity.ResourceId, "err", err)
	}
}

// activityTime returns the time an activity is keyed by: now, or just
// after the previous one of this process, so that activities recorded in
// one tick sort in the order they were recorded.
func (a *API) activityTime(now time.Time) time.Time {
	a.actMu.Lock()
	defer a.actMu.Unlock()
	if !now.After(a.lastAct) {
		now = a.lastAct.Add(time.Nanosecond)
	}
	a.lastAct = now
	return now
}

// ActivityRetention is how long scaling activities are kept (AWS: six
// weeks).
const ActivityRetention = 6 * 7 * 24 * time.Hour

// DescribeScalingActivities lists the scaling activities of the last six
// weeks, newest first, 50 a page, filtered by resource ID and dimension.
func (a *API) DescribeScalingActivities(ctx context.Context, in *autoscalingapi.DescribeScalingActivitiesRequest) (_ *autoscalingapi.DescribeScalingActivitiesResponse, rerr error) {
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
	if in.ResourceId != "" {
		if err := checkLength("resourceId", in.ResourceId, 1, 1600); err != nil {
			return nil, err
		}
	}
	n, err := maxResults(in.MaxResults, 50, 50)
	if err != nil {
		return nil, err
	}
	out := &autoscalingapi.DescribeScalingActivitiesResponse{ScalingActivities: []autoscalingapi.ScalingActivity{}}
	var acts []keyed[autoscalingapi.ScalingActivity]
	if ecs && (in.ScalableDimension == "" || in.ScalableDimension == DimensionDesired) {
		items, err := a.Store.List(ctx, activitiesPrefix(), "", 0)
		if err != nil {
			return nil, err
		}
		cutoff := a.now().Add(-ActivityRetention)
		for _, it := range items {
			var r activityRecord
			if err := json.Unmarshal(it.Value, &r); err != nil {
				return nil, fmt.Errorf("decode %s: %w", it.Key, err)
			}
			if in.ResourceId != "" && r.Activity.ResourceId != in.ResourceId {
				continue
			}
			if r.NotScaled && (in.IncludeNotScaledActivities == nil || !*in.IncludeNotScaledActivities) {
				continue
			}
			if r.Activity.StartTime != nil && r.Activity.StartTime.Before(cutoff) {
				continue
			}
			acts = append(acts, keyed[autoscalingapi.ScalingActivity]{key: it.Key, v: r.Activity})
		}
	}
	got, next, err := page(acts, func(k keyed[autoscalingapi.ScalingActivity]) string { return k.key }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	for _, k := range got {
		out.ScalingActivities = append(out.ScalingActivities, k.v)
	}
	out.NextToken = next
	return out, nil
}

// pruneActivities deletes the activities older than ActivityRetention
// (their keys sort after the cutoff's).
func (a *API) pruneActivities(ctx context.Context) error {
	from := activityKey(a.now().Add(-ActivityRetention), "")
	items, _, err := a.Store.ListRange(ctx, from, store.PrefixEnd(activitiesPrefix()), 0)
	if err != nil {
		return err
	}
	for len(items) > 0 {
		batch := items[:min(len(items), 100)]
		items = items[len(batch):]
		ops := make([]store.Op, len(batch))
		for i, it := range batch {
			ops[i] = store.OpDelete(it.Key)
		}
		if _, err := a.Store.Txn(ctx, nil, ops...); err != nil {
			return err
		}
	}
	return nil
}
