package ecs

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// EnsureCluster creates cluster name if it does not exist, as ECS creates
// the default cluster when the first instance registers into it.
func (s *API) EnsureCluster(ctx context.Context, name string) error {
	var c ecsapi.Cluster
	_, err := s.Store.Get(ctx, clusterKey(name), &c)
	if err == nil && c.Status == "ACTIVE" {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: name})
	return err
}
