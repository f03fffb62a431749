package autoscaling

import (
	"context"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/internal/store"
)

// WakeCause is the cause of the scaling activity of a wake: a request
// held by a load balancer for a service at zero tasks.
func WakeCause(targetGroup string) string {
	return fmt.Sprintf("a request held by target group %s for a service with no healthy target triggered scale-out from zero", targetGroup)
}

// Wake scales the service of resourceID ("service/CLUSTER/SERVICE") from
// zero tasks to one (or to its scalable target's minimum, if higher) at
// once, because a load balancer holds a request for it (Gantry's scale
// to zero; see docs/architecture.md). It acts only when the service has a
// registered scalable target whose maximum is at least one, its desired
// count is 0 and DynamicScalingOutSuspended is not set; otherwise it does
// nothing and reports false. The change is guarded by the count read
// (Services.SetDesiredCount from 0), so several servers waking the same
// service at once set it once; it is recorded as a scaling activity whose
// cause is cause. No cooldown applies or starts: a service at zero has
// nothing to protect.
func (a *API) Wake(ctx context.Context, resourceID, cause string) (bool, error) {
	svc, err := parseResourceID(resourceID)
	if err != nil {
		return false, err
	}
	unlock := a.lock(targetKey(resourceID))
	defer unlock()
	rec, _, err := a.getTarget(ctx, resourceID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	lo, hi := rec.bounds()
	if _, out, _ := suspended(rec.Target.SuspendedState); out || hi < 1 {
		return false, nil
	}
	cur, err := a.Services.DesiredCount(ctx, svc.cluster, svc.name)
	if errors.Is(err, ErrServiceNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("desired count of %s: %w", resourceID, err)
	}
	if cur != 0 {
		return false, nil
	}
	to := clamp(1, lo, hi)
	now := a.now()
	err = a.Services.SetDesiredCount(ctx, svc.cluster, svc.name, 0, to)
	if errors.Is(err, ErrCountChanged) {
		// Another server (or a policy) changed it first: no longer zero.
		return false, nil
	}
	a.record(ctx, rec.Target, now, cause, to, err)
	if err != nil {
		return false, fmt.Errorf("set desired count of %s to %d: %w", resourceID, to, err)
	}
	a.logger().Info("woke a service scaled to zero", "resource", resourceID, "desiredCount", to, "cause", cause)
	return true, nil
}
