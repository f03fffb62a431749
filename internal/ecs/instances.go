package ecs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// Container instance statuses.
const (
	instanceActive      = "ACTIVE"
	instanceDraining    = "DRAINING"
	instanceInactive    = "INACTIVE"
	instanceRegistering = "REGISTERING"
)

// defaultReservedPorts are the TCP ports ECS reserves on every instance.
func defaultReservedPorts() []string { return []string{"22", "2375", "2376", "51678", "51679"} }

// newID returns a 32-hex-digit ID, the form of ECS task and instance IDs.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newTaskID returns a task ID as ECS shows them (32 hex digits) whose
// first 12 digits are the time in milliseconds and the other 20 random
// (80 bits), like a UUIDv7: tasks created together get neighbouring keys,
// so that etcd's index and its bbolt pages take a burst of placements in
// a few places instead of all over a large tree, and listings come in
// creation order.
func newTaskID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b[:])
}

// identityDocument is the part of an instance identity document Gantry reads.
type identityDocument struct {
	InstanceID       string `json:"instanceId"`
	InstanceType     string `json:"instanceType"`
	AvailabilityZone string `json:"availabilityZone"`
	Region           string `json:"region"`
}

// instanceID resolves a container instance given by ID or ARN in cluster.
func (s *API) instanceID(cluster, id string) (string, error) {
	if strings.HasPrefix(id, "arn:") {
		a, ok := ParseARN(id)
		if !ok || a.Type != "container-instance" {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid container instance ID or ARN.", id)
		}
		parts := strings.Split(a.Path, "/")
		if len(parts) == 2 {
			if parts[0] != cluster {
				return "", apierror.InvalidParameter("Container instance %s does not belong to cluster %s.", id, cluster)
			}
			return parts[1], nil
		}
		return parts[len(parts)-1], nil
	}
	if id == "" || strings.ContainsAny(id, "/:") {
		return "", apierror.InvalidParameter("Invalid identifier: Unexpected format for container instance: %s.", id)
	}
	return id, nil
}

// RegisterContainerInstance registers a host into a cluster, or re-registers
// the instance named by containerInstanceArn (an agent restarting), keeping
// its ARN, tasks and attributes.
func (s *API) RegisterContainerInstance(ctx context.Context, in *ecsapi.RegisterContainerInstanceRequest) (*ecsapi.RegisterContainerInstanceResponse, error) {
	if isFargatePool(in.Cluster) {
		// The Fargate pool's hidden cluster comes with its first host.
		if err := s.EnsureCluster(ctx, FargatePoolCluster); err != nil {
			return nil, err
		}
	}
	cl, crev, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var doc identityDocument
	if in.InstanceIdentityDocument != "" {
		if err := json.Unmarshal([]byte(in.InstanceIdentityDocument), &doc); err != nil {
			return nil, apierror.InvalidParameter("instanceIdentityDocument is not a JSON document: %v", err)
		}
	}
	registered, err := normalizeResources(in.TotalResources)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	for _, a := range in.Attributes {
		if a.Name == "" {
			return nil, apierror.InvalidParameter("Attribute names must not be empty.")
		}
	}
	now := s.now()
	for attempt := 0; attempt < 20; attempt++ {
		var rec instanceRecord
		var rev int64
		id := ""
		if in.ContainerInstanceArn != "" {
			id, err = s.instanceID(cl.ClusterName, in.ContainerInstanceArn)
			if err != nil {
				return nil, err
			}
			rev, err = s.Store.Get(ctx, instanceKey(cl.ClusterName, id), &rec)
			if errors.Is(err, store.ErrNotFound) {
				return nil, apierror.InvalidParameter("Container instance %s is not registered in cluster %s.", in.ContainerInstanceArn, cl.ClusterName)
			}
			if err != nil {
				return nil, err
			}
			if rec.Instance.Status == instanceInactive {
				return nil, apierror.Client("Container instance %s is deregistered; register a new one.", in.ContainerInstanceArn)
			}
		} else {
			id = newID()
			rec.Instance = ecsapi.ContainerInstance{
				ContainerInstanceArn: s.ContainerInstanceARN(cl.ClusterName, id),
				Status:               instanceActive,
				RegisteredAt:         ecsapiNow(now),
			}
		}
		ci := &rec.Instance
		ci.Ec2InstanceId = doc.InstanceID
		ci.RegisteredResources = registered
		ci.VersionInfo = in.VersionInfo
		ci.AgentConnected = true
		ci.Attributes = mergeAttributes(ci.Attributes, in.Attributes)
		ci.CapacityProviderName = attrValue(ci.Attributes, CapacityProviderAttribute)
		if ci.Ec2InstanceId == "" {
			ci.Ec2InstanceId = id
		}
		if len(in.Tags) > 0 {
			ci.Tags = in.Tags
		}
		rec.LastSeen = now.UnixMilli()
		if ci.RemainingResources == nil {
			ci.RemainingResources = registered
		}
		touch(&rec)
		b, err := json.Marshal(&rec)
		if err != nil {
			return nil, err
		}
		key := instanceKey(cl.ClusterName, id)
		cmp := store.Absent(key)
		if rev != 0 {
			cmp = store.ModRevisionIs(key, rev)
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{cmp, store.ModRevisionIs(clusterKey(cl.ClusterName), crev)}, store.OpPut(key, b))
		if err != nil {
			return nil, fmt.Errorf("register container instance: %w", err)
		}
		if resp.Succeeded {
			s.markConnected(ctx, cl.ClusterName, id)
			if s.OnProvisioning != nil && attrValue(rec.Instance.Attributes, CapacityProviderAttribute) != "" {
				// Tasks may wait for this instance: managed scaling
				// places them now rather than at its next pass.
				s.OnProvisioning()
			}
			out := rec.Instance
			return &ecsapi.RegisterContainerInstanceResponse{ContainerInstance: &out}, nil
		}
		if cl, crev, err = s.activeCluster(ctx, in.Cluster); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("register container instance: %w", store.ErrConflict)
}

func ecsapiNow(t interface{ UnixMilli() int64 }) *ecsapi.Timestamp {
	return &ecsapi.Timestamp{Time: timeFromMilli(t.UnixMilli())}
}

// mergeAttributes sets each attribute of upd on cur, replacing one of the
// same name (and target).
func mergeAttributes(cur, upd []ecsapi.Attribute) []ecsapi.Attribute {
	out := append([]ecsapi.Attribute(nil), cur...)
	for _, a := range upd {
		a.TargetId, a.TargetType = "", ""
		replaced := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i] = a
				replaced = true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// normalizeResources validates the resources an agent registers: CPU and
// MEMORY integers are required; PORTS and PORTS_UDP string sets default to
// ECS's reserved ports and to none.
func normalizeResources(rs []ecsapi.Resource) ([]ecsapi.Resource, error) {
	var out []ecsapi.Resource
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Name] {
			return nil, apierror.InvalidParameter("Resource %s is given twice.", r.Name)
		}
		seen[r.Name] = true
		switch r.Name {
		case "CPU", "MEMORY", "GPU":
			if r.Type == "" {
				r.Type = "INTEGER"
			}
			if r.Type != "INTEGER" || r.IntegerValue < 0 {
				return nil, apierror.InvalidParameter("Resource %s must be a non-negative INTEGER.", r.Name)
			}
		case "PORTS", "PORTS_UDP":
			if r.Type == "" {
				r.Type = "STRINGSET"
			}
			if r.Type != "STRINGSET" {
				return nil, apierror.InvalidParameter("Resource %s must be a STRINGSET.", r.Name)
			}
			for _, p := range r.StringSetValue {
				if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
					return nil, apierror.InvalidParameter("Resource %s has an invalid port %q.", r.Name, p)
				}
			}
		}
		out = append(out, r)
	}
	for _, name := range []string{"CPU", "MEMORY"} {
		if !seen[name] {
			return nil, apierror.InvalidParameter("totalResources must include %s.", name)
		}
	}
	if !seen["PORTS"] {
		out = append(out, ecsapi.Resource{Name: "PORTS", Type: "STRINGSET", StringSetValue: defaultReservedPorts()})
	}
	if !seen["PORTS_UDP"] {
		out = append(out, ecsapi.Resource{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}})
	}
	return out, nil
}

// touch bumps the instance's version, as ECS does on every change.
func touch(r *instanceRecord) { r.Instance.Version++ }

// DeregisterContainerInstance removes an instance from its cluster. Without
// force it is refused while tasks run there; with force, the tasks are left
// to stop (their desired status becomes STOPPED) and the record goes INACTIVE.
func (s *API) DeregisterContainerInstance(ctx context.Context, in *ecsapi.DeregisterContainerInstanceRequest) (*ecsapi.DeregisterContainerInstanceResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	id, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	v.SyncNow(ctx)
	_, toStop, _ := v.Assigned(cluster+"/"+id, 0)
	rec, err := store.Mutate(ctx, s.Store, instanceKey(cluster, id), func(r *instanceRecord, exists bool) error {
		if !exists || r.Instance.Status == instanceInactive {
			return apierror.InvalidParameter("Container instance %s not found.", in.ContainerInstance)
		}
		if len(toStop) > 0 && !force {
			return apierror.InvalidParameter("Found running tasks on the instance. Use force to deregister the container instance.")
		}
		r.Instance.Status = instanceInactive
		r.Instance.AgentConnected = false
		r.Instance.Version++
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, tid := range toStop {
		if _, err := s.requestStop(ctx, cluster, tid, "Container instance deregistration forced by user"); err != nil && !apierror.IsCode(err, apierror.CodeInvalidParameter) {
			return nil, err
		}
	}
	_, _ = s.Store.Txn(ctx, nil, store.OpDelete(connectedKey(cluster, id)))
	out := rec.Instance
	out.AgentConnected = false
	return &ecsapi.DeregisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// DescribeContainerInstances returns instances by ID or ARN; unknown ones
// come back as failures with reason MISSING.
func (s *API) DescribeContainerInstances(ctx context.Context, in *ecsapi.DescribeContainerInstancesRequest) (*ecsapi.DescribeContainerInstancesResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) > 100 {
		return nil, apierror.InvalidParameter("containerInstances can have at most 100 items.")
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" && f != "CONTAINER_INSTANCE_HEALTH" {
			return nil, apierror.InvalidParameter("Invalid include value %s.", f)
		}
		withTags = withTags || f == "TAGS"
	}
	connected, v, err := s.instanceViews(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeContainerInstancesResponse{ContainerInstances: []ecsapi.ContainerInstance{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ContainerInstances {
		id, err := s.instanceID(cluster, ref)
		if err != nil {
			return nil, err
		}
		var rec instanceRecord
		if _, err := s.Store.Get(ctx, instanceKey(cluster, id), &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.ContainerInstanceARN(cluster, id), Reason: "MISSING"})
				continue
			}
			return nil, err
		}
		out.ContainerInstances = append(out.ContainerInstances, s.instanceView(v, &rec, connected, withTags))
	}
	return out, nil
}

func (s *API) instanceView(v *state.Views, rec *instanceRecord, connected map[string]bool, withTags bool) ecsapi.ContainerInstance {
	ci := rec.Instance
	cluster, id, _ := strings.Cut(strings.TrimPrefix(ci.ContainerInstanceArn, s.arn("container-instance/")), "/")
	ci.AgentConnected = ci.Status != instanceInactive && connected[id]
	if v != nil && ci.Status != instanceInactive {
		v.WithAccounting(cluster, &ci)
	}
	if !withTags {
		ci.Tags = nil
	}
	if ci.Attributes == nil {
		ci.Attributes = []ecsapi.Attribute{}
	}
	return ci
}

// clusterExists returns the cluster record of name, ACTIVE or not;
// ClusterNotFoundException if there is none.
func (s *API) clusterExists(ctx context.Context, name string) (*ecsapi.Cluster, error) {
	var c ecsapi.Cluster
	if _, err := s.Store.Get(ctx, clusterKey(name), &c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.ClusterNotFound()
		}
		return nil, err
	}
	return &c, nil
}

// ListContainerInstances lists instance ARNs of a cluster, filtered by
// status and by a cluster query language expression.
func (s *API) ListContainerInstances(ctx context.Context, in *ecsapi.ListContainerInstancesRequest) (*ecsapi.ListContainerInstancesResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	status := string(in.Status)
	switch status {
	case "", instanceActive, instanceDraining, instanceRegistering, "DEREGISTERING", "REGISTRATION_FAILED", instanceInactive:
	default:
		return nil, apierror.InvalidParameter("Invalid status %s.", status)
	}
	match, err := s.instanceFilter(in.Filter)
	if err != nil {
		return nil, err
	}
	connected, v, err := s.instanceViews(ctx, cluster)
	if err != nil {
		return nil, err
	}
	scope := "ci|" + cluster + "|" + status + "|" + in.Filter
	arns, next, err := listARNs(ctx, s, prefixOf("instances", cluster), scope, in.NextToken, limit,
		func(rec *instanceRecord) bool {
			st := rec.Instance.Status
			if status == "" && st == instanceInactive {
				return false
			}
			if status != "" && st != status {
				return false
			}
			view := s.instanceView(v, rec, connected, true)
			return match(&view)
		}, func(rec *instanceRecord) string { return rec.Instance.ContainerInstanceArn })
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListContainerInstancesResponse{ContainerInstanceArns: arns, NextToken: next}, nil
}

// UpdateContainerInstancesState sets instances ACTIVE or DRAINING. A
// DRAINING instance gets no new tasks; service tasks on it are replaced.
func (s *API) UpdateContainerInstancesState(ctx context.Context, in *ecsapi.UpdateContainerInstancesStateRequest) (*ecsapi.UpdateContainerInstancesStateResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	st := string(in.Status)
	if st != instanceActive && st != instanceDraining {
		return nil, apierror.InvalidParameter("Container instance status must be ACTIVE or DRAINING.")
	}
	if len(in.ContainerInstances) > 10 {
		return nil, apierror.InvalidParameter("containerInstances can have at most 10 items.")
	}
	connected, v, err := s.instanceViews(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.UpdateContainerInstancesStateResponse{ContainerInstances: []ecsapi.ContainerInstance{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ContainerInstances {
		id, err := s.instanceID(cluster, ref)
		if err != nil {
			return nil, err
		}
		rec, err := store.Mutate(ctx, s.Store, instanceKey(cluster, id), func(r *instanceRecord, exists bool) error {
			if !exists || r.Instance.Status == instanceInactive {
				return errMissing
			}
			if r.Instance.Status != st {
				r.Instance.Status = st
				r.Instance.Version++
			}
			return nil
		})
		if errors.Is(err, errMissing) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.ContainerInstanceARN(cluster, id), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		if st == instanceDraining && isFargatePool(cluster) && attrValue(rec.Instance.Attributes, CapacityProviderAttribute) == ProviderFargateSpot {
			if err := s.reclaimSpot(ctx, v, cluster, id); err != nil {
				return nil, err
			}
		}
		out.ContainerInstances = append(out.ContainerInstances, s.instanceView(v, rec, connected, false))
	}
	return out, nil
}

var errMissing = errors.New("missing")

// DiscoverPollEndpoint tells an agent where to reach the control plane: this
// server, whose URL is set in PollEndpoint by the application.
func (s *API) DiscoverPollEndpoint(ctx context.Context, in *ecsapi.DiscoverPollEndpointRequest) (*ecsapi.DiscoverPollEndpointResponse, error) {
	if in.Cluster != "" {
		if _, err := s.clusterName(in.Cluster); err != nil {
			return nil, err
		}
	}
	return &ecsapi.DiscoverPollEndpointResponse{Endpoint: s.PollEndpoint, TelemetryEndpoint: s.PollEndpoint}, nil
}

// instanceViews returns what showing a cluster's instances needs: which
// agents are connected, and the placement views (current with etcd) that
// hold their accounting.
func (s *API) instanceViews(ctx context.Context, cluster string) (map[string]bool, *state.Views, error) {
	connected, err := s.connectedSet(ctx, cluster)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, nil, err
	}
	v.SyncNow(ctx)
	return connected, v, nil
}
