package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// variant builds FROM the test image with a label of its own: an image of
// its own ID, so that no other test's container uses it.
func (h *harness) variant(tag string) string {
	h.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := []byte(fmt.Sprintf("FROM %s\nLABEL %s=true dev.gantry.test-variant=%s\n", h.image, testutil.LabelTestImage, tag))
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	_, _ = tw.Write(df)
	_ = tw.Close()
	ctx := h.t.Context()
	resp, err := h.cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	img, err := h.cli.ImageInspect(ctx, tag)
	if err != nil {
		h.t.Fatalf("build %s: %v", tag, err)
	}
	// t.Context is cancelled before cleanups run.
	h.t.Cleanup(func() { _, _ = h.cli.ImageRemove(context.Background(), img.ID, image.RemoveOptions{Force: true}) })
	return img.ID
}

// TestCleanupImages removes an image the runtime pulled long enough ago
// that no container uses, and keeps one a container uses, one pulled
// recently and one the runtime did not pull.
func TestCleanupImages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	id := testutil.UniqueID("cleanup")
	unused, used, recent, notOurs := "gantry-test/"+id+":unused", "gantry-test/"+id+":used", "gantry-test/"+id+":recent", "gantry-test/"+id+":notours"
	for _, tag := range []string{unused, used, recent, notOurs} {
		h.variant(tag)
	}
	c, err := h.cli.ContainerCreate(ctx, &container.Config{Image: used, Labels: map[string]string{LabelInstance: h.instance}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	now := time.Now()
	h.rt.markPulled(unused, now.Add(-2*time.Hour))
	h.rt.markPulled(used, now.Add(-2*time.Hour))
	h.rt.markPulled(recent, now.Add(-time.Minute))
	removed, err := h.rt.CleanupImages(ctx, now, time.Hour, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{unused}) {
		t.Fatalf("removed %v, want [%s]", removed, unused)
	}
	if _, err := h.cli.ImageInspect(ctx, unused); err == nil {
		t.Fatalf("%s is still there", unused)
	}
	for _, keep := range []string{used, recent, notOurs} {
		if _, err := h.cli.ImageInspect(ctx, keep); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
}
