package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Capacity providers. ECS has two kinds an account sees: the built-in
// FARGATE and FARGATE_SPOT, which every account has and nobody creates or
// deletes, and Auto Scaling group providers (EC2_AUTOSCALING) that the
// account creates. Gantry's meaning of an Auto Scaling group provider: the
// container instances whose agent says it belongs to the provider (`gantry
// agent --capacity-provider NAME`, the instance attribute
// CapacityProviderAttribute); the group's ARN names the group, nothing more.
// A provider record is the ecsapi.CapacityProvider at
// capacityproviders/NAME; a deleted one stays INACTIVE, describable, until
// the name is created again.

// The built-in capacity providers.
const (
	ProviderFargate     = "FARGATE"
	ProviderFargateSpot = "FARGATE_SPOT"
)

// CapacityProviderAttribute is the container instance attribute that names
// the capacity provider an instance belongs to. The agent sets it from its
// --capacity-provider flag; RegisterContainerInstance copies it into the
// instance's capacityProviderName.
const CapacityProviderAttribute = "ecs.capacity-provider"

// Capacity provider statuses and update statuses, as ECS spells them.
const (
	providerActive   = "ACTIVE"
	providerInactive = "INACTIVE"
)

// Defaults and bounds of managed scaling (ECS's ManagedScaling).
const (
	defaultTargetCapacity  = 100
	defaultMinStep         = 1
	defaultMaxStep         = 10000
	defaultWarmupPeriod    = 300
	maxDescribeProviders   = 100
	maxClusterProviders    = 20
	maxStrategyProviders   = 20
	maxProvidersPerAccount = 500
)

var providerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// capacityProviderKey is the key of the provider record name.
func capacityProviderKey(name string) string { return store.Key("capacityproviders", name) }

// CapacityProviderARN is the ARN of capacity provider name.
func (s *API) CapacityProviderARN(name string) string { return s.arn("capacity-provider/" + name) }

// builtinProvider reports whether name is FARGATE or FARGATE_SPOT.
func builtinProvider(name string) bool { return name == ProviderFargate || name == ProviderFargateSpot }

// builtinProviderView is how ECS describes FARGATE and FARGATE_SPOT.
func (s *API) builtinProviderView(name string) ecsapi.CapacityProvider {
	return ecsapi.CapacityProvider{CapacityProviderArn: s.CapacityProviderARN(name), Name: name, Status: providerActive,
		Type: ecsapi.CapacityProviderType(name), Tags: []ecsapi.Tag{}}
}

// providerName resolves a capacity provider given by name or ARN.
func (s *API) providerName(ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		a, ok := ParseARN(ref)
		if !ok || a.Type != "capacity-provider" || !providerNameRE.MatchString(a.Path) {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid capacity provider name or ARN.", ref)
		}
		return a.Path, nil
	}
	if !providerNameRE.MatchString(ref) {
		return "", apierror.InvalidParameter("The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens.")
	}
	return ref, nil
}

// reservedProviderName reports whether name starts with a prefix ECS keeps
// for itself: aws, ecs or fargate, in any case.
func reservedProviderName(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "aws") || strings.HasPrefix(l, "ecs") || strings.HasPrefix(l, "fargate")
}

// checkAutoScalingGroupARN accepts the ARN of an Auto Scaling group:
// arn:PARTITION:autoscaling:REGION:ACCOUNT:autoScalingGroup:UUID:autoScalingGroupName/NAME.
func checkAutoScalingGroupARN(arn string) error {
	parts := strings.SplitN(arn, ":", 8)
	if len(parts) != 8 || parts[0] != "arn" || parts[2] != "autoscaling" || parts[5] != "autoScalingGroup" ||
		!strings.HasPrefix(parts[7], "autoScalingGroupName/") || len(parts[7]) == len("autoScalingGroupName/") {
		return apierror.InvalidParameter("The specified Auto Scaling group ARN %s is not valid. Specify the full ARN of an Auto Scaling group: arn:aws:autoscaling:region:account:autoScalingGroup:uuid:autoScalingGroupName/name.", arn)
	}
	return nil
}

// managedScaling validates ms over cur (nil for defaults) and returns the
// merged settings with every member set, as ECS returns them.
func managedScaling(cur, ms *ecsapi.ManagedScaling) (*ecsapi.ManagedScaling, error) {
	out := &ecsapi.ManagedScaling{Status: "DISABLED", TargetCapacity: int32p(defaultTargetCapacity),
		MinimumScalingStepSize: int32p(defaultMinStep), MaximumScalingStepSize: int32p(defaultMaxStep),
		InstanceWarmupPeriod: int32p(defaultWarmupPeriod)}
	if cur != nil {
		c := *cur
		out = &c
	}
	if ms == nil {
		return out, nil
	}
	switch ms.Status {
	case "":
	case "ENABLED", "DISABLED":
		out.Status = ms.Status
	default:
		return nil, apierror.InvalidParameter("1 validation error detected: Value '%s' at 'managedScaling.status' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", ms.Status)
	}
	check := func(v *int32, field string, lo, hi int32, dst **int32) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return apierror.InvalidParameter("1 validation error detected: Value '%d' at 'managedScaling.%s' failed to satisfy constraint: Member must have value between %d and %d", *v, field, lo, hi)
		}
		*dst = int32p(*v)
		return nil
	}
	if err := check(ms.TargetCapacity, "targetCapacity", 1, 100, &out.TargetCapacity); err != nil {
		return nil, err
	}
	if err := check(ms.MinimumScalingStepSize, "minimumScalingStepSize", 1, 10000, &out.MinimumScalingStepSize); err != nil {
		return nil, err
	}
	if err := check(ms.MaximumScalingStepSize, "maximumScalingStepSize", 1, 10000, &out.MaximumScalingStepSize); err != nil {
		return nil, err
	}
	if err := check(ms.InstanceWarmupPeriod, "instanceWarmupPeriod", 0, 10000, &out.InstanceWarmupPeriod); err != nil {
		return nil, err
	}
	if *out.MinimumScalingStepSize > *out.MaximumScalingStepSize {
		return nil, apierror.InvalidParameter("The minimum scaling step size must be less than or equal to the maximum scaling step size.")
	}
	return out, nil
}

func int32p(v int32) *int32 { return &v }

// providerSettings validates the managed termination protection and
// draining settings over the current ones (defaults DISABLED and ENABLED)
// against the merged managed scaling.
func providerSettings(asg *ecsapi.AutoScalingGroupProvider, mtp ecsapi.ManagedTerminationProtection, md ecsapi.ManagedDraining) error {
	switch mtp {
	case "":
	case "ENABLED", "DISABLED":
		asg.ManagedTerminationProtection = mtp
	default:
		return apierror.InvalidParameter("1 validation error detected: Value '%s' at 'autoScalingGroupProvider.managedTerminationProtection' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", mtp)
	}
	switch md {
	case "":
	case "ENABLED", "DISABLED":
		asg.ManagedDraining = md
	default:
		return apierror.InvalidParameter("1 validation error detected: Value '%s' at 'autoScalingGroupProvider.managedDraining' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", md)
	}
	if asg.ManagedTerminationProtection == "" {
		asg.ManagedTerminationProtection = "DISABLED"
	}
	if asg.ManagedDraining == "" {
		asg.ManagedDraining = "ENABLED"
	}
	if asg.ManagedTerminationProtection == "ENABLED" && (asg.ManagedScaling == nil || asg.ManagedScaling.Status != "ENABLED") {
		return apierror.InvalidParameter("The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, managed scaling must also be enabled.")
	}
	return nil
}

// CreateCapacityProvider creates an Auto Scaling group capacity provider.
// The name is unique among the ACTIVE providers of the account
// (ClientException when taken; a deleted name may be created anew) and may
// not start with aws, ecs or fargate; a group may back only one provider.
func (s *API) CreateCapacityProvider(ctx context.Context, in *ecsapi.CreateCapacityProviderRequest) (*ecsapi.CreateCapacityProviderResponse, error) {
	if in.Name == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if !providerNameRE.MatchString(in.Name) {
		return nil, apierror.InvalidParameter("The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens.")
	}
	if reservedProviderName(in.Name) {
		return nil, apierror.InvalidParameter("The specified capacity provider name begins with a reserved prefix. The name can't be prefixed with \"aws\", \"ecs\", or \"fargate\".")
	}
	if in.ManagedInstancesProvider != nil || in.Cluster != "" {
		return nil, apierror.InvalidParameter("Amazon ECS Managed Instances capacity providers are not supported by Gantry: create an Auto Scaling group capacity provider (autoScalingGroupProvider).")
	}
	if in.AutoScalingGroupProvider == nil {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'autoScalingGroupProvider' failed to satisfy constraint: Member must not be null")
	}
	req := in.AutoScalingGroupProvider
	if req.AutoScalingGroupArn == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'autoScalingGroupProvider.autoScalingGroupArn' failed to satisfy constraint: Member must not be null")
	}
	if err := checkAutoScalingGroupARN(req.AutoScalingGroupArn); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	ms, err := managedScaling(nil, req.ManagedScaling)
	if err != nil {
		return nil, err
	}
	asg := &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: req.AutoScalingGroupArn, ManagedScaling: ms}
	if err := providerSettings(asg, req.ManagedTerminationProtection, req.ManagedDraining); err != nil {
		return nil, err
	}
	cp := ecsapi.CapacityProvider{CapacityProviderArn: s.CapacityProviderARN(in.Name), Name: in.Name, Status: providerActive,
		Type: "EC2_AUTOSCALING", AutoScalingGroupProvider: asg, Tags: in.Tags}
	if cp.Tags == nil {
		cp.Tags = []ecsapi.Tag{}
	}
	// The group check and the write are one transaction guarded by the
	// revision of the provider list read.
	for attempt := 0; attempt < 20; attempt++ {
		all, rev, err := s.providerRecords(ctx)
		if err != nil {
			return nil, err
		}
		active := 0
		for _, p := range all {
			if p.Status != providerActive {
				continue
			}
			active++
			if p.Name == in.Name {
				return nil, apierror.Client("The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
			}
			if p.AutoScalingGroupProvider != nil && p.AutoScalingGroupProvider.AutoScalingGroupArn == req.AutoScalingGroupArn {
				return nil, apierror.Client("The specified Auto Scaling group ARN is already being used by another capacity provider (%s). Specify a unique Auto Scaling group ARN and try again.", p.Name)
			}
		}
		if active >= maxProvidersPerAccount {
			return nil, apierror.LimitExceeded("The maximum number of capacity providers (%d) has been reached.", maxProvidersPerAccount)
		}
		b, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		p := store.Key("capacityproviders") + "/"
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.UnchangedSince(p, rev)}, store.OpPut(capacityProviderKey(in.Name), b))
		if err != nil {
			return nil, fmt.Errorf("create capacity provider %s: %w", in.Name, err)
		}
		if resp.Succeeded {
			return &ecsapi.CreateCapacityProviderResponse{CapacityProvider: &cp}, nil
		}
	}
	return nil, fmt.Errorf("create capacity provider %s: %w", in.Name, store.ErrConflict)
}

// providerRecords reads every provider record, in name order, and the
// revision of the read.
func (s *API) providerRecords(ctx context.Context) ([]ecsapi.CapacityProvider, int64, error) {
	p := store.Key("capacityproviders") + "/"
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, 0, fmt.Errorf("list capacity providers: %w", err)
	}
	out := make([]ecsapi.CapacityProvider, 0, len(resp.Items))
	for _, it := range resp.Items {
		var cp ecsapi.CapacityProvider
		if err := json.Unmarshal(it.Value, &cp); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", it.Key, err)
		}
		out = append(out, cp)
	}
	return out, resp.Revision, nil
}

// DescribeCapacityProviders describes the providers named (up to 100, by
// name or ARN), or all of them, FARGATE and FARGATE_SPOT first, at most
// maxResults (1..10, default 10) a page. Unknown names are failures with
// reason MISSING. Tags only with include TAGS.
func (s *API) DescribeCapacityProviders(ctx context.Context, in *ecsapi.DescribeCapacityProvidersRequest) (*ecsapi.DescribeCapacityProvidersResponse, error) {
	if len(in.CapacityProviders) > maxDescribeProviders {
		return nil, apierror.InvalidParameter("capacityProviders can have at most %d items.", maxDescribeProviders)
	}
	if in.Cluster != "" {
		return nil, apierror.InvalidParameter("Describing the capacity providers of a cluster is for Amazon ECS Managed Instances, which Gantry does not support: omit cluster.")
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, apierror.InvalidParameter("1 validation error detected: Value '[%s]' at 'include' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [TAGS]]", f)
		}
		withTags = true
	}
	limit, err := pageSize(in.MaxResults, 10, 10)
	if err != nil {
		return nil, err
	}
	scope := "capacityproviders|" + strings.Join(in.CapacityProviders, ",")
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	all, _, err := s.providerRecords(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]ecsapi.CapacityProvider{}
	for _, p := range all {
		byName[p.Name] = p
	}
	out := &ecsapi.DescribeCapacityProvidersResponse{CapacityProviders: []ecsapi.CapacityProvider{}, Failures: []ecsapi.Failure{}}
	// The listing: position-keyed names in order, so a token resumes
	// after the last one returned.
	var names []string
	if len(in.CapacityProviders) == 0 {
		names = append(names, ProviderFargate, ProviderFargateSpot)
		for _, p := range all {
			names = append(names, p.Name)
		}
	} else {
		seen := map[string]bool{}
		for _, ref := range in.CapacityProviders {
			name, err := s.providerName(ref)
			if err != nil {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ref, Reason: "MISSING"})
				continue
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			if _, ok := byName[name]; !ok && !builtinProvider(name) {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.CapacityProviderARN(name), Reason: "MISSING"})
				continue
			}
			names = append(names, name)
		}
	}
	start := 0
	if after != "" {
		start = slices.Index(names, after) + 1
		if start == 0 {
			return nil, apierror.InvalidParameter("Invalid nextToken.")
		}
	}
	end := min(start+limit, len(names))
	for _, name := range names[start:end] {
		var v ecsapi.CapacityProvider
		if builtinProvider(name) {
			v = s.builtinProviderView(name)
		} else {
			v = byName[name]
		}
		if !withTags {
			v.Tags = nil
		}
		out.CapacityProviders = append(out.CapacityProviders, v)
	}
	if end < len(names) {
		out.NextToken = encodeToken(names[end-1], scope)
	}
	return out, nil
}

// UpdateCapacityProvider changes an Auto Scaling group provider's managed
// scaling (merged member by member), managed termination protection and
// managed draining.
func (s *API) UpdateCapacityProvider(ctx context.Context, in *ecsapi.UpdateCapacityProviderRequest) (*ecsapi.UpdateCapacityProviderResponse, error) {
	if in.Name == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	name, err := s.providerName(in.Name)
	if err != nil {
		return nil, err
	}
	if builtinProvider(name) {
		return nil, apierror.InvalidParameter("The %s capacity provider is managed by Amazon ECS and can't be updated.", name)
	}
	if in.ManagedInstancesProvider != nil || in.Cluster != "" {
		return nil, apierror.InvalidParameter("Amazon ECS Managed Instances capacity providers are not supported by Gantry.")
	}
	if in.AutoScalingGroupProvider == nil {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'autoScalingGroupProvider' failed to satisfy constraint: Member must not be null")
	}
	upd := in.AutoScalingGroupProvider
	cp, err := store.Mutate(ctx, s.Store, capacityProviderKey(name), func(cur *ecsapi.CapacityProvider, exists bool) error {
		if !exists || cur.Status != providerActive {
			return apierror.InvalidParameter("The specified capacity provider does not exist. Specify a valid name or ARN and try again.")
		}
		asg := *cur.AutoScalingGroupProvider
		ms, err := managedScaling(asg.ManagedScaling, upd.ManagedScaling)
		if err != nil {
			return err
		}
		asg.ManagedScaling = ms
		if err := providerSettings(&asg, upd.ManagedTerminationProtection, upd.ManagedDraining); err != nil {
			return err
		}
		cur.AutoScalingGroupProvider = &asg
		cur.UpdateStatus = "UPDATE_COMPLETE"
		cur.UpdateStatusReason = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateCapacityProviderResponse{CapacityProvider: cp}, nil
}

// DeleteCapacityProvider deletes an Auto Scaling group provider. As ECS,
// it is refused while a cluster has it (its capacityProviders) or a
// service's strategy names it; ECS answers with status ACTIVE and
// updateStatus DELETE_IN_PROGRESS, and the provider is then INACTIVE with
// DELETE_COMPLETE. Gantry deletes at once: the response is ECS's, the
// record INACTIVE. Checks and write are one transaction guarded by the
// revisions read.
func (s *API) DeleteCapacityProvider(ctx context.Context, in *ecsapi.DeleteCapacityProviderRequest) (*ecsapi.DeleteCapacityProviderResponse, error) {
	if in.CapacityProvider == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'capacityProvider' failed to satisfy constraint: Member must not be null")
	}
	if in.Cluster != "" {
		return nil, apierror.InvalidParameter("Amazon ECS Managed Instances capacity providers are not supported by Gantry: omit cluster.")
	}
	name, err := s.providerName(in.CapacityProvider)
	if err != nil {
		return nil, err
	}
	if builtinProvider(name) {
		return nil, apierror.InvalidParameter("The %s capacity provider is managed by Amazon ECS and can't be deleted.", name)
	}
	for attempt := 0; attempt < 20; attempt++ {
		var cp ecsapi.CapacityProvider
		prev, err := s.Store.Get(ctx, capacityProviderKey(name), &cp)
		if errors.Is(err, store.ErrNotFound) || err == nil && cp.Status != providerActive {
			return nil, apierror.InvalidParameter("The specified capacity provider does not exist. Specify a valid name or ARN and try again.")
		}
		if err != nil {
			return nil, err
		}
		users, rev, err := s.providerUsers(ctx, name)
		if err != nil {
			return nil, err
		}
		if users.cluster != "" {
			return nil, apierror.New(apierror.CodeResourceInUse, "The specified capacity provider is in use and cannot be removed. The capacity provider is associated with cluster %s: remove it from the cluster's capacity providers first.", users.cluster)
		}
		if users.service != "" {
			return nil, apierror.New(apierror.CodeResourceInUse, "The specified capacity provider is in use and cannot be removed. The capacity provider strategy of service %s uses it: update the service first.", users.service)
		}
		resp := cp
		resp.UpdateStatus = "DELETE_IN_PROGRESS"
		cp.Status = providerInactive
		cp.UpdateStatus = "DELETE_COMPLETE"
		b, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		key := capacityProviderKey(name)
		tr, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, prev),
			store.UnchangedSince(prefixOf("clusters"), rev), store.UnchangedSince(prefixOf("services"), rev)}, store.OpPut(key, b))
		if err != nil {
			return nil, fmt.Errorf("delete capacity provider %s: %w", name, err)
		}
		if tr.Succeeded {
			return &ecsapi.DeleteCapacityProviderResponse{CapacityProvider: &resp}, nil
		}
	}
	return nil, fmt.Errorf("delete capacity provider %s: %w", name, store.ErrConflict)
}

// providerUse names a cluster and a service that use a provider.
type providerUse struct{ cluster, service string }

// providerUsers finds an ACTIVE cluster that has provider name and a live
// service whose strategy names it, at one revision, which it returns.
func (s *API) providerUsers(ctx context.Context, name string) (providerUse, int64, error) {
	var u providerUse
	p := prefixOf("clusters")
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return u, 0, fmt.Errorf("list clusters: %w", err)
	}
	rev := resp.Revision
	for _, it := range resp.Items {
		var c ecsapi.Cluster
		if err := json.Unmarshal(it.Value, &c); err != nil {
			return u, 0, fmt.Errorf("decode %s: %w", it.Key, err)
		}
		if c.Status == clusterActive && slices.Contains(c.CapacityProviders, name) {
			u.cluster = c.ClusterName
			return u, rev, nil
		}
	}
	p = prefixOf("services")
	resp, err = s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Rev: rev})
	if err != nil {
		return u, 0, fmt.Errorf("list services: %w", err)
	}
	for _, it := range resp.Items {
		var svc ecsapi.Service
		if err := json.Unmarshal(it.Value, &svc); err != nil {
			return u, 0, fmt.Errorf("decode %s: %w", it.Key, err)
		}
		if svc.Status != "INACTIVE" && strategyNames(svc.CapacityProviderStrategy, name) {
			u.service = svc.ServiceName
			return u, rev, nil
		}
	}
	return u, rev, nil
}

// strategyNames reports whether strategy has provider name.
func strategyNames(strategy []ecsapi.CapacityProviderStrategyItem, name string) bool {
	for _, it := range strategy {
		if it.CapacityProvider == name {
			return true
		}
	}
	return false
}

// PutClusterCapacityProviders sets a cluster's capacity providers and its
// default strategy (both replaced; empty lists remove them). Each provider
// must exist (FARGATE and FARGATE_SPOT always do) and an Auto Scaling
// group provider may belong to one cluster only; the default strategy may
// only name the cluster's providers; a provider that a service of the
// cluster uses cannot be removed.
func (s *API) PutClusterCapacityProviders(ctx context.Context, in *ecsapi.PutClusterCapacityProvidersRequest) (*ecsapi.PutClusterCapacityProvidersResponse, error) {
	if in.Cluster == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'cluster' failed to satisfy constraint: Member must not be null")
	}
	if in.CapacityProviders == nil {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'capacityProviders' failed to satisfy constraint: Member must not be null")
	}
	if in.DefaultCapacityProviderStrategy == nil {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'defaultCapacityProviderStrategy' failed to satisfy constraint: Member must not be null")
	}
	name, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 20; attempt++ {
		var c ecsapi.Cluster
		crev, err := s.Store.Get(ctx, clusterKey(name), &c)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err := checkActive(&c, err == nil); err != nil {
			return nil, err
		}
		providers, rev, err := s.checkClusterProviders(ctx, name, in.CapacityProviders, in.DefaultCapacityProviderStrategy, "defaultCapacityProviderStrategy")
		if err != nil {
			return nil, err
		}
		// A provider removed from the cluster must not be in use by the
		// cluster's services.
		p := prefixOf("services", name)
		resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Rev: rev})
		if err != nil {
			return nil, fmt.Errorf("list services of %s: %w", name, err)
		}
		for _, it := range resp.Items {
			var svc ecsapi.Service
			if err := json.Unmarshal(it.Value, &svc); err != nil {
				return nil, fmt.Errorf("decode %s: %w", it.Key, err)
			}
			if svc.Status == "INACTIVE" {
				continue
			}
			for _, item := range svc.CapacityProviderStrategy {
				if !slices.Contains(providers, item.CapacityProvider) {
					return nil, apierror.New(apierror.CodeResourceInUse, "The specified capacity provider %s is in use and cannot be removed: the capacity provider strategy of service %s uses it.", item.CapacityProvider, svc.ServiceName)
				}
			}
		}
		c.CapacityProviders = providers
		c.DefaultCapacityProviderStrategy = in.DefaultCapacityProviderStrategy
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, err
		}
		key := clusterKey(name)
		tr, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, crev),
			store.UnchangedSince(store.Key("capacityproviders")+"/", rev), store.UnchangedSince(p, rev)}, store.OpPut(key, b))
		if err != nil {
			return nil, fmt.Errorf("put cluster capacity providers %s: %w", name, err)
		}
		if tr.Succeeded {
			view, err := s.clusterView(ctx, &c, allClusterFields())
			if err != nil {
				return nil, err
			}
			return &ecsapi.PutClusterCapacityProvidersResponse{Cluster: view}, nil
		}
	}
	return nil, fmt.Errorf("put cluster capacity providers %s: %w", name, store.ErrConflict)
}

// checkClusterProviders validates the capacity providers of cluster (by
// name or ARN; returned as names) and its default strategy (field names
// the member in errors), reading the providers and the other clusters at
// one revision, which it returns.
func (s *API) checkClusterProviders(ctx context.Context, cluster string, refs []string, strategy []ecsapi.CapacityProviderStrategyItem, field string) ([]string, int64, error) {
	if len(refs) > maxClusterProviders {
		return nil, 0, apierror.InvalidParameter("The capacityProviders list can contain at most %d capacity providers.", maxClusterProviders)
	}
	all, rev, err := s.providerRecords(ctx)
	if err != nil {
		return nil, 0, err
	}
	byName := map[string]*ecsapi.CapacityProvider{}
	for i := range all {
		if all[i].Status == providerActive {
			byName[all[i].Name] = &all[i]
		}
	}
	names := make([]string, 0, len(refs))
	var asg []string
	for _, ref := range refs {
		name, err := s.providerName(ref)
		if err != nil {
			return nil, 0, err
		}
		if slices.Contains(names, name) {
			return nil, 0, apierror.InvalidParameter("The capacity provider %s is specified more than once. Specify each capacity provider once and try again.", name)
		}
		if !builtinProvider(name) {
			if byName[name] == nil {
				return nil, 0, apierror.InvalidParameter("The specified capacity provider %s does not exist. Specify a valid capacity provider and try again.", name)
			}
			asg = append(asg, name)
		}
		names = append(names, name)
	}
	if len(asg) > 0 {
		p := prefixOf("clusters")
		resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Rev: rev})
		if err != nil {
			return nil, 0, fmt.Errorf("list clusters: %w", err)
		}
		for _, it := range resp.Items {
			var c ecsapi.Cluster
			if err := json.Unmarshal(it.Value, &c); err != nil {
				return nil, 0, fmt.Errorf("decode %s: %w", it.Key, err)
			}
			if c.Status != clusterActive || c.ClusterName == cluster {
				continue
			}
			for _, n := range asg {
				if slices.Contains(c.CapacityProviders, n) {
					return nil, 0, apierror.InvalidParameter("The capacity provider %s is already associated with cluster %s. An Auto Scaling group capacity provider can be associated with only one cluster.", n, c.ClusterName)
				}
			}
		}
	}
	if err := validateStrategy(strategy, field); err != nil {
		return nil, 0, err
	}
	for _, it := range strategy {
		if !slices.Contains(names, it.CapacityProvider) {
			return nil, 0, errProviderNotInCluster()
		}
	}
	return names, rev, nil
}
