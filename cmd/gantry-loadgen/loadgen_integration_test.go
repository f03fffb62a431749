package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadgen builds gantry, starts a server and runs a small load through
// it end to end: registration, heartbeats, placement with a strategy, the
// checks, acknowledgement, and the section written into a file.
func TestLoadgen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts gantry server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := defaultConfig()
	cfg.Instances, cfg.Tasks, cfg.Concurrency, cfg.Strategy, cfg.Ack = 30, 450, 8, "spread", true
	cfg.Args = []string{"-instances", "30", "-tasks", "450", "-concurrency", "8", "-strategy", "spread", "-ack"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := execute(ctx, &cfg, &progress)
	if err != nil {
		t.Fatalf("execute: %v\nprogress:\n%s", err, progress.String())
	}
	if p := res.problems(); len(p) > 0 {
		t.Fatalf("problems: %q\n%s", p, res.text())
	}
	if res.Placement.Placed != 450 || res.Ack == nil || res.Ack.Acked != 450 || res.AckCensus.Running != 450 {
		t.Errorf("placed %d, acknowledged %+v\n%s", res.Placement.Placed, res.Ack, res.text())
	}
	// spread over zones, then instances: 450 tasks on 30 instances is 15 each.
	if res.Census.MinTasks != 15 || res.Census.MaxTasks != 15 {
		t.Errorf("spread placed %d to %d tasks an instance, want 15", res.Census.MinTasks, res.Census.MaxTasks)
	}
	if res.Memory == nil || res.Memory.RSS == 0 {
		t.Errorf("no server memory: %+v", res.Memory)
	}
	if !strings.Contains(progress.String(), "placed     450") {
		t.Errorf("no progress line with the final count:\n%s", progress.String())
	}
	path := filepath.Join(t.TempDir(), "performance.md")
	if err := writeSection(path, res.markdown()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "go run ./cmd/gantry-loadgen -instances 30 -tasks 450") {
		t.Errorf("section lacks the command:\n%s", b)
	}
}
