package docker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// withConfig gives h a runtime of cfg (its instance and stop timeout
// filled in) in place of its own.
func (h *harness) withConfig(cfg Config) *Runtime {
	h.t.Helper()
	cfg.InstanceID, cfg.StopTimeout, cfg.Logger = h.instance, 2*time.Second, slog.New(slog.DiscardHandler)
	rt, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { rt.Close() })
	h.rt = rt
	return rt
}

// TestFargateTaskCgroupHoldsTheTask: a Fargate task of 512 MiB whose two
// containers each allocate 300 MiB, under their own limit of 400 MiB: the
// task's cgroup makes the kernel kill one (OOM). Its containers run in the
// task's cgroup, which has the task's memory and CPU as limits, and which
// CleanupTask removes.
func TestFargateTaskCgroupHoldsTheTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rt := h.withConfig(Config{TaskCgroups: true})
	ctx := t.Context()
	a, b := h.container("a", "alloc", "300"), h.container("b", "alloc", "300")
	a.Memory, b.Memory = ptr[int32](400), ptr[int32](400)
	task := h.task("fgcg", runtime.NetworkModeAWSVPC, a, b)
	task.Fargate = true
	task.Definition.Cpu, task.Definition.Memory = "256", "512"
	res, refs := h.run(ctx, task)
	if res.CgroupParent == "" {
		t.Fatal("the Fargate task has no cgroup of its own")
	}
	root := rt.cgroups.root
	memDir, cpuMax := filepath.Join(root, "memory", res.CgroupParent), filepath.Join(root, "cpu", res.CgroupParent, "cpu.cfs_quota_us")
	limit := filepath.Join(memDir, "memory.limit_in_bytes")
	if rt.cgroups.version == 2 {
		memDir = filepath.Join(root, res.CgroupParent)
		limit, cpuMax = filepath.Join(memDir, "memory.max"), filepath.Join(memDir, "cpu.max")
	}
	if b, err := os.ReadFile(limit); err != nil || strings.TrimSpace(string(b)) != "536870912" {
		t.Errorf("task memory limit %q, %v; want 536870912", b, err)
	}
	if b, err := os.ReadFile(cpuMax); err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), "25000") {
		t.Errorf("task CPU quota %q, %v; want 25000 per 100000", b, err)
	}
	for name, ref := range refs {
		in, err := h.cli.ContainerInspect(ctx, ref.ID)
		if err != nil || in.HostConfig.CgroupParent != res.CgroupParent || in.HostConfig.Memory != 400<<20 {
			t.Errorf("container %s: cgroup parent %q, memory %d, %v", name, in.HostConfig.CgroupParent, in.HostConfig.Memory, err)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "a container killed for the task's memory", func() error {
		for _, ref := range refs {
			in, err := h.cli.ContainerInspect(ctx, ref.ID)
			if err != nil {
				return err
			}
			if in.State.OOMKilled {
				return nil
			}
		}
		return errors.New("both run")
	})
	if err := rt.CleanupTask(ctx, task.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(memDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the task's cgroup survived CleanupTask: %v", err)
	}

	// An empty task cgroup a stopped agent left is removed at the next
	// start; one with processes stays.
	left := rt.cgroups.dir("arn:aws:ecs:us-east-1:123456789012:task/it/" + testutil.UniqueID("gone"))
	if err := rt.cgroups.makeV1(left, 64<<20, 10000); rt.cgroups.version == 1 && err != nil {
		t.Fatal(err)
	}
	if rt.cgroups.version == 1 {
		h.withConfig(Config{TaskCgroups: true}).SweepTaskCgroups(context.Background())
		if _, err := os.Stat(filepath.Join(root, "memory", left)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a left-over task cgroup survived the sweep: %v", err)
		}
	}
}
