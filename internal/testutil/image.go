package testutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/imagebuild"

	_ "embed"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Image labels.
const (
	// LabelTestImage marks every image BuildImage builds.
	LabelTestImage = "dev.gantry.test-image"
	// LabelSourceHash holds the hash of the source an image was built from.
	LabelSourceHash = "dev.gantry.test-image.source"
)

// TestServerTag is the tag TestServerImage builds.
const TestServerTag = "gantry-test/server:latest"

//go:embed testserver/main.go
var testServerSource string

// TestServerSource returns the Go source of the test server (package
// testserver, whose doc comment lists its commands, environment and
// endpoints). In the image it is /app, the entrypoint.
func TestServerSource() string { return testServerSource }

// TestServerImage builds the test server image if needed and returns its
// tag, TestServerTag.
func TestServerImage(t testing.TB) string {
	t.Helper()
	BuildImage(t, TestServerTag, testServerSource)
	return TestServerTag
}

// BuildImage compiles goSource, a main package that imports only the
// standard library, into a static Linux executable (CGO_ENABLED=0, the
// local Go toolchain, the Docker Engine's architecture) and builds image
// tag from it through the Docker API: FROM scratch, the program at /app,
// ENTRYPOINT ["/app"]. It returns the image ID. If tag already holds an
// image built from the same source by the same toolchain, that image is
// reused without building. It skips or fails the test as RequireDocker does.
func BuildImage(t testing.TB, tag, goSource string) string {
	t.Helper()
	cli := RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := BuildImageContext(ctx, cli, tag, goSource)
	if err != nil {
		t.Fatalf("build image %s: %v", tag, err)
	}
	return id
}

// BuildImageContext is BuildImage for callers without a testing.TB, such
// as TestMain.
func BuildImageContext(ctx context.Context, cli client.APIClient, tag, goSource string) (string, error) {
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	}
	sum := sha256.Sum256([]byte(runtime.Version() + "\x00" + v.Arch + "\x00" + goSource))
	hash := hex.EncodeToString(sum[:])
	if img, err := cli.ImageInspect(ctx, tag); err == nil && img.Config != nil && img.Config.Labels[LabelSourceHash] == hash {
		return img.ID, nil
	}
	return imagebuild.Build(ctx, cli, tag, goSource, v.Arch, map[string]string{LabelTestImage: "true", LabelSourceHash: hash})
}

// RemoveTestImages removes every image BuildImage built. Images in use by
// containers are left.
func RemoveTestImages(ctx context.Context, cli client.APIClient) error {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelTestImage))})
	if err != nil {
		return err
	}
	var errs []error
	for _, img := range imgs {
		_, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
