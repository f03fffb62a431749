package docker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestBridgeDynamicHostPort(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	events := h.rt.Events(ctx)
	web := h.container("web")
	web.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080)}}
	web.Environment = []ecsapi.KeyValuePair{{Name: "GREETING", Value: "from-definition"}, {Name: "KEEP", Value: "1"}}
	web.WorkingDirectory = "/tmp"
	task := h.task("bridge-web", "", web)
	task.Overrides.ContainerOverrides = []ecsapi.ContainerOverride{{
		Name: "web", Environment: []ecsapi.KeyValuePair{{Name: "GREETING", Value: "from-override"}},
	}}
	_, refs := h.run(ctx, task)
	ref := refs["web"]

	if !strings.HasPrefix(ref.RuntimeName, "ecs-bridge-web-1-web-") || len(ref.RuntimeName) != len("ecs-bridge-web-1-web-")+20 {
		t.Errorf("container name %q, want ecs-bridge-web-1-web-<20 hex digits>", ref.RuntimeName)
	}
	ev := waitEvent(t, events, 10*time.Second, func(e runtime.Event) bool { return e.Type == runtime.EventStart })
	if ev.ContainerID != ref.ID || ev.TaskArn != task.Arn || ev.ContainerName != "web" {
		t.Errorf("start event %+v", ev)
	}

	st, err := h.rt.InspectContainer(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateRunning || st.StartedAt.IsZero() || st.ExitCode != nil || st.TaskArn != task.Arn || st.ContainerName != "web" {
		t.Errorf("status %+v", st)
	}
	var port int32
	for _, b := range st.NetworkBindings {
		if *b.ContainerPort != 8080 || b.Protocol != "tcp" || *b.HostPort <= 0 {
			t.Errorf("binding %+v", b)
		}
		if b.BindIP == "0.0.0.0" {
			port = *b.HostPort
		}
	}
	if port == 0 {
		t.Fatalf("no IPv4 binding in %+v", st.NetworkBindings)
	}
	var info serverInfo
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second, &info)
	if info.Env["GREETING"] != "from-override" || info.Env["KEEP"] != "1" || info.Cwd != "/tmp" {
		t.Errorf("server sees env %v, cwd %s", info.Env, info.Cwd)
	}
}

func TestEssentialExitCodeIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	events := h.rt.Events(ctx)
	task := h.task("exit", runtime.NetworkModeNone, h.container("job", "sleep", "200ms", "3"))
	_, refs := h.run(ctx, task)

	ev := waitEvent(t, events, 10*time.Second, func(e runtime.Event) bool { return e.Type == runtime.EventDie })
	if ev.ContainerID != refs["job"].ID || ev.ExitCode == nil || *ev.ExitCode != 3 {
		t.Errorf("die event %+v", ev)
	}
	st := h.waitStopped(ctx, refs["job"].ID, 10*time.Second)
	if st.ExitCode == nil || *st.ExitCode != 3 || st.FinishedAt.Before(st.StartedAt) || st.OOMKilled {
		t.Errorf("status %+v", st)
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	events := h.rt.Events(ctx)
	check := func(c ecsapi.ContainerDefinition) ecsapi.ContainerDefinition {
		c.HealthCheck = &ecsapi.HealthCheck{
			Command:  []string{"CMD", "/app", "check", "http://127.0.0.1:8080/health"},
			Interval: ptr[int32](1), Timeout: ptr[int32](2), Retries: ptr[int32](1),
		}
		return c
	}
	good := check(h.container("good"))
	bad := check(h.container("bad"))
	bad.Environment = []ecsapi.KeyValuePair{{Name: "UNHEALTHY", Value: "1"}}
	_, refs := h.run(ctx, h.task("health", "", good, bad))

	want := map[string]ecsapi.HealthStatus{"good": "HEALTHY", "bad": "UNHEALTHY"}
	seen := map[string]ecsapi.HealthStatus{}
	for len(seen) < 2 {
		ev := waitEvent(t, events, 15*time.Second, func(e runtime.Event) bool { return e.Type == runtime.EventHealthStatus })
		seen[ev.ContainerName] = ev.Health
	}
	for name, status := range want {
		if seen[name] != status {
			t.Errorf("%s: health event %q, want %q", name, seen[name], status)
		}
		st, err := h.rt.InspectContainer(ctx, refs[name].ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Health != status {
			t.Errorf("%s: inspect health %q, want %q", name, st.Health, status)
		}
	}
}

func TestStopUsesStopTimeoutBeforeSIGKILL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	stubborn := h.container("stubborn")
	stubborn.Environment = []ecsapi.KeyValuePair{{Name: "IGNORE_SIGTERM", Value: "1"}}
	stubborn.StopTimeout = ptr[int32](1)
	polite := h.container("polite")
	polite.StopTimeout = ptr[int32](20)
	polite.Environment = []ecsapi.KeyValuePair{{Name: "PORT", Value: "8081"}}
	_, refs := h.run(ctx, h.task("stop", "", stubborn, polite))
	time.Sleep(300 * time.Millisecond) // let the servers install their signal handling

	start := time.Now()
	if err := h.rt.StopContainer(ctx, refs["stubborn"].ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, err := h.rt.InspectContainer(ctx, refs["stubborn"].ID)
	if err != nil {
		t.Fatal(err)
	}
	if took < time.Second || took > 8*time.Second || st.ExitCode == nil || *st.ExitCode != 137 {
		t.Errorf("stubborn: stop took %v, exit code %v; want ~1s and 137 (SIGKILL)", took, deref(st.ExitCode))
	}

	start = time.Now()
	if err := h.rt.StopContainer(ctx, refs["polite"].ID); err != nil {
		t.Fatal(err)
	}
	took = time.Since(start)
	if st, err = h.rt.InspectContainer(ctx, refs["polite"].ID); err != nil {
		t.Fatal(err)
	}
	if took > 5*time.Second || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Errorf("polite: stop took %v, exit code %v; want quick and 0 (SIGTERM handled)", took, deref(st.ExitCode))
	}
	if err := h.rt.StopContainer(ctx, refs["polite"].ID); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
}

func TestPullImage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	// No registry is reachable: success proves the local image was not pulled.
	if err := h.rt.PullImage(ctx, h.image); err != nil {
		t.Errorf("local image: %v", err)
	}
	err := h.rt.PullImage(ctx, "127.0.0.1:1/gantry/missing:1")
	var rerr *runtime.Error
	if !errors.As(err, &rerr) || rerr.Name != runtime.CannotPullContainerError {
		t.Fatalf("missing image: %v, want a CannotPullContainerError", err)
	}
	if !strings.HasPrefix(err.Error(), "CannotPullContainerError: ") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("message %q does not carry Docker's", err)
	}
	t.Logf("pull error: %v (retryable %v)", err, rerr.Retryable)
}

func TestCreateWithoutImageFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	task := h.task("noimage", "", ecsapi.ContainerDefinition{Name: "c", Image: "gantry-test/never-built:1"})
	res, err := h.rt.PrepareTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.rt.CreateContainer(ctx, runtime.CreateSpec{Task: task, Container: "c", Resources: res})
	if runtime.ErrorName(err) != runtime.CannotCreateContainerError || runtime.IsRetryable(err) || !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create without image: %v", err)
	}
	_, err = h.rt.InspectContainer(ctx, "no-such-container-"+h.instance)
	if runtime.ErrorName(err) != runtime.CannotInspectContainerError || !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect of unknown container: %v", err)
	}
	if err := h.rt.RemoveContainer(ctx, "no-such-container-"+h.instance); err != nil {
		t.Errorf("remove of unknown container: %v", err)
	}
}

func TestOutOfMemoryIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	events := h.rt.Events(ctx)
	hog := h.container("hog", "alloc", "64")
	hog.Memory = ptr[int32](16)
	_, refs := h.run(ctx, h.task("oom", runtime.NetworkModeNone, hog))
	waitEvent(t, events, 20*time.Second, func(e runtime.Event) bool { return e.Type == runtime.EventOOM })
	st := h.waitStopped(ctx, refs["hog"].ID, 10*time.Second)
	if !st.OOMKilled || st.ExitCode == nil || *st.ExitCode != 137 {
		t.Errorf("status %+v", st)
	}
}

func TestListOnlyThisInstance(t *testing.T) {
	t.Parallel()
	a, b := newHarness(t), newHarness(t)
	ctx := t.Context()
	taskA := a.task("list", runtime.NetworkModeNone, a.container("one", "sleep", "1m"), a.container("two", "sleep", "1m"))
	taskB := b.task("list", runtime.NetworkModeNone, b.container("other", "sleep", "1m"))
	_, refsA := a.run(ctx, taskA)
	b.run(ctx, taskB)

	list, err := a.rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]runtime.ContainerSummary{}
	for _, c := range list {
		got[c.ContainerName] = c
	}
	if len(got) != 2 || got["one"].ID != refsA["one"].ID || got["two"].ID != refsA["two"].ID {
		t.Fatalf("instance A lists %+v", list)
	}
	one := got["one"]
	if one.TaskArn != taskA.Arn || one.Cluster != "it" || one.Family != "list" || one.Revision != "1" ||
		one.State != runtime.StateRunning || one.RuntimeName != refsA["one"].RuntimeName || one.Pause {
		t.Errorf("summary %+v", one)
	}

	if err := a.rt.CleanupTask(ctx, taskA.Arn); err != nil {
		t.Fatal(err)
	}
	if list, err = a.rt.ListContainers(ctx); err != nil || len(list) != 0 {
		t.Errorf("after cleanup A lists %+v, %v", list, err)
	}
	if list, err = b.rt.ListContainers(ctx); err != nil || len(list) != 1 {
		t.Errorf("after A's cleanup B lists %+v, %v", list, err)
	}
}

func TestVolumesLinksAndVolumesFrom(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writer := h.container("writer", "write", "/data/note", "written by writer")
	writer.MountPoints = []ecsapi.MountPoint{{SourceVolume: "scratch", ContainerPath: "/data"}}
	server := h.container("server")
	server.MountPoints = []ecsapi.MountPoint{
		{SourceVolume: "hostdir", ContainerPath: "/host", ReadOnly: ptr(true)},
	}
	server.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "writer", ReadOnly: ptr(true)}}
	server.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080)}}
	client := h.container("client", "check", "http://backend:8080/health")
	client.Links = []string{"server:backend"}
	task := h.task("volumes", "", writer, server, client)
	task.Definition.Volumes = []ecsapi.Volume{
		{Name: "scratch", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "task", Driver: "local"}},
		{Name: "hostdir", Host: &ecsapi.HostVolumeProperties{SourcePath: hostDir}},
	}

	res, err := h.rt.PrepareTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	scratch := res.Volumes["scratch"]
	if scratch.Kind != runtime.VolumeNamed || !scratch.TaskScoped || !strings.HasPrefix(scratch.Source, "ecs-volumes-1-scratch-") {
		t.Errorf("scratch volume %+v", scratch)
	}
	again, err := h.rt.PrepareTask(ctx, task)
	if err != nil || again.Volumes["scratch"] != scratch {
		t.Errorf("PrepareTask again: %+v, %v; want the same volume", again, err)
	}
	_, refs := h.run(ctx, task)
	if st := h.waitStopped(ctx, refs["writer"].ID, 10*time.Second); *st.ExitCode != 0 {
		t.Fatalf("writer exited with %d", *st.ExitCode)
	}
	if st := h.waitStopped(ctx, refs["client"].ID, 10*time.Second); *st.ExitCode != 0 {
		t.Errorf("client reaching server through the link exited with %d", *st.ExitCode)
	}
	st, err := h.rt.InspectContainer(ctx, refs["server"].ID)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", *st.NetworkBindings[0].HostPort)
	if got := getJSON(t, base+"/file?path=/data/note", 10*time.Second, nil); got != "written by writer" {
		t.Errorf("volumesFrom: %q", got)
	}
	if got := getJSON(t, base+"/file?path=/host/greeting", 10*time.Second, nil); got != "hello from the host" {
		t.Errorf("host volume: %q", got)
	}

	if err := h.rt.CleanupTask(ctx, task.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.VolumeInspect(ctx, scratch.Source); err == nil {
		t.Errorf("task volume %s survived CleanupTask", scratch.Source)
	}
}

func TestCreateMapsDefinitionOntoDocker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	c := h.container("full")
	c.Cpu = 256
	c.Memory = ptr[int32](64)
	c.MemoryReservation = ptr[int32](32)
	c.Hostname = "fullhost"
	c.User = "1000"
	c.DockerLabels = map[string]string{"team": "gantry", LabelInstance: "spoofed"}
	c.Ulimits = []ecsapi.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 2048}}
	c.ExtraHosts = []ecsapi.HostEntry{{Hostname: "db.local", IpAddress: "10.1.2.3"}}
	c.DnsServers = []string{"1.1.1.1"}
	c.DnsSearchDomains = []string{"example.internal"}
	c.ReadonlyRootFilesystem = ptr(true)
	c.DockerSecurityOptions = []string{"no-new-privileges"}
	c.SystemControls = []ecsapi.SystemControl{{Namespace: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	c.LinuxParameters = &ecsapi.LinuxParameters{
		InitProcessEnabled: ptr(true),
		Capabilities:       &ecsapi.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		SharedMemorySize:   ptr[int32](16),
		Tmpfs:              []ecsapi.Tmpfs{{ContainerPath: "/scratch", Size: 8, MountOptions: []string{"noexec"}}},
	}
	c.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "/app", "check", "http://127.0.0.1:8080/health"}}
	c.StopTimeout = ptr[int32](7)
	_, refs := h.run(ctx, h.task("full", "", c))

	in, err := h.cli.ContainerInspect(ctx, refs["full"].ID)
	if err != nil {
		t.Fatal(err)
	}
	hc, cfg := in.HostConfig, in.Config
	checks := []struct {
		what      string
		got, want any
	}{
		{"cpu shares", hc.CPUShares, int64(256)},
		{"memory", hc.Memory, int64(64 * mib)},
		{"memory reservation", hc.MemoryReservation, int64(32 * mib)},
		{"hostname", cfg.Hostname, "fullhost"},
		{"user", cfg.User, "1000"},
		{"docker label", cfg.Labels["team"], "gantry"},
		{"instance label wins", cfg.Labels[LabelInstance], h.instance},
		{"ulimits", fmt.Sprint(*hc.Ulimits[0]), "{nofile 2048 1024}"},
		{"extra hosts", fmt.Sprint(hc.ExtraHosts), "[db.local:10.1.2.3]"},
		{"dns", fmt.Sprint(hc.DNS, hc.DNSSearch), "[1.1.1.1] [example.internal]"},
		{"read-only rootfs", hc.ReadonlyRootfs, true},
		{"security opts", fmt.Sprint(hc.SecurityOpt), "[no-new-privileges]"},
		{"sysctls", hc.Sysctls["net.ipv4.ip_unprivileged_port_start"], "0"},
		{"init", hc.Init != nil && *hc.Init, true},
		{"caps", fmt.Sprint(hc.CapAdd, hc.CapDrop), "[CAP_NET_ADMIN] [CAP_MKNOD]"}, // Docker normalises the names
		{"shm", hc.ShmSize, int64(16 * mib)},
		{"tmpfs", hc.Tmpfs["/scratch"], "size=8m,noexec"},
		{"health interval", cfg.Healthcheck.Interval, 30 * time.Second},
		{"health timeout", cfg.Healthcheck.Timeout, 5 * time.Second},
		{"health retries", cfg.Healthcheck.Retries, 3},
		{"stop timeout", *cfg.StopTimeout, 7},
		{"log driver", hc.LogConfig.Type, "json-file"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	st, err := h.rt.InspectContainer(ctx, refs["full"].ID)
	if err != nil || st.State != runtime.StateRunning {
		t.Errorf("the container does not run: %+v, %v", st, err)
	}
}

func TestUnsupportedMemberIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.container("c")
	c.Secrets = []ecsapi.Secret{{Name: "PASSWORD", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/pw"}}
	task := h.task("unsupported", "", c)
	_, err := h.rt.PrepareTask(t.Context(), task)
	if runtime.ErrorName(err) != runtime.UnsupportedTaskDefinitionError || !strings.Contains(err.Error(), "containerDefinitions[0].secrets") {
		t.Errorf("PrepareTask: %v", err)
	}
	_, err = h.rt.CreateContainer(t.Context(), runtime.CreateSpec{Task: task, Container: "c", Resources: &runtime.TaskResources{}})
	if runtime.ErrorName(err) != runtime.UnsupportedTaskDefinitionError {
		t.Errorf("CreateContainer: %v", err)
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}
