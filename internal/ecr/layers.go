package ecr

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/registry"
)

// PartSize is the part size InitiateLayerUpload advises.
const PartSize = 10 << 20

// layerMediaType is the media type ECR reports for layers.
const layerMediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"

// DownloadURLTTL is how long a GetDownloadUrlForLayer URL works.
const DownloadURLTTL = time.Hour

// BatchCheckLayerAvailability says which layers a repository has.
func (a *API) BatchCheckLayerAvailability(ctx context.Context, in *ecrapi.BatchCheckLayerAvailabilityRequest) (*ecrapi.BatchCheckLayerAvailabilityResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("BatchCheckLayerAvailability", err)
	}
	if len(in.LayerDigests) == 0 || len(in.LayerDigests) > 100 {
		return nil, apierror.InvalidParameter("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'Member must have length between 1 and 100'")
	}
	out := &ecrapi.BatchCheckLayerAvailabilityResponse{Layers: []ecrapi.Layer{}, Failures: []ecrapi.LayerFailure{}}
	for _, d := range in.LayerDigests {
		if !validDigest(d) {
			out.Failures = append(out.Failures, ecrapi.LayerFailure{LayerDigest: d, FailureCode: "InvalidLayerDigest", FailureReason: "Invalid layer digest"})
			continue
		}
		size, ok, err := a.Registry.BlobSize(ctx, in.RepositoryName, d)
		if err != nil {
			return nil, a.internal("BatchCheckLayerAvailability", err)
		}
		if !ok {
			out.Failures = append(out.Failures, ecrapi.LayerFailure{LayerDigest: d, FailureCode: "MissingLayerDigest", FailureReason: "Could not find layer"})
			continue
		}
		out.Layers = append(out.Layers, ecrapi.Layer{LayerDigest: d, LayerAvailability: "AVAILABLE", LayerSize: &size, MediaType: layerMediaType})
	}
	return out, nil
}

// InitiateLayerUpload starts an upload.
func (a *API) InitiateLayerUpload(ctx context.Context, in *ecrapi.InitiateLayerUploadRequest) (*ecrapi.InitiateLayerUploadResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("InitiateLayerUpload", err)
	}
	id, err := a.Registry.StartUpload(ctx, in.RepositoryName)
	if err != nil {
		return nil, a.internal("InitiateLayerUpload", err)
	}
	ps := int64(PartSize)
	return &ecrapi.InitiateLayerUploadResponse{UploadId: id, PartSize: &ps}, nil
}

func (a *API) uploadNotFound(name, id string) error {
	return apierror.New(CodeUploadNotFound, "Upload with id '%s' is not found for repository with name '%s' in registry with id '%s'", id, name, a.Account)
}

// UploadLayerPart appends a part to an upload; parts come in order.
func (a *API) UploadLayerPart(ctx context.Context, in *ecrapi.UploadLayerPartRequest) (*ecrapi.UploadLayerPartResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("UploadLayerPart", err)
	}
	first, last := *in.PartFirstByte, *in.PartLastByte
	if first < 0 || last < first || last-first+1 != int64(len(in.LayerPartBlob)) {
		return nil, apierror.New(CodeInvalidLayerPart, "The layer part of %d bytes does not span bytes %d to %d of upload '%s'", len(in.LayerPartBlob), first, last, in.UploadId)
	}
	lastByte, err := a.Registry.UploadPart(ctx, in.RepositoryName, in.UploadId, first, in.LayerPartBlob)
	switch {
	case errors.Is(err, registry.ErrUploadUnknown):
		return nil, a.uploadNotFound(in.RepositoryName, in.UploadId)
	case errors.Is(err, registry.ErrPartInvalid):
		return nil, apierror.New(CodeInvalidLayerPart, "%v", err)
	case err != nil:
		return nil, a.internal("UploadLayerPart", err)
	}
	return &ecrapi.UploadLayerPartResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId, LastByteReceived: &lastByte}, nil
}

// CompleteLayerUpload verifies an upload's digest and makes it a layer
// of the repository.
func (a *API) CompleteLayerUpload(ctx context.Context, in *ecrapi.CompleteLayerUploadRequest) (*ecrapi.CompleteLayerUploadResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("CompleteLayerUpload", err)
	}
	if len(in.LayerDigests) != 1 || !validDigest(in.LayerDigests[0]) {
		return nil, apierror.New(CodeInvalidLayer, "CompleteLayerUpload needs exactly one valid sha256 layer digest")
	}
	d := in.LayerDigests[0]
	if _, ok, err := a.Registry.BlobSize(ctx, in.RepositoryName, d); err == nil && ok {
		return nil, apierror.New(CodeLayerAlreadyExists, "The layer '%s' already exists in the repository with name '%s' in registry with id '%s'", d, in.RepositoryName, a.Account)
	}
	got, err := a.Registry.CompleteUpload(ctx, in.RepositoryName, in.UploadId, d)
	switch {
	case errors.Is(err, registry.ErrUploadUnknown):
		return nil, a.uploadNotFound(in.RepositoryName, in.UploadId)
	case errors.Is(err, registry.ErrEmptyUpload):
		return nil, apierror.New(CodeEmptyUpload, "The upload '%s' has no layer parts", in.UploadId)
	case errors.Is(err, registry.ErrDigestMismatch):
		return nil, apierror.New(CodeInvalidLayer, "The layer digest '%s' does not match the uploaded content", d)
	case err != nil:
		return nil, a.internal("CompleteLayerUpload", err)
	}
	return &ecrapi.CompleteLayerUploadResponse{RegistryId: a.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId, LayerDigest: got}, nil
}

// GetDownloadUrlForLayer returns a URL that fetches a layer without
// credentials for DownloadURLTTL, as ECR's pre-signed URL.
func (a *API) GetDownloadUrlForLayer(ctx context.Context, in *ecrapi.GetDownloadUrlForLayerRequest) (*ecrapi.GetDownloadUrlForLayerResponse, error) {
	if _, _, err := a.getRepo(ctx, in.RegistryId, in.RepositoryName); err != nil {
		return nil, a.internal("GetDownloadUrlForLayer", err)
	}
	if !validDigest(in.LayerDigest) {
		return nil, apierror.InvalidParameter("Invalid parameter at 'layerDigest' failed to satisfy constraint: 'Invalid layer digest %s'", in.LayerDigest)
	}
	_, ok, err := a.Registry.BlobSize(ctx, in.RepositoryName, in.LayerDigest)
	if err != nil {
		return nil, a.internal("GetDownloadUrlForLayer", err)
	}
	if !ok {
		return nil, apierror.New(CodeLayersNotFound, "The layer with digest '%s' does not exist in the repository with name '%s' in the registry with id '%s'", in.LayerDigest, in.RepositoryName, a.Account)
	}
	return &ecrapi.GetDownloadUrlForLayerResponse{
		DownloadUrl: a.Registry.DownloadURL(a.RegistryURL, in.RepositoryName, in.LayerDigest, a.now().Add(DownloadURLTTL)),
		LayerDigest: in.LayerDigest,
	}, nil
}
