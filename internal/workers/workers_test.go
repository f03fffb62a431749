package workers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envWorker numbers the test's workers.
const envWorker = "GANTRY_TEST_WORKER"

// TestMain runs workerHelper instead of the tests in a process that
// TestSuperviseWorkers started as a worker.
func TestMain(m *testing.M) {
	if dir := os.Getenv("GANTRY_TEST_WORKER_DIR"); dir != "" {
		workerHelper(dir)
	}
	os.Exit(m.Run())
}

// workerHelper is a worker of TestSuperviseWorkers: it notes its start,
// and the first start of worker 0 exits at once; the others wait for
// SIGTERM and note it.
func workerHelper(dir string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	id := os.Getenv(envWorker)
	starts, _ := filepath.Glob(filepath.Join(dir, "start-"+id+"-*"))
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("start-%s-%d", id, os.Getpid())), nil, 0o644)
	if id == "0" && len(starts) == 0 {
		os.Exit(3)
	}
	<-sig
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("stop-%s-%d", id, os.Getpid())), nil, 0o644)
	os.Exit(0)
}

// TestSuperviseWorkers runs two worker processes: worker 0 exits at once
// and is started again, and when the context ends both get SIGTERM and
// superviseWorkers returns once they exited.
func TestSuperviseWorkers(t *testing.T) {
	dir := t.TempDir()
	RestartDelay = 50 * time.Millisecond
	newCmd := func(i int) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "GANTRY_TEST_WORKER_DIR="+dir, fmt.Sprintf("%s=%d", envWorker, i))
		return cmd
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, 2, newCmd, 10*time.Second, slog.New(slog.DiscardHandler)) }()
	count := func(prefix string) int {
		m, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
		return len(m)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count("start-0-") < 2 || count("start-1-") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start (again): %d starts of worker 0, %d of worker 1", count("start-0-"), count("start-1-"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the restarted worker settle into its wait for SIGTERM.
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("superviseWorkers did not return after the context ended")
	}
	stops, _ := filepath.Glob(filepath.Join(dir, "stop-*"))
	var names []string
	for _, s := range stops {
		names = append(names, filepath.Base(s))
	}
	if count("stop-0-") != 1 || count("stop-1-") != 1 {
		t.Fatalf("stopped by SIGTERM: %s; want one of each worker", strings.Join(names, ", "))
	}
	if n := count("start-0-"); n != 2 {
		t.Fatalf("worker 0 started %d times, want 2", n)
	}
}
