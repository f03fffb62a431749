package scheduler

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/taskres"
)

func ptr[T any](v T) *T { return &v }

func TestDemandFor(t *testing.T) {
	tests := []struct {
		name    string
		td      ecsapi.TaskDefinition
		want    Demand
		wantErr bool
	}{
		{
			name: "container sums",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", Cpu: 256, Memory: ptr[int32](512)},
				{Name: "b", Cpu: 128, Memory: ptr[int32](1024), MemoryReservation: ptr[int32](256)},
				{Name: "c", MemoryReservation: ptr[int32](64)},
			}},
			want: Demand{CPU: 384, Memory: 512 + 256 + 64},
		},
		{
			name: "task level overrides containers",
			td: ecsapi.TaskDefinition{Cpu: "1 vCPU", Memory: "2 GB", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", Cpu: 256, Memory: ptr[int32](512)},
			}},
			want: Demand{CPU: 1024, Memory: 2048},
		},
		{
			name: "task level units",
			td:   ecsapi.TaskDefinition{Cpu: "512", Memory: "768"},
			want: Demand{CPU: 512, Memory: 768},
		},
		{
			name: "task level cpu only",
			td: ecsapi.TaskDefinition{Cpu: "0.25 vCPU", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", Cpu: 999, Memory: ptr[int32](300)},
			}},
			want: Demand{CPU: 256, Memory: 300},
		},
		{
			name: "gpus",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", ResourceRequirements: []ecsapi.ResourceRequirement{{Type: "GPU", Value: "2"}, {Type: "InferenceAccelerator", Value: "x"}}},
				{Name: "b", ResourceRequirements: []ecsapi.ResourceRequirement{{Type: "GPU", Value: "1"}}},
			}},
			want: Demand{GPU: 3},
		},
		{
			name: "bridge ports: static only",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", PortMappings: []ecsapi.PortMapping{
					{ContainerPort: ptr[int32](80), HostPort: ptr[int32](8080)},
					{ContainerPort: ptr[int32](81)},
					{ContainerPort: ptr[int32](82), HostPort: ptr[int32](0)},
					{ContainerPort: ptr[int32](53), HostPort: ptr[int32](53), Protocol: "udp"},
					{ContainerPortRange: "9000-9010"},
				}},
			}},
			want: Demand{TCPPorts: []int32{8080}, UDPPorts: []int32{53}},
		},
		{
			name: "host mode: container ports are host ports",
			td: ecsapi.TaskDefinition{NetworkMode: "host", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", PortMappings: []ecsapi.PortMapping{
					{ContainerPort: ptr[int32](80)},
					{ContainerPort: ptr[int32](53), Protocol: "udp"},
					{ContainerPortRange: "9000-9002"},
				}},
			}},
			want: Demand{TCPPorts: []int32{80, 9000, 9001, 9002}, UDPPorts: []int32{53}},
		},
		{
			name: "same port on tcp and udp",
			td: ecsapi.TaskDefinition{NetworkMode: "host", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](53)}, {ContainerPort: ptr[int32](53), Protocol: "udp"}}},
			}},
			want: Demand{TCPPorts: []int32{53}, UDPPorts: []int32{53}},
		},
		{
			name: "awsvpc binds no host ports",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](80)}}},
			}},
			want: Demand{},
		},
		{
			name: "duplicate host port",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](80)}}},
				{Name: "b", PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](81), HostPort: ptr[int32](80)}}},
			}},
			wantErr: true,
		},
		{name: "bad cpu", td: ecsapi.TaskDefinition{Cpu: "lots"}, wantErr: true},
		{name: "bad memory", td: ecsapi.TaskDefinition{Memory: "2 TB"}, wantErr: true},
		{name: "bad gpu", td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", ResourceRequirements: []ecsapi.ResourceRequirement{{Type: "GPU", Value: "-1"}}}}}, wantErr: true},
		{name: "bad port range", td: ecsapi.TaskDefinition{NetworkMode: "host", ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", PortMappings: []ecsapi.PortMapping{{ContainerPortRange: "10-5"}}}}}, wantErr: true},
		{name: "bad host port", td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", PortMappings: []ecsapi.PortMapping{{HostPort: ptr[int32](70000)}}}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DemandFor(tt.td)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidTaskDefinition) {
					t.Fatalf("DemandFor() error = %v, want ErrInvalidTaskDefinition", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DemandFor(): %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DemandFor() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDemandForBadSize(t *testing.T) {
	tests := []struct {
		name string
		td   ecsapi.TaskDefinition
	}{
		{"cpu with a fraction of a unit", ecsapi.TaskDefinition{Cpu: "0.1 vcpu"}},
		{"memory with a fraction of a MiB", ecsapi.TaskDefinition{Memory: "0.3 GB"}},
		{"unknown cpu unit", ecsapi.TaskDefinition{Cpu: "1 core"}},
		{"unknown memory unit", ecsapi.TaskDefinition{Memory: "2 TB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DemandFor(tc.td)
			if !errors.Is(err, ErrInvalidTaskDefinition) || !errors.Is(err, taskres.ErrInvalid) {
				t.Fatalf("DemandFor() error = %v, want ErrInvalidTaskDefinition and taskres.ErrInvalid", err)
			}
		})
	}
}

func TestConstraintsFor(t *testing.T) {
	td := ecsapi.TaskDefinition{PlacementConstraints: []ecsapi.TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: "attribute:a == b"}}}
	got := ConstraintsFor(td, []ecsapi.PlacementConstraint{{Type: "distinctInstance"}})
	want := []ecsapi.PlacementConstraint{{Type: "memberOf", Expression: "attribute:a == b"}, {Type: "distinctInstance"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConstraintsFor() = %+v, want %+v", got, want)
	}
}

func TestNewPolicy(t *testing.T) {
	s := func(typ, field string) ecsapi.PlacementStrategy {
		return ecsapi.PlacementStrategy{Type: ecsapi.PlacementStrategyType(typ), Field: field}
	}
	c := func(typ, expr string) ecsapi.PlacementConstraint {
		return ecsapi.PlacementConstraint{Type: ecsapi.PlacementConstraintType(typ), Expression: expr}
	}
	tests := []struct {
		name        string
		strategies  []ecsapi.PlacementStrategy
		constraints []ecsapi.PlacementConstraint
		wantErr     string // substring; "" for success
		wantKinds   []strategyKind
	}{
		{name: "none"},
		{name: "every strategy", strategies: []ecsapi.PlacementStrategy{s("binpack", "cpu"), s("binpack", "MEMORY"), s("spread", "instanceId"), s("spread", "host"), s("spread", "attribute:ecs.availability-zone")},
			wantKinds: []strategyKind{binpackCPU, binpackMemory, spreadInstance, spreadInstance, spreadAttribute}},
		{name: "random ends the list", strategies: []ecsapi.PlacementStrategy{s("spread", "instanceId"), s("random", ""), s("binpack", "cpu")},
			wantKinds: []strategyKind{spreadInstance, random}},
		{name: "constraints", constraints: []ecsapi.PlacementConstraint{c("distinctInstance", ""), c("memberOf", "attribute:a == b")}},
		{name: "six strategies", strategies: make([]ecsapi.PlacementStrategy, 6), wantErr: "at most 5"},
		{name: "eleven constraints", constraints: make([]ecsapi.PlacementConstraint, 11), wantErr: "at most 10"},
		{name: "unknown strategy", strategies: []ecsapi.PlacementStrategy{s("pack", "cpu")}, wantErr: "placementStrategy[0]: type \"pack\""},
		{name: "binpack field", strategies: []ecsapi.PlacementStrategy{s("binpack", "gpu")}, wantErr: "binpack field \"gpu\""},
		{name: "spread field", strategies: []ecsapi.PlacementStrategy{s("spread", "cpu")}, wantErr: "spread field \"cpu\""},
		{name: "spread empty attribute", strategies: []ecsapi.PlacementStrategy{s("spread", "attribute:")}, wantErr: "spread field"},
		{name: "unknown constraint", constraints: []ecsapi.PlacementConstraint{c("sameInstance", "")}, wantErr: "placementConstraints[0].type"},
		{name: "distinct with expression", constraints: []ecsapi.PlacementConstraint{c("distinctInstance", "attribute:a == b")}, wantErr: "cannot be given"},
		{name: "memberOf without expression", constraints: []ecsapi.PlacementConstraint{c("memberOf", " ")}, wantErr: "requires an expression"},
		{name: "memberOf bad expression", constraints: []ecsapi.PlacementConstraint{c("distinctInstance", ""), c("memberOf", "attribute:a ==")}, wantErr: "placementConstraints[1].expression: cluster query: at character 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.strategies, tt.constraints)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewPolicy() error = %v, want ErrInvalidPolicy containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPolicy(): %v", err)
			}
			var kinds []strategyKind
			for _, st := range p.strategies {
				kinds = append(kinds, st.kind)
			}
			if !reflect.DeepEqual(kinds, tt.wantKinds) {
				t.Errorf("strategies = %v, want %v", kinds, tt.wantKinds)
			}
		})
	}
	if d := DefaultServiceStrategies(); len(d) != 1 || d[0].Type != "spread" || d[0].Field != "attribute:ecs.availability-zone" {
		t.Errorf("DefaultServiceStrategies() = %+v", d)
	}
}
