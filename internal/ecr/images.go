package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/registry"
)

// imageIDString renders an image ID as ECR's messages do.
func imageIDString(id ecrapi.ImageIdentifier) string {
	q := func(s string) string {
		if s == "" {
			return "null"
		}
		return "'" + s + "'"
	}
	return fmt.Sprintf("{imageDigest:%s, imageTag:%s}", q(id.ImageDigest), q(id.ImageTag))
}

func (a *API) imageNotFound(name string, id ecrapi.ImageIdentifier) error {
	return apierror.New(CodeImageNotFound, "The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
		imageIDString(id), name, a.Account)
}

// filterTagStatus keeps the images of status TAGGED, UNTAGGED or ANY.
func filterTagStatus(imgs []registry.Image, status ecrapi.TagStatus) ([]registry.Image, error) {
	switch status {
	case "", "ANY":
		return imgs, nil
	case "TAGGED", "UNTAGGED":
	default:
		return nil, apierror.InvalidParameter("Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]'")
	}
	var out []registry.Image
	for _, img := range imgs {
		if (len(img.Tags) > 0) == (status == "TAGGED") {
			out = append(out, img)
		}
	}
	return out, nil
}

func (a *API) detail(name string, img registry.Image) ecrapi.ImageDetail {
	size := img.Size
	d := ecrapi.ImageDetail{
		RegistryId:             a.Account,
		RepositoryName:         name,
		ImageDigest:            img.Digest,
		ImageTags:              img.Tags,
		ImageSizeInBytes:       &size,
		ImageManifestMediaType: img.MediaType,
		ArtifactMediaType:      img.ArtifactMediaType,
		ImageStatus:            "ACTIVE",
	}
	if !img.PushedAt.IsZero() {
		d.ImagePushedAt = ts(img.PushedAt)
	}
	return d
}

// page returns the items of a listing after the token's position.
func page[T any](items []T, key func(T) string, token string, limit int) ([]T, string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if after != "" {
		start = len(items)
		for i, it := range items {
			if key(it) == after {
				start = i + 1
				break
			}
		}
	}
	items = items[start:]
	if len(items) > limit {
		return items[:limit], encodeToken(key(items[limit-1])), nil
	}
	return items, "", nil
}

// DescribeImages describes the images named, or pages through all of a
// repository's (filtered by tag status), most recently pushed first.
func (a *API) DescribeImages(ctx context.Context, in *ecrapi.DescribeImagesRequest) (*ecrapi.DescribeImagesResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("DescribeImages", err)
	}
	out := &ecrapi.DescribeImagesResponse{}
	if len(in.ImageIds) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, apierror.InvalidParameter("Invalid parameter: maxResults and nextToken cannot be used with imageIds")
		}
		seen := map[string]bool{}
		for _, id := range in.ImageIds {
			ref, err := a.imageRef(id)
			if err != nil {
				return nil, err
			}
			img, err := a.Registry.Image(ctx, in.RepositoryName, ref)
			if errors.Is(err, registry.ErrManifestUnknown) || (err == nil && id.ImageDigest != "" && id.ImageTag != "" && !slices.Contains(img.Tags, id.ImageTag)) {
				return nil, a.imageNotFound(in.RepositoryName, id)
			}
			if err != nil {
				return nil, a.internal("DescribeImages", err)
			}
			if !seen[img.Digest] {
				seen[img.Digest] = true
				out.ImageDetails = append(out.ImageDetails, a.detail(in.RepositoryName, img))
			}
		}
		return out, nil
	}
	limit, err := maxResults(in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	imgs, err := a.Registry.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, a.internal("DescribeImages", err)
	}
	if in.Filter != nil {
		if imgs, err = filterTagStatus(imgs, in.Filter.TagStatus); err != nil {
			return nil, err
		}
	}
	pg, next, err := page(imgs, func(i registry.Image) string { return i.Digest }, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	for _, img := range pg {
		out.ImageDetails = append(out.ImageDetails, a.detail(in.RepositoryName, img))
	}
	out.NextToken = next
	return out, nil
}

// imageRef turns an image ID into a registry reference: its digest, else
// its tag. MissingDigestAndTag, an invalid digest or tag: InvalidParameter.
func (a *API) imageRef(id ecrapi.ImageIdentifier) (string, error) {
	if id.ImageDigest != "" {
		if !validDigest(id.ImageDigest) {
			return "", apierror.InvalidParameter("Invalid parameter at 'imageDigest' failed to satisfy constraint: 'Invalid image digest %s'", id.ImageDigest)
		}
		return id.ImageDigest, nil
	}
	if id.ImageTag != "" {
		if !registry.ValidTag(id.ImageTag) {
			return "", apierror.InvalidParameter("Invalid parameter at 'imageTag' failed to satisfy constraint: 'Invalid image tag %s'", id.ImageTag)
		}
		return id.ImageTag, nil
	}
	return "", apierror.InvalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'an imageId needs an imageDigest or an imageTag'")
}

// validDigest reports whether d is a sha256 digest.
func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

// ListImages lists a repository's image IDs: one per tag, and one per
// untagged image.
func (a *API) ListImages(ctx context.Context, in *ecrapi.ListImagesRequest) (*ecrapi.ListImagesResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("ListImages", err)
	}
	limit, err := maxResults(in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	imgs, err := a.Registry.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, a.internal("ListImages", err)
	}
	if in.Filter != nil {
		if imgs, err = filterTagStatus(imgs, in.Filter.TagStatus); err != nil {
			return nil, err
		}
	}
	var ids []ecrapi.ImageIdentifier
	for _, img := range imgs {
		if len(img.Tags) == 0 {
			ids = append(ids, ecrapi.ImageIdentifier{ImageDigest: img.Digest})
		}
		for _, t := range img.Tags {
			ids = append(ids, ecrapi.ImageIdentifier{ImageDigest: img.Digest, ImageTag: t})
		}
	}
	pg, next, err := page(ids, func(i ecrapi.ImageIdentifier) string { return i.ImageDigest + "|" + i.ImageTag }, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	return &ecrapi.ListImagesResponse{ImageIds: pg, NextToken: next}, nil
}

func imageFailure(id ecrapi.ImageIdentifier, code ecrapi.ImageFailureCode, reason string) ecrapi.ImageFailure {
	id2 := id
	return ecrapi.ImageFailure{ImageId: &id2, FailureCode: code, FailureReason: reason}
}

// idFailure checks an image ID of a batch operation.
func idFailure(id ecrapi.ImageIdentifier) (ecrapi.ImageFailure, bool) {
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return imageFailure(id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"), true
	case id.ImageDigest != "" && !validDigest(id.ImageDigest):
		return imageFailure(id, "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"), true
	case id.ImageTag != "" && !registry.ValidTag(id.ImageTag):
		return imageFailure(id, "InvalidImageTag", "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9-_.]+'"), true
	}
	return ecrapi.ImageFailure{}, false
}

// BatchGetImage returns the manifests of images by tag or digest.
func (a *API) BatchGetImage(ctx context.Context, in *ecrapi.BatchGetImageRequest) (*ecrapi.BatchGetImageResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("BatchGetImage", err)
	}
	if len(in.ImageIds) == 0 || len(in.ImageIds) > 100 {
		return nil, apierror.InvalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between 1 and 100'")
	}
	out := &ecrapi.BatchGetImageResponse{}
	for _, id := range in.ImageIds {
		if f, bad := idFailure(id); bad {
			out.Failures = append(out.Failures, f)
			continue
		}
		ref := id.ImageDigest
		if ref == "" {
			ref = id.ImageTag
		}
		mt, payload, dgst, err := a.Registry.Manifest(ctx, in.RepositoryName, ref)
		if errors.Is(err, registry.ErrManifestUnknown) {
			out.Failures = append(out.Failures, imageFailure(id, "ImageNotFound", "Requested image not found"))
			continue
		}
		if err != nil {
			return nil, a.internal("BatchGetImage", err)
		}
		if id.ImageDigest != "" && id.ImageTag != "" {
			img, err := a.Registry.Image(ctx, in.RepositoryName, id.ImageTag)
			if err != nil || img.Digest != dgst {
				out.Failures = append(out.Failures, imageFailure(id, "ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map to the given digest"))
				continue
			}
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, mt) {
			out.Failures = append(out.Failures, imageFailure(id, "UnsupportedImageType", "Requested media type is not accepted: "+mt))
			continue
		}
		rid := ecrapi.ImageIdentifier{ImageDigest: dgst, ImageTag: id.ImageTag}
		out.Images = append(out.Images, ecrapi.Image{RegistryId: a.Account, RepositoryName: in.RepositoryName,
			ImageId: &rid, ImageManifest: string(payload), ImageManifestMediaType: mt})
	}
	return out, nil
}

// BatchDeleteImage deletes images by digest (with all their tags) and
// removes tags; an image whose last tag is removed is deleted.
func (a *API) BatchDeleteImage(ctx context.Context, in *ecrapi.BatchDeleteImageRequest) (*ecrapi.BatchDeleteImageResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("BatchDeleteImage", err)
	}
	if len(in.ImageIds) == 0 || len(in.ImageIds) > 100 {
		return nil, apierror.InvalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between 1 and 100'")
	}
	out := &ecrapi.BatchDeleteImageResponse{ImageIds: []ecrapi.ImageIdentifier{}, Failures: []ecrapi.ImageFailure{}}
	for _, id := range in.ImageIds {
		if f, bad := idFailure(id); bad {
			out.Failures = append(out.Failures, f)
			continue
		}
		deleted, err := a.deleteImage(ctx, in.RepositoryName, id)
		if errors.Is(err, registry.ErrManifestUnknown) {
			out.Failures = append(out.Failures, imageFailure(id, "ImageNotFound", "Requested image not found"))
			continue
		}
		var ref *referencedError
		if errors.As(err, &ref) {
			out.Failures = append(out.Failures, imageFailure(id, "ImageReferencedByManifestList",
				fmt.Sprintf("Requested image referenced by manifest list: %v", ref.lists)))
			continue
		}
		if err != nil {
			var e *apierror.Error
			if errors.As(err, &e) {
				out.Failures = append(out.Failures, imageFailure(id, "ImageTagDoesNotMatchDigest", e.Message))
				continue
			}
			return nil, a.internal("BatchDeleteImage", err)
		}
		out.ImageIds = append(out.ImageIds, deleted...)
	}
	return out, nil
}

// deleteImage deletes one image ID and returns the IDs it removed.
func (a *API) deleteImage(ctx context.Context, name string, id ecrapi.ImageIdentifier) ([]ecrapi.ImageIdentifier, error) {
	ref := id.ImageDigest
	if ref == "" {
		ref = id.ImageTag
	}
	img, err := a.Registry.Image(ctx, name, ref)
	if err != nil {
		return nil, err
	}
	if id.ImageTag != "" {
		if !slices.Contains(img.Tags, id.ImageTag) {
			if id.ImageDigest != "" {
				return nil, apierror.InvalidParameter("Invalid request parameters: given tag does not map to the given digest")
			}
			return nil, registry.ErrManifestUnknown
		}
		if len(img.Tags) > 1 {
			if err := a.Registry.Untag(ctx, name, id.ImageTag); err != nil {
				return nil, err
			}
			return []ecrapi.ImageIdentifier{{ImageDigest: img.Digest, ImageTag: id.ImageTag}}, nil
		}
	}
	if lists, err := a.referencingLists(ctx, name, img.Digest); err != nil {
		return nil, err
	} else if len(lists) > 0 {
		return nil, &referencedError{lists: lists}
	}
	if err := a.Registry.DeleteImage(ctx, name, img.Digest); err != nil {
		return nil, err
	}
	if len(img.Tags) == 0 {
		return []ecrapi.ImageIdentifier{{ImageDigest: img.Digest}}, nil
	}
	var ids []ecrapi.ImageIdentifier
	for _, t := range img.Tags {
		ids = append(ids, ecrapi.ImageIdentifier{ImageDigest: img.Digest, ImageTag: t})
	}
	return ids, nil
}

// PutImage stores a manifest whose layers were uploaded, optionally
// tagged, with ECR's checks.
func (a *API) PutImage(ctx context.Context, in *ecrapi.PutImageRequest) (*ecrapi.PutImageResponse, error) {
	rec, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, a.internal("PutImage", err)
	}
	if in.ImageManifest == "" || len(in.ImageManifest) > registry.MaxManifestBytes {
		return nil, apierror.InvalidParameter("Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Member must have length between 1 and 4194304'")
	}
	if in.ImageTag != "" && !registry.ValidTag(in.ImageTag) {
		return nil, apierror.InvalidParameter("Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9-_.]+''")
	}
	sum := sha256.Sum256([]byte(in.ImageManifest))
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	if in.ImageDigest != "" && in.ImageDigest != dgst {
		return nil, apierror.New(CodeImageDigestDoesNotMatch, "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The digest %s does not match the manifest's digest %s'", in.ImageDigest, dgst)
	}
	// ECR refuses a push that changes nothing.
	if cur, err := a.Registry.Image(ctx, in.RepositoryName, dgst); err == nil {
		if in.ImageTag == "" || slices.Contains(cur.Tags, in.ImageTag) {
			return nil, apierror.New(CodeImageAlreadyExists, "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'",
				dgst, in.ImageTag, in.RepositoryName, a.Account)
		}
	}
	got, err := a.Registry.PutManifest(ctx, in.RepositoryName, in.ImageManifestMediaType, []byte(in.ImageManifest), in.ImageTag, settingsOf(&rec.Repository))
	var blobs *registry.BlobsUnknownError
	var images *registry.ImagesUnknownError
	switch {
	case err == nil:
	case errors.Is(err, registry.ErrTagImmutable):
		return nil, apierror.New(CodeImageTagAlreadyExists, "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", in.ImageTag, in.RepositoryName)
	case errors.Is(err, registry.ErrManifestInvalid):
		return nil, apierror.InvalidParameter("Invalid parameter at 'imageManifest' failed to satisfy constraint: '%v'", err)
	case errors.As(err, &blobs):
		return nil, apierror.New(CodeLayersNotFound, "Layers with digests '%v' required for pushing image into repository with name '%s' in the registry with id '%s' do not exist",
			blobs.Digests, in.RepositoryName, a.Account)
	case errors.As(err, &images):
		return nil, apierror.New(CodeReferencedImagesNotFound, "Manifests with digests '%v' referenced by the manifest list do not exist in the repository with name '%s' in the registry with id '%s'",
			images.Digests, in.RepositoryName, a.Account)
	default:
		return nil, a.internal("PutImage", err)
	}
	mt := in.ImageManifestMediaType
	if mt == "" {
		if img, err := a.Registry.Image(ctx, in.RepositoryName, got); err == nil {
			mt = img.MediaType
		}
	}
	return &ecrapi.PutImageResponse{Image: &ecrapi.Image{RegistryId: a.Account, RepositoryName: in.RepositoryName,
		ImageId: &ecrapi.ImageIdentifier{ImageDigest: got, ImageTag: in.ImageTag}, ImageManifest: in.ImageManifest, ImageManifestMediaType: mt}}, nil
}

// referencedError is an image that manifest lists of its repository name.
type referencedError struct{ lists []string }

func (e *referencedError) Error() string {
	return fmt.Sprintf("referenced by manifest lists %v", e.lists)
}

// referencingLists returns the manifest lists and image indexes of
// repository name that name image dgst.
func (a *API) referencingLists(ctx context.Context, name, dgst string) ([]string, error) {
	imgs, err := a.Registry.Images(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, img := range imgs {
		if img.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" && img.MediaType != "application/vnd.oci.image.index.v1+json" {
			continue
		}
		_, payload, _, err := a.Registry.Manifest(ctx, name, img.Digest)
		if err != nil {
			continue // deleted meanwhile
		}
		var idx struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		if json.Unmarshal(payload, &idx) != nil {
			continue
		}
		for _, m := range idx.Manifests {
			if m.Digest == dgst {
				out = append(out, img.Digest)
				break
			}
		}
	}
	return out, nil
}
