package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/capacity"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// startCapacity runs managed scaling of Auto Scaling group capacity
// providers on the elected leader (internal/capacity), with the
// provisioner of --provisioner and CloudWatch's recorder for
// CapacityProviderReservation.
func (s *Server) startCapacity(ctx context.Context, cfg config.Server) error {
	prov, err := capacity.ParseProvisioner(cfg.Provisioner, time.Minute)
	if err != nil {
		return err
	}
	m := &capacity.Manager{ECS: capacityECS{ops: s.ECS}, Metrics: &s.metricsRecorder, Logger: s.logger.With("component", "managed-scaling"),
		Interval: cfg.ManagedScalingInterval, ScaleInAfter: cfg.ManagedScalingScaleInAfter}
	if prov != nil {
		m.Provisioner = prov
	}
	s.ECS.OnProvisioning = m.Wake
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ttl := cfg.LeaderTTL
	if ttl < time.Second {
		ttl = 5 * time.Second
	}
	s.capacityDone = make(chan struct{})
	go func() {
		defer close(s.capacityDone)
		m.Run(ctx, capacityElector{store: s.ECS.Store, ttl: ttl}, id)
	}()
	return nil
}

// capacityLeaderKey is the election of the server that runs managed
// scaling.
var capacityLeaderKey = store.Key("leader", "managed-scaling")

// capacityElector elects that server through the store.
type capacityElector struct {
	store *store.Store
	ttl   time.Duration
}

// Campaign blocks until this server leads or ctx ends.
func (e capacityElector) Campaign(ctx context.Context, id string) (capacity.Leadership, error) {
	l, err := e.store.Campaign(ctx, capacityLeaderKey, []byte(id), e.ttl)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return storeLeadership{l}, nil
}

// capacityECS is capacity.ECS over the ECS operations.
type capacityECS struct{ ops *ecs.API }

// caller marks ctx as a call of ECS's own managed scaling.
func (c capacityECS) caller(ctx context.Context) context.Context {
	return caller.WithCaller(ctx, caller.Caller{
		Principal: "arn:aws:iam::" + c.ops.Account + ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
		RequestID: "managed-scaling"})
}

func (c capacityECS) ScalingTargets(ctx context.Context) ([]ecs.ScalingTarget, error) {
	return c.ops.ScalingTargets(ctx)
}

func (c capacityECS) ProviderInstances(ctx context.Context, cluster, provider string) ([]ecs.ProviderInstance, error) {
	return c.ops.ProviderInstances(ctx, cluster, provider)
}

func (c capacityECS) WaitingTasks(ctx context.Context, cluster string) ([]ecs.WaitingTask, error) {
	return c.ops.WaitingTasks(ctx, cluster)
}

func (c capacityECS) PlaceWaiting(ctx context.Context, cluster string) (int, error) {
	return c.ops.PlaceWaiting(c.caller(ctx), cluster)
}

func (c capacityECS) SetDraining(ctx context.Context, cluster, arn string) error {
	// The mark first: an instance DRAINING without it is an operator's,
	// which managed scaling never removes.
	if _, err := c.ops.PutAttributes(c.caller(ctx), &ecsapi.PutAttributesRequest{Cluster: cluster, Attributes: []ecsapi.Attribute{{
		Name: capacity.DrainingAttribute, Value: "true", TargetType: "container-instance", TargetId: arn}}}); err != nil {
		return err
	}
	_, err := c.ops.UpdateContainerInstancesState(c.caller(ctx), &ecsapi.UpdateContainerInstancesStateRequest{Cluster: cluster,
		ContainerInstances: []string{arn}, Status: "DRAINING"})
	return err
}

func (c capacityECS) Deregister(ctx context.Context, cluster, arn string) error {
	_, err := c.ops.DeregisterContainerInstance(c.caller(ctx), &ecsapi.DeregisterContainerInstanceRequest{Cluster: cluster,
		ContainerInstance: arn, Force: new(true)})
	return err
}
