package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildGantry builds the gantry command of the module rooted at dir into
// outDir and returns the binary's path.
func buildGantry(ctx context.Context, dir, outDir string) (string, error) {
	return buildCommand(ctx, dir, outDir, "gantry")
}

// buildCommand builds ./cmd/NAME of the module rooted at dir into outDir.
func buildCommand(ctx context.Context, dir, outDir, name string) (string, error) {
	bin := filepath.Join(outDir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, msg)
	}
	return bin, nil
}

// moduleRoot returns the directory of the main module's go.mod, as the go
// command sees it from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run gantry-bench from inside the Gantry module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}
