// Package registry is Gantry's OCI distribution registry: the reference
// implementation, github.com/distribution/distribution/v3, used as a
// library, behind Gantry's own front door. The front door authenticates
// every request with Docker's basic scheme (an access key of the server, or
// the `AWS` user and a password of ECR's GetAuthorizationToken), refuses
// repositories that ECR does not know (NAME_UNKNOWN), enforces immutable
// tags (TAG_INVALID) and lets a signed URL fetch one blob without
// credentials (GetDownloadUrlForLayer). Behind it, distribution serves the
// registry protocol over its storage driver: the filesystem under the
// server's data directory by default, or any driver distribution knows by
// name (S3 among them) with its parameters.
//
// The same storage is read and written by the ECR API through the methods
// of Registry (images.go): listing images, getting, putting and deleting
// manifests, and the layer upload operations. Nothing here touches etcd:
// which repositories exist and their settings come from a Repositories
// given by the caller.
//
//	docker CLI ──HTTP──▶ Registry.ServeHTTP ──▶ distribution handlers.App ─┐
//	                      auth · repo exists · immutable tags              ├─▶ storage driver (filesystem | s3)
//	ECR API ───────────▶ Registry.Images/PutManifest/... ─▶ storage.Namespace ┘
package registry
