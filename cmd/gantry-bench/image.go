package main

import (
	"archive/tar"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// webServerSource is the program of the benchmark image (package webserver).
//
//go:embed webserver/main.go
var webServerSource string

// buildImage compiles webServerSource into a static Linux executable for the
// Docker Engine's architecture and builds image tag from it through the
// Docker API: FROM scratch, the program at /app, ENTRYPOINT ["/app"],
// labelled with labels. No registry is involved. It returns the image ID.
func buildImage(ctx context.Context, cli client.APIClient, tag string, labels map[string]string) (string, error) {
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	}
	bin, err := compileStatic(ctx, webServerSource, v.Arch)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")},
		{"app", 0o755, bin},
	}
	for _, f := range files {
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
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	err = buildError(resp.Body)
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

// removeImage removes image tag (forcibly: the benchmark's containers are
// gone by then).
func removeImage(ctx context.Context, cli client.APIClient, tag string) error {
	_, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
	return err
}

// compileStatic builds source, a main package importing only the standard
// library, into a static executable for linux/arch with the local Go
// toolchain.
func compileStatic(ctx context.Context, source, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(source), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gantrybenchweb\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build of the image program: %w\n%s", err, msg)
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
