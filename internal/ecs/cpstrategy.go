package ecs

import (
	"context"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Capacity provider strategies: how RunTask, CreateService and
// UpdateService (and a cluster's default) spread tasks over capacity
// providers. As ECS documents it: base is the least number of tasks that
// run on a provider, and only one provider of a strategy may have one;
// weight is the share of the tasks beyond the bases. A provider of weight
// 0 takes no task beyond its base, and at least one provider must have a
// weight above 0.

// errProviderNotInCluster is ECS's error for a strategy naming a provider
// that its cluster does not have.
func errProviderNotInCluster() error {
	return apierror.InvalidParameter("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
}

// validateStrategy checks a strategy on its own: at most 20 providers, each
// named once, weight 0..1000, base 0..100000, a base on one provider at
// most, a weight above 0 on one at least, and Fargate providers not mixed
// with Auto Scaling group ones. field names the member in errors.
func validateStrategy(items []ecsapi.CapacityProviderStrategyItem, field string) error {
	if len(items) == 0 {
		return nil
	}
	if len(items) > maxStrategyProviders {
		return apierror.InvalidParameter("The capacity provider strategy can contain at most %d capacity providers.", maxStrategyProviders)
	}
	seen := map[string]bool{}
	bases, weighted, fargate := 0, 0, 0
	for i, it := range items {
		if it.CapacityProvider == "" {
			return apierror.InvalidParameter("1 validation error detected: Value null at '%s.%d.member.capacityProvider' failed to satisfy constraint: Member must not be null", field, i+1)
		}
		if it.Weight < 0 || it.Weight > 1000 {
			return apierror.InvalidParameter("1 validation error detected: Value '%d' at '%s.%d.member.weight' failed to satisfy constraint: Member must have value between 0 and 1000", it.Weight, field, i+1)
		}
		if it.Base < 0 || it.Base > 100000 {
			return apierror.InvalidParameter("1 validation error detected: Value '%d' at '%s.%d.member.base' failed to satisfy constraint: Member must have value between 0 and 100000", it.Base, field, i+1)
		}
		if seen[it.CapacityProvider] {
			return apierror.InvalidParameter("The capacity provider strategy contains the capacity provider %s more than once. Specify each capacity provider once and try again.", it.CapacityProvider)
		}
		seen[it.CapacityProvider] = true
		if it.Base > 0 {
			bases++
		}
		if it.Weight > 0 {
			weighted++
		}
		if builtinProvider(it.CapacityProvider) {
			fargate++
		}
	}
	if bases > 1 {
		return apierror.InvalidParameter("A capacity provider strategy can have a base value on only one capacity provider. Specify a base for at most one capacity provider and try again.")
	}
	if weighted == 0 {
		return apierror.InvalidParameter("A capacity provider strategy must contain at least one capacity provider with a weight greater than zero. Specify a weight and try again.")
	}
	if fargate > 0 && fargate < len(items) {
		return apierror.InvalidParameter("A capacity provider strategy can't contain both Fargate capacity providers and Auto Scaling group capacity providers. Specify one type of capacity provider and try again.")
	}
	return nil
}

// checkStrategyForCluster validates strategy (field names the member in
// errors) and that cluster's capacity providers include each provider it
// names.
func checkStrategyForCluster(items []ecsapi.CapacityProviderStrategyItem, clusterProviders []string, field string) error {
	// ECS answers a provider outside the cluster before the rules of
	// base and weight.
	for _, it := range items {
		known := it.CapacityProvider == ""
		for _, cp := range clusterProviders {
			known = known || cp == it.CapacityProvider
		}
		if !known {
			return errProviderNotInCluster()
		}
	}
	if err := validateStrategy(items, field); err != nil {
		return err
	}
	return nil
}

// distribute assigns n new tasks to the providers of a valid strategy,
// given the tasks each already has (a service's; nil for RunTask): each
// task goes to the first provider still below its base, else to the
// provider whose tasks beyond its base, plus this one, are the smallest
// multiple of its weight (the first of the strategy on a tie). It returns
// how many new tasks each provider gets, in the strategy's order.
func distribute(items []ecsapi.CapacityProviderStrategyItem, existing map[string]int, n int) []int {
	counts := make([]int, len(items))
	for i, it := range items {
		counts[i] = existing[it.CapacityProvider]
	}
	out := make([]int, len(items))
	for range n {
		pick := -1
		for i, it := range items {
			if counts[i] < int(it.Base) {
				pick = i
				break
			}
		}
		if pick < 0 {
			for i, it := range items {
				if it.Weight <= 0 {
					continue
				}
				if pick < 0 {
					pick = i
					continue
				}
				// (beyond_i+1)/w_i < (beyond_pick+1)/w_pick, cross-multiplied.
				bi := int64(max(0, counts[i]-int(it.Base)) + 1)
				bp := int64(max(0, counts[pick]-int(items[pick].Base)) + 1)
				if bi*int64(items[pick].Weight) < bp*int64(it.Weight) {
					pick = i
				}
			}
		}
		if pick < 0 {
			break
		}
		counts[pick]++
		out[pick]++
	}
	return out
}

// placeByStrategy places count tasks of o over the providers of strategy
// (already checked), each provider's share on its own instances only,
// given the tasks each provider already has (existing). It returns what
// place returns, over all the providers: the failures are those of the
// providers that could not take their share.
func (s *API) placeByStrategy(ctx context.Context, cluster string, crev, rev int64, o *runOptions, count int,
	strategy []ecsapi.CapacityProviderStrategyItem, existing map[string]int, cons []ecsapi.PlacementConstraint,
	strat []ecsapi.PlacementStrategy) ([]*taskRecord, []ecsapi.Failure, error) {
	shares := distribute(strategy, existing, count)
	var placed []*taskRecord
	var failures []ecsapi.Failure
	noInstances := 0
	asked := 0
	for i, it := range strategy {
		if shares[i] == 0 {
			continue
		}
		asked++
		po := *o
		po.capacityProvider = it.CapacityProvider
		if builtinProvider(it.CapacityProvider) {
			po.useFargate(it.CapacityProvider)
		}
		recs, fails, err := s.place(ctx, cluster, crev, rev, &po, shares[i], cons, strat)
		placed = append(placed, recs...)
		if short := shares[i] - len(recs); short > 0 && (err == nil || errors.Is(err, ErrNoInstances)) {
			// A provider with managed scaling keeps what found no room
			// waiting in PROVISIONING (provisioning.go).
			_, managed, merr := s.ManagedProvider(ctx, it.CapacityProvider)
			if merr != nil {
				return placed, nil, merr
			}
			if managed {
				wait, werr := s.provision(ctx, cluster, crev, &po, short, cons, strat)
				placed = append(placed, wait...)
				if werr != nil {
					return placed, nil, werr
				}
				if len(wait) == short {
					continue
				}
			}
		}
		if errors.Is(err, ErrNoInstances) {
			noInstances++
			continue
		}
		if err != nil {
			return placed, nil, fmt.Errorf("place on capacity provider %s: %w", it.CapacityProvider, err)
		}
		failures = append(failures, fails...)
	}
	if noInstances == asked && len(placed) == 0 {
		return nil, nil, errNoInstances()
	}
	if len(placed) == count {
		failures = nil
	}
	return placed, failures, nil
}
