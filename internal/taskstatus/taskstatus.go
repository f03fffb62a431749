// Package taskstatus owns the order of ECS task and container statuses,
// shared by the server (state changes, service deployments) and the agent
// (task engine). It is pure: it imports nothing of Gantry's.
//
// Statuses are the strings ECS writes ("RUNNING"); their order is given by
// Rank and ContainerRank and is never persisted.
package taskstatus

// Task statuses, in the order of ECS's task lifecycle. A task moves only
// forward through them; Deleted follows Stopped.
const (
	Provisioning   = "PROVISIONING"
	Pending        = "PENDING"
	Activating     = "ACTIVATING"
	Running        = "RUNNING"
	Deactivating   = "DEACTIVATING"
	Stopping       = "STOPPING"
	Deprovisioning = "DEPROVISIONING"
	Stopped        = "STOPPED"
	Deleted        = "DELETED"
)

// Rank returns the position of the task status s in ECS's task lifecycle,
// from 1 for PROVISIONING to 9 for DELETED, or 0 when s is not a task
// status (including ""). Comparisons read naturally:
// Rank(a) < Rank(Running) means a is before RUNNING.
func Rank(s string) int {
	switch s {
	case Provisioning:
		return 1
	case Pending:
		return 2
	case Activating:
		return 3
	case Running:
		return 4
	case Deactivating:
		return 5
	case Stopping:
		return 6
	case Deprovisioning:
		return 7
	case Stopped:
		return 8
	case Deleted:
		return 9
	}
	return 0
}

// ContainerRank returns the position of the container status s among those
// ECS reports for a container (PENDING 1, RUNNING 2, STOPPED 3), or 0 when s
// is not one of them.
func ContainerRank(s string) int {
	switch s {
	case Pending:
		return 1
	case Running:
		return 2
	case Stopped:
		return 3
	}
	return 0
}

// After reports whether task status a comes strictly after task status b in
// the lifecycle. An unknown status comes before every known one.
func After(a, b string) bool { return Rank(a) > Rank(b) }
