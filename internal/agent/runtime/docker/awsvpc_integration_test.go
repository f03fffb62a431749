package docker

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestAWSVPCTaskHasItsOwnReachableAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	web := h.container("web")
	web.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080)}}
	web.SystemControls = []ecsapi.SystemControl{{Namespace: "net.ipv4.tcp_keepalive_time", Value: "600"}}
	sidecar := h.container("sidecar", "check", "http://127.0.0.1:8080/health")
	task := h.task("vpc", runtime.NetworkModeAWSVPC, web, sidecar)
	task.Definition.PidMode = "task"
	other := h.task("vpc", runtime.NetworkModeAWSVPC, h.container("web"))

	res, refs := h.run(ctx, task)
	resOther, _ := h.run(ctx, other)
	eni := res.Interface
	if eni == nil || res.PauseContainerID == "" {
		t.Fatalf("resources %+v", res)
	}
	addr, err := netip.ParseAddr(eni.IPv4Address)
	if err != nil || !addr.Is4() {
		t.Fatalf("address %q: %v", eni.IPv4Address, err)
	}
	if resOther.Interface.IPv4Address == eni.IPv4Address {
		t.Errorf("two awsvpc tasks share the address %s", eni.IPv4Address)
	}
	prefix, err := netip.ParsePrefix(eni.SubnetCIDR)
	if err != nil || !prefix.Contains(addr) || eni.Gateway == "" || eni.MACAddress == "" {
		t.Errorf("interface %+v", eni)
	}
	if !strings.HasPrefix(eni.ID, "eni-") || !strings.HasPrefix(eni.SubnetID, "subnet-") || len(eni.AttachmentID) != 36 {
		t.Errorf("identifiers %+v", eni)
	}
	att := eni.Attachment()
	details := map[string]string{}
	for _, kv := range att.Details {
		details[kv.Name] = kv.Value
	}
	if att.Type != "ElasticNetworkInterface" || details["privateIPv4Address"] != eni.IPv4Address || details["macAddress"] != eni.MACAddress {
		t.Errorf("attachment %+v", att)
	}

	// Reachable from the host on the task's own address, on the container port.
	var info serverInfo
	getJSON(t, fmt.Sprintf("http://%s:8080/", eni.IPv4Address), 10*time.Second, &info)
	// The sidecar shares the namespace: 127.0.0.1:8080 is the web container.
	if st := h.waitStopped(ctx, refs["sidecar"].ID, 10*time.Second); *st.ExitCode != 0 {
		t.Errorf("sidecar could not reach web over loopback: exit %d", *st.ExitCode)
	}
	st, err := h.rt.InspectContainer(ctx, refs["web"].ID)
	if err != nil || len(st.NetworkBindings) != 0 {
		t.Errorf("awsvpc container reports bindings %+v, %v", st.NetworkBindings, err)
	}
	in, err := h.cli.ContainerInspect(ctx, res.PauseContainerID)
	if err != nil || in.HostConfig.Sysctls["net.ipv4.tcp_keepalive_time"] != "600" {
		t.Errorf("pause container sysctls %v, %v", in.HostConfig.Sysctls, err)
	}

	// PrepareTask again (a restarted agent) finds the same namespace.
	again, err := h.rt.PrepareTask(ctx, task)
	if err != nil || again.PauseContainerID != res.PauseContainerID || *again.Interface != *eni {
		t.Errorf("PrepareTask again: %+v, %v", again, err)
	}
	list, err := h.rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pauses := 0
	for _, c := range list {
		if c.Pause {
			pauses++
		}
	}
	if pauses != 2 {
		t.Errorf("%d pause containers listed, want 2", pauses)
	}

	if err := h.rt.CleanupTask(ctx, task.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ContainerInspect(ctx, res.PauseContainerID); err == nil {
		t.Error("pause container survived CleanupTask")
	}
	if _, err := h.cli.ContainerInspect(ctx, resOther.PauseContainerID); err != nil {
		t.Errorf("the other task's pause container: %v", err)
	}
}
