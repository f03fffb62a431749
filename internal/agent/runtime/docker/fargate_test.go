package docker

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestFargateLimitsAddUpToTheTask checks the hard limits of the containers
// of a Fargate task: a container keeps its own cpu and memory, the others
// share the rest of the task's equally, so that the limits add up to the
// task's cpu and memory.
func TestFargateLimitsAddUpToTheTask(t *testing.T) {
	task := &runtime.Task{Fargate: true, Definition: ecsapi.TaskDefinition{Cpu: "1024", Memory: "2048",
		ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "app", Cpu: 512, Memory: ptr[int32](1024)},
			{Name: "sidecar-a"},
			{Name: "sidecar-b", MemoryReservation: ptr[int32](64)},
		}}}
	var mem, nano int64
	for _, def := range task.Definition.ContainerDefinitions {
		m, n, err := fargateLimits(task, def)
		if err != nil {
			t.Fatal(err)
		}
		mem += m
		nano += n
		if def.Name == "app" && (m != 1024*mib || n != 5e8) {
			t.Fatalf("app: memory %d, nano CPUs %d; want its own 1024 MiB and 512 units", m, n)
		}
		if def.Name != "app" && (m != 512*mib || n != 25e7) {
			t.Fatalf("%s: memory %d, nano CPUs %d; want half the rest: 512 MiB and 256 units", def.Name, m, n)
		}
	}
	if mem != 2048*mib || nano != 1e9 {
		t.Fatalf("limits add up to %d bytes and %d nano CPUs; want the task's 2048 MiB and 1 CPU", mem, nano)
	}
	// Overrides of the task's size win.
	task.Overrides = ecsapi.TaskOverride{Cpu: "2048", Memory: "4096"}
	if m, n, err := fargateLimits(task, task.Definition.ContainerDefinitions[1]); err != nil || m != 1536*mib || n != 768*1e9/1024 {
		t.Fatalf("with overrides: %d bytes, %d nano CPUs, %v", m, n, err)
	}
}

// TestFargateContainersInTheTaskCgroup: with a task cgroup, a Fargate
// task's containers run in it, with no CPU quota of their own and their own
// memory (else the task's) as limit: the cgroup holds them to the task's
// size together.
func TestFargateContainersInTheTaskCgroup(t *testing.T) {
	task := &runtime.Task{Fargate: true, Arn: "arn:aws:ecs:us-east-1:123456789012:task/c/0123abcd",
		Definition: ecsapi.TaskDefinition{Cpu: "1024", Memory: "2048", NetworkMode: runtime.NetworkModeAWSVPC,
			ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "app", Cpu: 512, Memory: ptr[int32](1024)}, {Name: "sidecar"}}}}
	res := &runtime.TaskResources{NetworkMode: runtime.NetworkModeAWSVPC, PauseContainerID: "p", CgroupParent: "/gantry/i-1/0123abcd"}
	for _, def := range task.Definition.ContainerDefinitions {
		cc, err := mapContainer(mapInput{Task: task, Def: def, Resources: res})
		if err != nil {
			t.Fatal(err)
		}
		want := int64(2048 * mib)
		if def.Memory != nil {
			want = int64(*def.Memory) * mib
		}
		if hc := cc.HostConfig; hc.CgroupParent != res.CgroupParent || hc.NanoCPUs != 0 || hc.Memory != want {
			t.Errorf("%s: cgroup parent %q, nano CPUs %d, memory %d; want %q, 0, %d", def.Name, hc.CgroupParent, hc.NanoCPUs, hc.Memory, res.CgroupParent, want)
		}
	}
	if got := (&taskCgroups{r: &Runtime{cfg: Config{InstanceID: "arn:aws:ecs:us-east-1:123456789012:container-instance/c/i-1"}}}).dir(task.Arn); got != "gantry/i-1/0123abcd" {
		t.Errorf("task cgroup %q", got)
	}
	if claimedPauseName(task.Arn) != "ecs-internalecspause-0123abcd" {
		t.Errorf("claimed pause name %q", claimedPauseName(task.Arn))
	}
}
