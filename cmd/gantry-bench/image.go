package main

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/gantry-dev/gantry/internal/imagebuild"

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
	return imagebuild.Build(ctx, cli, tag, webServerSource, v.Arch, labels)
}

// removeImage removes image tag (forcibly: the benchmark's containers are
// gone by then).
func removeImage(ctx context.Context, cli client.APIClient, tag string) error {
	_, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
	return err
}
