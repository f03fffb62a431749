package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestStoreHealthVerdict: failed probes in a row make
// the store unavailable (closing the lost channel), one success makes it
// available again with a fresh channel.
func TestStoreHealthVerdict(t *testing.T) {
	var failing atomic.Bool
	var probes atomic.Int64
	h := newStoreHealth(func(ctx context.Context) error {
		probes.Add(1)
		if failing.Load() {
			return errors.New("no quorum")
		}
		return nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a first probe", func() bool { return probes.Load() > 0 })
	down, lost := h.state()
	if down {
		t.Fatal("unavailable while the probe succeeds")
	}
	failing.Store(true)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the lost channel was not closed after failed probes")
	}
	if down, _ := h.state(); !down {
		t.Fatal("lost closed but not unavailable")
	}
	failing.Store(false)
	waitFor("available again", func() bool { d, _ := h.state(); return !d })
	_, lost2 := h.state()
	select {
	case <-lost2:
		t.Fatal("the new lost channel is closed while available")
	default:
	}
}
