package docker

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestContainerStats: one-shot readings of a container that holds memory
// and serves HTTP: its memory is at least what it holds, its CPU and
// network counters grow, and an unknown container is ErrNotFound.
func TestContainerStats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	hog := h.container("hog", "alloc", "40")
	web := h.container("web")
	web.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](8080)}}
	_, refs := h.run(ctx, h.task("stats", "", hog, web))

	var first runtime.ContainerStats
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := h.rt.ContainerStats(ctx, refs["hog"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.MemoryBytes >= 40<<20 {
			first = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory %d bytes, want at least the 40 MiB the container holds", s.MemoryBytes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if first.Time.IsZero() || first.CPUNanos == 0 || first.MemoryLimitBytes < first.MemoryBytes {
		t.Errorf("reading %+v", first)
	}

	// The web container receives and answers requests: its network
	// counters grow.
	st, err := h.rt.InspectContainer(ctx, refs["web"].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NetworkBindings) == 0 {
		t.Fatalf("no port binding: %+v", st)
	}
	w0, err := h.rt.ContainerStats(ctx, refs["web"].ID)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", *st.NetworkBindings[0].HostPort)
	deadline = time.Now().Add(20 * time.Second)
	for {
		for range 20 {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
			}
		}
		w1, err := h.rt.ContainerStats(ctx, refs["web"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if w1.NetworkRxBytes > w0.NetworkRxBytes && w1.NetworkTxBytes > w0.NetworkTxBytes && w1.CPUNanos > w0.CPUNanos && w1.Time.After(w0.Time) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not grow: %+v then %+v", w0, w1)
		}
		time.Sleep(300 * time.Millisecond)
	}

	_, err = h.rt.ContainerStats(ctx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("unknown container: %v, want ErrNotFound", err)
	}
	var re *runtime.Error
	if !errors.As(err, &re) || re.Name != runtime.CannotGetContainerStatsError {
		t.Errorf("unknown container: %v, want a %s", err, runtime.CannotGetContainerStatsError)
	}
}
