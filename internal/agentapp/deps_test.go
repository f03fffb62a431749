package agentapp

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg depends on, through the go command.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestImportBoundaries keeps the one-way imports of STYLE.md: the agent
// links no server code (so gantry-agent stays small), and the server's
// operations no agent code.
func TestImportBoundaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	const mod = "github.com/gantry-dev/gantry/"
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{mod + "cmd/gantry-agent", []string{"go.etcd.io/", "google.golang.org/grpc", "github.com/prometheus/",
			mod + "internal/ops", mod + "internal/store", mod + "internal/apiserver", mod + "internal/scheduler", mod + "internal/controller"}},
		{mod + "internal/ops", []string{mod + "internal/agent", mod + "internal/apiserver", mod + "internal/app"}},
		{mod + "internal/scheduler", []string{mod + "internal/store", mod + "internal/ops", "go.etcd.io/"}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			for _, f := range r.forbidden {
				if d == f || strings.HasPrefix(d, f+"/") || strings.HasPrefix(d, f) && strings.HasSuffix(f, "/") {
					t.Errorf("%s depends on %s", r.pkg, d)
				}
			}
		}
	}
}
