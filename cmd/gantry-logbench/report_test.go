package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteSection: the section is replaced, its hand-written findings
// kept at its end, and the rest of the file left as it was.
func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	old := "# Performance\n\n## Other\n\ntext\n\n" + sectionTitle + "\n\nold figures\n\n" + findingsTitle + "\n\nby hand\n\n## Last\n\nmore\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, sectionTitle+"\n\nnew figures\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# Performance\n\n## Other\n\ntext\n\n" + sectionTitle + "\n\nnew figures\n\n" + findingsTitle + "\n\nby hand\n\n## Last\n\nmore\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

// TestFormat: a report of made-up results names every goal.
func TestFormat(t *testing.T) {
	o := options{containers: 20, size: 100, duration: 20 * time.Second, steadyRate: 1000, steadyDuration: 20 * time.Second}
	r := &results{floor: floorResult{lines: 6_000_000, window: 20 * time.Second, dockerd: 20 * time.Second},
		full:   phaseResult{printed: 4_000_000, printWindow: 20 * time.Second, drain: 30 * time.Second, stored: 4_000_000, streams: 20},
		steady: phaseResult{printed: 20_000, printWindow: 20 * time.Second, stored: 20_000, streams: 20, cpuPrint: cpu{agent: 800 * time.Millisecond}},
		reads:  readResult{get: []time.Duration{time.Millisecond}, filter: []time.Duration{time.Millisecond}}}
	out := format(o, r)
	for _, want := range []string{sectionTitle, "133333", "4.00%", "every line once, in order (20 streams)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
