package elb

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// checkTags applies AWS's rules to tags given on creation or by AddTags.
func checkTags(tags []elbv2api.Tag, creation bool) error {
	if len(tags) > maxTagsPerResource {
		return errf(codeTooManyTags, "The quota for the number of tags that can be assigned to a resource has been reached: %d", maxTagsPerResource)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return validation("1 validation error detected: Value '%s' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128", t.Key)
		case len(t.Value) > 256:
			return validation("1 validation error detected: Value '%s' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256", t.Value)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return validation("Tag keys starting with 'aws:' are reserved for internal use")
		case seen[t.Key]:
			return errf(codeDuplicateTagKeys, "Tag key '%s' is specified more than once", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// taggable is a resource's tags in a world, found by ARN, and how to write
// them back.
type taggable struct {
	tags *[]elbv2api.Tag
	save func()
}

// taggableOf resolves an ARN to its resource's tags, or the not-found
// error of its kind.
func (a *API) taggableOf(w *world, arn string) (taggable, error) {
	if err := checkARN("resource", arn); err != nil {
		return taggable{}, err
	}
	kind, _, _ := a.arnKind(arn)
	switch kind {
	case "loadbalancer":
		if r := w.lbByARN(arn); r != nil {
			return taggable{&r.Tags, func() { w.put(keyOf(kindLB, r.ID), r) }}, nil
		}
		return taggable{}, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", arn)
	case "targetgroup":
		if r := w.tgByARN(arn); r != nil {
			return taggable{&r.Tags, func() { w.put(keyOf(kindTG, r.ID), r) }}, nil
		}
		return taggable{}, errf(codeTargetGroupNotFound, "Target groups '%s' not found", arn)
	case "listener":
		if r := w.listenerByARN(arn); r != nil {
			return taggable{&r.Tags, func() { w.put(keyOf(kindListener, r.ID), r) }}, nil
		}
		return taggable{}, errf(codeListenerNotFound, "One or more listeners not found")
	case "listener-rule":
		rule, l := w.ruleByARN(arn)
		if rule != nil {
			return taggable{&rule.Tags, func() { w.put(ruleKey(rule), rule) }}, nil
		}
		if l != nil {
			return taggable{&l.DefaultRuleTags, func() { w.put(keyOf(kindListener, l.ID), l) }}, nil
		}
		return taggable{}, errf(codeRuleNotFound, "One or more rules not found")
	}
	if strings.Contains(arn, ":elasticloadbalancing:") {
		return taggable{}, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", arn)
	}
	return taggable{}, validation("'%s' is not a valid Elastic Load Balancing resource ARN", arn)
}

// AddTags adds or replaces tags of load balancers, target groups,
// listeners and rules.
func (a *API) AddTags(ctx context.Context, in *elbv2api.AddTagsInput) (*elbv2api.AddTagsOutput, error) {
	if len(in.ResourceArns) > 20 {
		return nil, validation("A maximum of 20 resource ARNs can be specified")
	}
	if len(in.Tags) == 0 {
		return nil, validation("At least one tag must be specified")
	}
	if err := checkTags(in.Tags, false); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, func(w *world) error {
		for _, arn := range in.ResourceArns {
			t, err := a.taggableOf(w, arn)
			if err != nil {
				return err
			}
			tags := *t.tags
			for _, nt := range in.Tags {
				replaced := false
				for i := range tags {
					if tags[i].Key == nt.Key {
						tags[i].Value = nt.Value
						replaced = true
					}
				}
				if !replaced {
					tags = append(tags, nt)
				}
			}
			if len(tags) > maxTagsPerResource {
				return errf(codeTooManyTags, "The quota for the number of tags that can be assigned to a resource has been reached: %d", maxTagsPerResource)
			}
			*t.tags = tags
			t.save()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.AddTagsOutput{}, nil
}

// RemoveTags removes tags by key; keys a resource lacks are ignored.
func (a *API) RemoveTags(ctx context.Context, in *elbv2api.RemoveTagsInput) (*elbv2api.RemoveTagsOutput, error) {
	if len(in.ResourceArns) > 20 {
		return nil, validation("A maximum of 20 resource ARNs can be specified")
	}
	for _, k := range in.TagKeys {
		if k == "" || len(k) > 128 {
			return nil, validation("1 validation error detected: Value '%s' at 'tagKeys.member' failed to satisfy constraint: Member must have length between 1 and 128", k)
		}
	}
	_, err := a.update(ctx, func(w *world) error {
		for _, arn := range in.ResourceArns {
			t, err := a.taggableOf(w, arn)
			if err != nil {
				return err
			}
			var kept []elbv2api.Tag
			for _, tag := range *t.tags {
				remove := false
				for _, k := range in.TagKeys {
					remove = remove || tag.Key == k
				}
				if !remove {
					kept = append(kept, tag)
				}
			}
			*t.tags = kept
			t.save()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.RemoveTagsOutput{}, nil
}

// DescribeTags answers the tags of up to 20 resources.
func (a *API) DescribeTags(ctx context.Context, in *elbv2api.DescribeTagsInput) (*elbv2api.DescribeTagsOutput, error) {
	if len(in.ResourceArns) > 20 {
		return nil, validation("A maximum of 20 resource ARNs can be specified")
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	out := &elbv2api.DescribeTagsOutput{TagDescriptions: []elbv2api.TagDescription{}}
	for _, arn := range in.ResourceArns {
		t, err := a.taggableOf(w, arn)
		if err != nil {
			return nil, err
		}
		out.TagDescriptions = append(out.TagDescriptions, elbv2api.TagDescription{ResourceArn: arn, Tags: tagsCopy(*t.tags)})
	}
	return out, nil
}
