package dockerprov

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/imagebuild"
)

// BuildAgentImage builds image tag holding gantry-agent, compiled
// statically from the module at src for the engine's architecture, FROM
// scratch with a writable /tmp (the agents' data dirs).
func BuildAgentImage(ctx context.Context, docker client.APIClient, src, tag string) error {
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	return imagebuild.BuildModuleCommand(ctx, docker, src, "./cmd/gantry-agent", "gantry-agent", tag, v.Arch)
}
