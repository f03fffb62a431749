package testutil

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	_ "embed"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
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
	bin, err := compile(ctx, goSource, v.Arch)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"app", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Labels:      map[string]string{LabelTestImage: "true", LabelSourceHash: hash},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	err = readBuildOutput(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("inspect built image: %w", err)
	}
	return img.ID, nil
}

// compile builds goSource into a static executable for linux/arch.
func compile(ctx context.Context, goSource, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gantry-testprog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goSource), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gantrytestprog\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the go command is needed to build test images: %w", err)
	}
	out := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, msg)
	}
	return os.ReadFile(out)
}

// readBuildOutput reads the build's progress stream and returns the error
// it reports, if any.
func readBuildOutput(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log bytes.Buffer
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		log.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, log.String())
		}
	}
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
