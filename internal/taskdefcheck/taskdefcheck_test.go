package taskdefcheck

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// members returns the members named by the UnsupportedErrors joined in err.
func members(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			var u *UnsupportedError
			if errors.As(e, &u) {
				out = append(out, u.Member)
			}
		}
	}
	return out
}

func TestTaskDefinition(t *testing.T) {
	c := func(edit func(*ecsapi.ContainerDefinition)) ecsapi.ContainerDefinition {
		d := ecsapi.ContainerDefinition{Name: "app", Image: "app:1"}
		if edit != nil {
			edit(&d)
		}
		return d
	}
	td := func(mode ecsapi.NetworkMode, edit func(*ecsapi.TaskDefinition), defs ...ecsapi.ContainerDefinition) ecsapi.TaskDefinition {
		d := ecsapi.TaskDefinition{Family: "f", NetworkMode: mode, ContainerDefinitions: defs}
		if edit != nil {
			edit(&d)
		}
		return d
	}
	tests := []struct {
		name string
		td   ecsapi.TaskDefinition
		want []string
	}{
		{
			name: "everything the runtime maps",
			td: td("", func(d *ecsapi.TaskDefinition) {
				d.Memory = "1 GB"
				d.Cpu = "1 vCPU"
				d.ExecutionRoleArn = "arn:aws:iam::123456789012:role/exec"
				d.PidMode = "host"
				d.IpcMode = "none"
				d.Volumes = []ecsapi.Volume{
					{Name: "h", Host: &ecsapi.HostVolumeProperties{SourcePath: "/srv"}},
					{Name: "t", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "task"}},
					{Name: "s", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "shared", Autoprovision: ptr(true)}},
					{Name: "e"},
				}
			}, c(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), Name: "http", AppProtocol: "http"}}
				d.Links = []string{"db:database"}
				d.MountPoints = []ecsapi.MountPoint{{SourceVolume: "h", ContainerPath: "/h"}, {SourceVolume: "s", ContainerPath: "/s"}}
				d.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "db"}}
				d.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
				d.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "json-file"}
				d.SystemControls = []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "1"}}
				d.DockerSecurityOptions = []string{"no-new-privileges"}
				d.LinuxParameters = &ecsapi.LinuxParameters{Devices: []ecsapi.Device{{HostPath: "/dev/fuse", Permissions: []ecsapi.DeviceCgroupPermission{"read"}}}}
				d.RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: ptr(false)}
				d.DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}
			}), ecsapi.ContainerDefinition{Name: "db", Image: "db:1"}),
		},
		{
			name: "task-level members the runtime cannot honour",
			td: td("", func(d *ecsapi.TaskDefinition) {
				d.ProxyConfiguration = &ecsapi.ProxyConfiguration{ContainerName: "envoy"}
				d.InferenceAccelerators = []ecsapi.InferenceAccelerator{{}}
				d.EphemeralStorage = &ecsapi.EphemeralStorage{SizeInGiB: 30}
				d.TaskRoleArn = "arn:aws:iam::123456789012:role/task"
				d.EnableFaultInjection = ptr(true)
				d.RuntimePlatform = &ecsapi.RuntimePlatform{OperatingSystemFamily: "WINDOWS_SERVER_2022_CORE"}
				d.PidMode = "task"
				d.IpcMode = "task"
				d.Memory = "much"
			}, c(nil)),
			want: []string{"proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "taskRoleArn",
				"enableFaultInjection", "memory", "runtimePlatform.operatingSystemFamily", "pidMode", "ipcMode"},
		},
		{
			name: "network mode",
			td:   td("nat", nil, c(nil)),
			want: []string{"networkMode"},
		},
		{
			name: "volume types",
			td: td("", func(d *ecsapi.TaskDefinition) {
				d.Volumes = []ecsapi.Volume{
					{Name: "efs", EfsVolumeConfiguration: &ecsapi.EFSVolumeConfiguration{FileSystemId: "fs-1"}},
					{Name: "fsx", FsxWindowsFileServerVolumeConfiguration: &ecsapi.FSxWindowsFileServerVolumeConfiguration{}},
					{Name: "s3", S3filesVolumeConfiguration: &ecsapi.S3FilesVolumeConfiguration{}},
					{Name: "late", ConfiguredAtLaunch: ptr(true)},
					{Name: "both", Host: &ecsapi.HostVolumeProperties{}, DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{}},
					{Name: "auto", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Autoprovision: ptr(true)}},
					{Name: "scope", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "global"}},
					{Name: "rel", Host: &ecsapi.HostVolumeProperties{SourcePath: "data"}},
				}
			}, c(func(d *ecsapi.ContainerDefinition) {
				d.MountPoints = []ecsapi.MountPoint{{SourceVolume: "rel", ContainerPath: "data"}}
			})),
			want: []string{"volumes[0].efsVolumeConfiguration", "volumes[1].fsxWindowsFileServerVolumeConfiguration",
				"volumes[2].s3filesVolumeConfiguration", "volumes[3].configuredAtLaunch", "volumes[4]",
				"volumes[5].dockerVolumeConfiguration.autoprovision", "volumes[6].dockerVolumeConfiguration.scope",
				"volumes[7].host.sourcePath", "containerDefinitions[0].mountPoints[0].containerPath"},
		},
		{
			name: "container members the runtime cannot honour",
			td: td("", nil, c(func(d *ecsapi.ContainerDefinition) {
				d.CredentialSpecs = []string{"credentialspecdomainless:arn"}
				d.EnvironmentFiles = []ecsapi.EnvironmentFile{{Type: "s3", Value: "arn:aws:s3:::b/k.env"}}
				d.FirelensConfiguration = &ecsapi.FirelensConfiguration{Type: "fluentbit"}
				d.RepositoryCredentials = &ecsapi.RepositoryCredentials{CredentialsParameter: "arn"}
				d.ResourceRequirements = []ecsapi.ResourceRequirement{{Type: "GPU", Value: "1"}}
				d.Secrets = []ecsapi.Secret{{Name: "A", ValueFrom: "arn"}}
				d.RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: ptr(true)}
				d.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "awsfirelens", SecretOptions: []ecsapi.Secret{{Name: "k", ValueFrom: "arn"}}}
				d.DockerSecurityOptions = []string{"credentialspec:file://x.json"}
				d.HealthCheck = &ecsapi.HealthCheck{Command: []string{"curl", "localhost"}}
				d.PortMappings = []ecsapi.PortMapping{{ContainerPortRange: "8000-8010"}, {ContainerPort: ptr[int32](70000)}}
			})),
			want: []string{"containerDefinitions[0].credentialSpecs", "containerDefinitions[0].environmentFiles",
				"containerDefinitions[0].firelensConfiguration", "containerDefinitions[0].repositoryCredentials",
				"containerDefinitions[0].resourceRequirements", "containerDefinitions[0].secrets",
				"containerDefinitions[0].restartPolicy", "containerDefinitions[0].logConfiguration.logDriver",
				"containerDefinitions[0].logConfiguration.secretOptions", "containerDefinitions[0].dockerSecurityOptions",
				"containerDefinitions[0].healthCheck.command", "containerDefinitions[0].portMappings[0].containerPortRange",
				"containerDefinitions[0].portMappings[1].containerPort"},
		},
		{
			name: "awsvpc refuses what ECS refuses",
			td: td(modeAWSVPC, nil, c(func(d *ecsapi.ContainerDefinition) {
				d.Hostname = "h"
				d.DnsServers = []string{"1.1.1.1"}
				d.DnsSearchDomains = []string{"x"}
				d.ExtraHosts = []ecsapi.HostEntry{{Hostname: "a", IpAddress: "10.0.0.1"}}
				d.Links = []string{"app"}
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](8080)}}
				d.SystemControls = []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "1"}}
			}), ecsapi.ContainerDefinition{Name: "other", Image: "o", SystemControls: []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "2"}}}),
			want: []string{"containerDefinitions[0].portMappings[0].hostPort", "containerDefinitions[0].links",
				"containerDefinitions[0].hostname", "containerDefinitions[0].dnsServers",
				"containerDefinitions[0].dnsSearchDomains", "containerDefinitions[0].extraHosts",
				"containerDefinitions[1].systemControls"},
		},
		{
			name: "host mode",
			td: td(modeHost, nil, c(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](81)}, {ContainerPort: ptr[int32](90), HostPort: ptr[int32](90)}}
				d.SystemControls = []ecsapi.SystemControl{{Namespace: "net.core.somaxconn", Value: "1"}, {Namespace: "kernel.shmmax", Value: "1"}}
			})),
			want: []string{"containerDefinitions[0].portMappings[0].hostPort", "containerDefinitions[0].systemControls"},
		},
		{
			name: "none mode refuses port mappings",
			td: td(modeNone, nil, c(func(d *ecsapi.ContainerDefinition) {
				d.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80)}}
			})),
			want: []string{"containerDefinitions[0].portMappings[0]"},
		},
		{
			name: "dangling references and missing names",
			td: td("", nil, c(func(d *ecsapi.ContainerDefinition) {
				d.Links = []string{"ghost:g"}
				d.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "ghost"}}
				d.MountPoints = []ecsapi.MountPoint{{SourceVolume: "nope", ContainerPath: "/x"}}
				d.LinuxParameters = &ecsapi.LinuxParameters{MaxSwap: ptr[int32](10), Devices: []ecsapi.Device{{Permissions: []ecsapi.DeviceCgroupPermission{"all"}}}}
			}), ecsapi.ContainerDefinition{}),
			want: []string{"containerDefinitions[0].linuxParameters.maxSwap",
				"containerDefinitions[0].linuxParameters.devices[0].hostPath",
				"containerDefinitions[0].linuxParameters.devices[0].permissions",
				"containerDefinitions[0].links[0]", "containerDefinitions[0].mountPoints[0].sourceVolume",
				"containerDefinitions[0].volumesFrom[0].sourceContainer",
				"containerDefinitions[1].name", "containerDefinitions[1].image"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := TaskDefinition(tc.td)
			got := members(err)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("refused members\n got %q\nwant %q\nerror: %v", got, want, err)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	td := ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "app", Image: "a"}}}
	ok := ecsapi.TaskOverride{Memory: "512", ContainerOverrides: []ecsapi.ContainerOverride{{Name: "app", Command: []string{"x"}, Cpu: ptr[int32](10)}}}
	if err := Overrides(td, ok); err != nil {
		t.Errorf("supported overrides refused: %v", err)
	}
	bad := ecsapi.TaskOverride{
		TaskRoleArn:                   "arn",
		EphemeralStorage:              &ecsapi.EphemeralStorage{SizeInGiB: 21},
		InferenceAcceleratorOverrides: []ecsapi.InferenceAcceleratorOverride{{}},
		Memory:                        "lots",
		ContainerOverrides: []ecsapi.ContainerOverride{
			{Name: "ghost"},
			{Name: "app", EnvironmentFiles: []ecsapi.EnvironmentFile{{Type: "s3", Value: "v"}}, ResourceRequirements: []ecsapi.ResourceRequirement{{Type: "GPU", Value: "1"}}},
		},
	}
	got := members(Overrides(td, bad))
	want := []string{"overrides.taskRoleArn", "overrides.ephemeralStorage", "overrides.inferenceAcceleratorOverrides",
		"overrides.memory", "overrides.containerOverrides[0].name", "overrides.containerOverrides[1].environmentFiles",
		"overrides.containerOverrides[1].resourceRequirements"}
	if !slices.Equal(got, want) {
		t.Errorf("refused members\n got %q\nwant %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMemory(t *testing.T) {
	tests := []struct {
		name   string
		memory string
		ok     bool
	}{
		{"MiB", "512", true},
		{"GiB", "1 GiB", true},
		{"half GB", "0.5 GB", true},
		{"zero", "0", false},
		{"fraction of a MiB", "0.3 GB", false},
		{"words", "lots", false},
	}
	td := ecsapi.TaskDefinition{Family: "f", ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "app", Image: "a"}}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := td
			d.Memory = tc.memory
			if got := members(TaskDefinition(d)); (len(got) == 0) != tc.ok {
				t.Errorf("TaskDefinition(memory %q) refused %q", tc.memory, got)
			}
			if got := members(Overrides(td, ecsapi.TaskOverride{Memory: tc.memory})); (len(got) == 0) != tc.ok {
				t.Errorf("Overrides(memory %q) refused %q", tc.memory, got)
			}
		})
	}
}
