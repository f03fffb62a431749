package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

const exitSource = `package main

import "os"

func main() { os.Exit(7) }
`

func TestBuildImageBuildsOnceAndRuns(t *testing.T) {
	cli := RequireDocker(t)
	tag := "gantry-test/" + UniqueID("exit") + ":1"
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	start := time.Now()
	id := BuildImage(t, tag, exitSource)
	t.Logf("built %s in %v", tag, time.Since(start))

	start = time.Now()
	if again := BuildImage(t, tag, exitSource); again != id {
		t.Errorf("second build gave %s, want the cached %s", again, id)
	}
	t.Logf("reused in %v", time.Since(start))

	label := UniqueID("testutil")
	CleanupLabelled(t, cli, label)
	ctx := t.Context()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: tag, Labels: map[string]string{label: "1"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 7 {
			t.Errorf("exit code %d, want 7", w.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
}
