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

// Attributes are name/value pairs on container instances, the only target
// type ECS has. They live in the instance record beside the attributes the
// agent registers (ecs.*, com.amazonaws.ecs.*), which are built in and do
// not count against the limit of 10 custom attributes per instance.

const (
	// maxCustomAttributes is the most custom attributes an instance has, and
	// the most attributes one call names.
	maxCustomAttributes = 10
	// attributeTargetType is the one target type of attributes.
	attributeTargetType ecsapi.TargetType = "container-instance"
)

var (
	attributeNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_./\\-]{1,128}$`)
	attributeValueRE = regexp.MustCompile(`^[a-zA-Z0-9_.@/\\: -]{1,128}$`)
)

// builtinAttribute reports whether name is one of the attributes ECS and
// its agent set, which are not custom.
func builtinAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.")
}

// validateAttribute checks the name and, for PutAttributes, the optional
// value of the i-th attribute of a request.
func validateAttribute(a ecsapi.Attribute, i int, checkValue bool) error {
	if !attributeNameRE.MatchString(a.Name) {
		return apierror.InvalidParameter("Invalid attribute name at attributes.%d: %q. A name has 1 to 128 letters, numbers, hyphens, underscores, periods, forward or back slashes.", i+1, a.Name)
	}
	if !checkValue || a.Value == "" {
		return nil
	}
	if !attributeValueRE.MatchString(a.Value) || strings.TrimSpace(a.Value) != a.Value {
		return apierror.InvalidParameter("Invalid attribute value at attributes.%d: %q. A value has 1 to 128 letters, numbers, hyphens, underscores, periods, at signs, forward or back slashes, colons or spaces, and doesn't start or end with a space.", i+1, a.Value)
	}
	return nil
}

// attributeTargetID resolves an attribute's target, a container instance
// named by ARN or ID, to the instance's ID in cluster. A short ID needs
// targetType. An instance of another cluster is TargetNotFoundException.
func (s *API) attributeTargetID(cluster string, a ecsapi.Attribute) (string, error) {
	if a.TargetType != "" && a.TargetType != attributeTargetType {
		return "", apierror.InvalidParameter("Invalid targetType: %s. The only target type is %s.", a.TargetType, attributeTargetType)
	}
	if a.TargetId == "" {
		return "", apierror.InvalidParameter("Attribute %s has no targetId.", a.Name)
	}
	if !strings.HasPrefix(a.TargetId, "arn:") {
		if a.TargetType == "" {
			return "", apierror.InvalidParameter("targetType must be specified when targetId %s is not an ARN.", a.TargetId)
		}
		if strings.ContainsAny(a.TargetId, "/:") {
			return "", apierror.InvalidParameter("Invalid targetId: %s.", a.TargetId)
		}
		return a.TargetId, nil
	}
	p, ok := ParseARN(a.TargetId)
	if !ok || p.Type != string(attributeTargetType) {
		return "", apierror.InvalidParameter("Invalid targetId: %s. It should be a container instance ID or ARN.", a.TargetId)
	}
	id := p.Path
	if c, rest, long := strings.Cut(p.Path, "/"); long {
		if c != cluster {
			return "", errTargetNotFound(a.TargetId, cluster)
		}
		id = rest
	}
	if p.Region != s.Region || p.Account != s.Account || id == "" || strings.Contains(id, "/") {
		return "", errTargetNotFound(a.TargetId, cluster)
	}
	return id, nil
}

func errTargetNotFound(target, cluster string) error {
	return apierror.TargetNotFound("Could not find container instance %s in cluster %s.", target, cluster)
}

// groupAttributes validates the attributes of a request and groups them by
// target instance ID, in the order the targets first appear.
func (s *API) groupAttributes(cluster string, attrs []ecsapi.Attribute, checkValue bool) ([]string, map[string][]ecsapi.Attribute, error) {
	if len(attrs) > maxCustomAttributes {
		return nil, nil, apierror.AttributeLimitExceeded("You can specify up to %d attributes in a single call.", maxCustomAttributes)
	}
	var ids []string
	byID := map[string][]ecsapi.Attribute{}
	for i, a := range attrs {
		if err := validateAttribute(a, i, checkValue); err != nil {
			return nil, nil, err
		}
		id, err := s.attributeTargetID(cluster, a)
		if err != nil {
			return nil, nil, err
		}
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], ecsapi.Attribute{Name: a.Name, Value: a.Value})
	}
	return ids, byID, nil
}

// changeInstances applies change to the records of the instances ids of
// cluster and writes them all in one transaction guarded by the revisions
// read, retrying on conflict. An unknown instance is TargetNotFound.
func (s *API) changeInstances(ctx context.Context, cluster string, ids []string, change func(id string, r *instanceRecord) error) error {
	for attempt := 0; attempt < 50; attempt++ {
		var cmps []store.Cmp
		var puts []store.Op
		for _, id := range ids {
			key := instanceKey(cluster, id)
			var r instanceRecord
			rev, err := s.Store.Get(ctx, key, &r)
			if errors.Is(err, store.ErrNotFound) {
				return errTargetNotFound(id, cluster)
			}
			if err != nil {
				return err
			}
			if err := change(id, &r); err != nil {
				return err
			}
			b, err := json.Marshal(&r)
			if err != nil {
				return fmt.Errorf("encode %s: %w", key, err)
			}
			cmps = append(cmps, store.ModRevisionIs(key, rev))
			puts = append(puts, store.OpPut(key, b))
		}
		resp, err := s.Store.Txn(ctx, cmps, puts...)
		if err != nil {
			return fmt.Errorf("update instances of %s: %w", cluster, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("update instances of %s: %w", cluster, store.ErrConflict)
}

// PutAttributes creates or replaces attributes on container instances. An
// instance may have at most 10 custom attributes; a call names at most 10.
// It returns the attributes as given.
func (s *API) PutAttributes(ctx context.Context, in *ecsapi.PutAttributesRequest) (*ecsapi.PutAttributesResponse, error) {
	c, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	ids, byID, err := s.groupAttributes(c.ClusterName, in.Attributes, true)
	if err != nil {
		return nil, err
	}
	err = s.changeInstances(ctx, c.ClusterName, ids, func(id string, r *instanceRecord) error {
		attrs := setAttributes(r.Instance.Attributes, byID[id])
		if countCustomAttributes(attrs) > maxCustomAttributes {
			return apierror.AttributeLimitExceeded("You can apply up to %d custom attributes to container instance %s.", maxCustomAttributes, id)
		}
		r.Instance.Attributes = attrs
		r.Instance.Version++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes, by name, from container instances;
// names an instance does not have are ignored. It returns the attributes as
// given.
func (s *API) DeleteAttributes(ctx context.Context, in *ecsapi.DeleteAttributesRequest) (*ecsapi.DeleteAttributesResponse, error) {
	c, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	ids, byID, err := s.groupAttributes(c.ClusterName, in.Attributes, false)
	if err != nil {
		return nil, err
	}
	err = s.changeInstances(ctx, c.ClusterName, ids, func(id string, r *instanceRecord) error {
		r.Instance.Attributes = slices.DeleteFunc(r.Instance.Attributes, func(a ecsapi.Attribute) bool {
			return slices.ContainsFunc(byID[id], func(d ecsapi.Attribute) bool { return d.Name == a.Name })
		})
		r.Instance.Version++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

// setAttributes returns cur with each of upd set by name.
func setAttributes(cur, upd []ecsapi.Attribute) []ecsapi.Attribute {
	out := append([]ecsapi.Attribute(nil), cur...)
	for _, a := range upd {
		i := slices.IndexFunc(out, func(o ecsapi.Attribute) bool { return o.Name == a.Name })
		if i < 0 {
			out = append(out, a)
		} else {
			out[i] = a
		}
	}
	return out
}

func countCustomAttributes(attrs []ecsapi.Attribute) int {
	n := 0
	for _, a := range attrs {
		if !builtinAttribute(a.Name) {
			n++
		}
	}
	return n
}

// listedAttribute is one attribute of a listing and its position in it.
type listedAttribute struct {
	pos  string
	attr ecsapi.Attribute
}

// ListAttributes lists the attributes, built in and custom, of the container
// instances of a cluster, one entry per attribute per instance, ordered by
// instance ID and name, at most maxResults (1..100, default 100) a page.
// attributeName and attributeValue filter the list; a value needs a name.
func (s *API) ListAttributes(ctx context.Context, in *ecsapi.ListAttributesRequest) (*ecsapi.ListAttributesResponse, error) {
	if in.TargetType != attributeTargetType {
		return nil, apierror.InvalidParameter("Invalid targetType: %s. The only target type is %s.", in.TargetType, attributeTargetType)
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, apierror.InvalidParameter("You must also specify attributeName to filter by attributeValue.")
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	c, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	scope := strings.Join([]string{"attributes", c.ClusterName, in.AttributeName, in.AttributeValue}, "\n")
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	all, err := s.clusterAttributes(ctx, c.ClusterName, in.AttributeName, in.AttributeValue)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListAttributesResponse{Attributes: []ecsapi.Attribute{}}
	last := ""
	for _, la := range all {
		if la.pos <= after {
			continue
		}
		if len(out.Attributes) == limit {
			out.NextToken = encodeToken(last, scope)
			break
		}
		out.Attributes = append(out.Attributes, la.attr)
		last = la.pos
	}
	return out, nil
}

// clusterAttributes returns the attributes of every instance of cluster
// that match name and value (when not empty), in listing order.
func (s *API) clusterAttributes(ctx context.Context, cluster, name, value string) ([]listedAttribute, error) {
	prefix := prefixOf("instances", cluster)
	items, err := s.Store.List(ctx, prefix, "", 0)
	if err != nil {
		return nil, err
	}
	var out []listedAttribute
	for _, it := range items {
		var r instanceRecord
		if err := it.Decode(&r); err != nil {
			return nil, err
		}
		id := strings.TrimPrefix(it.Key, prefix)
		arn := r.Instance.ContainerInstanceArn
		if arn == "" {
			arn = s.ContainerInstanceARN(cluster, id)
		}
		attrs := slices.Clone(r.Instance.Attributes)
		slices.SortStableFunc(attrs, func(a, b ecsapi.Attribute) int { return strings.Compare(a.Name, b.Name) })
		for _, a := range attrs {
			if (name != "" && a.Name != name) || (value != "" && a.Value != value) {
				continue
			}
			out = append(out, listedAttribute{
				pos:  id + "\x00" + a.Name,
				attr: ecsapi.Attribute{Name: a.Name, Value: a.Value, TargetId: arn, TargetType: attributeTargetType},
			})
		}
	}
	return out, nil
}
