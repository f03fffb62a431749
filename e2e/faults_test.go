package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestFaultHarness runs the fault harness (cmd/gantry-faults) in its
// bounded form: three server containers with embedded etcd members, two
// agent containers, API load recorded as a history, and the quick
// schedule (kill the leading server, partition a server from etcd,
// partition an agent for less than the grace, an etcd leader change, a
// rolling restart of every server), each fault followed by the checks
// (among them: no agent was refused its credential, which a server cut off
// from etcd did before it answered a store outage with a 503). It fails when any check
// failed; the report is in the test log.
func TestFaultHarness(t *testing.T) {
	testutil.RequireDocker(t)
	bin := filepath.Join(t.TempDir(), "gantry-faults")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gantry-faults").CombinedOutput(); err != nil {
		t.Fatalf("build gantry-faults: %v\n%s", err, out)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(bin, "-quick", "-src", "..", "-out", report)
	out, err := cmd.CombinedOutput()
	t.Logf("gantry-faults:\n%s", tail(string(out), 60))
	if err != nil {
		t.Fatalf("gantry-faults: %v", err)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Passed     bool
		Operations int
		Faults     []struct{ Name string }
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || len(rep.Faults) < 5 || rep.Operations == 0 {
		t.Fatalf("report: passed %v, %d faults, %d operations", rep.Passed, len(rep.Faults), rep.Operations)
	}
}
