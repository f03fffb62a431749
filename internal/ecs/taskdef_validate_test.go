package ecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func tdPtr[T any](v T) *T { return &v }

// tdRequest is a minimal valid registration, changed by change.
func tdRequest(change func(*ecsapi.RegisterTaskDefinitionRequest)) *ecsapi.RegisterTaskDefinitionRequest {
	in := &ecsapi.RegisterTaskDefinitionRequest{
		Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: "nginx:1.27", Memory: tdPtr[int32](128),
		}},
	}
	if change != nil {
		change(in)
	}
	return in
}

// tdFargate makes in a valid Fargate registration.
func tdFargate(in *ecsapi.RegisterTaskDefinitionRequest) {
	in.RequiresCompatibilities = []ecsapi.Compatibility{"FARGATE"}
	in.NetworkMode = "awsvpc"
	in.Cpu, in.Memory = "256", "512"
	in.ContainerDefinitions[0].Memory = nil
}

func TestTaskSizeParsing(t *testing.T) {
	tests := []struct {
		name, cpu, mem   string
		wantCPU, wantMem string
		wantErr          string
	}{
		{name: "integers", cpu: "1024", mem: "2048", wantCPU: "1024", wantMem: "2048"},
		{name: "vCPU and GB", cpu: "1 vCPU", mem: "2 GB", wantCPU: "1024", wantMem: "2048"},
		{name: "lower case, no space", cpu: "2vcpu", mem: "4gb", wantCPU: "2048", wantMem: "4096"},
		{name: "fractions", cpu: ".25 vCPU", mem: "0.5GB", wantCPU: "256", wantMem: "512"},
		{name: "MiB and GiB", cpu: "512", mem: "512 MiB", wantCPU: "512", wantMem: "512"},
		{name: "GiB", cpu: "4 vcpus", mem: "8 GiB", wantCPU: "4096", wantMem: "8192"},
		{name: "absent", wantCPU: "", wantMem: ""},
		{name: "cpu word", cpu: "fast", wantErr: "Invalid 'cpu' setting for task."},
		{name: "cpu below minimum", cpu: "64", wantErr: "Invalid 'cpu' setting for task."},
		{name: "cpu above maximum", cpu: "200 vCPU", wantErr: "Invalid 'cpu' setting for task."},
		{name: "cpu not whole units", cpu: "0.3333 vCPU", wantErr: "Invalid 'cpu' setting for task."},
		{name: "memory in TB", cpu: "1024", mem: "1 TB", wantErr: "Invalid 'memory' setting for task."},
		{name: "negative memory", mem: "-5", wantErr: "Invalid 'memory' setting for task."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td, err := buildTaskDefinition(tdRequest(func(in *ecsapi.RegisterTaskDefinitionRequest) { in.Cpu, in.Memory = tt.cpu, tt.mem }))
			if tt.wantErr != "" {
				if e, ok := apierror.As(err); !ok || e.Code != apierror.CodeClient || e.Message != tt.wantErr {
					t.Fatalf("got %v, want ClientException %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if td.Cpu != tt.wantCPU || td.Memory != tt.wantMem {
				t.Fatalf("cpu %q memory %q, want %q %q", td.Cpu, td.Memory, tt.wantCPU, tt.wantMem)
			}
		})
	}
}

func TestFargateMemoryOK(t *testing.T) {
	tests := []struct {
		cpu, mem int64
		ok       bool
	}{
		{256, 512, true}, {256, 2048, true}, {256, 3072, false}, {256, 768, false},
		{512, 1024, true}, {512, 4096, true}, {512, 512, false},
		{1024, 2048, true}, {1024, 8192, true}, {1024, 9216, false},
		{2048, 4096, true}, {2048, 16384, true}, {2048, 4608, false},
		{4096, 30720, true}, {4096, 31744, false},
		{8192, 16384, true}, {8192, 20480, true}, {8192, 17408, false}, {8192, 65536, false},
		{16384, 32768, true}, {16384, 122880, true}, {16384, 36864, false},
		{128, 512, false}, {3072, 8192, false},
	}
	for _, tt := range tests {
		if got := fargateMemoryOK(tt.cpu, tt.mem); got != tt.ok {
			t.Errorf("fargateMemoryOK(%d, %d) = %v, want %v", tt.cpu, tt.mem, got, tt.ok)
		}
	}
}

func TestBuildTaskDefinitionRules(t *testing.T) {
	type change = func(*ecsapi.RegisterTaskDefinitionRequest)
	second := func(in *ecsapi.RegisterTaskDefinitionRequest, c ecsapi.ContainerDefinition) {
		in.ContainerDefinitions = append(in.ContainerDefinitions, c)
	}
	tests := []struct {
		name   string
		change change
		code   string // "" for a valid registration
		msg    string
	}{
		{name: "minimal", change: nil},
		{name: "family pattern", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { in.Family = "web/1" },
			code: apierror.CodeClient, msg: "Family contains invalid characters."},
		{name: "family of 255", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { in.Family = strings.Repeat("a", 255) }},
		{name: "task memory instead of container memory", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.Memory = "512"
			in.ContainerDefinitions[0].Memory = nil
		}},
		{name: "memoryReservation alone", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Memory = nil
			in.ContainerDefinitions[0].MemoryReservation = tdPtr[int32](64)
		}},
		{name: "reservation above limit", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].MemoryReservation = tdPtr[int32](256)
		}, code: apierror.CodeClient, msg: "'memoryReservation' cannot be greater than 'memory'"},
		{name: "container memory above task memory", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { in.Memory = "64" },
			code: apierror.CodeClient, msg: "cannot be greater than the task 'memory'"},
		{name: "fargate", change: tdFargate},
		{name: "fargate with EC2", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			tdFargate(in)
			in.RequiresCompatibilities = append(in.RequiresCompatibilities, "EC2")
		}},
		{name: "fargate without memory", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { tdFargate(in); in.Memory = "" },
			code: apierror.CodeClient, msg: "Fargate requires that 'memory' be defined at the task level."},
		{name: "fargate ipcMode", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { tdFargate(in); in.IpcMode = "task" },
			code: apierror.CodeClient, msg: "Tasks using the Fargate launch type do not support ipcMode."},
		{name: "fargate awslogs without execution role", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			tdFargate(in)
			in.ContainerDefinitions[0].LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "awslogs",
				Options: map[string]string{"awslogs-group": "g", "awslogs-region": "us-east-1"}}
		}, code: apierror.CodeClient, msg: "Fargate requires task definition to have execution role ARN to support log driver awslogs."},
		{name: "external awsvpc", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.RequiresCompatibilities = []ecsapi.Compatibility{"EXTERNAL"}
			in.NetworkMode = "awsvpc"
		}, code: apierror.CodeClient, msg: "EXTERNAL"},
		{name: "unknown compatibility", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.RequiresCompatibilities = []ecsapi.Compatibility{"MOON"}
		}, code: apierror.CodeInvalidParameter, msg: "requiresCompatibilities.1.member"},
		{name: "unknown protocol", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPort: tdPtr[int32](80), Protocol: "sctp"}}
		}, code: apierror.CodeInvalidParameter, msg: "containerDefinitions.1.member.portMappings.1.member.protocol"},
		{name: "bridge host port may differ", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPort: tdPtr[int32](80), HostPort: tdPtr[int32](8080)}}
		}},
		{name: "awsvpc host port 0", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.NetworkMode = "awsvpc"
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPort: tdPtr[int32](80), HostPort: tdPtr[int32](0)}}
		}},
		{name: "container port out of range", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPort: tdPtr[int32](70000)}}
		}, code: apierror.CodeClient, msg: "Invalid 'containerPort' setting for container 'app'."},
		{name: "port range", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPortRange: "8000-8100"}}
		}},
		{name: "port range backwards", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPortRange: "8100-8000"}}
		}, code: apierror.CodeClient, msg: "containerPortRange"},
		{name: "port range in host mode", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.NetworkMode = "host"
			in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPortRange: "8000-8100"}}
		}, code: apierror.CodeClient, msg: "networkMode=host"},
		{name: "hostname in awsvpc", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.NetworkMode = "awsvpc"
			in.ContainerDefinitions[0].Hostname = "web"
		}, code: apierror.CodeClient, msg: "hostname is not supported on container when networkMode=awsvpc."},
		{name: "links in host mode", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.NetworkMode = "host"
			second(in, ecsapi.ContainerDefinition{Name: "db", Image: "postgres", Memory: tdPtr[int32](64)})
			in.ContainerDefinitions[0].Links = []string{"db"}
		}, code: apierror.CodeClient, msg: "links are not supported"},
		{name: "link to unknown container", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Links = []string{"db:database"}
		}, code: apierror.CodeClient, msg: "links to 'db'"},
		{name: "dependency cycle", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			second(in, ecsapi.ContainerDefinition{Name: "db", Image: "postgres", Memory: tdPtr[int32](64),
				DependsOn: []ecsapi.ContainerDependency{{ContainerName: "app", Condition: "START"}}})
			in.ContainerDefinitions[0].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "START"}}
		}, code: apierror.CodeClient, msg: "cannot form a cycle"},
		{name: "healthy needs a health check", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			second(in, ecsapi.ContainerDefinition{Name: "db", Image: "postgres", Memory: tdPtr[int32](64)})
			in.ContainerDefinitions[0].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}
		}, code: apierror.CodeClient, msg: "HEALTHY condition requires a health check"},
		{name: "complete on a non-essential container", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			second(in, ecsapi.ContainerDefinition{Name: "init", Image: "busybox", Memory: tdPtr[int32](64), Essential: tdPtr(false)})
			in.ContainerDefinitions[0].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "init", Condition: "COMPLETE"}}
		}},
		{name: "volumesFrom itself", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "app"}}
		}, code: apierror.CodeClient, msg: "volumesFrom"},
		{name: "mount of a declared volume", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.Volumes = []ecsapi.Volume{{Name: "data"}}
			in.ContainerDefinitions[0].MountPoints = []ecsapi.MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
		}},
		{name: "duplicate volume", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.Volumes = []ecsapi.Volume{{Name: "data"}, {Name: "data"}}
		}, code: apierror.CodeClient, msg: "Duplicate volume name found: data."},
		{name: "health check interval", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "true"}, Interval: tdPtr[int32](1)}
		}, code: apierror.CodeClient, msg: "healthCheck.interval"},
		{name: "image digest", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Image = "nginx@sha256:" + strings.Repeat("0f", 32)
		}},
		{name: "short image digest", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Image = "nginx@sha256:abc"
		}, code: apierror.CodeClient, msg: "Container.image contains invalid characters."},
		{name: "image with a space", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Image = "nginx latest"
		}, code: apierror.CodeClient, msg: "Container.image contains invalid characters."},
		{name: "ephemeral storage", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.EphemeralStorage = &ecsapi.EphemeralStorage{SizeInGiB: 20}
		}, code: apierror.CodeClient, msg: "ephemeral storage"},
		{name: "proxy container unknown", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.NetworkMode = "awsvpc"
			in.ProxyConfiguration = &ecsapi.ProxyConfiguration{ContainerName: "envoy", Type: "APPMESH"}
		}, code: apierror.CodeClient, msg: "'envoy' is not defined"},
		{name: "eleven placement constraints", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			for range 11 {
				in.PlacementConstraints = append(in.PlacementConstraints, ecsapi.TaskDefinitionPlacementConstraint{Type: "memberOf", Expression: "attribute:a == b"})
			}
		}, code: apierror.CodeClient, msg: "placement constraints"},
		{name: "inference accelerator reference", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].ResourceRequirements = []ecsapi.ResourceRequirement{{Type: "InferenceAccelerator", Value: "eia"}}
		}, code: apierror.CodeClient, msg: "Inference accelerator 'eia'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildTaskDefinition(tdRequest(tt.change))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			e, ok := apierror.As(err)
			if !ok || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestBuildTaskDefinitionDerived(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*ecsapi.RegisterTaskDefinitionRequest)
		compat   []ecsapi.Compatibility
		attrs    []string
		notAttrs []string
	}{
		{name: "bridge", compat: []ecsapi.Compatibility{"EC2", "EXTERNAL"}, attrs: nil,
			notAttrs: []string{"ecs.capability.task-eni"}},
		{name: "fargate ready", change: tdFargate, compat: []ecsapi.Compatibility{"EC2", "FARGATE", "MANAGED_INSTANCES"},
			attrs: []string{"ecs.capability.task-eni", "com.amazonaws.ecs.capability.docker-remote-api.1.18"}},
		{name: "awsvpc without task size", change: func(in *ecsapi.RegisterTaskDefinitionRequest) { in.NetworkMode = "awsvpc" },
			compat: []ecsapi.Compatibility{"EC2", "MANAGED_INSTANCES"}},
		{name: "features", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.TaskRoleArn = "arn:aws:iam::123456789012:role/t"
			in.NetworkMode = "host"
			in.PidMode = "task"
			c := &in.ContainerDefinitions[0]
			c.MemoryReservation = tdPtr[int32](64)
			c.DockerLabels = map[string]string{"a": "b"}
			c.Privileged = tdPtr(true)
			c.Secrets = []ecsapi.Secret{{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a"},
				{Name: "B", ValueFrom: "/param/b"}}
			c.EnvironmentFiles = []ecsapi.EnvironmentFile{{Type: "s3", Value: "arn:aws:s3:::b/x.env"}}
			c.LinuxParameters = &ecsapi.LinuxParameters{InitProcessEnabled: tdPtr(true)}
			c.StopTimeout = tdPtr[int32](10)
			c.RepositoryCredentials = &ecsapi.RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-east-1:123456789012:secret:r"}
		}, compat: []ecsapi.Compatibility{"EC2", "EXTERNAL"}, attrs: []string{
			"com.amazonaws.ecs.capability.task-iam-role",
			"com.amazonaws.ecs.capability.task-iam-role-network-host",
			"ecs.capability.pid-ipc-namespace-sharing",
			"com.amazonaws.ecs.capability.docker-remote-api.1.18",
			"com.amazonaws.ecs.capability.docker-remote-api.1.21",
			"com.amazonaws.ecs.capability.docker-remote-api.1.25",
			"com.amazonaws.ecs.capability.privileged-container",
			"ecs.capability.secrets.asm.environment-variables",
			"ecs.capability.secrets.ssm.environment-variables",
			"ecs.capability.env-files.s3",
			"ecs.capability.container-ordering",
			"ecs.capability.private-registry-authentication.secretsmanager",
		}},
		{name: "efs", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.Volumes = []ecsapi.Volume{{Name: "fs", EfsVolumeConfiguration: &ecsapi.EFSVolumeConfiguration{FileSystemId: "fs-1", TransitEncryption: "ENABLED"}}}
		}, compat: []ecsapi.Compatibility{"EC2"}, attrs: []string{"ecs.capability.efs", "ecs.capability.efsAuth"}},
		{name: "ecr image without execution role", change: func(in *ecsapi.RegisterTaskDefinitionRequest) {
			in.ContainerDefinitions[0].Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
		}, compat: []ecsapi.Compatibility{"EC2", "EXTERNAL"}, attrs: []string{"com.amazonaws.ecs.capability.ecr-auth"},
			notAttrs: []string{"ecs.capability.execution-role-ecr-pull"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td, err := buildTaskDefinition(tdRequest(tt.change))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(td.Compatibilities, tt.compat) {
				t.Errorf("compatibilities %v, want %v", td.Compatibilities, tt.compat)
			}
			var names []string
			for _, a := range td.RequiresAttributes {
				names = append(names, a.Name)
			}
			if !slices.IsSorted(names) {
				t.Errorf("requiresAttributes not sorted: %v", names)
			}
			for _, a := range tt.attrs {
				if !slices.Contains(names, a) {
					t.Errorf("requiresAttributes %v lacks %s", names, a)
				}
			}
			for _, a := range tt.notAttrs {
				if slices.Contains(names, a) {
					t.Errorf("requiresAttributes %v has %s", names, a)
				}
			}
			if tt.attrs == nil && tt.notAttrs != nil && len(names) != 0 {
				t.Errorf("requiresAttributes %v, want none", names)
			}
		})
	}
}

func TestBuildTaskDefinitionKeepsRequestUnchanged(t *testing.T) {
	in := tdRequest(func(in *ecsapi.RegisterTaskDefinitionRequest) {
		in.NetworkMode = "awsvpc"
		in.ContainerDefinitions[0].PortMappings = []ecsapi.PortMapping{{ContainerPort: tdPtr[int32](80)}}
	})
	td, err := buildTaskDefinition(in)
	if err != nil {
		t.Fatal(err)
	}
	pm := td.ContainerDefinitions[0].PortMappings[0]
	if pm.Protocol != "tcp" || pm.HostPort == nil || *pm.HostPort != 80 || !*td.ContainerDefinitions[0].Essential {
		t.Fatalf("defaults not applied: %+v essential %v", pm, td.ContainerDefinitions[0].Essential)
	}
	if in.ContainerDefinitions[0].PortMappings[0].HostPort != nil {
		t.Fatal("normalising changed the request's port mapping")
	}
}

func TestCheckTaskDefTags(t *testing.T) {
	many := make([]ecsapi.Tag, 51)
	for i := range many {
		many[i] = ecsapi.Tag{Key: strings.Repeat("k", i+1)}
	}
	tests := []struct {
		name string
		tags []ecsapi.Tag
		msg  string
	}{
		{"none", nil, ""},
		{"fifty", many[:50], ""},
		{"fifty-one", many, "Too many tags"},
		{"empty key", []ecsapi.Tag{{Key: ""}}, "tags.1.member.key"},
		{"long key", []ecsapi.Tag{{Key: strings.Repeat("k", 129)}}, "tags.1.member.key"},
		{"long value", []ecsapi.Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, "tags.1.member.value"},
		{"bad character", []ecsapi.Tag{{Key: "k", Value: "a;b"}}, "regular expression"},
		{"unicode letters", []ecsapi.Tag{{Key: "équipe", Value: "café"}}, ""},
		{"reserved prefix", []ecsapi.Tag{{Key: "AWS:x"}}, "aws:"},
		{"duplicate", []ecsapi.Tag{{Key: "a"}, {Key: "a"}}, "unique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTaskDefTags(tt.tags)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if e, ok := apierror.As(err); !ok || e.Code != apierror.CodeInvalidParameter || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %v, want InvalidParameterException containing %q", err, tt.msg)
			}
		})
	}
}

func TestParseTaskDefRef(t *testing.T) {
	s := &API{Region: "us-east-1", Account: "123456789012"}
	tests := []struct {
		id        string
		want      tdRef
		malformed bool
		invalid   bool
	}{
		{id: "web", want: tdRef{family: "web"}},
		{id: "web:12", want: tdRef{family: "web", rev: 12}},
		{id: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", want: tdRef{family: "web", rev: 3}},
		{id: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3", want: tdRef{family: "web", rev: 3, foreign: true}},
		{id: "arn:aws:ecs:us-east-1:123456789012:cluster/web", malformed: true},
		{id: "we b", malformed: true},
		{id: "", malformed: true},
		{id: "web:0", invalid: true},
		{id: "web:x", invalid: true},
	}
	for _, tt := range tests {
		got, err := s.parseTaskDefRef(tt.id)
		switch {
		case tt.malformed:
			if err != errTaskDefRefMalformed {
				t.Errorf("%q: got %v, want malformed", tt.id, err)
			}
		case tt.invalid:
			if !apierror.IsCode(err, apierror.CodeInvalidParameter) {
				t.Errorf("%q: got %v, want InvalidParameterException", tt.id, err)
			}
		case err != nil || got != tt.want:
			t.Errorf("%q: got %+v %v, want %+v", tt.id, got, err, tt.want)
		}
	}
}
