package taskengine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// envRuntime records the environment the engine gives each container.
type envRuntime struct {
	*fakeRuntime
	mu  sync.Mutex
	env map[string][]ecsapi.KeyValuePair
}

func (r *envRuntime) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (runtime.ContainerRef, error) {
	r.mu.Lock()
	r.env[spec.Container] = spec.Env
	r.mu.Unlock()
	return r.fakeRuntime.CreateContainer(ctx, spec)
}

// TestMetadataOfRunningTasks: every container gets its endpoint's URIs;
// Lookup finds the task's metadata by a container's endpoint ID while the
// task runs, and no longer once it is cleaned up.
func TestMetadataOfRunningTasks(t *testing.T) {
	rt := &envRuntime{fakeRuntime: newFake(), env: map[string][]ecsapi.KeyValuePair{}}
	rec := &recorder{}
	ep := tmds.NewEndpoints("http://172.17.0.1:51679", []byte("0123456789abcdef0123456789abcdef"))
	e := New(Config{Cluster: "c", Resync: 50 * time.Millisecond, Metadata: ep, AvailabilityZone: "us-east-1b"}, rt, rec)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	mem := int32(64)
	task := assigned("arn:aws:ecs:us-east-1:1:task/c/meta", "RUNNING",
		ecsapi.ContainerDefinition{Name: "web", Image: "img", Memory: &mem, Cpu: 128},
		ecsapi.ContainerDefinition{Name: "side", Image: "img", Essential: new(bool)})
	task.Task.Cpu, task.Task.Memory, task.Task.Group = "256", "512", "service:api"
	task.Task.Containers = []ecsapi.Container{{Name: "web", ContainerArn: "arn:aws:ecs:us-east-1:1:container/c/meta/w"}}
	task.Task.Tags = []ecsapi.Tag{{Key: "team", Value: "a"}}
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rec.statuses()), "RUNNING") })

	id := ep.ID(task.Task.TaskArn, "web")
	rt.mu.Lock()
	env := rt.env["web"]
	rt.mu.Unlock()
	if len(env) != 3 || env[0].Name != "ECS_CONTAINER_METADATA_URI_V4" || env[0].Value != "http://172.17.0.1:51679/v4/"+id {
		t.Fatalf("web's environment %+v", env)
	}
	var got tmds.Entry
	waitFor(t, "metadata of the running task", func() bool {
		var ok bool
		got, ok = e.Lookup(id)
		return ok && got.Task.KnownStatus == "RUNNING"
	})
	tk := got.Task
	if got.Container != "web" || tk.TaskARN != task.Task.TaskArn || tk.Cluster != "c" || tk.Family != "f" || tk.Revision != "1" ||
		tk.DesiredStatus != "RUNNING" || tk.LaunchType != "EC2" || tk.AvailabilityZone != "us-east-1b" || tk.ServiceName != "api" ||
		tk.Limits == nil || *tk.Limits.CPU != 0.25 || *tk.Limits.Memory != 512 || tk.PullStartedAt == nil || got.TaskTags["team"] != "a" {
		t.Fatalf("task metadata %+v", got)
	}
	if len(tk.Containers) != 2 || tk.Containers[0].Name != "web" || *tk.Containers[0].Limits.CPU != 128 || *tk.Containers[0].Limits.Memory != 64 ||
		*tk.Containers[1].Limits.CPU != 2 || tk.Containers[0].ContainerARN != "arn:aws:ecs:us-east-1:1:container/c/meta/w" ||
		tk.Containers[0].KnownStatus != "RUNNING" || tk.Containers[0].DockerID == "" {
		t.Fatalf("containers %+v", tk.Containers)
	}
	if _, ok := e.Lookup(ep.ID(task.Task.TaskArn, "nope")); ok {
		t.Fatal("an unknown container's ID was found")
	}
	task.Task.DesiredStatus = "STOPPED"
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	waitFor(t, "cleaned up", func() bool { _, ok := e.Lookup(id); return !ok })
}

// flakyReporter refuses reports while down is set.
type flakyReporter struct {
	recorder
	down atomic.Bool
}

func (r *flakyReporter) SubmitTaskState(ctx context.Context, req *ecsapi.GantrySubmitTaskStateRequest) error {
	if r.down.Load() {
		return errors.New("control plane unreachable")
	}
	return r.recorder.SubmitTaskState(ctx, req)
}

// TestCleanupWaitsForTheStoppedReport: as the ECS agent does, a stopped
// task's containers are removed only once the control plane has its
// STOPPED state, and only after the cleanup wait (with its jitter).
func TestCleanupWaitsForTheStoppedReport(t *testing.T) {
	rt, rep := newFake(), &flakyReporter{}
	e := New(Config{Cluster: "c", Resync: 50 * time.Millisecond, CleanupDelay: 100 * time.Millisecond, CleanupJitter: 100 * time.Millisecond}, rt, rep)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	task := assigned("arn:t-cleanup", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "img"})
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rep.statuses()), "RUNNING") })
	rep.down.Store(true)
	rt.exit("arn:t-cleanup", "web", 0)
	cleaned := func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return strings.Contains(joined(rt.calls), "cleanup")
	}
	time.Sleep(800 * time.Millisecond) // well past the wait and its jitter
	if cleaned() {
		t.Fatal("the containers were removed before the control plane had the task's STOPPED state")
	}
	rep.down.Store(false)
	waitFor(t, "STOPPED reported", func() bool { return strings.HasSuffix(joined(rep.statuses()), "STOPPED") })
	waitFor(t, "cleanup", cleaned)
}

// volRuntime prepares a bind volume and a named one for every task.
type volRuntime struct{ *fakeRuntime }

func (r volRuntime) PrepareTask(ctx context.Context, t *runtime.Task) (*runtime.TaskResources, error) {
	res, err := r.fakeRuntime.PrepareTask(ctx, t)
	if err != nil {
		return nil, err
	}
	res.Volumes = map[string]runtime.VolumeSource{
		"data":  {Kind: runtime.VolumeBind, Source: "/srv/data"},
		"cache": {Kind: runtime.VolumeNamed, Source: "ecs-f-1-cache-abc", TaskScoped: true},
	}
	return res, nil
}

// TestMetadataVolumes: a container's metadata lists the task volumes it
// mounts, as the ECS agent's Volumes: a bind mount's host path as Source,
// a named volume's name as DockerName, the container path as Destination;
// a container without mount points has none.
func TestMetadataVolumes(t *testing.T) {
	rt := volRuntime{newFake()}
	rec := &recorder{}
	ep := tmds.NewEndpoints("http://172.17.0.1:51679", []byte("0123456789abcdef0123456789abcdef"))
	e := New(Config{Cluster: "c", Resync: 50 * time.Millisecond, Metadata: ep}, rt, rec)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	mem := int32(64)
	task := assigned("arn:aws:ecs:us-east-1:1:task/c/vols", "RUNNING",
		ecsapi.ContainerDefinition{Name: "web", Image: "img", Memory: &mem, MountPoints: []ecsapi.MountPoint{
			{SourceVolume: "data", ContainerPath: "/data"}, {SourceVolume: "cache", ContainerPath: "/cache", ReadOnly: new(true)}}},
		ecsapi.ContainerDefinition{Name: "side", Image: "img", Memory: &mem, Essential: new(bool)})
	e.Sync([]ecsapi.GantryAssignedTask{task}, nil)
	var got tmds.Entry
	waitFor(t, "metadata of the running task", func() bool {
		var ok bool
		got, ok = e.Lookup(ep.ID(task.Task.TaskArn, "web"))
		return ok && got.Task.KnownStatus == "RUNNING"
	})
	want := []tmds.Volume{{Source: "/srv/data", Destination: "/data"}, {DockerName: "ecs-f-1-cache-abc", Destination: "/cache"}}
	cs := got.Task.Containers
	if len(cs) != 2 || len(cs[0].Volumes) != 2 || cs[0].Volumes[0] != want[0] || cs[0].Volumes[1] != want[1] || cs[1].Volumes != nil {
		t.Fatalf("containers' volumes %+v", cs)
	}
}
