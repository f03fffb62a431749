// Package imagebuild builds small Docker images from one static Go program,
// through the Docker API and with no registry: the program is compiled with
// the local Go toolchain (CGO_ENABLED=0) for the Engine's architecture and
// put in a FROM scratch image as /app, its entrypoint. Tests and benchmarks
// use it to have images on a machine that cannot pull any.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// Build compiles goSource (a main package with no dependencies outside the
// standard library) for arch (GOARCH: the Engine's, from ServerVersion) and
// builds image tag from it, labelled with labels. It returns the image ID.
func Build(ctx context.Context, cli client.APIClient, tag, goSource, arch string, labels map[string]string) (string, error) {
	bin, err := Compile(ctx, goSource, arch)
	if err != nil {
		return "", err
	}
	err = buildFiles(ctx, cli, tag, labels, []file{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")}, {"app", 0o755, bin}})
	if err != nil {
		return "", err
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("inspect built image: %w", err)
	}
	return img.ID, nil
}

// BuildModuleCommand compiles the command pkg (such as "./cmd/gantry") of
// the Go module at dir into a static executable for arch and builds image
// tag from it: FROM scratch, the program at /name as the entrypoint, and a
// writable /tmp.
func BuildModuleCommand(ctx context.Context, cli client.APIClient, dir, pkg, name, tag, arch string) error {
	tmp, err := os.MkdirTemp("", "gantry-imagecmd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %[1]s /%[1]s\nCOPY tmp /tmp\nENTRYPOINT [\"/%[1]s\"]\n", name)
	return buildFiles(ctx, cli, tag, nil, []file{{"tmp/", 0o1777, nil}, {"Dockerfile", 0o644, []byte(dockerfile)}, {name, 0o755, bin}})
}

// file is an entry of a build context; a name ending in / is a directory.
type file struct {
	name string
	mode int64
	data []byte
}

// buildFiles builds image tag, labelled with labels, from a build context
// of files.
func buildFiles(ctx context.Context, cli client.APIClient, tag string, labels map[string]string, files []file) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: "Dockerfile", Labels: labels,
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	err = buildError(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	return nil
}

// Compile builds goSource into a static executable for linux/arch and
// returns it.
func Compile(ctx context.Context, goSource, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gantry-imageprog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goSource), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gantryimageprog\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the go command is needed to build images: %w", err)
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

// buildError reads a build's progress stream and returns the error it
// reports, with the build's output, if any.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	var out bytes.Buffer
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		out.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, out.String())
		}
	}
}
