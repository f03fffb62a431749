package dockerprov

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// BuildAgentImage builds image tag holding gantry-agent, compiled
// statically from the module at src for the engine's architecture, FROM
// scratch with a writable /tmp (the agents' data dirs).
func BuildAgentImage(ctx context.Context, docker client.APIClient, src, tag string) error {
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	dir, err := os.MkdirTemp("", "gantry-provisioner-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gantry-agent")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/gantry-agent")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+v.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build gantry-agent: %w\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY gantry-agent /gantry-agent\nCOPY tmp /tmp\nENTRYPOINT [\"/gantry-agent\"]\n")},
		{"gantry-agent", 0o755, data}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := docker.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Dockerfile: "Dockerfile",
		Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("docker build: %s", out)
	}
	return nil
}
