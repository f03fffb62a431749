package ecs

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Tag limits of ECS: per resource and per request.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// tagTextRE is the pattern of ECS tag keys and values.
var tagTextRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// reservedTagPrefix reports whether s begins with aws: in any case, which
// ECS keeps for AWS's own tags.
func reservedTagPrefix(s string) bool {
	return len(s) >= 4 && strings.EqualFold(s[:4], "aws:")
}

// validateTags checks the tags member of a request: at most 50, keys of
// 1..128 and values of 0..256 characters of the allowed set, unique keys,
// nothing with the aws: prefix.
func validateTags(tags []ecsapi.Tag) error {
	const field = "tags"
	if len(tags) > maxTags {
		return apierror.InvalidParameter("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, maxTags)
	}
	seen := map[string]bool{}
	for i, t := range tags {
		at := field + "." + strconv.Itoa(i+1) + ".member"
		if err := validateTagText(t.Key, at+".key", 1, maxTagKeyLen); err != nil {
			return err
		}
		if err := validateTagText(t.Value, at+".value", 0, maxTagValueLen); err != nil {
			return err
		}
		if reservedTagPrefix(t.Key) || reservedTagPrefix(t.Value) {
			return apierror.InvalidParameter("Tag keys and values can't begin with aws:, which is reserved for AWS use.")
		}
		if seen[t.Key] {
			return apierror.InvalidParameter("Tag keys must be unique: %s appears more than once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// validateTagText checks one key or value at path against length and
// character rules.
func validateTagText(s, path string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(s)
	if n < minLen {
		return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", s, path, minLen)
	}
	if n > maxLen {
		return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", s, path, maxLen)
	}
	if !tagTextRE.MatchString(s) {
		return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", s, path)
	}
	return nil
}

// mergeTags returns cur with add applied: existing keys take the new value
// in place, new keys are appended.
func mergeTags(cur, add []ecsapi.Tag) []ecsapi.Tag {
	out := append([]ecsapi.Tag(nil), cur...)
	for _, t := range add {
		found := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, found = t.Value, true
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

// countUserTags counts the tags that count against the per-resource limit:
// those without the aws: prefix.
func countUserTags(tags []ecsapi.Tag) int {
	n := 0
	for _, t := range tags {
		if !reservedTagPrefix(t.Key) {
			n++
		}
	}
	return n
}

// tagTarget is a taggable resource: how to read and change its tags.
type tagTarget struct {
	read   func(ctx context.Context) ([]ecsapi.Tag, error)
	update func(ctx context.Context, change func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error
}

// recordTags is the tagTarget of the record of type T at key, whose tags
// tags points to. check refuses a record that can't be tagged; notFound is
// the error for an absent record.
func recordTags[T any](st *store.Store, key string, tags func(*T) *[]ecsapi.Tag, check func(*T) error, notFound error) tagTarget {
	return tagTarget{
		read: func(ctx context.Context) ([]ecsapi.Tag, error) {
			var rec T
			if _, err := st.Get(ctx, key, &rec); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil, notFound
				}
				return nil, err
			}
			if err := check(&rec); err != nil {
				return nil, err
			}
			return *tags(&rec), nil
		},
		update: func(ctx context.Context, change func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
			_, err := store.Mutate(ctx, st, key, func(rec *T, exists bool) error {
				if !exists {
					return notFound
				}
				if err := check(rec); err != nil {
					return err
				}
				t, err := change(*tags(rec))
				*tags(rec) = t
				return err
			})
			return err
		},
	}
}

// tagTargetFor resolves a resource ARN to its tag target. A resource that
// does not exist is notFound, except a cluster (ClusterNotFoundException);
// a resource in a deleted cluster is refused as ECS refuses it.
func (s *API) tagTargetFor(ctx context.Context, arn string, notFound error) (tagTarget, error) {
	a, ok := ParseARN(arn)
	if !ok {
		return tagTarget{}, apierror.InvalidParameter("Invalid resource ARN: %s.", arn)
	}
	if a.Region != s.Region || a.Account != s.Account {
		if a.Type == "cluster" {
			return tagTarget{}, apierror.ClusterNotFound()
		}
		return tagTarget{}, notFound
	}
	switch a.Type {
	case "cluster":
		return s.clusterTagTarget(a.Path)
	case "task-definition":
		return s.taskDefTagTarget(a.Path, notFound)
	case "task", "service", "container-instance":
		return s.clusterResourceTagTarget(ctx, a, notFound)
	case "task-set":
		return s.taskSetTagTarget(ctx, a, notFound)
	case "capacity-provider":
		// Gantry has no capacity providers yet, so none can be found.
		return tagTarget{}, notFound
	}
	return tagTarget{}, apierror.InvalidParameter("Unsupported resource type %s in ARN %s. The supported resource types are clusters, task definitions, tasks, services, task sets, container instances and capacity providers.", a.Type, arn)
}

// taskSetTagTarget is the tag target of a task set, named by its ARN
// task-set/CLUSTER/SERVICE/ecs-svc/N: its tags live in its service's
// record.
func (s *API) taskSetTagTarget(ctx context.Context, a ParsedARN, notFound error) (tagTarget, error) {
	parts := strings.Split(a.Path, "/")
	if len(parts) != 4 || !isTaskSetID(parts[2]+"/"+parts[3]) {
		return tagTarget{}, apierror.InvalidParameter("Invalid task set ARN: the resource must be task-set/cluster/service/ecs-svc/ID.")
	}
	cluster, service, id := parts[0], parts[1], parts[2]+"/"+parts[3]
	if _, _, err := s.activeCluster(ctx, cluster); err != nil {
		return tagTarget{}, err
	}
	var none []ecsapi.Tag
	return recordTags(s.Store, serviceKey(cluster, service),
		func(svc *ecsapi.Service) *[]ecsapi.Tag {
			if ts, err := findTaskSet(svc, id); err == nil {
				return &ts.Tags
			}
			return &none
		},
		func(svc *ecsapi.Service) error {
			if _, err := findTaskSet(svc, id); err != nil {
				return notFound
			}
			return nil
		}, notFound), nil
}

func (s *API) clusterTagTarget(name string) (tagTarget, error) {
	if !clusterNameRE.MatchString(name) {
		return tagTarget{}, apierror.ClusterNotFound()
	}
	return recordTags(s.Store, clusterKey(name),
		func(c *ecsapi.Cluster) *[]ecsapi.Tag { return &c.Tags },
		func(c *ecsapi.Cluster) error { return checkActive(c, true) },
		apierror.ClusterNotFound()), nil
}

// anyRecord accepts every record: tags of deregistered task definitions,
// stopped tasks and inactive services stay editable, as in ECS.
func anyRecord[T any](*T) error { return nil }

// tagFamilyRE is the pattern of a task definition family.
var tagFamilyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func (s *API) taskDefTagTarget(path string, notFound error) (tagTarget, error) {
	family, revText, ok := strings.Cut(path, ":")
	rev, err := strconv.ParseInt(revText, 10, 32)
	if !ok || err != nil || rev < 1 || !tagFamilyRE.MatchString(family) {
		return tagTarget{}, apierror.InvalidParameter("Invalid task definition ARN: the resource must be task-definition/family:revision.")
	}
	return recordTags(s.Store, taskDefKey(family, int32(rev)),
		func(r *taskDefRecord) *[]ecsapi.Tag { return &r.Tags },
		anyRecord[taskDefRecord],
		notFound), nil
}

// clusterResourceTagTarget is the tag target of a task, service or
// container instance, named by its long ARN TYPE/CLUSTER/ID.
func (s *API) clusterResourceTagTarget(ctx context.Context, a ParsedARN, notFound error) (tagTarget, error) {
	cluster, id, ok := strings.Cut(a.Path, "/")
	if !ok {
		return tagTarget{}, apierror.InvalidParameter("Long arn format must be used for tagging operations")
	}
	if id == "" || strings.Contains(id, "/") {
		return tagTarget{}, notFound
	}
	if _, _, err := s.activeCluster(ctx, cluster); err != nil {
		return tagTarget{}, err
	}
	switch a.Type {
	case "task":
		return recordTags(s.Store, taskKey(cluster, id),
			func(r *taskRecord) *[]ecsapi.Tag { return &r.Task.Tags },
			anyRecord[taskRecord], notFound), nil
	case "service":
		return recordTags(s.Store, serviceKey(cluster, id),
			func(svc *ecsapi.Service) *[]ecsapi.Tag { return &svc.Tags },
			anyRecord[ecsapi.Service], notFound), nil
	default:
		return recordTags(s.Store, instanceKey(cluster, id),
			func(r *instanceRecord) *[]ecsapi.Tag { return &r.Instance.Tags },
			anyRecord[instanceRecord], notFound), nil
	}
}

// resourceNotFound is the error TagResource and UntagResource answer for a
// resource that does not exist.
func resourceNotFound() error {
	return apierror.ResourceNotFound("The specified resource wasn't found.")
}

// TagResource adds tags to a cluster, task definition, task, service or
// container instance, replacing the values of keys it already has. A
// resource may have at most 50 tags (aws: tags aside); more is
// LimitExceededException.
func (s *API) TagResource(ctx context.Context, in *ecsapi.TagResourceRequest) (*ecsapi.TagResourceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	target, err := s.tagTargetFor(ctx, in.ResourceArn, resourceNotFound())
	if err != nil {
		return nil, err
	}
	err = target.update(ctx, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) {
		merged := mergeTags(cur, in.Tags)
		if countUserTags(merged) > maxTags {
			return cur, apierror.LimitExceeded("A resource can have at most %d tags; this request would give %s %d.", maxTags, in.ResourceArn, countUserTags(merged))
		}
		return merged, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.TagResourceResponse{}, nil
}

// UntagResource removes the tags with the given keys; keys the resource
// does not have are ignored.
func (s *API) UntagResource(ctx context.Context, in *ecsapi.UntagResourceRequest) (*ecsapi.UntagResourceResponse, error) {
	drop := map[string]bool{}
	for i, k := range in.TagKeys {
		if err := validateTagText(k, "tagKeys."+strconv.Itoa(i+1)+".member", 1, maxTagKeyLen); err != nil {
			return nil, err
		}
		if reservedTagPrefix(k) {
			return nil, apierror.InvalidParameter("Tag keys that begin with aws: are reserved for AWS use and can't be removed.")
		}
		drop[k] = true
	}
	target, err := s.tagTargetFor(ctx, in.ResourceArn, resourceNotFound())
	if err != nil {
		return nil, err
	}
	err = target.update(ctx, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) {
		var kept []ecsapi.Tag
		for _, t := range cur {
			if !drop[t.Key] {
				kept = append(kept, t)
			}
		}
		return kept, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UntagResourceResponse{}, nil
}

// ListTagsForResource lists the tags of a resource. An unknown resource is
// InvalidParameterException, the only fitting error ECS documents for this
// call (an unknown cluster is ClusterNotFoundException).
func (s *API) ListTagsForResource(ctx context.Context, in *ecsapi.ListTagsForResourceRequest) (*ecsapi.ListTagsForResourceResponse, error) {
	notFound := apierror.InvalidParameter("The specified resource wasn't found: %s.", in.ResourceArn)
	target, err := s.tagTargetFor(ctx, in.ResourceArn, notFound)
	if err != nil {
		return nil, err
	}
	tags, err := target.read(ctx)
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListTagsForResourceResponse{Tags: tags}, nil
}
