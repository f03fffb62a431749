package docker

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestContainerStatus(t *testing.T) {
	labels := map[string]string{LabelTaskARN: "arn:task", LabelContainerName: "web"}
	inspect := func(st container.State, hc *container.HostConfig, cfg *container.Config, ports nat.PortMap) container.InspectResponse {
		cfg.Labels = labels
		ns := &container.NetworkSettings{}
		ns.Ports = ports // promoted from NetworkSettingsBase, deprecated by name only
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: "abc", Name: "/ecs-f-1-web-x", Image: "sha256:img", State: &st, HostConfig: hc},
			Config:            cfg,
			NetworkSettings:   ns,
		}
	}
	started := "2026-01-02T03:04:05.123456789Z"
	tests := []struct {
		name string
		in   container.InspectResponse
		want runtime.ContainerStatus
	}{
		{
			name: "created",
			in:   inspect(container.State{Status: "created", StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"}, &container.HostConfig{}, &container.Config{}, nil),
			want: runtime.ContainerStatus{State: runtime.StateCreated, RuntimeState: "created"},
		},
		{
			name: "running bridge with dynamic ports and a starting health check",
			in: inspect(container.State{Status: "running", Running: true, StartedAt: started, Health: &container.Health{Status: container.Starting}},
				&container.HostConfig{NetworkMode: "bridge"}, &container.Config{},
				nat.PortMap{
					"8080/tcp": {{HostIP: "::", HostPort: "49153"}, {HostIP: "0.0.0.0", HostPort: "49153"}},
					"53/udp":   {{HostIP: "0.0.0.0", HostPort: "49154"}},
					"9000/tcp": nil, // exposed, not published
				}),
			want: runtime.ContainerStatus{
				State: runtime.StateRunning, RuntimeState: "running", Health: "UNKNOWN",
				StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
				NetworkBindings: []ecsapi.NetworkBinding{
					{BindIP: "0.0.0.0", ContainerPort: ptr[int32](53), HostPort: ptr[int32](49154), Protocol: "udp"},
					{BindIP: "0.0.0.0", ContainerPort: ptr[int32](8080), HostPort: ptr[int32](49153), Protocol: "tcp"},
					{BindIP: "::", ContainerPort: ptr[int32](8080), HostPort: ptr[int32](49153), Protocol: "tcp"},
				},
			},
		},
		{
			name: "host mode reports exposed ports as bound",
			in: inspect(container.State{Status: "running", Health: &container.Health{Status: container.Healthy}},
				&container.HostConfig{NetworkMode: "host"}, &container.Config{ExposedPorts: nat.PortSet{"8080/tcp": {}}}, nil),
			want: runtime.ContainerStatus{
				State: runtime.StateRunning, RuntimeState: "running", Health: "HEALTHY",
				NetworkBindings: []ecsapi.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: ptr[int32](8080), HostPort: ptr[int32](8080), Protocol: "tcp"}},
			},
		},
		{
			name: "exited, OOM killed, unhealthy",
			in: inspect(container.State{Status: "exited", ExitCode: 137, OOMKilled: true, Error: "boom", FinishedAt: started,
				Health: &container.Health{Status: container.Unhealthy}}, &container.HostConfig{}, &container.Config{}, nil),
			want: runtime.ContainerStatus{
				State: runtime.StateStopped, RuntimeState: "exited", ExitCode: ptr[int32](137), OOMKilled: true, Error: "boom",
				Health: "UNHEALTHY", FinishedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			want.ContainerRef = runtime.ContainerRef{ID: "abc", RuntimeName: "ecs-f-1-web-x"}
			want.TaskArn, want.ContainerName, want.ImageID, want.Labels = "arn:task", "web", "sha256:img", labels
			if tc.in.HostConfig != nil {
				want.NetworkMode = string(tc.in.HostConfig.NetworkMode)
			}
			eq(t, "status", containerStatus(tc.in), want)
		})
	}
}

func TestToEvent(t *testing.T) {
	actor := func(attrs map[string]string) events.Actor {
		attrs[LabelTaskARN] = "arn:task"
		attrs[LabelContainerName] = "web"
		return events.Actor{ID: "abc", Attributes: attrs}
	}
	at := time.Unix(100, 5)
	tests := []struct {
		name string
		msg  events.Message
		want runtime.Event
		ok   bool
	}{
		{"start", events.Message{Action: "start", Actor: actor(map[string]string{}), TimeNano: at.UnixNano()},
			runtime.Event{Type: runtime.EventStart}, true},
		{"die", events.Message{Action: "die", Actor: actor(map[string]string{"exitCode": "3"}), TimeNano: at.UnixNano()},
			runtime.Event{Type: runtime.EventDie, ExitCode: ptr[int32](3)}, true},
		{"oom", events.Message{Action: "oom", Actor: actor(map[string]string{}), TimeNano: at.UnixNano()},
			runtime.Event{Type: runtime.EventOOM}, true},
		{"healthy", events.Message{Action: "health_status: healthy", Actor: actor(map[string]string{}), TimeNano: at.UnixNano()},
			runtime.Event{Type: runtime.EventHealthStatus, Health: "HEALTHY"}, true},
		{"unhealthy", events.Message{Action: "health_status: unhealthy", Actor: actor(map[string]string{}), TimeNano: at.UnixNano()},
			runtime.Event{Type: runtime.EventHealthStatus, Health: "UNHEALTHY"}, true},
		{"ignored", events.Message{Action: "attach", Actor: actor(map[string]string{})}, runtime.Event{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := toEvent(tc.msg)
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			want := tc.want
			want.ContainerID, want.TaskArn, want.ContainerName, want.Time = "abc", "arn:task", "web", at
			eq(t, "event", got, want)
		})
	}
}

func TestAttachmentIDIsAStableUUID(t *testing.T) {
	a, b := attachmentID("arn:1"), attachmentID("arn:1")
	if a != b || a == attachmentID("arn:2") || len(a) != 36 || a[14] != '8' {
		t.Errorf("attachment IDs %q %q", a, b)
	}
}
