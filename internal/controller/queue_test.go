package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestQueueDeduplicates(t *testing.T) {
	q := NewQueue(time.Millisecond, time.Second)
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("len %d, want 2", q.Len())
	}
	k, _ := q.Get()
	if k != "a" {
		t.Fatalf("got %q first", k)
	}
	// Added while processing: dirty, queued again on Done, not before.
	q.Add("a")
	if q.Len() != 1 {
		t.Fatalf("a key being processed was queued twice")
	}
	q.Done("a")
	if q.Len() != 2 {
		t.Fatalf("a dirty key was not queued again on Done")
	}
}

func TestQueueAddAfter(t *testing.T) {
	q := NewQueue(time.Millisecond, time.Second)
	start := time.Now()
	q.AddAfter("x", 50*time.Millisecond)
	q.AddAfter("x", 20*time.Millisecond)
	k, ok := q.Get()
	if !ok || k != "x" {
		t.Fatal(k, ok)
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 45*time.Millisecond {
		t.Fatalf("delayed key ready after %v, want about 20ms", d)
	}
	q.Done("x")
	q.ShutDown()
	if _, ok := q.Get(); ok {
		t.Fatal("Get after ShutDown")
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 10 * time.Millisecond}, {1, 20 * time.Millisecond}, {3, 80 * time.Millisecond}, {10, 100 * time.Millisecond}} {
		if got := Backoff(10*time.Millisecond, 100*time.Millisecond, c.n); got != c.want {
			t.Errorf("Backoff(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// TestRunRetriesWithBackoff: an error requeues the key after a growing
// delay; nil forgets it; one key is never reconciled twice at once.
func TestRunRetriesWithBackoff(t *testing.T) {
	q := NewQueue(5*time.Millisecond, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var times []time.Time
	busy := false
	done := make(chan struct{})
	go func() {
		Run(ctx, q, 4, func(ctx context.Context, key string) error {
			mu.Lock()
			if busy {
				t.Error("key reconciled twice at once")
			}
			busy = true
			times = append(times, time.Now())
			n := len(times)
			mu.Unlock()
			q.Add(key) // a change arriving meanwhile
			time.Sleep(time.Millisecond)
			mu.Lock()
			busy = false
			mu.Unlock()
			if n < 4 {
				return errors.New("not yet")
			}
			if n == 4 {
				close(done)
			}
			return nil
		}, nil)
	}()
	q.Add("k")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no success after retries")
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 4 {
		t.Fatalf("%d attempts", len(times))
	}
}
