// Package ecs implements Amazon ECS's operations, one exported method of API
// per operation, named exactly as the operation and with the signature
//
//	func (s *API) Name(ctx context.Context, in *ecsapi.NameRequest) (*ecsapi.NameResponse, error)
//
// The API server finds them by name. Every error a method returns for a
// client to see is an *apierror.Error; anything else becomes ServerException.
//
// It owns the rules of ECS's resources and how they are stored: clusters
// (cluster.go), container instances and their attributes (instances.go,
// attributes.go, agentpoll.go: the agents' own calls), task definitions
// (taskdef.go; the rules of a registration in taskdef_validate.go and
// taskdef_containers.go), tasks
// (tasks.go, statechange.go, runtoken.go, placement.go), services
// (services*.go; the service controller's own entry points, RunTasks
// without RunTask's limit of ten and the reads of the live state, in
// runtasks.go), tags and account settings. It reads the server's live
// state (package state: the placement views, the task definitions' view,
// agent connections) instead of the store wherever it can, and writes
// records (package record) through guarded store transactions. Paging
// tokens and ARNs are in page.go and arn.go.
package ecs
