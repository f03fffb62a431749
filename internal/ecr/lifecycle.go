package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store"
)

// lifecyclePolicy is ECR's lifecycle policy document.
type lifecyclePolicy struct {
	Rules []lifecycleRule `json:"rules"`
}

type lifecycleRule struct {
	RulePriority int    `json:"rulePriority"`
	Description  string `json:"description,omitempty"`
	Selection    struct {
		TagStatus      string   `json:"tagStatus"`
		TagPrefixList  []string `json:"tagPrefixList,omitempty"`
		TagPatternList []string `json:"tagPatternList,omitempty"`
		CountType      string   `json:"countType"`
		CountUnit      string   `json:"countUnit,omitempty"`
		CountNumber    int      `json:"countNumber"`
	} `json:"selection"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

func policyError(format string, args ...any) error {
	return apierror.InvalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '%s'", fmt.Sprintf(format, args...))
}

// parsePolicy parses and validates a lifecycle policy as ECR does.
func parsePolicy(text string) (*lifecyclePolicy, error) {
	if len(text) < 100 || len(text) > 30720 {
		return nil, policyError("Lifecycle policy text must have length between 100 and 30720")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var p lifecyclePolicy
	if err := dec.Decode(&p); err != nil {
		return nil, policyError("Lifecycle policy validation failure: %v", err)
	}
	if len(p.Rules) == 0 {
		return nil, policyError("Lifecycle policy validation failure: rules must have at least one rule")
	}
	seen := map[int]bool{}
	maxPrio := 0
	for _, r := range p.Rules {
		maxPrio = max(maxPrio, r.RulePriority)
	}
	for _, r := range p.Rules {
		s := r.Selection
		switch {
		case r.RulePriority < 1:
			return nil, policyError("rulePriority must be a positive integer")
		case seen[r.RulePriority]:
			return nil, policyError("rulePriority %d is not unique", r.RulePriority)
		case r.Action.Type != "expire":
			return nil, policyError("action type %q is not supported: expire", r.Action.Type)
		case s.CountNumber < 1:
			return nil, policyError("countNumber must be a positive integer")
		}
		seen[r.RulePriority] = true
		switch s.TagStatus {
		case "tagged":
			if (len(s.TagPrefixList) == 0) == (len(s.TagPatternList) == 0) {
				return nil, policyError("a rule with tagStatus tagged needs tagPrefixList or tagPatternList, not both")
			}
			for _, pat := range s.TagPatternList {
				if strings.Count(pat, "*") > 4 {
					return nil, policyError("a tag pattern may have at most 4 wildcards")
				}
			}
		case "untagged", "any":
			if len(s.TagPrefixList) > 0 || len(s.TagPatternList) > 0 {
				return nil, policyError("tagPrefixList and tagPatternList are only allowed with tagStatus tagged")
			}
			if s.TagStatus == "any" && r.RulePriority != maxPrio {
				return nil, policyError("a rule with tagStatus any must have the highest rulePriority")
			}
		default:
			return nil, policyError("tagStatus must be tagged, untagged or any")
		}
		switch s.CountType {
		case "imageCountMoreThan":
			if s.CountUnit != "" {
				return nil, policyError("countUnit is not allowed with imageCountMoreThan")
			}
		case "sinceImagePushed":
			if s.CountUnit != "days" {
				return nil, policyError("countUnit must be days with sinceImagePushed")
			}
		default:
			return nil, policyError("countType must be imageCountMoreThan or sinceImagePushed")
		}
	}
	sort.Slice(p.Rules, func(i, j int) bool { return p.Rules[i].RulePriority < p.Rules[j].RulePriority })
	return &p, nil
}

// selects reports whether rule r's tag selection matches img.
func (r *lifecycleRule) selects(img registry.Image) bool {
	s := r.Selection
	switch s.TagStatus {
	case "any":
		return true
	case "untagged":
		return len(img.Tags) == 0
	}
	if len(img.Tags) == 0 {
		return false
	}
	// Every prefix (or pattern) must match one of the image's tags.
	for _, p := range s.TagPrefixList {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return strings.HasPrefix(t, p) }) {
			return false
		}
	}
	for _, p := range s.TagPatternList {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return registry.WildcardMatch(p, t) }) {
			return false
		}
	}
	return true
}

// expiry is an image a policy expires, and the rule that does.
type expiry struct {
	Image    registry.Image
	Priority int
}

// evaluate returns the images policy p expires at now. Rules apply in
// priority order; an image that a rule's selection matches is out of
// reach of the rules after it, whether that rule expires it or not.
func evaluate(p *lifecyclePolicy, imgs []registry.Image, now time.Time) []expiry {
	claimed := map[string]bool{}
	var out []expiry
	for i := range p.Rules {
		r := &p.Rules[i]
		var cand []registry.Image
		for _, img := range imgs {
			if !claimed[img.Digest] && r.selects(img) {
				cand = append(cand, img)
			}
		}
		for _, img := range cand {
			claimed[img.Digest] = true
		}
		sort.SliceStable(cand, func(i, j int) bool { return cand[i].PushedAt.After(cand[j].PushedAt) })
		switch r.Selection.CountType {
		case "imageCountMoreThan":
			if len(cand) > r.Selection.CountNumber {
				for _, img := range cand[r.Selection.CountNumber:] {
					out = append(out, expiry{Image: img, Priority: r.RulePriority})
				}
			}
		case "sinceImagePushed":
			limit := now.Add(-time.Duration(r.Selection.CountNumber) * 24 * time.Hour)
			for _, img := range cand {
				if img.PushedAt.Before(limit) {
					out = append(out, expiry{Image: img, Priority: r.RulePriority})
				}
			}
		}
	}
	return out
}

func (a *API) lifecycleNotFound(name string) error {
	return apierror.New(CodeLifecyclePolicyNotFound, "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", name, a.Account)
}

// PutLifecyclePolicy validates and stores a repository's lifecycle
// policy; Run applies it.
func (a *API) PutLifecyclePolicy(ctx context.Context, in *ecrapi.PutLifecyclePolicyRequest) (*ecrapi.PutLifecyclePolicyResponse, error) {
	if _, err := parsePolicy(in.LifecyclePolicyText); err != nil {
		return nil, err
	}
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		r.LifecyclePolicyText = in.LifecyclePolicyText
		return nil
	})
	if err != nil {
		return nil, a.internal("PutLifecyclePolicy", err)
	}
	return &ecrapi.PutLifecyclePolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: in.LifecyclePolicyText}, nil
}

// GetLifecyclePolicy returns a repository's lifecycle policy.
func (a *API) GetLifecyclePolicy(ctx context.Context, in *ecrapi.GetLifecyclePolicyRequest) (*ecrapi.GetLifecyclePolicyResponse, error) {
	rec, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, a.internal("GetLifecyclePolicy", err)
	}
	if rec.LifecyclePolicyText == "" {
		return nil, a.lifecycleNotFound(in.RepositoryName)
	}
	out := &ecrapi.GetLifecyclePolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: rec.LifecyclePolicyText}
	if rec.LifecycleEvaluated != nil {
		out.LastEvaluatedAt = ts(*rec.LifecycleEvaluated)
	}
	return out, nil
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy.
func (a *API) DeleteLifecyclePolicy(ctx context.Context, in *ecrapi.DeleteLifecyclePolicyRequest) (*ecrapi.DeleteLifecyclePolicyResponse, error) {
	var old repoRecord
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		if r.LifecyclePolicyText == "" {
			return a.lifecycleNotFound(in.RepositoryName)
		}
		old = *r
		r.LifecyclePolicyText, r.LifecycleEvaluated = "", nil
		return nil
	})
	if err != nil {
		return nil, a.internal("DeleteLifecyclePolicy", err)
	}
	out := &ecrapi.DeleteLifecyclePolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: old.LifecyclePolicyText}
	if old.LifecycleEvaluated != nil {
		out.LastEvaluatedAt = ts(*old.LifecycleEvaluated)
	}
	return out, nil
}

// preview is the outcome of a StartLifecyclePolicyPreview, kept by the
// server that ran it (as ECR's, it is transient).
type preview struct {
	text    string
	results []expiry
}

func (a *API) dropPreview(name string) {
	a.previewMu.Lock()
	delete(a.previews, name)
	a.previewMu.Unlock()
}

// StartLifecyclePolicyPreview evaluates a policy (the given one, else the
// repository's) against the repository's images without expiring any. It
// completes before it answers.
func (a *API) StartLifecyclePolicyPreview(ctx context.Context, in *ecrapi.StartLifecyclePolicyPreviewRequest) (*ecrapi.StartLifecyclePolicyPreviewResponse, error) {
	rec, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, a.internal("StartLifecyclePolicyPreview", err)
	}
	text := in.LifecyclePolicyText
	if text == "" {
		text = rec.LifecyclePolicyText
	}
	if text == "" {
		return nil, a.lifecycleNotFound(in.RepositoryName)
	}
	p, err := parsePolicy(text)
	if err != nil {
		return nil, err
	}
	imgs, err := a.Registry.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, a.internal("StartLifecyclePolicyPreview", err)
	}
	pv := &preview{text: text, results: evaluate(p, imgs, a.now())}
	a.previewMu.Lock()
	if a.previews == nil {
		a.previews = map[string]*preview{}
	}
	a.previews[in.RepositoryName] = pv
	a.previewMu.Unlock()
	return &ecrapi.StartLifecyclePolicyPreviewResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: text, Status: "IN_PROGRESS"}, nil
}

// GetLifecyclePolicyPreview returns the last preview of a repository.
func (a *API) GetLifecyclePolicyPreview(ctx context.Context, in *ecrapi.GetLifecyclePolicyPreviewRequest) (*ecrapi.GetLifecyclePolicyPreviewResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("GetLifecyclePolicyPreview", err)
	}
	a.previewMu.Lock()
	pv := a.previews[in.RepositoryName]
	a.previewMu.Unlock()
	if pv == nil {
		return nil, apierror.New(CodePreviewNotFound, "There is no lifecycle policy preview for the repository with name '%s' in the registry with id '%s'", in.RepositoryName, a.Account)
	}
	limit, err := maxResults(in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	results := pv.results
	if in.Filter != nil && in.Filter.TagStatus != "" && in.Filter.TagStatus != "ANY" {
		var kept []expiry
		for _, e := range results {
			if (len(e.Image.Tags) > 0) == (in.Filter.TagStatus == "TAGGED") {
				kept = append(kept, e)
			}
		}
		results = kept
	}
	if len(in.ImageIds) > 0 {
		var kept []expiry
		for _, e := range results {
			for _, id := range in.ImageIds {
				if (id.ImageDigest == "" || id.ImageDigest == e.Image.Digest) && (id.ImageTag == "" || slices.Contains(e.Image.Tags, id.ImageTag)) {
					kept = append(kept, e)
					break
				}
			}
		}
		results = kept
	}
	pg, next, err := page(results, func(e expiry) string { return e.Image.Digest }, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	count := int32(len(pv.results))
	out := &ecrapi.GetLifecyclePolicyPreviewResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: pv.text, Status: "COMPLETE", NextToken: next, PreviewResults: []ecrapi.LifecyclePolicyPreviewResult{},
		Summary: &ecrapi.LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: &count}}
	for _, e := range pg {
		prio := int32(e.Priority)
		r := ecrapi.LifecyclePolicyPreviewResult{ImageTags: e.Image.Tags, ImageDigest: e.Image.Digest,
			Action: &ecrapi.LifecyclePolicyRuleAction{Type: "EXPIRE"}, AppliedRulePriority: &prio}
		if !e.Image.PushedAt.IsZero() {
			r.ImagePushedAt = ts(e.Image.PushedAt)
		}
		out.PreviewResults = append(out.PreviewResults, r)
	}
	return out, nil
}

// ApplyLifecyclePolicies applies every repository's lifecycle policy
// once: the images it expires are deleted, and the repository's
// lastEvaluatedAt is set. It returns how many images it expired.
func (a *API) ApplyLifecyclePolicies(ctx context.Context) (int, error) {
	items, err := a.Store.List(ctx, repoPrefix, "", 0)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, it := range items {
		var rec repoRecord
		if err := it.Decode(&rec); err != nil || rec.LifecyclePolicyText == "" {
			continue
		}
		n, err := a.applyPolicy(ctx, &rec)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("repository %s: %w", rec.Repository.RepositoryName, err))
		}
	}
	return total, errors.Join(errs...)
}

func (a *API) applyPolicy(ctx context.Context, rec *repoRecord) (int, error) {
	name := rec.Repository.RepositoryName
	p, err := parsePolicy(rec.LifecyclePolicyText)
	if err != nil {
		return 0, err
	}
	imgs, err := a.Registry.Images(ctx, name)
	if err != nil {
		return 0, err
	}
	now := a.now()
	n := 0
	for _, e := range evaluate(p, imgs, now) {
		err := a.Registry.DeleteImage(ctx, name, e.Image.Digest)
		if errors.Is(err, registry.ErrManifestUnknown) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
		a.Logger.Info("lifecycle policy expired an image", "repository", name, "digest", e.Image.Digest, "tags", e.Image.Tags, "rulePriority", e.Priority)
	}
	_, err = a.mutateRepo(ctx, "", name, func(r *repoRecord) error {
		r.LifecycleEvaluated = &now
		return nil
	})
	return n, err
}

// Run applies the lifecycle policies every LifecycleInterval, on the
// server elected among those sharing the store, until ctx ends.
func (a *API) Run(ctx context.Context) {
	every := a.LifecycleInterval
	if every <= 0 {
		every = DefaultLifecycleInterval
	}
	a.whileLeading(ctx, lifecycleLeaderKey, "lifecycle policies", every, func(ctx context.Context, _ *store.Leadership) {
		if _, err := a.ApplyLifecyclePolicies(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Warn("apply the lifecycle policies", "err", err)
		}
	})
}
