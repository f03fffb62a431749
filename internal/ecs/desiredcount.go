package ecs

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// ErrDesiredCountChanged is returned by SetDesiredCount when the service's
// desired count is no longer the one the caller computed from.
var ErrDesiredCountChanged = errors.New("desired count changed since it was read")

// SetDesiredCount changes an ACTIVE REPLICA service's desired count from
// from to to, as UpdateService with only desiredCount does (the service and
// its PRIMARY deployment), in one guarded write: ErrDesiredCountChanged if
// the desired count is not from any more, store.ErrNotFound for a service
// that does not exist, apierror ServiceNotActive for one that is not
// ACTIVE. Application Auto Scaling calls it, so that two scaling decisions
// made from the same count never both apply.
func (s *API) SetDesiredCount(ctx context.Context, cluster, name string, from, to int32) error {
	if to < 0 {
		return apierror.InvalidParameter("desiredCount must be at least 0.")
	}
	_, err := store.Mutate(ctx, s.Store, serviceKey(cluster, name), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return store.ErrNotFound
		}
		if svc.Status != ServiceActive {
			return apierror.ServiceNotActive()
		}
		if string(svc.SchedulingStrategy) == SchedulingDaemon {
			return apierror.InvalidParameter("The DAEMON scheduling strategy does not support a desiredCount: the service runs one task on each container instance.")
		}
		if svc.DesiredCount != from {
			return ErrDesiredCountChanged
		}
		svc.DesiredCount = to
		if len(svc.Deployments) > 0 {
			svc.Deployments[0].DesiredCount = to
			svc.Deployments[0].UpdatedAt = ecsapiNow(s.now())
		}
		if isExternal(svc) {
			refreshTaskSets(svc, ecsapiNow(s.now()))
		}
		return nil
	})
	return err
}
