package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// transient reports whether err may go away by itself: the daemon is
// unreachable, unavailable or slow, or the caller's context ended.
func transient(err error) bool {
	return client.IsErrConnectionFailed(err) ||
		cerrdefs.IsUnavailable(err) ||
		cerrdefs.IsDeadlineExceeded(err) ||
		cerrdefs.IsCanceled(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

// wrap returns err as a runtime error named name, retryable when transient;
// a Docker "not found" error also matches runtime.ErrNotFound.
func wrap(name string, err error) *runtime.Error {
	if cerrdefs.IsNotFound(err) {
		return runtime.NewError(name, false, notFound{err})
	}
	return runtime.NewError(name, transient(err), err)
}

// notFound is a Docker error that matches runtime.ErrNotFound and reads as
// Docker's message.
type notFound struct{ error }

// Unwrap returns Docker's error.
func (e notFound) Unwrap() error { return e.error }

// Is matches runtime.ErrNotFound.
func (notFound) Is(target error) bool { return target == runtime.ErrNotFound }

// errorf returns a non-retryable runtime error named name.
func errorf(name, format string, args ...any) *runtime.Error {
	return runtime.NewError(name, false, fmt.Errorf(format, args...))
}
