package docker

import (
	"context"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// The image pull behaviours of the ECS agent's ECS_IMAGE_PULL_BEHAVIOR.
const (
	// PullDefault pulls every time; if the pull fails and the image is
	// cached, the cached image is used.
	PullDefault = "default"
	// PullAlways pulls every time; a failed pull fails the task.
	PullAlways = "always"
	// PullOnce pulls an image the first time this agent needs it, and
	// uses the cached image after that.
	PullOnce = "once"
	// PullPreferCached pulls only when the image is not cached.
	PullPreferCached = "prefer-cached"
)

// ValidPullBehavior reports whether b is one of the pull behaviours.
func ValidPullBehavior(b string) bool {
	switch b {
	case PullDefault, PullAlways, PullOnce, PullPreferCached:
		return true
	}
	return false
}

// ImageResolver maps an image name to the reference Docker pulls and the
// registry authentication (Docker's X-Registry-Auth, empty for none).
type ImageResolver interface {
	Resolve(ctx context.Context, image string) (ref, auth string, err error)
}

func (r *Runtime) resolve(ctx context.Context, img string) (string, string, error) {
	if r.cfg.Images == nil {
		return img, "", nil
	}
	return r.cfg.Images.Resolve(ctx, img)
}

// PullImage makes img available locally as the configured pull behaviour
// says (Config.PullBehavior), with the login of its registry when the
// resolver knows it. Any failure is a CannotPullContainerError carrying
// Docker's message; it is retryable unless the registry said the image
// does not exist or may not be pulled.
func (r *Runtime) PullImage(ctx context.Context, img string) error {
	return r.pull(ctx, img, r.cfg.PullBehavior)
}

func (r *Runtime) pull(ctx context.Context, img, behavior string) error {
	ref, auth, err := r.resolve(ctx, img)
	if err != nil {
		return runtime.NewError(runtime.CannotPullContainerError, true, err)
	}
	_, err = r.cli.ImageInspect(ctx, ref)
	cached := err == nil
	if err != nil && !cerrdefs.IsNotFound(err) {
		return wrap(runtime.CannotPullContainerError, err)
	}
	r.pulledMu.Lock()
	_, pulledBefore := r.pulled[ref]
	r.pulledMu.Unlock()
	switch {
	case behavior == PullPreferCached && cached:
		return nil
	case behavior == PullOnce && cached && pulledBefore:
		return nil
	}
	r.log.Info("pulling image", "image", ref, "behavior", behavior)
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		err = readJSONStream(rc)
		rc.Close()
	}
	if err == nil {
		r.markPulled(ref, time.Now())
		return nil
	}
	if behavior == PullDefault && cached {
		r.log.Warn("image pull failed; using the cached image", "image", ref, "err", err)
		return nil
	}
	final := cerrdefs.IsNotFound(err) || cerrdefs.IsUnauthorized(err) ||
		cerrdefs.IsPermissionDenied(err) || cerrdefs.IsInvalidArgument(err)
	return runtime.NewError(runtime.CannotPullContainerError, !final, fmt.Errorf("%w", err))
}
