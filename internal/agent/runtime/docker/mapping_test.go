package docker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// mapOne maps the first container of a task of the given network mode.
func mapOne(t *testing.T, mode ecsapi.NetworkMode, def ecsapi.ContainerDefinition, edit ...func(*mapInput)) (createConfig, error) {
	t.Helper()
	in := mapInput{
		Task: &runtime.Task{
			Arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc", Cluster: "c",
			Definition: ecsapi.TaskDefinition{Family: "f", Revision: 2, NetworkMode: mode, ContainerDefinitions: []ecsapi.ContainerDefinition{def}},
		},
		Def:         def,
		Resources:   &runtime.TaskResources{NetworkMode: mode},
		Labels:      map[string]string{LabelInstance: "i-1"},
		StopTimeout: 30 * time.Second,
	}
	for _, e := range edit {
		e(&in)
	}
	return mapContainer(in)
}

func TestMapContainer(t *testing.T) {
	base := ecsapi.ContainerDefinition{Name: "web", Image: "nginx:1"}
	with := func(edit func(*ecsapi.ContainerDefinition)) ecsapi.ContainerDefinition {
		d := base
		edit(&d)
		return d
	}
	tests := []struct {
		name  string
		mode  ecsapi.NetworkMode
		def   ecsapi.ContainerDefinition
		edit  func(*mapInput)
		check func(t *testing.T, c createConfig)
	}{
		{
			name: "defaults",
			def:  base,
			check: func(t *testing.T, c createConfig) {
				eq(t, "image", c.Config.Image, "nginx:1")
				eq(t, "cmd", len(c.Config.Cmd), 0)
				eq(t, "entrypoint", len(c.Config.Entrypoint), 0)
				eq(t, "cpu shares", c.HostConfig.CPUShares, int64(2))
				eq(t, "memory", c.HostConfig.Memory, int64(0))
				eq(t, "network mode", c.HostConfig.NetworkMode, container.NetworkMode("bridge"))
				eq(t, "stop timeout", *c.Config.StopTimeout, 30)
				eq(t, "log driver", c.HostConfig.LogConfig.Type, "json-file")
				eq(t, "healthcheck", c.Config.Healthcheck, (*container.HealthConfig)(nil))
				eq(t, "labels", c.Config.Labels, map[string]string{LabelInstance: "i-1"})
			},
		},
		{
			name: "command entryPoint environment workingDirectory user hostname",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.EntryPoint = []string{"/bin/sh", "-c"}
				d.Command = []string{"echo $A"}
				d.Environment = []ecsapi.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}
				d.WorkingDirectory = "/srv"
				d.User = "nobody:nogroup"
				d.Hostname = "web1"
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "entrypoint", []string(c.Config.Entrypoint), []string{"/bin/sh", "-c"})
				eq(t, "cmd", []string(c.Config.Cmd), []string{"echo $A"})
				eq(t, "env", c.Config.Env, []string{"A=1", "B=x=y"})
				eq(t, "workdir", c.Config.WorkingDir, "/srv")
				eq(t, "user", c.Config.User, "nobody:nogroup")
				eq(t, "hostname", c.Config.Hostname, "web1")
			},
		},
		{
			name: "cpu 1 becomes 2, 512 stays",
			def:  with(func(d *ecsapi.ContainerDefinition) { d.Cpu = 1 }),
			check: func(t *testing.T, c createConfig) {
				eq(t, "cpu shares", c.HostConfig.CPUShares, int64(2))
			},
		},
		{
			name: "cpu 512",
			def:  with(func(d *ecsapi.ContainerDefinition) { d.Cpu = 512 }),
			check: func(t *testing.T, c createConfig) {
				eq(t, "cpu shares", c.HostConfig.CPUShares, int64(512))
			},
		},
		{
			name: "memory and memoryReservation in MiB; tiny memory raised to 4 MiB",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.Memory = ptr[int32](2)
				d.MemoryReservation = ptr[int32](1)
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "memory", c.HostConfig.Memory, int64(4*mib))
				eq(t, "reservation", c.HostConfig.MemoryReservation, int64(1*mib))
			},
		},
		{
			name: "task memory caps a container without its own",
			def:  base,
			edit: func(in *mapInput) { in.Task.Definition.Memory = "0.5 GB" },
			check: func(t *testing.T, c createConfig) {
				eq(t, "memory", c.HostConfig.Memory, int64(512*mib))
			},
		},
		{
			name: "task memory override wins",
			def:  base,
			edit: func(in *mapInput) {
				in.Task.Definition.Memory = "1024"
				in.Task.Overrides.Memory = "256"
			},
			check: func(t *testing.T, c createConfig) {
				eq(t, "memory", c.HostConfig.Memory, int64(256*mib))
			},
		},
		{
			name: "task memory does not cap a container with a reservation",
			def:  with(func(d *ecsapi.ContainerDefinition) { d.MemoryReservation = ptr[int32](128) }),
			edit: func(in *mapInput) { in.Task.Definition.Memory = "1024" },
			check: func(t *testing.T, c createConfig) {
				eq(t, "memory", c.HostConfig.Memory, int64(0))
				eq(t, "reservation", c.HostConfig.MemoryReservation, int64(128*mib))
			},
		},
		{
			name: "health check with ECS defaults",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost || exit 1"}}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "health", *c.Config.Healthcheck, container.HealthConfig{
					Test:     []string{"CMD-SHELL", "curl -f localhost || exit 1"},
					Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
				})
			},
		},
		{
			name: "health check with every member",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "/check"},
					Interval: ptr[int32](10), Timeout: ptr[int32](3), Retries: ptr[int32](5), StartPeriod: ptr[int32](60)}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "health", *c.Config.Healthcheck, container.HealthConfig{
					Test: []string{"CMD", "/check"}, Interval: 10 * time.Second, Timeout: 3 * time.Second,
					Retries: 5, StartPeriod: 60 * time.Second,
				})
			},
		},
		{
			name: "stopTimeout",
			def:  with(func(d *ecsapi.ContainerDefinition) { d.StopTimeout = ptr[int32](90) }),
			check: func(t *testing.T, c createConfig) {
				eq(t, "stop timeout", *c.Config.StopTimeout, 90)
			},
		},
		{
			name: "bridge port mappings: dynamic, fixed, udp",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{
					{ContainerPort: ptr[int32](80)},
					{ContainerPort: ptr[int32](443), HostPort: ptr[int32](8443)},
					{ContainerPort: ptr[int32](53), HostPort: ptr[int32](0), Protocol: "udp"},
				}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "exposed", c.Config.ExposedPorts, nat.PortSet{"80/tcp": {}, "443/tcp": {}, "53/udp": {}})
				eq(t, "bindings", c.HostConfig.PortBindings, nat.PortMap{
					"80/tcp":  {{HostPort: ""}},
					"443/tcp": {{HostPort: "8443"}},
					"53/udp":  {{HostPort: ""}},
				})
			},
		},
		{
			name: "host mode exposes but does not publish",
			mode: runtime.NetworkModeHost,
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080), HostPort: ptr[int32](8080)}}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "network mode", c.HostConfig.NetworkMode, container.NetworkMode("host"))
				eq(t, "exposed", c.Config.ExposedPorts, nat.PortSet{"8080/tcp": {}})
				eq(t, "bindings", len(c.HostConfig.PortBindings), 0)
			},
		},
		{
			name: "none mode",
			mode: runtime.NetworkModeNone,
			def:  base,
			check: func(t *testing.T, c createConfig) {
				eq(t, "network mode", c.HostConfig.NetworkMode, container.NetworkMode("none"))
			},
		},
		{
			name: "awsvpc joins the pause container and publishes nothing",
			mode: runtime.NetworkModeAWSVPC,
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080)}}
				d.SystemControls = []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}, {Namespace: "kernel.msgmax", Value: "65536"}}
			}),
			edit: func(in *mapInput) { in.Resources.PauseContainerID = "pause123" },
			check: func(t *testing.T, c createConfig) {
				eq(t, "network mode", c.HostConfig.NetworkMode, container.NetworkMode("container:pause123"))
				eq(t, "exposed", len(c.Config.ExposedPorts), 0)
				eq(t, "bindings", len(c.HostConfig.PortBindings), 0)
				eq(t, "sysctls (net.* go to the pause container)", c.HostConfig.Sysctls, map[string]string{"kernel.msgmax": "65536"})
			},
		},
		{
			name: "links and volumesFrom use the peers' Docker names and IDs",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.Links = []string{"db:database", "cache"}
				d.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "db", ReadOnly: ptr(true)}, {SourceContainer: "cache"}}
			}),
			edit: func(in *mapInput) {
				in.Peers = map[string]runtime.ContainerRef{
					"db":    {ID: "id-db", RuntimeName: "ecs-f-2-db-1"},
					"cache": {ID: "id-cache", RuntimeName: "ecs-f-2-cache-2"},
				}
			},
			check: func(t *testing.T, c createConfig) {
				eq(t, "links", c.HostConfig.Links, []string{"ecs-f-2-db-1:database", "ecs-f-2-cache-2:cache"})
				eq(t, "volumesFrom", c.HostConfig.VolumesFrom, []string{"id-db:ro", "id-cache"})
			},
		},
		{
			name: "mount points: host path and named volume",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.MountPoints = []ecsapi.MountPoint{
					{SourceVolume: "logs", ContainerPath: "/var/log", ReadOnly: ptr(false)},
					{SourceVolume: "data", ContainerPath: "/data", ReadOnly: ptr(true)},
				}
			}),
			edit: func(in *mapInput) {
				in.Resources.Volumes = map[string]runtime.VolumeSource{
					"logs": {Kind: runtime.VolumeBind, Source: "/srv/logs"},
					"data": {Kind: runtime.VolumeNamed, Source: "ecs-f-2-data-abc", TaskScoped: true},
				}
			},
			check: func(t *testing.T, c createConfig) {
				eq(t, "binds", c.HostConfig.Binds, []string{"/srv/logs:/var/log", "ecs-f-2-data-abc:/data:ro"})
			},
		},
		{
			name: "ulimits, labels, security and the cheap switches",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.Ulimits = []ecsapi.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}}
				d.DockerLabels = map[string]string{"app": "web", LabelInstance: "spoof"}
				d.ReadonlyRootFilesystem = ptr(true)
				d.Privileged = ptr(true)
				d.DockerSecurityOptions = []string{"no-new-privileges", "apparmor:docker-default"}
				d.DisableNetworking = ptr(true)
				d.PseudoTerminal = ptr(true)
				d.Interactive = ptr(true)
				d.SystemControls = []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "ulimits", c.HostConfig.Ulimits, []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}})
				eq(t, "labels", c.Config.Labels, map[string]string{"app": "web", LabelInstance: "i-1"})
				eq(t, "readonly", c.HostConfig.ReadonlyRootfs, true)
				eq(t, "privileged", c.HostConfig.Privileged, true)
				eq(t, "security opts", c.HostConfig.SecurityOpt, []string{"no-new-privileges", "apparmor:docker-default"})
				eq(t, "network disabled", c.Config.NetworkDisabled, true)
				eq(t, "tty", c.Config.Tty, true)
				eq(t, "stdin", c.Config.OpenStdin, true)
				eq(t, "sysctls", c.HostConfig.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
			},
		},
		{
			name: "dns, extra hosts, log configuration",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.DnsServers = []string{"10.0.0.2"}
				d.DnsSearchDomains = []string{"corp.example"}
				d.ExtraHosts = []ecsapi.HostEntry{{Hostname: "db", IpAddress: "10.0.0.9"}}
				d.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "syslog", Options: map[string]string{"tag": "web"}}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "dns", c.HostConfig.DNS, []string{"10.0.0.2"})
				eq(t, "dns search", c.HostConfig.DNSSearch, []string{"corp.example"})
				eq(t, "extra hosts", c.HostConfig.ExtraHosts, []string{"db:10.0.0.9"})
				eq(t, "log", c.HostConfig.LogConfig, container.LogConfig{Type: "syslog", Config: map[string]string{"tag": "web"}})
			},
		},
		{
			name: "awslogs becomes the local driver",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
					"awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}
			}),
			check: func(t *testing.T, c createConfig) {
				eq(t, "log", c.HostConfig.LogConfig, container.LogConfig{Type: "local", Config: map[string]string{"max-size": "20m", "max-file": "5"}})
			},
		},
		{
			name: "linuxParameters",
			def: with(func(d *ecsapi.ContainerDefinition) {
				d.Memory = ptr[int32](256)
				d.LinuxParameters = &ecsapi.LinuxParameters{
					InitProcessEnabled: ptr(true),
					Capabilities:       &ecsapi.KernelCapabilities{Add: []string{"SYS_PTRACE"}, Drop: []string{"NET_RAW"}},
					Devices: []ecsapi.Device{
						{HostPath: "/dev/fuse"},
						{HostPath: "/dev/sda", ContainerPath: "/dev/xvda", Permissions: []ecsapi.DeviceCgroupPermission{"read", "write"}},
					},
					SharedMemorySize: ptr[int32](64),
					Tmpfs:            []ecsapi.Tmpfs{{ContainerPath: "/run", Size: 16, MountOptions: []string{"nosuid", "noexec"}}},
					MaxSwap:          ptr[int32](128),
					Swappiness:       ptr[int32](10),
				}
			}),
			check: func(t *testing.T, c createConfig) {
				hc := c.HostConfig
				eq(t, "init", *hc.Init, true)
				eq(t, "cap add", []string(hc.CapAdd), []string{"SYS_PTRACE"})
				eq(t, "cap drop", []string(hc.CapDrop), []string{"NET_RAW"})
				eq(t, "devices", hc.Devices, []container.DeviceMapping{
					{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
					{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "rw"},
				})
				eq(t, "shm", hc.ShmSize, int64(64*mib))
				eq(t, "tmpfs", hc.Tmpfs, map[string]string{"/run": "size=16m,nosuid,noexec"})
				eq(t, "memory swap", hc.MemorySwap, int64((256+128)*mib))
				eq(t, "swappiness", *hc.MemorySwappiness, int64(10))
			},
		},
		{
			name: "pidMode and ipcMode host",
			def:  base,
			edit: func(in *mapInput) {
				in.Task.Definition.PidMode = "host"
				in.Task.Definition.IpcMode = "host"
			},
			check: func(t *testing.T, c createConfig) {
				eq(t, "pid", c.HostConfig.PidMode, container.PidMode("host"))
				eq(t, "ipc", c.HostConfig.IpcMode, container.IpcMode("host"))
			},
		},
		{
			name: "pidMode and ipcMode task share the pause container's",
			mode: runtime.NetworkModeAWSVPC,
			def:  base,
			edit: func(in *mapInput) {
				in.Task.Definition.PidMode = "task"
				in.Task.Definition.IpcMode = "task"
				in.Resources.PauseContainerID = "p"
			},
			check: func(t *testing.T, c createConfig) {
				eq(t, "pid", c.HostConfig.PidMode, container.PidMode("container:p"))
				eq(t, "ipc", c.HostConfig.IpcMode, container.IpcMode("container:p"))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*mapInput)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			c, err := mapOne(t, tc.mode, tc.def, edits...)
			if err != nil {
				t.Fatalf("mapContainer: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestMapContainerErrors(t *testing.T) {
	tests := []struct {
		name string
		mode ecsapi.NetworkMode
		def  ecsapi.ContainerDefinition
		edit func(*mapInput)
		want string
	}{
		{
			name: "awsvpc without a pause container",
			mode: runtime.NetworkModeAWSVPC,
			def:  ecsapi.ContainerDefinition{Name: "c", Image: "i"},
			want: "PrepareTask must run first",
		},
		{
			name: "link to a container not created yet",
			def:  ecsapi.ContainerDefinition{Name: "c", Image: "i", Links: []string{"db"}},
			want: `link to container "db"`,
		},
		{
			name: "volumesFrom a container not created yet",
			def:  ecsapi.ContainerDefinition{Name: "c", Image: "i", VolumesFrom: []ecsapi.VolumeFrom{{SourceContainer: "db"}}},
			want: `volumesFrom container "db"`,
		},
		{
			name: "mount of a volume not prepared",
			def:  ecsapi.ContainerDefinition{Name: "c", Image: "i", MountPoints: []ecsapi.MountPoint{{SourceVolume: "v", ContainerPath: "/v"}}},
			want: `volume "v"`,
		},
		{
			name: "awslogs without a group",
			def: ecsapi.ContainerDefinition{Name: "c", Image: "i", LogConfiguration: &ecsapi.LogConfiguration{
				LogDriver: "awslogs", Options: map[string]string{"awslogs-region": "us-east-1"}}},
			want: "must specify a value for log opt 'awslogs-group'",
		},
		{
			name: "bad task memory",
			def:  ecsapi.ContainerDefinition{Name: "c", Image: "i"},
			edit: func(in *mapInput) { in.Task.Definition.Memory = "lots" },
			want: `memory "lots"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*mapInput)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			_, err := mapOne(t, tc.mode, tc.def, edits...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRuntimeName(t *testing.T) {
	task := &runtime.Task{Definition: ecsapi.TaskDefinition{Family: "my_app", Revision: 12}}
	a, b := runtimeName(task, "web.server"), runtimeName(task, "web.server")
	if !strings.HasPrefix(a, "ecs-my_app-12-webserver-") || len(a) != len("ecs-my_app-12-webserver-")+20 {
		t.Errorf("name %q", a)
	}
	if a == b {
		t.Errorf("two names are equal: %q", a)
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}
