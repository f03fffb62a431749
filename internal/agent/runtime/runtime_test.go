package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestApplyOverride(t *testing.T) {
	mem := int32(256)
	def := ecsapi.ContainerDefinition{
		Name: "web", Command: []string{"serve"}, Cpu: 128, Memory: &mem,
		Environment: []ecsapi.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
	}
	orig := def
	origEnv := append([]ecsapi.KeyValuePair(nil), def.Environment...)
	cpu, newMem, res := int32(512), int32(1024), int32(64)
	got := ApplyOverride(def, ecsapi.ContainerOverride{
		Name: "web", Command: []string{"migrate", "--all"}, Cpu: &cpu, Memory: &newMem, MemoryReservation: &res,
		Environment: []ecsapi.KeyValuePair{{Name: "B", Value: "two"}, {Name: "C", Value: "3"}},
	})
	want := ecsapi.ContainerDefinition{
		Name: "web", Command: []string{"migrate", "--all"}, Cpu: 512, Memory: &newMem, MemoryReservation: &res,
		Environment: []ecsapi.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "two"}, {Name: "C", Value: "3"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if *def.Memory != 256 || !reflect.DeepEqual(def.Environment, origEnv) || !reflect.DeepEqual(def, orig) {
		t.Errorf("ApplyOverride modified its input: %+v", def)
	}
	if same := ApplyOverride(def, ecsapi.ContainerOverride{Name: "web"}); !reflect.DeepEqual(same, def) {
		t.Errorf("empty override changed the definition: %+v", same)
	}
}

func TestTask(t *testing.T) {
	task := &Task{
		Arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef",
		Definition: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "a", Command: []string{"x"}}, {Name: "b"},
		}},
		Overrides: ecsapi.TaskOverride{ContainerOverrides: []ecsapi.ContainerOverride{{Name: "a", Command: []string{"y"}}}},
	}
	if task.ID() != "0123456789abcdef" {
		t.Errorf("ID %q", task.ID())
	}
	if task.NetworkMode() != NetworkModeBridge {
		t.Errorf("default network mode %q", task.NetworkMode())
	}
	if a, ok := task.Container("a"); !ok || a.Command[0] != "y" {
		t.Errorf("container a with override: %+v", a)
	}
	if b, ok := task.Container("b"); !ok || b.Name != "b" {
		t.Errorf("container b: %+v", b)
	}
	if _, ok := task.Container("c"); ok {
		t.Error("found container c")
	}
}

func TestError(t *testing.T) {
	cause := fmt.Errorf("daemon says: %w", ErrNotFound)
	err := fmt.Errorf("create: %w", NewError(CannotCreateContainerError, false, cause))
	if ErrorName(err) != CannotCreateContainerError || IsRetryable(err) || !errors.Is(err, ErrNotFound) {
		t.Errorf("name %q retryable %v", ErrorName(err), IsRetryable(err))
	}
	if got := NewError(CannotPullContainerError, true, errors.New("timeout")).Error(); got != "CannotPullContainerError: timeout" {
		t.Errorf("message %q", got)
	}
	if !IsRetryable(Errorf(CannotStopContainerError, true, "x %d", 1)) || ErrorName(errors.New("plain")) != "" || IsRetryable(errors.New("plain")) {
		t.Error("helpers on plain errors")
	}
}

func TestNetworkInterfaceAttachment(t *testing.T) {
	n := NetworkInterface{AttachmentID: "att", ID: "eni-1", SubnetID: "subnet-1", IPv4Address: "172.20.0.2", MACAddress: "02:42:ac:14:00:02", PrivateDNSName: "ip-172-20-0-2"}
	a := n.Attachment()
	want := ecsapi.Attachment{Id: "att", Type: "ElasticNetworkInterface", Status: "ATTACHED", Details: []ecsapi.KeyValuePair{
		{Name: "subnetId", Value: "subnet-1"}, {Name: "networkInterfaceId", Value: "eni-1"},
		{Name: "macAddress", Value: "02:42:ac:14:00:02"}, {Name: "privateDnsName", Value: "ip-172-20-0-2"},
		{Name: "privateIPv4Address", Value: "172.20.0.2"},
	}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("attachment %+v", a)
	}
	if ci := n.ContainerInterface(); ci.AttachmentId != "att" || ci.PrivateIpv4Address != "172.20.0.2" {
		t.Errorf("container interface %+v", ci)
	}
}
