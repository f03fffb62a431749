package docker

import (
	"context"
	"fmt"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// Defaults of the image clean-up, as the ECS agent's
// ECS_IMAGE_CLEANUP_INTERVAL, ECS_IMAGE_MINIMUM_CLEANUP_AGE and
// ECS_NUM_IMAGES_DELETE_PER_CYCLE.
const (
	DefaultImageCleanupInterval = 30 * time.Minute
	DefaultImageMinimumAge      = time.Hour
	DefaultImagesPerCycle       = 5
)

// markPulled records that ref was pulled at t.
func (r *Runtime) markPulled(ref string, t time.Time) {
	r.pulledMu.Lock()
	r.pulled[ref] = t
	r.pulledMu.Unlock()
}

// pulledImage is a reference this runtime pulled, for the clean-up.
type pulledImage struct {
	ref     string
	at      time.Time
	imageID string
}

// imagesToRemove picks, oldest pull first, at most max of the images
// pulled at least minAge before now whose image no container uses.
func imagesToRemove(pulled []pulledImage, inUse map[string]bool, now time.Time, minAge time.Duration, max int) []string {
	sort.Slice(pulled, func(i, j int) bool {
		if !pulled[i].at.Equal(pulled[j].at) {
			return pulled[i].at.Before(pulled[j].at)
		}
		return pulled[i].ref < pulled[j].ref
	})
	var out []string
	for _, p := range pulled {
		if len(out) == max {
			break
		}
		if now.Sub(p.at) < minAge || inUse[p.imageID] {
			continue
		}
		out = append(out, p.ref)
	}
	return out
}

// CleanupImages removes, as the ECS agent's automated image clean-up, up
// to max of the image references this runtime pulled at least minAge
// before now whose image no container (of any task, running or stopped)
// uses, oldest pull first. Removing a reference untags it; the image's
// layers go when no other name holds them. Images the runtime did not pull
// (built locally, pulled by hand, or before the agent started) are never
// touched. It returns the references removed.
func (r *Runtime) CleanupImages(ctx context.Context, now time.Time, minAge time.Duration, max int) ([]string, error) {
	r.pulledMu.Lock()
	var pulled []pulledImage
	for ref, at := range r.pulled {
		pulled = append(pulled, pulledImage{ref: ref, at: at})
	}
	r.pulledMu.Unlock()
	if len(pulled) == 0 {
		return nil, nil
	}
	for i := range pulled {
		img, err := r.cli.ImageInspect(ctx, pulled[i].ref)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				r.pulledMu.Lock()
				delete(r.pulled, pulled[i].ref) // removed by someone else
				r.pulledMu.Unlock()
				pulled[i].imageID = ""
				pulled[i].at = now // never picked
				continue
			}
			return nil, fmt.Errorf("inspect %s: %w", pulled[i].ref, err)
		}
		pulled[i].imageID = img.ID
	}
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range cs {
		inUse[c.ImageID] = true
	}
	var removed []string
	for _, ref := range imagesToRemove(pulled, inUse, now, minAge, max) {
		_, err := r.cli.ImageRemove(ctx, ref, image.RemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("image clean-up: remove", "image", ref, "err", err)
			continue
		}
		r.pulledMu.Lock()
		delete(r.pulled, ref)
		r.pulledMu.Unlock()
		r.log.Info("image clean-up removed an image", "image", ref)
		removed = append(removed, ref)
	}
	return removed, nil
}
