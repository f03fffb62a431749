package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	// The manifest formats the registry accepts register themselves.
	_ "github.com/distribution/distribution/v3/manifest/manifestlist"
	_ "github.com/distribution/distribution/v3/manifest/ocischema"
	_ "github.com/distribution/distribution/v3/manifest/schema2"

	// The storage drivers Gantry links register themselves by name.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

// ErrNoRepository is what Repositories.Settings returns for a repository
// that does not exist.
var ErrNoRepository = errors.New("repository does not exist")

// Settings are what the registry needs to know of a repository.
type Settings struct {
	// ImmutableTags refuses to move a tag to another image
	// (imageTagMutability IMMUTABLE).
	ImmutableTags bool
	// ImmutableExclusions are tag filters (ECR's wildcard filters, `*`
	// for any run of characters) whose tags stay mutable in an immutable
	// repository.
	ImmutableExclusions []string
	// ImmutableOnly are tag filters whose tags are immutable in a mutable
	// repository (MUTABLE_WITH_EXCLUSION).
	ImmutableOnly []string
}

// Repositories says which repositories exist and how they behave: the ECR
// API's records.
type Repositories interface {
	// Settings returns the settings of repository name, or ErrNoRepository.
	Settings(ctx context.Context, name string) (Settings, error)
}

// Authenticator checks the credentials of a registry request.
type Authenticator interface {
	// Authenticate returns the access key ID that username and password
	// (Docker's basic authentication) stand for when they are valid, and
	// an error that says why not otherwise.
	Authenticate(ctx context.Context, username, password string) (string, error)
}

// AuthorizeFunc decides whether the caller of access key accessKeyID may
// make req, which needs ECR operation on repository (the operations
// docker's pull and push need: BatchGetImage, GetDownloadUrlForLayer,
// BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart,
// CompleteLayerUpload, PutImage, BatchDeleteImage, ListImages). A refusal
// is answered 403 DENIED with the error's message.
type AuthorizeFunc func(ctx context.Context, accessKeyID string, req *http.Request, repository, operation string) error

// Options configure a Registry.
type Options struct {
	// Driver is the name of a distribution storage driver; empty means
	// "filesystem" with Parameters {"rootdirectory": Dir}.
	Driver string
	// Parameters are the driver's parameters, as distribution's
	// configuration file spells them (for s3: region, bucket,
	// regionendpoint, accesskey, secretkey, ...).
	Parameters map[string]any
	// Dir is the root directory of the filesystem driver.
	Dir string
	// Secret signs upload state and download URLs. Servers that share a
	// storage must share it.
	Secret []byte
	// Repositories and Auth are the ECR API's answers to "does this
	// repository exist" and "are these credentials valid". Both required.
	Repositories Repositories
	Auth         Authenticator
	// Logger receives the registry's own messages.
	Logger *slog.Logger
	// Full, when set, is asked before every push (blob upload, manifest
	// put): a non-empty answer (why the disk is full, such as the server's
	// disk guard finding less free space than its reserve) refuses it with
	// 503 UNAVAILABLE and that reason. Pulls go on, and pushes resume as
	// soon as it answers "".
	Full func() string
	// Guard keeps garbage collections apart from the writes that make
	// blobs and manifests visible (gc.go); nil is a guard of this
	// process alone, enough for one server.
	Guard Guard
	// Challenge is the authentication a 401 advertises: ChallengeBasic
	// (the default, as ECR's registry) or ChallengeBearer (Docker's
	// token flow, token.go). Both are accepted either way.
	Challenge string
	// TokenTTL is how long the token endpoint's tokens are valid; 0 is
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the clock of the tokens; nil is time.Now.
	Now func() time.Time
}

// Registry is a running registry: an http.Handler for the distribution
// protocol, and the image operations of the ECR API on the same storage.
type Registry struct {
	app    *handlers.App
	ns     distribution.Namespace
	driver storagedriver.StorageDriver
	repos  Repositories
	auth   Authenticator
	secret []byte
	logger *slog.Logger
	full   func() string

	// tagMu serialises the writes of a tag (checked for immutability,
	// then moved), per repository.
	tagMu    sync.Mutex
	tagLocks map[string]*repoLock
	// authorize, when set, authorises each request (SetAuthorizer).
	authorize atomic.Pointer[AuthorizeFunc]
	// guard is held by the writes that make blobs and manifests visible
	// and by a garbage collection, never both at once (gc.go).
	guard Guard
	// bearer advertises the token flow; tokenTTL is its tokens' life.
	bearer   bool
	tokenTTL time.Duration
	clock    func() time.Time
}

// now is the registry's clock.
func (r *Registry) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}

type repoLock struct {
	mu   sync.Mutex
	refs int
}

// New opens the registry's storage and returns it ready to serve.
func New(ctx context.Context, opts Options) (*Registry, error) {
	if opts.Repositories == nil || opts.Auth == nil {
		return nil, errors.New("registry: Repositories and Auth are required")
	}
	if len(opts.Secret) < 16 {
		return nil, errors.New("registry: Secret must be at least 16 bytes")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	routeLibraryLogs(logger)
	name, params := opts.Driver, opts.Parameters
	if name == "" {
		if opts.Dir == "" {
			return nil, errors.New("registry: Dir is required with the filesystem driver")
		}
		name, params = "filesystem", map[string]any{"rootdirectory": opts.Dir}
	}
	driver, err := factory.Create(ctx, name, params)
	if err != nil {
		return nil, fmt.Errorf("registry storage %s: %w", name, err)
	}
	ns, err := storage.NewRegistry(ctx, driver, storage.EnableDelete, storage.EnableValidateImageIndexImagesExist)
	if err != nil {
		return nil, fmt.Errorf("registry storage: %w", err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			name:       configuration.Parameters(params),
			"delete":   configuration.Parameters{"enabled": true},
			"redirect": configuration.Parameters{"disable": true},
		},
	}
	cfg.HTTP.Secret = string(opts.Secret)
	// Manifests may not point at foreign URLs; image indexes must name
	// images that exist (ECR's ReferencedImagesNotFoundException).
	cfg.Validation.Manifests.Indexes.Platforms = "all"
	app, err := newApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	switch opts.Challenge {
	case "", ChallengeBasic, ChallengeBearer:
	default:
		return nil, fmt.Errorf("registry: challenge %q is neither %s nor %s", opts.Challenge, ChallengeBasic, ChallengeBearer)
	}
	ttl := opts.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	guard := opts.Guard
	if guard == nil {
		guard = &LocalGuard{}
	}
	return &Registry{
		guard: guard, bearer: opts.Challenge == ChallengeBearer, tokenTTL: ttl, clock: opts.Now, app: app, ns: ns, driver: driver, repos: opts.Repositories, auth: opts.Auth,
		secret: opts.Secret, logger: logger, full: opts.Full, tagLocks: map[string]*repoLock{},
	}, nil
}

// newApp builds distribution's application, which panics on a
// configuration it refuses.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry configuration: %v", r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// SetAuthorizer makes every authenticated request pass fn; nil lets every
// valid credential do everything.
func (r *Registry) SetAuthorizer(fn AuthorizeFunc) {
	if fn == nil {
		r.authorize.Store(nil)
		return
	}
	r.authorize.Store(&fn)
}

// Close stops the registry's background work (purging abandoned uploads).
func (r *Registry) Close() error { return r.app.Shutdown() }

// lockRepo serialises tag writes in repository name; the returned function
// unlocks.
func (r *Registry) lockRepo(name string) func() {
	r.tagMu.Lock()
	l := r.tagLocks[name]
	if l == nil {
		l = &repoLock{}
		r.tagLocks[name] = l
	}
	l.refs++
	r.tagMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.tagMu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(r.tagLocks, name)
		}
		r.tagMu.Unlock()
	}
}
