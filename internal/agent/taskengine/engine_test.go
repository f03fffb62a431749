package taskengine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeRuntime is an in-memory runtime.Runtime for the engine's unit tests.
type fakeRuntime struct {
	mu     sync.Mutex
	n      int
	cons   map[string]*runtime.ContainerStatus
	events chan runtime.Event
	calls  []string
}

func newFake() *fakeRuntime {
	return &fakeRuntime{cons: map[string]*runtime.ContainerStatus{}, events: make(chan runtime.Event, 100)}
}

func (f *fakeRuntime) record(c string) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *fakeRuntime) PrepareTask(ctx context.Context, t *runtime.Task) (*runtime.TaskResources, error) {
	f.record("prepare")
	return &runtime.TaskResources{NetworkMode: t.NetworkMode()}, nil
}

func (f *fakeRuntime) PullImage(ctx context.Context, image string) error {
	f.record("pull " + image)
	if strings.HasPrefix(image, "missing") {
		return runtime.Errorf(runtime.CannotPullContainerError, false, "pull access denied for %s", image)
	}
	return nil
}

func (f *fakeRuntime) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (runtime.ContainerRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("c%d", f.n)
	f.calls = append(f.calls, "create "+spec.Container)
	f.cons[id] = &runtime.ContainerStatus{ContainerRef: runtime.ContainerRef{ID: id}, TaskArn: spec.Task.Arn, ContainerName: spec.Container, State: runtime.StateCreated}
	return runtime.ContainerRef{ID: id}, nil
}

func (f *fakeRuntime) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	c := f.cons[id]
	c.State = runtime.StateRunning
	f.calls = append(f.calls, "start "+c.ContainerName)
	f.mu.Unlock()
	f.events <- runtime.Event{Type: runtime.EventStart, ContainerID: id, TaskArn: c.TaskArn, ContainerName: c.ContainerName}
	return nil
}

// exit makes container name of task exit with code.
func (f *fakeRuntime) exit(task, name string, code int32) {
	f.mu.Lock()
	var c *runtime.ContainerStatus
	for _, v := range f.cons {
		if v.TaskArn == task && v.ContainerName == name {
			c = v
		}
	}
	c.State = runtime.StateStopped
	c.ExitCode = &code
	f.mu.Unlock()
	f.events <- runtime.Event{Type: runtime.EventDie, ContainerID: c.ID, TaskArn: task, ContainerName: name, ExitCode: &code}
}

func (f *fakeRuntime) StopContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	c := f.cons[id]
	already := c.State == runtime.StateStopped
	if !already {
		c.State = runtime.StateStopped
		code := int32(0)
		c.ExitCode = &code
	}
	f.calls = append(f.calls, "stop "+c.ContainerName)
	f.mu.Unlock()
	return nil
}

func (f *fakeRuntime) InspectContainer(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cons[id]
	if !ok {
		return runtime.ContainerStatus{}, runtime.NewError(runtime.CannotInspectContainerError, false, runtime.ErrNotFound)
	}
	return *c, nil
}

func (f *fakeRuntime) RemoveContainer(ctx context.Context, id string) error { return nil }

func (f *fakeRuntime) ListContainers(ctx context.Context) ([]runtime.ContainerSummary, error) {
	return nil, nil
}

func (f *fakeRuntime) CleanupTask(ctx context.Context, taskArn string) error {
	f.record("cleanup")
	return nil
}

func (f *fakeRuntime) Events(ctx context.Context) <-chan runtime.Event {
	out := make(chan runtime.Event)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// recorder keeps every report, in order.
type recorder struct {
	mu      sync.Mutex
	reports []ecsapi.GantrySubmitTaskStateRequest
}

func (r *recorder) SubmitTaskState(ctx context.Context, req *ecsapi.GantrySubmitTaskStateRequest) error {
	r.mu.Lock()
	r.reports = append(r.reports, *req)
	r.mu.Unlock()
	return nil
}

func (r *recorder) statuses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rep := range r.reports {
		if len(out) == 0 || out[len(out)-1] != rep.Status {
			out = append(out, rep.Status)
		}
	}
	return out
}

func (r *recorder) last() ecsapi.GantrySubmitTaskStateRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reports[len(r.reports)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func assigned(arn string, desired string, containers ...ecsapi.ContainerDefinition) ecsapi.GantryAssignedTask {
	return ecsapi.GantryAssignedTask{
		Task:           ecsapi.Task{TaskArn: arn, LastStatus: "PROVISIONING", DesiredStatus: desired},
		TaskDefinition: ecsapi.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: containers},
	}
}

func start(t *testing.T) (*Engine, *fakeRuntime, *recorder) {
	t.Helper()
	rt, rec := newFake(), &recorder{}
	e := New(Config{Cluster: "c", Resync: 50 * time.Millisecond}, rt, rec)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	return e, rt, rec
}

func joined(s []string) string { return strings.Join(s, " ") }

func TestLifecycleIsReportedInOrder(t *testing.T) {
	e, _, rec := start(t)
	task := assigned("arn:t1", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "img"})
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rec.statuses()), "RUNNING") })
	task.Task.DesiredStatus = "STOPPED"
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	waitFor(t, "STOPPED", func() bool { return strings.HasSuffix(joined(rec.statuses()), "STOPPED") })
	want := "PENDING ACTIVATING RUNNING DEACTIVATING STOPPING DEPROVISIONING STOPPED"
	if got := joined(rec.statuses()); got != want {
		t.Fatalf("statuses %q, want %q", got, want)
	}
	if c := rec.last().Containers[0]; c.Status != "STOPPED" || c.ExitCode == nil {
		t.Fatalf("last report %+v", rec.last())
	}
}

func TestEssentialExitStopsTheTask(t *testing.T) {
	e, rt, rec := start(t)
	e.Sync([]ecsapi.GantryAssignedTask{assigned("arn:t2", "RUNNING",
		ecsapi.ContainerDefinition{Name: "main", Image: "img"},
		ecsapi.ContainerDefinition{Name: "side", Image: "img", Essential: new(bool)})}, nil)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rec.statuses()), "RUNNING") })
	rt.exit("arn:t2", "side", 1) // non-essential: the task keeps running
	time.Sleep(100 * time.Millisecond)
	if s := rec.statuses(); s[len(s)-1] != "RUNNING" {
		t.Fatalf("a non-essential exit stopped the task: %v", s)
	}
	rt.exit("arn:t2", "main", 3)
	waitFor(t, "STOPPED", func() bool { return strings.HasSuffix(joined(rec.statuses()), "STOPPED") })
	last := rec.last()
	if last.Reason != essentialExitReason || last.StopCode != "EssentialContainerExited" {
		t.Fatalf("reason %q stop code %q", last.Reason, last.StopCode)
	}
	codes := map[string]int32{}
	for _, c := range last.Containers {
		codes[c.ContainerName] = *c.ExitCode
	}
	if codes["main"] != 3 || codes["side"] != 1 {
		t.Fatalf("exit codes %v", codes)
	}
}

func TestPullFailureFailsToStart(t *testing.T) {
	e, _, rec := start(t)
	e.Sync([]ecsapi.GantryAssignedTask{assigned("arn:t3", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "missing:1"})}, nil)
	waitFor(t, "STOPPED", func() bool { return strings.HasSuffix(joined(rec.statuses()), "STOPPED") })
	last := rec.last()
	if last.StopCode != "TaskFailedToStart" || !strings.HasPrefix(last.Reason, "CannotPullContainerError") ||
		!strings.HasPrefix(last.Containers[0].Reason, "CannotPullContainerError") {
		t.Fatalf("last report %+v", last)
	}
	if strings.Contains(joined(rec.statuses()), "RUNNING") {
		t.Fatalf("a task that never started reported RUNNING: %v", rec.statuses())
	}
}

func TestDependsOnStartsInOrder(t *testing.T) {
	e, rt, rec := start(t)
	succ := ecsapi.ContainerDependency{ContainerName: "init", Condition: "SUCCESS"}
	e.Sync([]ecsapi.GantryAssignedTask{assigned("arn:t4", "RUNNING",
		ecsapi.ContainerDefinition{Name: "web", Image: "img", DependsOn: []ecsapi.ContainerDependency{succ}},
		ecsapi.ContainerDefinition{Name: "init", Image: "img", Essential: new(bool)})}, nil)
	waitFor(t, "init started", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return strings.Contains(joined(rt.calls), "start init")
	})
	time.Sleep(100 * time.Millisecond)
	rt.mu.Lock()
	early := strings.Contains(joined(rt.calls), "start web")
	rt.mu.Unlock()
	if early {
		t.Fatal("web started before init completed")
	}
	rt.exit("arn:t4", "init", 0)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rec.statuses()), "RUNNING") })
}

// A task that leaves the control plane's list while the agent runs (STOPPED
// there, or assigned elsewhere) is stopped at once, not at the next start.
func TestTaskNoLongerListedIsStopped(t *testing.T) {
	e, rt, rec := start(t)
	task := assigned("arn:gone", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "img"})
	other := assigned("arn:stays", "RUNNING", ecsapi.ContainerDefinition{Name: "api", Image: "img"})
	e.Sync([]ecsapi.GantryAssignedTask{task, other}, []string{"arn:gone", "arn:stays"})
	waitFor(t, "RUNNING", func() bool { return strings.Count(joined(rec.statuses()), "RUNNING") == 2 })
	e.Sync(nil, []string{"arn:stays"})
	waitFor(t, "stopped", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return strings.Contains(strings.Join(rt.calls, ","), "stop web")
	})
	time.Sleep(200 * time.Millisecond)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if strings.Contains(strings.Join(rt.calls, ","), "stop api") {
		t.Fatalf("the task still listed was stopped: %v", rt.calls)
	}
}

func TestStopLevels(t *testing.T) {
	def := func(name string, deps ...string) *cstate {
		d := ecsapi.ContainerDefinition{Name: name}
		for _, dp := range deps {
			d.DependsOn = append(d.DependsOn, ecsapi.ContainerDependency{ContainerName: dp})
		}
		return &cstate{def: d}
	}
	cons := map[string]*cstate{"db": def("db"), "cache": def("cache"), "app": def("app", "db", "cache"), "proxy": def("proxy", "app"), "side": def("side")}
	cons["logs"] = &cstate{def: ecsapi.ContainerDefinition{Name: "logs", VolumesFrom: []ecsapi.VolumeFrom{{SourceContainer: "db"}}}}
	order := creationOrder([]ecsapi.ContainerDefinition{cons["proxy"].def, cons["app"].def, cons["db"].def, cons["cache"].def, cons["side"].def, cons["logs"].def})
	levels := stopLevels(order, cons)
	at := map[string]int{}
	for i, l := range levels {
		for _, n := range l {
			at[n] = i
		}
	}
	if len(at) != 6 {
		t.Fatalf("levels %v", levels)
	}
	for _, pair := range [][2]string{{"proxy", "app"}, {"app", "db"}, {"app", "cache"}, {"logs", "db"}} {
		if at[pair[0]] >= at[pair[1]] {
			t.Fatalf("%s must stop before %s: levels %v", pair[0], pair[1], levels)
		}
	}
	if at["side"] != 0 || at["proxy"] != 0 {
		t.Fatalf("containers nothing depends on stop first: levels %v", levels)
	}
}
