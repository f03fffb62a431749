package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/store"
)

func checkTags(tags []cloudwatchapi.Tag) error {
	seen := map[string]bool{}
	for i, t := range tags {
		if t.Key == "" || len(t.Key) > 128 {
			return invalidValue("The value for parameter Tags.member.%d.Key must be 1 to 128 characters long.", i+1)
		}
		if len(t.Value) > 256 {
			return invalidValue("The value for parameter Tags.member.%d.Value must be at most 256 characters long.", i+1)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidValue("The tag key %s is invalid: the aws: prefix is reserved.", t.Key)
		}
		if seen[t.Key] {
			return invalidValue("The tag key %s is given twice.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// alarmFromARN returns the alarm name of an alarm ARN of this region and
// account.
func (a *API) alarmFromARN(arn string) (string, error) {
	if !strings.HasPrefix(arn, "arn:") || len(arn) > 1024 {
		return "", invalidValue("The value %s for parameter ResourceARN is invalid.", arn)
	}
	name, ok := strings.CutPrefix(arn, a.alarmARN(""))
	if !ok || name == "" {
		return "", apierrorNew(CodeResourceNotFoundException, "The resource "+arn+" does not exist.")
	}
	return name, nil
}

var errNoAlarm = errors.New("no such alarm")

func (a *API) mutateTags(ctx context.Context, op, arn string, fn func(tags []cloudwatchapi.Tag) ([]cloudwatchapi.Tag, error)) error {
	name, err := a.alarmFromARN(arn)
	if err != nil {
		return err
	}
	_, err = store.Mutate(ctx, a.Store, alarmKey(name), func(cur *alarmRecord, exists bool) error {
		if !exists {
			return errNoAlarm
		}
		tags, err := fn(cur.Tags)
		if err != nil {
			return err
		}
		cur.Tags = tags
		return nil
	})
	if errors.Is(err, errNoAlarm) {
		return apierrorNew(CodeResourceNotFoundException, "The resource "+arn+" does not exist.")
	}
	if err != nil {
		return a.internal(op, err)
	}
	return nil
}

// TagResource adds or replaces tags of an alarm.
func (a *API) TagResource(ctx context.Context, in *cloudwatchapi.TagResourceInput) (*cloudwatchapi.TagResourceOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	err := a.mutateTags(ctx, "TagResource", in.ResourceARN, func(tags []cloudwatchapi.Tag) ([]cloudwatchapi.Tag, error) {
		for _, t := range in.Tags {
			i := slices.IndexFunc(tags, func(x cloudwatchapi.Tag) bool { return x.Key == t.Key })
			if i >= 0 {
				tags[i].Value = t.Value
			} else {
				tags = append(tags, t)
			}
		}
		if len(tags) > MaxTags {
			return nil, apierrorNew(CodeLimitExceeded, fmt.Sprintf("A resource may have at most %d tags.", MaxTags))
		}
		return tags, nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudwatchapi.TagResourceOutput{}, nil
}

// UntagResource removes tags of an alarm by key.
func (a *API) UntagResource(ctx context.Context, in *cloudwatchapi.UntagResourceInput) (*cloudwatchapi.UntagResourceOutput, error) {
	err := a.mutateTags(ctx, "UntagResource", in.ResourceARN, func(tags []cloudwatchapi.Tag) ([]cloudwatchapi.Tag, error) {
		return slices.DeleteFunc(tags, func(t cloudwatchapi.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudwatchapi.UntagResourceOutput{}, nil
}

// ListTagsForResource lists an alarm's tags.
func (a *API) ListTagsForResource(ctx context.Context, in *cloudwatchapi.ListTagsForResourceInput) (*cloudwatchapi.ListTagsForResourceOutput, error) {
	name, err := a.alarmFromARN(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	var r alarmRecord
	if _, err := a.Store.Get(ctx, alarmKey(name), &r); errors.Is(err, store.ErrNotFound) {
		return nil, apierrorNew(CodeResourceNotFoundException, "The resource "+in.ResourceARN+" does not exist.")
	} else if err != nil {
		return nil, a.internal("ListTagsForResource", err)
	}
	return &cloudwatchapi.ListTagsForResourceOutput{Tags: append([]cloudwatchapi.Tag{}, r.Tags...)}, nil
}
