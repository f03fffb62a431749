package ecr

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store"
)

// The ECR error codes Gantry returns.
const (
	CodeRepositoryNotFound       = "RepositoryNotFoundException"
	CodeRepositoryAlreadyExists  = "RepositoryAlreadyExistsException"
	CodeRepositoryNotEmpty       = "RepositoryNotEmptyException"
	CodeRepositoryPolicyNotFound = "RepositoryPolicyNotFoundException"
	CodeImageNotFound            = "ImageNotFoundException"
	CodeImageAlreadyExists       = "ImageAlreadyExistsException"
	CodeImageTagAlreadyExists    = "ImageTagAlreadyExistsException"
	CodeImageDigestDoesNotMatch  = "ImageDigestDoesNotMatchException"
	CodeLayersNotFound           = "LayersNotFoundException"
	CodeReferencedImagesNotFound = "ReferencedImagesNotFoundException"
	CodeLayerAlreadyExists       = "LayerAlreadyExistsException"
	CodeInvalidLayer             = "InvalidLayerException"
	CodeInvalidLayerPart         = "InvalidLayerPartException"
	CodeUploadNotFound           = "UploadNotFoundException"
	CodeEmptyUpload              = "EmptyUploadException"
	CodeLifecyclePolicyNotFound  = "LifecyclePolicyNotFoundException"
	CodePreviewNotFound          = "LifecyclePolicyPreviewNotFoundException"
	CodeInvalidTagParameter      = "InvalidTagParameterException"
	CodeTooManyTags              = "TooManyTagsException"
	CodeUnsupportedImageType     = "UnsupportedImageTypeException"
)

// TokenTTL is how long a GetAuthorizationToken token is valid: 12 hours,
// as ECR's.
const TokenTTL = 12 * time.Hour

// DefaultLifecycleInterval is how often Run applies the lifecycle
// policies.
const DefaultLifecycleInterval = 10 * time.Minute

// API is Amazon ECR's operations over repository records in etcd and the
// images of a registry. Its methods are named after the operations and
// dispatched by internal/apiserver.
type API struct {
	// Store holds the repository records (store.Key("ecr", ...)).
	Store *store.Store
	// Registry holds the images.
	Registry *registry.Registry
	// policies caches parsed repository policies (repopolicy.go).
	policies policyCache
	// Region and Account build ARNs; Account is the registry ID.
	Region, Account string
	// RegistryHost is the host[:port] docker names images with
	// (repositoryUri is RegistryHost/name); RegistryURL is the
	// registry's base URL (proxyEndpoint, download URLs).
	RegistryHost, RegistryURL string
	// Secret returns the secret access key of an access key ID, and
	// false for an unknown one: basic authentication with an access key,
	// and the check that a token's key still exists.
	Secret func(accessKeyID string) (string, bool)
	// Logger receives the API's log lines.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now. Set it before the API serves,
	// or with SetNow while it does.
	Now     func() time.Time
	clockMu sync.Mutex
	// LifecycleInterval is how often Run applies the lifecycle
	// policies; 0 is DefaultLifecycleInterval.
	LifecycleInterval time.Duration

	keyMu sync.Mutex
	key   []byte

	previewMu sync.Mutex
	previews  map[string]*preview
}

// repoRecord is a repository as stored: ECR's shape and what Gantry keeps
// beside it.
type repoRecord struct {
	Repository          ecrapi.Repository `json:"repository"`
	Tags                []ecrapi.Tag      `json:"tags,omitempty"`
	PolicyText          string            `json:"policyText,omitempty"`
	LifecyclePolicyText string            `json:"lifecyclePolicyText,omitempty"`
	LifecycleEvaluated  *time.Time        `json:"lifecycleEvaluatedAt,omitempty"`
}

func (a *API) now() time.Time {
	a.clockMu.Lock()
	now := a.Now
	a.clockMu.Unlock()
	if now != nil {
		return now()
	}
	return time.Now()
}

// SetNow replaces the clock while the API serves (tests of expiry).
func (a *API) SetNow(now func() time.Time) {
	a.clockMu.Lock()
	a.Now = now
	a.clockMu.Unlock()
}

func repoKey(name string) string { return store.Key("ecr", "repositories", name) }

// repoPrefix is the prefix of every repository record.
var repoPrefix = store.Key("ecr", "repositories") + "/"

// nameRE is ECR's repository name rule.
var nameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// checkName checks a repository name: 2 to 256 characters of ECR's rule.
func checkName(name string) error {
	if len(name) < 2 || len(name) > 256 {
		return apierror.InvalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must have length between 2 and 256'")
	}
	if !nameRE.MatchString(name) {
		return apierror.InvalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")
	}
	return nil
}

// checkRegistry refuses a registry ID other than the account's.
func (a *API) checkRegistry(id string) error {
	if id != "" && id != a.Account {
		return apierror.InvalidParameter("Invalid parameter at 'registryId' failed to satisfy constraint: 'The registry with id '%s' is not this registry (%s)'", id, a.Account)
	}
	return nil
}

func (a *API) repoNotFound(name string) error {
	return apierror.New(CodeRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, a.Account)
}

// getRepo reads the record of repository name (after checking the name
// and registry ID) with its revision; RepositoryNotFoundException if none.
func (a *API) getRepo(ctx context.Context, registryID, name string) (*repoRecord, int64, error) {
	if err := a.checkRegistry(registryID); err != nil {
		return nil, 0, err
	}
	if err := checkName(name); err != nil {
		return nil, 0, err
	}
	var rec repoRecord
	rev, err := a.Store.Get(ctx, repoKey(name), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, a.repoNotFound(name)
	}
	if err != nil {
		return nil, 0, err
	}
	return &rec, rev, nil
}

// mutateRepo changes the record of an existing repository with fn under a
// guarded write, retrying on conflict.
func (a *API) mutateRepo(ctx context.Context, registryID, name string, fn func(*repoRecord) error) (*repoRecord, error) {
	if err := a.checkRegistry(registryID); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	return store.Mutate(ctx, a.Store, repoKey(name), func(cur *repoRecord, exists bool) error {
		if !exists {
			return a.repoNotFound(name)
		}
		return fn(cur)
	})
}

// Settings implements registry.Repositories: whether repository name
// exists and whether its tags are immutable.
func (a *API) Settings(ctx context.Context, name string) (registry.Settings, error) {
	var rec repoRecord
	_, err := a.Store.Get(ctx, repoKey(name), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return registry.Settings{}, registry.ErrNoRepository
	}
	if err != nil {
		return registry.Settings{}, err
	}
	return settingsOf(&rec.Repository), nil
}

func settingsOf(r *ecrapi.Repository) registry.Settings {
	s := registry.Settings{}
	switch r.ImageTagMutability {
	case "IMMUTABLE":
		s.ImmutableTags = true
	case "IMMUTABLE_WITH_EXCLUSION":
		s.ImmutableTags = true
		for _, f := range r.ImageTagMutabilityExclusionFilters {
			s.ImmutableExclusions = append(s.ImmutableExclusions, f.Filter)
		}
	case "MUTABLE_WITH_EXCLUSION":
		for _, f := range r.ImageTagMutabilityExclusionFilters {
			s.ImmutableOnly = append(s.ImmutableOnly, f.Filter)
		}
	}
	return s
}

// repositoryArn is the ARN of repository name.
func (a *API) repositoryArn(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", a.Region, a.Account, name)
}

// TokenKey returns the key that signs authorization tokens, created in
// etcd by the first server that needs it and shared by all.
func (a *API) TokenKey(ctx context.Context) ([]byte, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.key == nil {
		k, err := a.loadKey(ctx)
		if err != nil {
			return nil, err
		}
		a.key = k
	}
	return a.key, nil
}

func (a *API) loadKey(ctx context.Context) ([]byte, error) {
	k := store.Key("ecr", "token-key")
	var key []byte
	if _, err := a.Store.Get(ctx, k, &key); err == nil {
		return key, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := a.Store.Create(ctx, k, key); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	// Another server may have won the race: use what is stored.
	if _, err := a.Store.Get(ctx, k, &key); err != nil {
		return nil, err
	}
	return key, nil
}

func ts(t time.Time) *awstime.Timestamp { return awstime.NewTimestamp(t) }

// internal logs an unexpected error and returns ServerException.
func (a *API) internal(op string, err error) error {
	if _, ok := apierror.As(err); ok {
		return err
	}
	if a.Logger != nil {
		a.Logger.Error("ecr operation failed", "op", op, "err", err)
	}
	return apierror.Server()
}
