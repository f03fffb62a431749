package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/taskres"
)

// Task cgroups. Docker sets limits on the cgroups of containers only, never
// on a parent: a task of several containers has no limit of its own. A
// Fargate task's cpu and memory are hard limits for the task as a whole,
// so the runtime makes the task's cgroup itself, with those limits, and
// creates the task's containers with it as their CgroupParent: the kernel
// then holds the containers together to the task's size (an OOM kill when
// they exceed its memory, though each is under its own limit).
//
// This needs the Docker Engine's cgroupfs driver (with the systemd driver
// a parent is a systemd slice, which the runtime does not manage) and the
// Engine on this host, whose cgroup file systems the agent writes (as root).
// Both cgroup versions are handled: on v1 the task's directory is made in
// the memory and cpu hierarchies (memory.limit_in_bytes and, when swap is
// accounted, memory.memsw.limit_in_bytes; cpu.cfs_quota_us over a 100 ms
// cpu.cfs_period_us), on v2 in the unified one (memory.max, memory.swap.max
// 0, cpu.max), with the memory and cpu controllers enabled on its parents.
//
// A task's cgroup is /gantry/INSTANCE/TASK-ID from the hierarchy's root,
// derived from the task alone: PrepareTask after an agent restart finds it
// again. CleanupTask removes it, in every hierarchy runc made it in, once
// the containers are gone; SweepTaskCgroups removes, at the agent's start,
// the empty ones of tasks that stopped while the agent was down (a
// cgroup with processes cannot be removed: the kernel refuses).
//
// Otherwise (another driver, an Engine elsewhere, no permission) each
// container gets its share of the task's cpu and memory as its own hard
// limits (fargateLimits), and the runtime logs why once.

// cgroupPeriod is the CFS period of a task's CPU quota, in microseconds.
const cgroupPeriod = 100000

// taskCgroups makes, finds and removes the Fargate tasks' cgroups.
type taskCgroups struct {
	r    *Runtime
	root string

	mu      sync.Mutex
	checked bool
	version int // 1 or 2 when usable; 0 when not
}

func newTaskCgroups(r *Runtime) *taskCgroups {
	root := r.cfg.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	return &taskCgroups{r: r, root: root}
}

// usable reports the cgroup version the runtime manages task cgroups on, 0
// when it does not, deciding it on the first call that reaches the Engine.
func (g *taskCgroups) usable(ctx context.Context) int {
	if !g.r.cfg.TaskCgroups {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.checked {
		return g.version
	}
	info, err := g.r.cli.Info(ctx)
	if err != nil {
		return 0 // asked again next time
	}
	g.checked = true
	why := ""
	switch {
	case info.CgroupDriver != "cgroupfs":
		why = fmt.Sprintf("the Docker Engine's cgroup driver is %q, not cgroupfs", info.CgroupDriver)
	case !strings.HasPrefix(g.r.cli.DaemonHost(), "unix://"):
		why = "the Docker Engine is not on this host (" + g.r.cli.DaemonHost() + ")"
	case info.CgroupVersion == "2":
		if b, err := os.ReadFile(filepath.Join(g.root, "cgroup.controllers")); err != nil {
			why = err.Error()
		} else if f := strings.Fields(string(b)); !contains(f, "memory") || !contains(f, "cpu") {
			why = "the cgroup v2 hierarchy lacks the memory or cpu controller"
		} else {
			g.version = 2
		}
	default:
		for _, c := range []string{"memory", "cpu"} {
			if _, err := os.Stat(filepath.Join(g.root, c, "cgroup.procs")); err != nil {
				why = "no cgroup v1 " + c + " hierarchy: " + err.Error()
			}
		}
		if why == "" {
			g.version = 1
		}
	}
	if why != "" {
		g.r.log.Warn("Fargate tasks get per-container limits, not a task cgroup", "reason", why)
	} else {
		g.r.log.Info("Fargate tasks get a task cgroup", "cgroup_version", g.version, "root", g.root)
	}
	return g.version
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// instanceDir is the directory of this agent's task cgroups, relative to a
// hierarchy's root.
func (g *taskCgroups) instanceDir() string {
	id := g.r.cfg.InstanceID
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return filepath.Join("gantry", invalidName.ReplaceAllString(id, ""))
}

// dir is task's cgroup relative to a hierarchy's root.
func (g *taskCgroups) dir(taskArn string) string {
	id := taskArn
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return filepath.Join(g.instanceDir(), invalidName.ReplaceAllString(id, ""))
}

// taskLimits returns a task's cpu (units) and memory (MiB), overrides
// applied.
func taskLimits(task *runtime.Task) (cpu, mem int64, err error) {
	memStr, cpuStr := task.Definition.Memory, task.Definition.Cpu
	if task.Overrides.Memory != "" {
		memStr = task.Overrides.Memory
	}
	if task.Overrides.Cpu != "" {
		cpuStr = task.Overrides.Cpu
	}
	if mem, err = taskres.ParseMemory(memStr); err != nil {
		return 0, 0, fmt.Errorf("task memory: %w", err)
	}
	if cpu, err = taskres.ParseCPU(cpuStr); err != nil {
		return 0, 0, fmt.Errorf("task cpu: %w", err)
	}
	if cpu <= 0 || mem <= 0 {
		return 0, 0, errors.New("the task has no task-level cpu and memory")
	}
	return cpu, mem, nil
}

// ensure makes (or finds, and sets again the limits of) task's cgroup and
// returns it as Docker's CgroupParent: "" when the task gets none.
func (g *taskCgroups) ensure(ctx context.Context, task *runtime.Task) (string, error) {
	if !task.Fargate {
		return "", nil
	}
	v := g.usable(ctx)
	if v == 0 {
		return "", nil
	}
	cpu, mem, err := taskLimits(task)
	if err != nil {
		return "", runtime.NewError(runtime.ResourceInitializationError, false, err)
	}
	memBytes := mem << 20
	quota := max(cpu*cgroupPeriod/1024, 1000)
	rel := g.dir(task.Arn)
	var werr error
	if v == 1 {
		werr = g.makeV1(rel, memBytes, quota)
	} else {
		werr = g.makeV2(rel, memBytes, quota)
	}
	if werr != nil {
		return "", runtime.NewError(runtime.ResourceInitializationError, true, fmt.Errorf("task cgroup: %w", werr))
	}
	return "/" + rel, nil
}

func (g *taskCgroups) makeV1(rel string, memBytes, quota int64) error {
	m := filepath.Join(g.root, "memory", rel)
	if err := os.MkdirAll(m, 0o755); err != nil {
		return err
	}
	// memsw must stay at least the limit: lowering both, the limit first
	// would fail above memsw; raising, memsw first. Writing the limit,
	// memsw, then the limit again covers both.
	memsw := filepath.Join(m, "memory.memsw.limit_in_bytes")
	_, swErr := os.Stat(memsw)
	if err := writeFile(filepath.Join(m, "memory.limit_in_bytes"), memBytes); err != nil && swErr != nil {
		return err
	}
	if swErr == nil {
		if err := writeFile(memsw, memBytes); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(m, "memory.limit_in_bytes"), memBytes); err != nil {
			return err
		}
	}
	c := filepath.Join(g.root, "cpu", rel)
	if err := os.MkdirAll(c, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c, "cpu.cfs_period_us"), cgroupPeriod); err != nil {
		return err
	}
	return writeFile(filepath.Join(c, "cpu.cfs_quota_us"), quota)
}

func (g *taskCgroups) makeV2(rel string, memBytes, quota int64) error {
	// The controllers must be enabled for the children of every ancestor.
	parts := strings.Split(rel, string(filepath.Separator))
	dir := g.root
	for _, p := range parts {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0); err != nil {
			return err
		}
		dir = filepath.Join(dir, p)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "memory.max"), memBytes); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
		if err := writeFile(filepath.Join(dir, "memory.swap.max"), 0); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, cgroupPeriod)), 0)
}

func writeFile(path string, v int64) error {
	return os.WriteFile(path, []byte(strconv.FormatInt(v, 10)), 0)
}

// hierarchies returns the directories of the cgroup hierarchies task
// cgroups may be in: every v1 hierarchy (runc makes a container's parent in
// each), or the v2 root.
func (g *taskCgroups) hierarchies() []string {
	if g.version == 2 {
		return []string{g.root}
	}
	entries, err := os.ReadDir(g.root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() { // symbolic links (cpu -> cpu,cpuacct) name one twice
			out = append(out, filepath.Join(g.root, e.Name()))
		}
	}
	return out
}

// remove removes taskArn's cgroup from every hierarchy. Once the task's
// containers are removed it is empty, but runc may still be removing the
// containers' own cgroups: a busy one is tried again for a while.
func (g *taskCgroups) remove(ctx context.Context, taskArn string) error {
	g.mu.Lock()
	v := g.version
	g.mu.Unlock()
	if v == 0 {
		return nil
	}
	rel := g.dir(taskArn)
	var errs []error
	for _, h := range g.hierarchies() {
		dir := filepath.Join(h, rel)
		for attempt := 0; ; attempt++ {
			err := syscall.Rmdir(dir)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if attempt >= 20 || ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// SweepTaskCgroups removes the empty task cgroups of this agent: those of
// tasks that stopped while it was down. Cgroups with processes stay (the
// kernel refuses to remove them). The agent calls it at start, before its
// tasks are prepared. It does nothing when task cgroups are not in use.
func (r *Runtime) SweepTaskCgroups(ctx context.Context) {
	g := r.cgroups
	if g.usable(ctx) == 0 {
		return
	}
	removed := 0
	for _, h := range g.hierarchies() {
		base := filepath.Join(h, g.instanceDir())
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && syscall.Rmdir(filepath.Join(base, e.Name())) == nil {
				removed++
			}
		}
	}
	if removed > 0 {
		r.log.Info("removed the cgroups of tasks gone", "cgroups", removed)
	}
}
