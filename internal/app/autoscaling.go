package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/autoscaling"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/store"
)

// startAutoScaling starts Application Auto Scaling on the server's
// endpoint (s.AutoScaling), and its scheduled actions on the elected
// leader. Target tracking creates its alarms through CloudWatch
// (cwlink.Alarms), and CloudWatch's alarm actions invoke the policies
// (s.AutoScaling is its cwlink.Invoker).
func startAutoScaling(s *Server) (neighbour, error) {
	api := &autoscaling.API{
		Store:    s.ECS.Store,
		Services: ecsScaling{ops: s.ECS},
		Region:   s.cfg.Region,
		Account:  s.cfg.AccountID,
		Logger:   s.logger.With("service", "application-autoscaling"),
	}
	s.AutoScaling = api
	if s.CloudWatch != nil {
		// Target tracking creates its alarms in CloudWatch, whose alarm
		// actions invoke the policies (started before: neighbours).
		api.Alarms = s.CloudWatch
		s.CloudWatch.SetInvoker(api)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ttl := s.cfg.LeaderTTL
	if ttl < time.Second {
		ttl = 5 * time.Second
	}
	elector := scalingElector{store: s.ECS.Store, ttl: ttl}
	return neighbour{
		service: apiserver.AutoScaling(api),
		run:     func(ctx context.Context) { api.Run(ctx, elector, id) },
	}, nil
}

// ecsScaling is autoscaling.Services over the ECS operations.
type ecsScaling struct{ ops *ecs.API }

// caller marks ctx as a call of Application Auto Scaling's service-linked
// role.
func (e ecsScaling) caller(ctx context.Context) context.Context {
	return caller.WithCaller(ctx, caller.Caller{
		Principal: "arn:aws:iam::" + e.ops.Account + ":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
		RequestID: "application-autoscaling"})
}

// DesiredCount reads an ACTIVE service's desired count.
func (e ecsScaling) DesiredCount(ctx context.Context, cluster, name string) (int32, error) {
	svc, _, err := e.ops.ServiceRecord(e.caller(ctx), cluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("service %s/%s: %w", cluster, name, autoscaling.ErrServiceNotFound)
	}
	if err != nil {
		return 0, err
	}
	if svc.Status != ecs.ServiceActive {
		return 0, fmt.Errorf("service %s/%s is %s: %w", cluster, name, svc.Status, autoscaling.ErrServiceNotFound)
	}
	return svc.DesiredCount, nil
}

// SetDesiredCount changes the desired count (ecs.API.SetDesiredCount).
func (e ecsScaling) SetDesiredCount(ctx context.Context, cluster, name string, from, to int32) error {
	err := e.ops.SetDesiredCount(e.caller(ctx), cluster, name, from, to)
	switch {
	case errors.Is(err, ecs.ErrDesiredCountChanged):
		return fmt.Errorf("%w: %w", autoscaling.ErrCountChanged, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", autoscaling.ErrServiceNotFound, err)
	}
	return err
}

// scalingLeaderKey is the election of the server that runs scheduled
// actions.
var scalingLeaderKey = store.Key("leader", "application-autoscaling")

// scalingElector elects that server through the store.
type scalingElector struct {
	store *store.Store
	ttl   time.Duration
}

// Campaign blocks until this server leads or ctx ends.
func (e scalingElector) Campaign(ctx context.Context, id string) (autoscaling.Leadership, error) {
	l, err := e.store.Campaign(ctx, scalingLeaderKey, []byte(id), e.ttl)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return storeLeadership{l}, nil
}
