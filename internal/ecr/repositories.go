package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/iampolicy"
	"github.com/gantry-dev/gantry/internal/store"
)

// MaxTags is how many tags a repository may have.
const MaxTags = 50

var (
	tagKeyRE   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)
	filterRE   = regexp.MustCompile(`^[0-9a-zA-Z._*-]{1,128}$`)
)

func checkMutability(m ecrapi.ImageTagMutability, filters []ecrapi.ImageTagMutabilityExclusionFilter) error {
	switch m {
	case "MUTABLE", "IMMUTABLE":
		if len(filters) > 0 {
			return apierror.InvalidParameter("imageTagMutabilityExclusionFilters may only be given with MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION")
		}
	case "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION":
		if len(filters) == 0 || len(filters) > 5 {
			return apierror.InvalidParameter("%s needs 1 to 5 imageTagMutabilityExclusionFilters", m)
		}
		for _, f := range filters {
			if f.FilterType != "WILDCARD" || !filterRE.MatchString(f.Filter) {
				return apierror.InvalidParameter("Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'filterType must be WILDCARD and filter must match [0-9a-zA-Z._*-]{1,128}'")
			}
		}
	default:
		return apierror.InvalidParameter("Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'")
	}
	return nil
}

func checkTags(tags []ecrapi.Tag) error {
	for _, t := range tags {
		if !tagKeyRE.MatchString(t.Key) || strings.HasPrefix(t.Key, "aws:") {
			return apierror.New(CodeInvalidTagParameter, "Invalid parameter at 'tags' failed to satisfy constraint: 'tag key %q is not valid'", t.Key)
		}
		if !tagValueRE.MatchString(t.Value) {
			return apierror.New(CodeInvalidTagParameter, "Invalid parameter at 'tags' failed to satisfy constraint: 'tag value %q is not valid'", t.Value)
		}
	}
	return nil
}

// mergeTags sets tags over cur, by key.
func mergeTags(cur, tags []ecrapi.Tag) ([]ecrapi.Tag, error) {
	out := append([]ecrapi.Tag(nil), cur...)
	for _, t := range tags {
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
	if len(out) > MaxTags {
		return nil, apierror.New(CodeTooManyTags, "A repository may have at most %d tags", MaxTags)
	}
	return out, nil
}

// CreateRepository creates a repository.
func (a *API) CreateRepository(ctx context.Context, in *ecrapi.CreateRepositoryRequest) (*ecrapi.CreateRepositoryResponse, error) {
	if err := a.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if err := checkName(in.RepositoryName); err != nil {
		return nil, err
	}
	mut := in.ImageTagMutability
	if mut == "" {
		mut = "MUTABLE"
	}
	if err := checkMutability(mut, in.ImageTagMutabilityExclusionFilters); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	tags, err := mergeTags(nil, in.Tags)
	if err != nil {
		return nil, err
	}
	enc := in.EncryptionConfiguration
	if enc == nil {
		enc = &ecrapi.EncryptionConfiguration{EncryptionType: "AES256"}
	}
	switch enc.EncryptionType {
	case "AES256":
		if enc.KmsKey != "" {
			return nil, apierror.InvalidParameter("Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: 'kmsKey may only be given with encryptionType KMS or KMS_DSSE'")
		}
	case "KMS", "KMS_DSSE":
	default:
		return nil, apierror.InvalidParameter("Invalid parameter at 'encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'")
	}
	scan := in.ImageScanningConfiguration
	if scan == nil {
		f := false
		scan = &ecrapi.ImageScanningConfiguration{ScanOnPush: &f}
	}
	rec := repoRecord{
		Repository: ecrapi.Repository{
			RepositoryArn:                      a.repositoryArn(in.RepositoryName),
			RegistryId:                         a.Account,
			RepositoryName:                     in.RepositoryName,
			RepositoryUri:                      a.RegistryHost + "/" + in.RepositoryName,
			CreatedAt:                          ts(a.now()),
			ImageTagMutability:                 mut,
			ImageTagMutabilityExclusionFilters: in.ImageTagMutabilityExclusionFilters,
			ImageScanningConfiguration:         scan,
			EncryptionConfiguration:            enc,
		},
		Tags: tags,
	}
	// What a repository of the same name left behind (a deletion that
	// stopped halfway) must not reappear in the new one.
	if _, _, err := a.getRepo(ctx, "", in.RepositoryName); err == nil {
		return nil, a.alreadyExists(in.RepositoryName)
	}
	if err := a.Registry.DeleteRepository(ctx, in.RepositoryName); err != nil {
		return nil, a.internal("CreateRepository", err)
	}
	if _, err := a.Store.Create(ctx, repoKey(in.RepositoryName), &rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, a.alreadyExists(in.RepositoryName)
		}
		return nil, a.internal("CreateRepository", err)
	}
	return &ecrapi.CreateRepositoryResponse{Repository: &rec.Repository}, nil
}

func (a *API) alreadyExists(name string) error {
	return apierror.New(CodeRepositoryAlreadyExists, "The repository with name '%s' already exists in the registry with id '%s'", name, a.Account)
}

// DescribeRepositories describes the named repositories (every one must
// exist) or pages through all of them in name order.
func (a *API) DescribeRepositories(ctx context.Context, in *ecrapi.DescribeRepositoriesRequest) (*ecrapi.DescribeRepositoriesResponse, error) {
	if err := a.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	out := &ecrapi.DescribeRepositoriesResponse{}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, apierror.InvalidParameter("Invalid parameter: maxResults and nextToken cannot be used with repositoryNames")
		}
		if len(in.RepositoryNames) > 100 {
			return nil, apierror.InvalidParameter("Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length less than or equal to 100'")
		}
		for _, n := range in.RepositoryNames {
			rec, _, err := a.getRepo(ctx, "", n)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, rec.Repository)
		}
		return out, nil
	}
	limit, err := maxResults(in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	startAfter := ""
	if after != "" {
		startAfter = repoKey(after)
	}
	items, err := a.Store.List(ctx, repoPrefix, startAfter, limit+1)
	if err != nil {
		return nil, a.internal("DescribeRepositories", err)
	}
	for i, it := range items {
		if i == limit {
			out.NextToken = encodeToken(out.Repositories[limit-1].RepositoryName)
			break
		}
		var rec repoRecord
		if err := it.Decode(&rec); err != nil {
			return nil, a.internal("DescribeRepositories", err)
		}
		out.Repositories = append(out.Repositories, rec.Repository)
	}
	return out, nil
}

// maxResults checks a maxResults member (1 to max; default 100).
func maxResults(p *int32, max int) (int, error) {
	if p == nil {
		return min(100, max), nil
	}
	if *p < 1 || int(*p) > max {
		return 0, apierror.InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and %d'", max)
	}
	return int(*p), nil
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 {
		return "", apierror.InvalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not one this operation returned'")
	}
	return string(b), nil
}

// DeleteRepository deletes a repository; one with images only with force.
func (a *API) DeleteRepository(ctx context.Context, in *ecrapi.DeleteRepositoryRequest) (*ecrapi.DeleteRepositoryResponse, error) {
	rec, rev, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	imgs, err := a.Registry.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, a.internal("DeleteRepository", err)
	}
	if len(imgs) > 0 && (in.Force == nil || !*in.Force) {
		return nil, apierror.New(CodeRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", in.RepositoryName, a.Account)
	}
	// The record goes first: from then on pushes are refused, and what
	// the storage still holds is removed (again) by a CreateRepository
	// of the same name.
	if err := a.Store.Delete(ctx, repoKey(in.RepositoryName), rev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apierror.New(apierror.CodeServer, "The repository changed while it was being deleted; try again")
		}
		return nil, a.internal("DeleteRepository", err)
	}
	if err := a.Registry.DeleteRepository(ctx, in.RepositoryName); err != nil {
		a.Logger.Warn("remove a deleted repository's images", "repository", in.RepositoryName, "err", err)
	}
	a.dropPreview(in.RepositoryName)
	return &ecrapi.DeleteRepositoryResponse{Repository: &rec.Repository}, nil
}

// PutImageTagMutability sets a repository's tag mutability.
func (a *API) PutImageTagMutability(ctx context.Context, in *ecrapi.PutImageTagMutabilityRequest) (*ecrapi.PutImageTagMutabilityResponse, error) {
	if err := checkMutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters); err != nil {
		return nil, err
	}
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		r.Repository.ImageTagMutability = in.ImageTagMutability
		r.Repository.ImageTagMutabilityExclusionFilters = in.ImageTagMutabilityExclusionFilters
		return nil
	})
	if err != nil {
		return nil, a.internal("PutImageTagMutability", err)
	}
	return &ecrapi.PutImageTagMutabilityResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName,
		ImageTagMutability: in.ImageTagMutability, ImageTagMutabilityExclusionFilters: in.ImageTagMutabilityExclusionFilters}, nil
}

// PutImageScanningConfiguration stores a repository's scanning
// configuration (Gantry does not scan).
func (a *API) PutImageScanningConfiguration(ctx context.Context, in *ecrapi.PutImageScanningConfigurationRequest) (*ecrapi.PutImageScanningConfigurationResponse, error) {
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		r.Repository.ImageScanningConfiguration = in.ImageScanningConfiguration
		return nil
	})
	if err != nil {
		return nil, a.internal("PutImageScanningConfiguration", err)
	}
	return &ecrapi.PutImageScanningConfigurationResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName,
		ImageScanningConfiguration: in.ImageScanningConfiguration}, nil
}

// repoFromArn returns the repository name of an ECR repository ARN.
func (a *API) repoFromArn(arn string) (string, error) {
	prefix := "arn:aws:ecr:" + a.Region + ":" + a.Account + ":repository/"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || name == "" {
		return "", apierror.InvalidParameter("Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN: %s'", arn)
	}
	return name, nil
}

// TagResource adds or overwrites tags of a repository.
func (a *API) TagResource(ctx context.Context, in *ecrapi.TagResourceRequest) (*ecrapi.TagResourceResponse, error) {
	name, err := a.repoFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err = a.mutateRepo(ctx, "", name, func(r *repoRecord) error {
		t, err := mergeTags(r.Tags, in.Tags)
		r.Tags = t
		return err
	})
	if err != nil {
		return nil, a.internal("TagResource", err)
	}
	return &ecrapi.TagResourceResponse{}, nil
}

// UntagResource removes tags of a repository by key.
func (a *API) UntagResource(ctx context.Context, in *ecrapi.UntagResourceRequest) (*ecrapi.UntagResourceResponse, error) {
	name, err := a.repoFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = a.mutateRepo(ctx, "", name, func(r *repoRecord) error {
		var kept []ecrapi.Tag
		for _, t := range r.Tags {
			drop := false
			for _, k := range in.TagKeys {
				drop = drop || k == t.Key
			}
			if !drop {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil
	})
	if err != nil {
		return nil, a.internal("UntagResource", err)
	}
	return &ecrapi.UntagResourceResponse{}, nil
}

// ListTagsForResource lists a repository's tags.
func (a *API) ListTagsForResource(ctx context.Context, in *ecrapi.ListTagsForResourceRequest) (*ecrapi.ListTagsForResourceResponse, error) {
	name, err := a.repoFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	rec, _, err := a.getRepo(ctx, "", name)
	if err != nil {
		return nil, a.internal("ListTagsForResource", err)
	}
	return &ecrapi.ListTagsForResourceResponse{Tags: append([]ecrapi.Tag{}, rec.Tags...)}, nil
}

// SetRepositoryPolicy validates and stores a repository policy. Gantry
// stores it and does not enforce it (docs/architecture.md).
func (a *API) SetRepositoryPolicy(ctx context.Context, in *ecrapi.SetRepositoryPolicyRequest) (*ecrapi.SetRepositoryPolicyResponse, error) {
	if len(in.PolicyText) == 0 || len(in.PolicyText) > 10240 {
		return nil, apierror.InvalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length between 0 and 10240'")
	}
	if err := checkRepositoryPolicy(in.PolicyText); err != nil {
		return nil, apierror.InvalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided: %v'", err)
	}
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		r.PolicyText = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, a.internal("SetRepositoryPolicy", err)
	}
	return &ecrapi.SetRepositoryPolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, PolicyText: in.PolicyText}, nil
}

func (a *API) policyNotFound(name string) error {
	return apierror.New(CodeRepositoryPolicyNotFound, "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", name, a.Account)
}

// GetRepositoryPolicy returns a repository's policy.
func (a *API) GetRepositoryPolicy(ctx context.Context, in *ecrapi.GetRepositoryPolicyRequest) (*ecrapi.GetRepositoryPolicyResponse, error) {
	rec, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, a.internal("GetRepositoryPolicy", err)
	}
	if rec.PolicyText == "" {
		return nil, a.policyNotFound(in.RepositoryName)
	}
	return &ecrapi.GetRepositoryPolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, PolicyText: rec.PolicyText}, nil
}

// DeleteRepositoryPolicy removes a repository's policy.
func (a *API) DeleteRepositoryPolicy(ctx context.Context, in *ecrapi.DeleteRepositoryPolicyRequest) (*ecrapi.DeleteRepositoryPolicyResponse, error) {
	var old string
	_, err := a.mutateRepo(ctx, in.RegistryId, in.RepositoryName, func(r *repoRecord) error {
		if r.PolicyText == "" {
			return a.policyNotFound(in.RepositoryName)
		}
		old, r.PolicyText = r.PolicyText, ""
		return nil
	})
	if err != nil {
		return nil, a.internal("DeleteRepositoryPolicy", err)
	}
	return &ecrapi.DeleteRepositoryPolicyResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, PolicyText: old}, nil
}

// checkRepositoryPolicy validates a repository policy: a resource policy,
// so every statement names a Principal (or NotPrincipal), which
// iampolicy (made for identity policies) does not take, and may leave out
// Resource; the principals are checked here and the rest by iampolicy.
func checkRepositoryPolicy(text string) error {
	var doc map[string]any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return fmt.Errorf("the policy is not JSON: %v", err)
	}
	var stmts []any
	switch st := doc["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	default:
		return errors.New("the policy has no Statement")
	}
	for i, s := range stmts {
		m, ok := s.(map[string]any)
		if !ok {
			return fmt.Errorf("statement %d is not an object", i+1)
		}
		p, hasP := m["Principal"]
		np, hasNP := m["NotPrincipal"]
		if hasP == hasNP {
			return fmt.Errorf("statement %d must have exactly one of Principal and NotPrincipal", i+1)
		}
		if hasNP {
			p = np
		}
		if err := checkPrincipal(p); err != nil {
			return fmt.Errorf("statement %d: %v", i+1, err)
		}
		delete(m, "Principal")
		delete(m, "NotPrincipal")
		// The resource of a repository policy is its repository.
		if _, ok := m["Resource"]; !ok {
			if _, ok := m["NotResource"]; !ok {
				m["Resource"] = "*"
			}
		}
	}
	rest, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = iampolicy.Parse(rest)
	return err
}

// checkPrincipal accepts "*" or {"AWS"|"Service"|"Federated"|"CanonicalUser": string or [string]}.
func checkPrincipal(p any) error {
	if s, ok := p.(string); ok {
		if s != "*" {
			return fmt.Errorf("principal %q must be \"*\" or an object", s)
		}
		return nil
	}
	m, ok := p.(map[string]any)
	if !ok || len(m) == 0 {
		return errors.New("principal must be \"*\" or an object")
	}
	for k, v := range m {
		switch k {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return fmt.Errorf("unknown principal type %q", k)
		}
		switch vv := v.(type) {
		case string:
			if vv == "" {
				return fmt.Errorf("empty %s principal", k)
			}
		case []any:
			for _, e := range vv {
				if s, ok := e.(string); !ok || s == "" {
					return fmt.Errorf("%s principals must be strings", k)
				}
			}
		default:
			return fmt.Errorf("%s principals must be strings", k)
		}
	}
	return nil
}
