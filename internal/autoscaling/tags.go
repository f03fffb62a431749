package autoscaling

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// targetOfARN resolves a scalable target's ARN to its key: a malformed ARN
// is ValidationException, an unknown one ResourceNotFoundException.
func (a *API) targetOfARN(ctx context.Context, arn string) (string, error) {
	if err := checkLength("resourceARN", arn, 1, 1011); err != nil {
		return "", err
	}
	prefix := fmt.Sprintf("arn:aws:application-autoscaling:%s:%s:scalable-target/", a.Region, a.Account)
	id, ok := strings.CutPrefix(arn, prefix)
	if !strings.HasPrefix(arn, "arn:") {
		return "", validation("Invalid ResourceARN: %s is not an ARN", arn)
	}
	notFound := &apierror.Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("No scalable target found for ARN %s", arn)}
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", notFound
	}
	res, err := a.Store.Txn(ctx, nil, store.OpGet(arnKey(id)))
	if err != nil {
		return "", err
	}
	if len(res.Reads) == 0 || len(res.Reads[0].Items) == 0 {
		return "", notFound
	}
	return string(res.Reads[0].Items[0].Value), nil
}

// mutateByARN changes the target arn names with fn.
func (a *API) mutateByARN(ctx context.Context, arn string, fn func(*targetRecord) error) error {
	key, err := a.targetOfARN(ctx, arn)
	if err != nil {
		return err
	}
	_, err = store.Mutate(ctx, a.Store, key, func(r *targetRecord, exists bool) error {
		if !exists || r.Target.ScalableTargetARN != arn {
			return &apierror.Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("No scalable target found for ARN %s", arn)}
		}
		return fn(r)
	})
	if errors.Is(err, store.ErrConflict) {
		return concurrentUpdate()
	}
	return err
}

// TagResource adds or replaces tags of a scalable target (at most 50).
func (a *API) TagResource(ctx context.Context, in *autoscalingapi.TagResourceRequest) (_ *autoscalingapi.TagResourceResponse, rerr error) {
	defer a.fault(&rerr)
	if len(in.Tags) == 0 {
		return nil, validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := checkTags(in.Tags, 0); err != nil {
		return nil, err
	}
	err := a.mutateByARN(ctx, in.ResourceARN, func(r *targetRecord) error {
		merged := maps.Clone(r.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, in.Tags)
		if len(merged) > 50 {
			return apierror.New(CodeTooManyTags, "The number of tags exceeds the limit of 50 tags per resource.")
		}
		r.Tags = merged
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &autoscalingapi.TagResourceResponse{}, nil
}

// UntagResource removes tags of a scalable target by key.
func (a *API) UntagResource(ctx context.Context, in *autoscalingapi.UntagResourceRequest) (_ *autoscalingapi.UntagResourceResponse, rerr error) {
	defer a.fault(&rerr)
	if len(in.TagKeys) > 200 {
		return nil, validation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 200")
	}
	for _, k := range in.TagKeys {
		if err := checkLength("tagKeys.member", k, 1, 128); err != nil {
			return nil, err
		}
	}
	err := a.mutateByARN(ctx, in.ResourceARN, func(r *targetRecord) error {
		for _, k := range in.TagKeys {
			delete(r.Tags, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &autoscalingapi.UntagResourceResponse{}, nil
}

// ListTagsForResource returns a scalable target's tags.
func (a *API) ListTagsForResource(ctx context.Context, in *autoscalingapi.ListTagsForResourceRequest) (_ *autoscalingapi.ListTagsForResourceResponse, rerr error) {
	defer a.fault(&rerr)
	key, err := a.targetOfARN(ctx, in.ResourceARN)
	if err != nil {
		return nil, err
	}
	var r targetRecord
	if _, err := a.Store.Get(ctx, key, &r); err != nil || r.Target.ScalableTargetARN != in.ResourceARN {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return nil, &apierror.Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("No scalable target found for ARN %s", in.ResourceARN)}
		}
		return nil, err
	}
	tags := r.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return &autoscalingapi.ListTagsForResourceResponse{Tags: tags}, nil
}
