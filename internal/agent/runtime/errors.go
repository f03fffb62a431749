package runtime

import (
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/internal/taskdefcheck"
)

// Error names, spelled as the ECS agent spells them. An error's name is the
// first word of the stoppedReason of the task it stops.
const (
	// CannotPullContainerError: the image is not local and pulling it failed.
	CannotPullContainerError = "CannotPullContainerError"
	// CannotCreateContainerError: the runtime refused to create the container.
	CannotCreateContainerError = "CannotCreateContainerError"
	// CannotStartContainerError: the runtime refused to start the container.
	CannotStartContainerError = "CannotStartContainerError"
	// CannotStopContainerError: stopping the container failed.
	CannotStopContainerError = "CannotStopContainerError"
	// CannotInspectContainerError: the container's state cannot be read.
	CannotInspectContainerError = "CannotInspectContainerError"
	// CannotRemoveContainerError: removing the container failed.
	CannotRemoveContainerError = "CannotRemoveContainerError"
	// CannotListContainersError: listing the agent's containers failed.
	CannotListContainersError = "CannotListContainersError"
	// CannotGetContainerStatsError: the runtime could not read a
	// container's resource usage (the ECS agent's name for it).
	CannotGetContainerStatsError = "CannotGetContainerStatsError"
	// CannotCreateVolumeError: a task volume could not be created or found.
	CannotCreateVolumeError = "CannotCreateVolumeError"
	// ResourceInitializationError: the task's network namespace could not be
	// set up (awsvpc network, pause image or pause container).
	ResourceInitializationError = "ResourceInitializationError"
	// ResourceCleanupError: removing a task's containers or volumes failed.
	ResourceCleanupError = "ResourceCleanupError"
	// UnsupportedTaskDefinitionError: the task uses a member the runtime
	// cannot honour; see UnsupportedError.
	UnsupportedTaskDefinitionError = "UnsupportedTaskDefinitionError"
)

// ErrNotFound is wrapped by errors about a container, image or volume that
// does not exist. Test with errors.Is.
var ErrNotFound = errors.New("not found")

// Error is an error from a Runtime. Name is one of the names above; Retryable
// says whether the same call may succeed later (a daemon that is restarting,
// a timeout) or never will (no such image, an invalid configuration).
type Error struct {
	Name      string
	Retryable bool
	Err       error
}

// NewError returns an *Error named name that wraps err.
func NewError(name string, retryable bool, err error) *Error {
	return &Error{Name: name, Retryable: retryable, Err: err}
}

// Errorf returns an *Error named name whose cause is fmt.Errorf(format, args...).
func Errorf(name string, retryable bool, format string, args ...any) *Error {
	return &Error{Name: name, Retryable: retryable, Err: fmt.Errorf(format, args...)}
}

// Error returns "Name: cause", the form ECS uses for a stoppedReason.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Name
	}
	return e.Name + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorName returns the name of the first *Error in err's chain, or "" if
// there is none.
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// IsRetryable reports whether err's first *Error is retryable. Errors that are
// not runtime errors are not retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// UnsupportedError names one task definition member that a runtime cannot
// honour. It is taskdefcheck's, where the rules live, so the server can
// apply them without linking a runtime.
type UnsupportedError = taskdefcheck.UnsupportedError
