package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// serverImage builds the test server image once per test binary.
var serverImage = sync.OnceValues(func() (string, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := testutil.BuildImageContext(ctx, cli, testutil.TestServerTag, testutil.TestServerSource()); err != nil {
		return "", err
	}
	return testutil.TestServerTag, nil
})

// harness is one agent's runtime on the real Docker Engine, with a unique
// instance ID whose objects are removed when the test ends.
type harness struct {
	t        *testing.T
	rt       *Runtime
	cli      *client.Client
	image    string
	instance string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cli := testutil.RequireDocker(t)
	image, err := serverImage()
	if err != nil {
		t.Fatalf("test server image: %v", err)
	}
	h := &harness{t: t, cli: cli, image: image, instance: testutil.UniqueID("it")}
	testutil.CleanupLabelled(t, cli, LabelInstance+"="+h.instance)
	h.rt, err = New(Config{InstanceID: h.instance, StopTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.rt.Close() })
	return h
}

// task returns a task of family (revision 1) with a fresh ARN.
func (h *harness) task(family string, mode ecsapi.NetworkMode, defs ...ecsapi.ContainerDefinition) *runtime.Task {
	return &runtime.Task{
		Arn:     "arn:aws:ecs:us-east-1:123456789012:task/it/" + testutil.UniqueID("task"),
		Cluster: "it",
		Definition: ecsapi.TaskDefinition{
			Family: family, Revision: 1, NetworkMode: mode, ContainerDefinitions: defs,
		},
	}
}

// container returns a definition of the test server image.
func (h *harness) container(name string, command ...string) ecsapi.ContainerDefinition {
	return ecsapi.ContainerDefinition{Name: name, Image: h.image, Command: command, Essential: ptr(true)}
}

// run prepares task and creates and starts all its containers in order.
func (h *harness) run(ctx context.Context, task *runtime.Task) (*runtime.TaskResources, map[string]runtime.ContainerRef) {
	h.t.Helper()
	res, err := h.rt.PrepareTask(ctx, task)
	if err != nil {
		h.t.Fatalf("PrepareTask: %v", err)
	}
	refs := map[string]runtime.ContainerRef{}
	for _, def := range task.Definition.ContainerDefinitions {
		if err := h.rt.PullImage(ctx, def.Image); err != nil {
			h.t.Fatalf("PullImage %s: %v", def.Image, err)
		}
		ref, err := h.rt.CreateContainer(ctx, runtime.CreateSpec{Task: task, Container: def.Name, Resources: res, Peers: refs})
		if err != nil {
			h.t.Fatalf("CreateContainer %s: %v", def.Name, err)
		}
		refs[def.Name] = ref
		if err := h.rt.StartContainer(ctx, ref.ID); err != nil {
			h.t.Fatalf("StartContainer %s: %v", def.Name, err)
		}
	}
	return res, refs
}

// waitStopped waits for the container to stop and returns its status.
func (h *harness) waitStopped(ctx context.Context, id string, timeout time.Duration) runtime.ContainerStatus {
	h.t.Helper()
	var st runtime.ContainerStatus
	testutil.WaitFor(h.t, timeout, "container "+id+" stopped", func() error {
		var err error
		if st, err = h.rt.InspectContainer(ctx, id); err != nil {
			return err
		}
		if st.State != runtime.StateStopped {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
	return st
}

// waitEvent reads events until one matches, or fails the test after timeout.
func waitEvent(t *testing.T, events <-chan runtime.Event, timeout time.Duration, match func(runtime.Event) bool) runtime.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching event after %v", timeout)
		}
	}
}

// getJSON GETs url, retrying until the server answers or timeout passes,
// and decodes the answer into v (unless v is nil); it returns the body.
func getJSON(t *testing.T, url string, timeout time.Duration, v any) string {
	t.Helper()
	var body []byte
	c := http.Client{Timeout: 2 * time.Second}
	testutil.WaitFor(t, timeout, "GET "+url, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s: %s", resp.Status, body)
		}
		return nil
	})
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
	return string(body)
}

// serverInfo is the test server's answer to GET /.
type serverInfo struct {
	Hostname string            `json:"hostname"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	UID      int               `json:"uid"`
	Cwd      string            `json:"cwd"`
}
