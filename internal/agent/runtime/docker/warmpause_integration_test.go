package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// runWarm runs rt's warm pause loop until the test ends.
func runWarm(t *testing.T, rt *Runtime) {
	t.Helper()
	if err := rt.SweepWarmPause(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rt.RunWarmPause(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// warmIDs waits until rt has n warm pause containers and returns them.
func warmIDs(t *testing.T, rt *Runtime, n int) []string {
	t.Helper()
	var ids []string
	testutil.WaitFor(t, 60*time.Second, "warm pause containers", func() error {
		rt.warmMu.Lock()
		ids = append([]string(nil), rt.warm...)
		rt.warmMu.Unlock()
		if len(ids) != n {
			return fmt.Errorf("%d warm, want %d", len(ids), n)
		}
		return nil
	})
	return ids
}

// TestWarmPauseClaimedByTask: an awsvpc task takes a warm pause container
// (its namespace serves the task's container on the task's address) and
// another is started in its place; after an agent restart the task finds
// its pause container again, the warm one is adopted, a claimed one whose
// task left no container is removed; CleanupTask removes the claimed one.
func TestWarmPauseClaimedByTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rt := h.withConfig(Config{WarmPause: 1})
	runWarm(t, rt)
	ctx := t.Context()
	warm := warmIDs(t, rt, 1)[0]
	task := h.task("warm", runtime.NetworkModeAWSVPC, h.container("web"))
	res, _ := h.run(ctx, task)
	if res.PauseContainerID != warm {
		t.Fatalf("the task's pause container is %s, not the warm %s", res.PauseContainerID, warm)
	}
	in, err := h.cli.ContainerInspect(ctx, warm)
	if err != nil || in.Name != "/"+claimedPauseName(task.Arn) || in.Config.StopSignal != "SIGKILL" {
		t.Fatalf("claimed pause container: name %q, stop signal %q, %v", in.Name, in.Config.StopSignal, err)
	}
	var info serverInfo
	getJSON(t, fmt.Sprintf("http://%s:8080/", res.Interface.IPv4Address), 20*time.Second, &info)
	next := warmIDs(t, rt, 1)[0]
	if next == warm {
		t.Fatal("no new warm pause container after the claim")
	}
	// A task that claimed one and stopped while the agent was down: its
	// pause container has no other container of the task.
	gone := h.task("warm", runtime.NetworkModeAWSVPC, h.container("web"))
	goneRes, err := rt.PrepareTask(ctx, gone)
	if err != nil || goneRes.PauseContainerID != next {
		t.Fatalf("second claim: %+v, %v", goneRes, err)
	}
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == warm || c.ID == next || c.TaskArn == "" {
			t.Errorf("ListContainers shows a warm pause container: %+v", c)
		}
	}
	third := warmIDs(t, rt, 1)[0]

	// The agent restarts.
	rt2 := h.withConfig(Config{WarmPause: 1})
	if err := rt2.SweepWarmPause(ctx); err != nil {
		t.Fatal(err)
	}
	if rt2.warmCount() != 1 || rt2.warm[0] != third {
		t.Errorf("warm after restart %v, want [%s]", rt2.warm, third)
	}
	if _, err := h.cli.ContainerInspect(ctx, next); !cerrdefs.IsNotFound(err) {
		t.Errorf("the claimed pause container of a task gone survived the sweep: %v", err)
	}
	again, err := rt2.PrepareTask(ctx, task)
	if err != nil || again.PauseContainerID != warm || *again.Interface != *res.Interface {
		t.Fatalf("PrepareTask after the restart: %+v, %v", again, err)
	}
	if err := rt2.CleanupTask(ctx, task.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerInspect(ctx, warm); !cerrdefs.IsNotFound(err) {
		t.Errorf("the claimed pause container survived CleanupTask: %v", err)
	}
}
