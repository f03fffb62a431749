package main

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/workers"
)

// TestLBWorkerCommand checks what a worker is started with.
func TestLBWorkerCommand(t *testing.T) {
	cmd := lbWorkerCommand("/bin/gantry", []string{"--workers", "2", "--etcd-endpoints", "http://127.0.0.1:2379"}, "edge", 1, 2)
	if want := []string{"/bin/gantry", "lb", "--workers", "2", "--etcd-endpoints", "http://127.0.0.1:2379", "--name", "edge-w1"}; !slices.Equal(cmd.Args, want) {
		t.Fatalf("args %q, want %q", cmd.Args, want)
	}
	if !slices.Contains(cmd.Env, envLBWorker+"=1") {
		t.Fatalf("no %s=1 in the worker's environment", envLBWorker)
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && !slices.Contains(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", workers.GOMAXPROCS(2))) {
		t.Fatalf("no GOMAXPROCS in the worker's environment")
	}
	if cmd := lbWorkerCommand("/bin/gantry", nil, "", 0, 2); slices.Contains(cmd.Args, "--name") {
		t.Fatalf("a worker without --name got one: %q", cmd.Args)
	}
}
