package docker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// networksNamed lists the networks whose name is exactly name.
func networksNamed(t *testing.T, cli *client.Client, name string) []network.Summary {
	t.Helper()
	list, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		t.Fatal(err)
	}
	var out []network.Summary
	for _, n := range list {
		if n.Name == name {
			out = append(out, n)
		}
	}
	return out
}

// TestDuplicateAWSVPCNetworksAreResolved: two networks of the awsvpc
// network's name (as agents starting together on a fresh Engine can
// create: Docker's duplicate check is best effort, and the name then
// resolves to neither) leave every agent with the same one, the oldest,
// and the other removed; and agents racing to create the network end up
// sharing one.
func TestDuplicateAWSVPCNetworksAreResolved(t *testing.T) {
	t.Parallel()
	cli := testutil.RequireDocker(t)
	ctx := t.Context()
	name := "gantry-dup-" + testutil.UniqueID("n")
	t.Cleanup(func() {
		for _, n := range networksNamed(t, cli, name) {
			_ = cli.NetworkRemove(context.Background(), n.ID)
		}
	})
	newRuntime := func() *Runtime {
		rt, err := New(Config{InstanceID: testutil.UniqueID("it"), AWSVPCNetwork: name, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		return rt
	}

	// Two of the same name, made through the API without the duplicate
	// check (what two concurrent creates can leave).
	for range 2 {
		body := fmt.Sprintf(`{"Name":%q,"Driver":"bridge","CheckDuplicate":false,"Labels":{%q:"true"}}`, name, LabelManaged)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/v1.41/networks/create", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := cli.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create a network: %d %s", resp.StatusCode, b)
		}
		time.Sleep(10 * time.Millisecond) // distinct creation times
	}
	dups := networksNamed(t, cli, name)
	if len(dups) != 2 {
		t.Fatalf("the Engine kept %d networks named %s, want 2 for this test", len(dups), name)
	}
	oldest := dups[0]
	if dups[1].Created.Before(oldest.Created) {
		oldest = dups[1]
	}
	for i := range 2 {
		id, err := newRuntime().ensureNetwork(ctx)
		if err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
		if id != oldest.ID {
			t.Fatalf("agent %d took network %s, want the oldest %s", i, id, oldest.ID)
		}
	}
	if left := networksNamed(t, cli, name); len(left) != 1 || left[0].ID != oldest.ID {
		t.Fatalf("networks named %s after: %d, want the oldest alone", name, len(left))
	}

	// Agents racing to create it share one.
	for _, n := range networksNamed(t, cli, name) {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]string, 6)
	var wg sync.WaitGroup
	for i := range ids {
		rt := newRuntime()
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := rt.ensureNetwork(ctx)
			if err != nil {
				t.Errorf("agent %d: %v", i, err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	left := networksNamed(t, cli, name)
	if len(left) != 1 {
		t.Fatalf("%d networks named %s after a race", len(left), name)
	}
	for i, id := range ids {
		if id != left[0].ID {
			t.Errorf("agent %d took %s, the remaining network is %s", i, id, left[0].ID)
		}
	}
}
