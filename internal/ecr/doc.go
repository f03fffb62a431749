// Package ecr is Amazon ECR's API (awsJson 1.1, signing name ecr) over
// Gantry's registry (internal/registry). Repository records (settings,
// tags, policies) live in etcd under store.Key("ecr", "repositories",
// name); images, blobs and uploads live only in the registry's storage.
// GetAuthorizationToken signs passwords with a key kept in etcd, so every
// server accepts every server's tokens; the registry calls back into
// Settings and Authenticate for each request. Run applies the lifecycle
// policies on a schedule.
package ecr
