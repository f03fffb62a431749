package logs

import (
	"context"
	"errors"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// groupOfARN resolves TagResource's resourceArn: a log group ARN of this
// region and account. Destinations, the other taggable resource, do not
// exist in Gantry.
func (a *API) groupOfARN(arn string) (string, error) {
	if arn == "" || len(arn) > 1011 {
		return "", lengthError("resourceArn", arn, "less than or equal to 1011 and greater than or equal to 1")
	}
	if !strings.HasPrefix(arn, "arn:") || strings.Count(arn, ":") < 5 {
		return "", invalidParameter("Invalid ARN: %s", arn)
	}
	g, ok := a.groupFromARN(arn)
	if !ok {
		return "", resourceNotFound("The specified resource does not exist.")
	}
	return g, nil
}

// TagResource adds or replaces tags of a log group named by its ARN.
func (a *API) TagResource(ctx context.Context, in *logsapi.TagResourceRequest) (*struct{}, error) {
	g, err := a.groupOfARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return nil, a.tag(g, in.Tags)
}

func (a *API) tag(group string, tags map[string]string) error {
	if len(tags) == 0 {
		return validation("tags", "{}", "have length greater than or equal to 1")
	}
	if err := checkTags("tags", tags); err != nil {
		return err
	}
	if _, err := a.adoptGroup(context.Background(), group); err != nil {
		return storeError(err, "tag log group", errGroupNotFound)
	}
	old, err := a.Store.Tags(group)
	if err != nil {
		return storeError(err, "tag log group", errGroupNotFound)
	}
	n := len(old)
	for k := range tags {
		if _, ok := old[k]; !ok {
			n++
		}
	}
	if n > MaxTags {
		return apierror.New(CodeTooManyTags, "A resource can have no more than %d tags.", MaxTags)
	}
	_, err = a.applyEverywhere(context.Background(), peerApplyRequest{Op: applyTags, Group: group, Set: tags})
	return storeError(err, "tag log group", errGroupNotFound)
}

// UntagResource removes tags of a log group named by its ARN.
func (a *API) UntagResource(ctx context.Context, in *logsapi.UntagResourceRequest) (*struct{}, error) {
	g, err := a.groupOfARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return nil, a.untag(g, "tagKeys", in.TagKeys)
}

func (a *API) untag(group, member string, keys []string) error {
	if len(keys) > MaxTags {
		return lengthError(member, "[...]", "less than or equal to 50")
	}
	for _, k := range keys {
		if err := checkTagKey(member, k); err != nil {
			return err
		}
	}
	found, err := a.applyEverywhere(context.Background(), peerApplyRequest{Op: applyTags, Group: group, Remove: keys})
	if err == nil && !found {
		return errGroupNotFound
	}
	return storeError(err, "untag log group", errGroupNotFound)
}

// ListTagsForResource returns a log group's tags.
func (a *API) ListTagsForResource(ctx context.Context, in *logsapi.ListTagsForResourceRequest) (*logsapi.ListTagsForResourceResponse, error) {
	g, err := a.groupOfARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	tags, err := a.groupTags(ctx, g)
	if err != nil {
		return nil, storeError(err, "list tags", errGroupNotFound)
	}
	return &logsapi.ListTagsForResourceResponse{Tags: tags}, nil
}

// TagLogGroup is the older TagResource, by group name.
func (a *API) TagLogGroup(ctx context.Context, in *logsapi.TagLogGroupRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	return nil, a.tag(in.LogGroupName, in.Tags)
}

// UntagLogGroup is the older UntagResource, by group name.
func (a *API) UntagLogGroup(ctx context.Context, in *logsapi.UntagLogGroupRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, lengthError("tags", "[]", "greater than or equal to 1")
	}
	return nil, a.untag(in.LogGroupName, "tags", in.Tags)
}

// ListTagsLogGroup is the older ListTagsForResource, by group name.
func (a *API) ListTagsLogGroup(ctx context.Context, in *logsapi.ListTagsLogGroupRequest) (*logsapi.ListTagsLogGroupResponse, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	tags, err := a.groupTags(ctx, in.LogGroupName)
	if err != nil {
		return nil, storeError(err, "list tags", errGroupNotFound)
	}
	return &logsapi.ListTagsLogGroupResponse{Tags: tags}, nil
}

// groupTags returns a group's tags from this server's store, else from a
// peer that holds the group.
func (a *API) groupTags(ctx context.Context, group string) (map[string]string, error) {
	tags, err := a.Store.Tags(group)
	if errors.Is(err, logstore.ErrNotFound) {
		if p, perr := a.peerGroup(ctx, group, ""); perr == nil && p.Found {
			return p.Tags, nil
		}
	}
	return tags, err
}
