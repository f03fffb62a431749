package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Errors of the image operations.
var (
	// ErrManifestUnknown is a digest or tag with no manifest.
	ErrManifestUnknown = errors.New("manifest unknown")
	// ErrManifestInvalid is a manifest that does not parse or whose media
	// type is not one the registry stores.
	ErrManifestInvalid = errors.New("manifest invalid")
	// ErrTagImmutable is a tag of an immutable repository that already
	// names another image.
	ErrTagImmutable = errors.New("tag is immutable")
	// ErrUploadUnknown is an upload ID the registry does not know.
	ErrUploadUnknown = errors.New("upload unknown")
	// ErrDigestMismatch is uploaded content whose digest is not the one
	// given.
	ErrDigestMismatch = errors.New("digest does not match the content")
	// ErrPartInvalid is an upload part that does not continue the upload.
	ErrPartInvalid = errors.New("layer part invalid")
	// ErrEmptyUpload is an upload completed with no content.
	ErrEmptyUpload = errors.New("upload is empty")
)

// BlobsUnknownError is a manifest naming blobs that were never pushed.
type BlobsUnknownError struct {
	// Digests are the missing blobs.
	Digests []string
}

// Error implements error.
func (e *BlobsUnknownError) Error() string {
	return "layers not found: " + strings.Join(e.Digests, ", ")
}

// ImagesUnknownError is an image index naming images that were never
// pushed.
type ImagesUnknownError struct {
	// Digests are the missing manifests.
	Digests []string
}

// Error implements error.
func (e *ImagesUnknownError) Error() string {
	return "referenced images not found: " + strings.Join(e.Digests, ", ")
}

// Image is one manifest of a repository as the ECR API describes it.
type Image struct {
	// Digest is the manifest's sha256 digest.
	Digest string
	// MediaType is the manifest's media type.
	MediaType string
	// ArtifactMediaType is the config's media type (for image manifests).
	ArtifactMediaType string
	// Tags are the tags that name the manifest, sorted.
	Tags []string
	// Size is the sum of the sizes of the layers (or, for an index, of
	// the manifests it names), as ECR's imageSizeInBytes.
	Size int64
	// PushedAt is when the manifest was last pushed.
	PushedAt time.Time
}

// rootPath is where distribution keeps its files in a storage driver.
const rootPath = "/docker/registry/v2"

// tagRE is a valid Docker tag.
var tagRE = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

// ValidTag reports whether tag is a valid image tag.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

func (r *Registry) repository(ctx context.Context, name string) (distribution.Repository, error) {
	named, err := reference.WithName(name)
	if err != nil {
		return nil, fmt.Errorf("repository name %q: %w", name, err)
	}
	return r.ns.Repository(ctx, named)
}

// Images returns every manifest of repository name, most recently pushed
// first. A repository never pushed to has none.
func (r *Registry) Images(ctx context.Context, name string) ([]Image, error) {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return nil, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := r.tagsByDigest(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []Image
	enum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("registry storage cannot enumerate manifests")
	}
	err = enum.Enumerate(ctx, func(d digest.Digest) error {
		img, err := r.describe(ctx, name, ms, d)
		if errors.Is(err, ErrManifestUnknown) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		img.Tags = tags[d]
		out = append(out, img)
		return nil
	})
	if err != nil && !isPathNotFound(err) {
		return nil, fmt.Errorf("list the images of %s: %w", name, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].PushedAt.Equal(out[j].PushedAt) {
			return out[i].PushedAt.After(out[j].PushedAt)
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// Image describes the manifest of repository name that ref (a tag or a
// digest) names; ErrManifestUnknown if none.
func (r *Registry) Image(ctx context.Context, name, ref string) (Image, error) {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return Image{}, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return Image{}, err
	}
	d, err := r.resolve(ctx, repo, ref)
	if err != nil {
		return Image{}, err
	}
	img, err := r.describe(ctx, name, ms, d)
	if err != nil {
		return Image{}, err
	}
	tags, err := repo.Tags(ctx).Lookup(ctx, v1.Descriptor{Digest: d})
	if err != nil && !isPathNotFound(err) {
		return Image{}, err
	}
	sort.Strings(tags)
	img.Tags = tags
	return img, nil
}

// resolve turns a tag or digest into a digest.
func (r *Registry) resolve(ctx context.Context, repo distribution.Repository, ref string) (digest.Digest, error) {
	if d, err := digest.Parse(ref); err == nil {
		return d, nil
	}
	desc, err := repo.Tags(ctx).Get(ctx, ref)
	if err != nil {
		var unknown distribution.ErrTagUnknown
		if errors.As(err, &unknown) || isPathNotFound(err) {
			return "", ErrManifestUnknown
		}
		return "", err
	}
	return desc.Digest, nil
}

func (r *Registry) tagsByDigest(ctx context.Context, repo distribution.Repository) (map[digest.Digest][]string, error) {
	ts := repo.Tags(ctx)
	all, err := ts.All(ctx)
	if err != nil {
		if isPathNotFound(err) {
			return nil, nil
		}
		var unknown distribution.ErrRepositoryUnknown
		if errors.As(err, &unknown) {
			return nil, nil
		}
		return nil, err
	}
	out := map[digest.Digest][]string{}
	for _, t := range all {
		desc, err := ts.Get(ctx, t)
		if err != nil {
			continue // untagged meanwhile
		}
		out[desc.Digest] = append(out[desc.Digest], t)
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out, nil
}

func (r *Registry) describe(ctx context.Context, name string, ms distribution.ManifestService, d digest.Digest) (Image, error) {
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isManifestUnknown(err) {
			return Image{}, ErrManifestUnknown
		}
		return Image{}, err
	}
	mt, _, err := m.Payload()
	if err != nil {
		return Image{}, err
	}
	img := Image{Digest: d.String(), MediaType: mt}
	for _, ref := range m.References() {
		switch ref.MediaType {
		case v1.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
			img.ArtifactMediaType = ref.MediaType
			continue
		}
		img.Size += ref.Size
	}
	fi, err := r.driver.Stat(ctx, path.Join(rootPath, "repositories", name, "_manifests/revisions", d.Algorithm().String(), d.Encoded(), "link"))
	if err == nil {
		img.PushedAt = fi.ModTime()
	}
	return img, nil
}

// Manifest returns the media type and bytes of the manifest ref (a tag or
// a digest) of repository name; ErrManifestUnknown if none.
func (r *Registry) Manifest(ctx context.Context, name, ref string) (mediaType string, payload []byte, dgst string, err error) {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return "", nil, "", err
	}
	d, err := r.resolve(ctx, repo, ref)
	if err != nil {
		return "", nil, "", err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return "", nil, "", err
	}
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isManifestUnknown(err) {
			return "", nil, "", ErrManifestUnknown
		}
		return "", nil, "", err
	}
	mt, p, err := m.Payload()
	return mt, p, d.String(), err
}

// PutManifest stores payload (of mediaType; empty means the manifest's
// own mediaType member) in repository name and, if tag is not empty,
// points tag at it, refusing to move a tag of an immutable repository
// (ErrTagImmutable). It returns the manifest's digest. Errors:
// ErrManifestInvalid, *BlobsUnknownError, *ImagesUnknownError.
func (r *Registry) PutManifest(ctx context.Context, name, mediaType string, payload []byte, tag string, settings Settings) (string, error) {
	if mediaType == "" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if err := json.Unmarshal(payload, &probe); err != nil {
			return "", fmt.Errorf("%w: %v", ErrManifestInvalid, err)
		}
		mediaType = probe.MediaType
	}
	if !slices.Contains(distribution.ManifestMediaTypes(), mediaType) || mediaType == "" {
		return "", fmt.Errorf("%w: unsupported media type %q", ErrManifestInvalid, mediaType)
	}
	m, _, err := distribution.UnmarshalManifest(mediaType, payload)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	// Not during a garbage collection (gc.go).
	done, err := r.guard.Write(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	repo, err := r.repository(ctx, name)
	if err != nil {
		return "", err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return "", err
	}
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		unlock := r.lockRepo(name)
		defer unlock()
		if err := r.checkTag(ctx, name, tag, digest.FromBytes(payload), settings); err != nil {
			return "", err
		}
		opts = append(opts, distribution.WithTag(tag))
	}
	d, err := ms.Put(ctx, m, opts...)
	if err != nil {
		err = manifestPutError(err)
		var blobs *BlobsUnknownError
		if isIndex(mediaType) && errors.As(err, &blobs) {
			// What an index names are images.
			err = &ImagesUnknownError{Digests: blobs.Digests}
		}
		return "", err
	}
	if tag != "" {
		// distribution's manifest store tags only through its HTTP
		// handler; do what it does.
		if err := repo.Tags(ctx).Tag(ctx, tag, v1.Descriptor{Digest: d, MediaType: mediaType, Size: int64(len(payload))}); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// isIndex reports whether mediaType is a manifest list or image index.
func isIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func manifestPutError(err error) error {
	var ver distribution.ErrManifestVerification
	if errors.As(err, &ver) {
		var blobs, images []string
		for _, e := range ver {
			var bu distribution.ErrManifestBlobUnknown
			if errors.As(e, &bu) {
				blobs = append(blobs, bu.Digest.String())
				continue
			}
			var mu distribution.ErrManifestUnknownRevision
			if errors.As(e, &mu) {
				images = append(images, mu.Revision.String())
				continue
			}
		}
		switch {
		case len(images) > 0:
			return &ImagesUnknownError{Digests: images}
		case len(blobs) > 0:
			return &BlobsUnknownError{Digests: blobs}
		}
		return fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	return err
}

// checkTag refuses to move tag of an immutable repository to an image
// other than dgst. The caller holds the repository's lock.
func (r *Registry) checkTag(ctx context.Context, name, tag string, dgst digest.Digest, s Settings) error {
	if !ValidTag(tag) {
		return fmt.Errorf("invalid tag %q", tag)
	}
	immutable := (s.ImmutableTags && !tagExcluded(tag, s.ImmutableExclusions)) || tagExcluded(tag, s.ImmutableOnly)
	if !immutable {
		return nil
	}
	repo, err := r.repository(ctx, name)
	if err != nil {
		return err
	}
	desc, err := repo.Tags(ctx).Get(ctx, tag)
	if err != nil {
		return nil // no such tag yet
	}
	if desc.Digest == dgst {
		return nil
	}
	return fmt.Errorf("%w: The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable", ErrTagImmutable, tag, name)
}

// tagExcluded reports whether tag matches one of the wildcard filters.
func tagExcluded(tag string, filters []string) bool {
	for _, f := range filters {
		if WildcardMatch(f, tag) {
			return true
		}
	}
	return false
}

// WildcardMatch matches s against an ECR wildcard pattern, in which `*`
// stands for any run of characters.
func WildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// DeleteImage removes the manifest dgst of repository name and the tags
// that name it; ErrManifestUnknown if there is none. The blobs stay until
// a garbage collection.
func (r *Registry) DeleteImage(ctx context.Context, name, dgst string) error {
	d, err := digest.Parse(dgst)
	if err != nil {
		return ErrManifestUnknown
	}
	repo, err := r.repository(ctx, name)
	if err != nil {
		return err
	}
	unlock := r.lockRepo(name)
	defer unlock()
	ts := repo.Tags(ctx)
	tags, err := ts.Lookup(ctx, v1.Descriptor{Digest: d})
	if err != nil && !isPathNotFound(err) {
		return err
	}
	for _, t := range tags {
		if err := ts.Untag(ctx, t); err != nil && !isPathNotFound(err) {
			return err
		}
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return err
	}
	if err := ms.Delete(ctx, d); err != nil {
		if isManifestUnknown(err) || isPathNotFound(err) {
			return ErrManifestUnknown
		}
		return err
	}
	return nil
}

// Untag removes tag from repository name; ErrManifestUnknown if it does
// not exist.
func (r *Registry) Untag(ctx context.Context, name, tag string) error {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return err
	}
	unlock := r.lockRepo(name)
	defer unlock()
	ts := repo.Tags(ctx)
	if _, err := ts.Get(ctx, tag); err != nil {
		return ErrManifestUnknown
	}
	return ts.Untag(ctx, tag)
}

// DeleteRepository removes everything of repository name but the blobs
// (which a garbage collection removes when nothing else names them).
func (r *Registry) DeleteRepository(ctx context.Context, name string) error {
	named, err := reference.WithName(name)
	if err != nil {
		return err
	}
	rm, ok := r.ns.(distribution.RepositoryRemover)
	if !ok {
		return errors.New("registry storage cannot remove repositories")
	}
	if err := rm.Remove(ctx, named); err != nil && !isPathNotFound(err) {
		return err
	}
	return nil
}

// BlobSize returns the size of blob dgst in repository name, and false if
// the repository has no such blob.
func (r *Registry) BlobSize(ctx context.Context, name, dgst string) (int64, bool, error) {
	d, err := digest.Parse(dgst)
	if err != nil {
		return 0, false, nil
	}
	repo, err := r.repository(ctx, name)
	if err != nil {
		return 0, false, err
	}
	desc, err := repo.Blobs(ctx).Stat(ctx, d)
	if err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) || isPathNotFound(err) {
			return 0, false, nil
		}
		return 0, false, err
	}
	return desc.Size, true, nil
}

// StartUpload begins a layer upload in repository name and returns its ID.
func (r *Registry) StartUpload(ctx context.Context, name string) (string, error) {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return "", err
	}
	bw, err := repo.Blobs(ctx).Create(ctx)
	if err != nil {
		return "", err
	}
	id := bw.ID()
	if err := bw.Close(); err != nil {
		return "", err
	}
	return id, nil
}

// UploadPart appends data to upload id of repository name. first must be
// the upload's current size (ErrPartInvalid otherwise). It returns the
// last byte received so far.
func (r *Registry) UploadPart(ctx context.Context, name, id string, first int64, data []byte) (int64, error) {
	bw, err := r.resume(ctx, name, id)
	if err != nil {
		return 0, err
	}
	if first != bw.Size() {
		size := bw.Size()
		_ = bw.Close()
		return 0, fmt.Errorf("%w: the part starts at byte %d, the upload has %d bytes", ErrPartInvalid, first, size)
	}
	if _, err := bw.ReadFrom(bytes.NewReader(data)); err != nil {
		_ = bw.Close()
		return 0, err
	}
	size := bw.Size()
	if err := bw.Close(); err != nil {
		return 0, err
	}
	return size - 1, nil
}

// CompleteUpload verifies that upload id of repository name has digest
// dgst and makes it a blob of the repository (ErrDigestMismatch,
// ErrEmptyUpload).
func (r *Registry) CompleteUpload(ctx context.Context, name, id, dgst string) (string, error) {
	d, err := digest.Parse(dgst)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDigestMismatch, err)
	}
	// Not during a garbage collection (gc.go).
	done, err := r.guard.Write(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	bw, err := r.resume(ctx, name, id)
	if err != nil {
		return "", err
	}
	if bw.Size() == 0 {
		_ = bw.Close()
		return "", ErrEmptyUpload
	}
	desc, err := bw.Commit(ctx, v1.Descriptor{Digest: d})
	if err != nil {
		var inv distribution.ErrBlobInvalidDigest
		if errors.As(err, &inv) {
			_ = bw.Cancel(ctx)
			return "", ErrDigestMismatch
		}
		_ = bw.Close()
		return "", err
	}
	return desc.Digest.String(), nil
}

func (r *Registry) resume(ctx context.Context, name, id string) (distribution.BlobWriter, error) {
	repo, err := r.repository(ctx, name)
	if err != nil {
		return nil, err
	}
	bw, err := repo.Blobs(ctx).Resume(ctx, id)
	if err != nil {
		if errors.Is(err, distribution.ErrBlobUploadUnknown) || isPathNotFound(err) {
			return nil, ErrUploadUnknown
		}
		return nil, err
	}
	return bw, nil
}

func isPathNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}

func isManifestUnknown(err error) bool {
	var a distribution.ErrManifestUnknownRevision
	var b distribution.ErrManifestUnknown
	return errors.As(err, &a) || errors.As(err, &b) || isPathNotFound(err)
}
