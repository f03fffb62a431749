package logship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestShipEverythingOnceInOrder(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	var changes atomic.Int32
	m := newTestManager(t, t.TempDir(), src, sink, func(string) { changes.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	task := testTask(nil)
	if err := m.Follow(task, "app", "cid"); err != nil {
		t.Fatal(err)
	}
	src.write(numbered(0, 500)...)
	waitFor(t, "first lines", func() bool { return len(sink.messages()) > 0 })
	src.write(numbered(500, 25000)...)
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	if got, want := sink.messages(), numbered(0, 25000); !slices.Equal(got, want) {
		t.Fatalf("shipped %d lines, want %d in order", len(got), len(want))
	}
	for _, n := range sink.sizes {
		if n > MaxBatchEvents {
			t.Fatalf("batch of %d events", n)
		}
	}
	if len(sink.dups) != 0 {
		t.Errorf("re-sent batches %v", sink.dups)
	}
	if changes.Load() == 0 {
		t.Error("OnChange not called when drained")
	}
	m.Forget("cid")
	if entries, _ := os.ReadDir(m.cfg.Dir); len(entries) != 0 {
		t.Errorf("checkpoint left after Forget: %v", entries)
	}
}

func TestNotAwslogsIsIgnored(t *testing.T) {
	m := newTestManager(t, t.TempDir(), newFakeSource(), newFakeSink(), nil)
	task := testTask(nil)
	task.Definition.ContainerDefinitions[0].LogConfiguration.LogDriver = "json-file"
	if err := m.Follow(task, "app", "cid"); err != nil || !m.Drained("cid") {
		t.Fatalf("err %v", err)
	}
	task = testTask(map[string]string{OptGroup: ""})
	if err := m.Follow(task, "app", "cid"); !errors.Is(err, ErrOptions) {
		t.Fatalf("err %v, want ErrOptions", err)
	}
}

// TestRestartResendsInflightBatch: the server stores a batch but its
// acknowledgement is lost, and the agent stops; the restarted agent sends
// that batch again with the same BatchSeq and events, and then the rest.
func TestRestartResendsInflightBatch(t *testing.T) {
	dir := t.TempDir()
	src, sink := newFakeSource(), newFakeSink()
	task := testTask(nil)
	var lostSeq atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	sink.hook = func(req *ecsapi.GantryPutLogEventsRequest) (bool, error) {
		if req.BatchSeq == 3 && lostSeq.Load() == 0 {
			lostSeq.Store(3)
			cancel() // the agent dies before it hears the answer
			return true, errors.New("connection reset")
		}
		return true, nil
	}
	m := newTestManager(t, dir, src, sink, nil)
	m.Start(ctx)
	if err := m.Follow(task, "app", "cid"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ { // several batches
		src.write(numbered(i*100, (i+1)*100)...)
		if lostSeq.Load() != 0 {
			break
		}
		waitFor(t, "progress", func() bool { return len(sink.messages()) >= (i+1)*100 || lostSeq.Load() != 0 })
	}
	m.Wait()
	if lostSeq.Load() == 0 {
		t.Fatal("batch 3 never sent")
	}
	src.write(numbered(5000, 5100)...)
	src.stop()

	sink.hook = nil
	m2 := newTestManager(t, dir, src, sink, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); m2.Wait() }()
	m2.Start(ctx2)
	if err := m2.Follow(task, "app", "cid"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drained", func() bool { return m2.Drained("cid") })
	sink.mu.Lock()
	dups, mismatch := slices.Clone(sink.dups), slices.Clone(sink.mismatch)
	sink.mu.Unlock()
	if !slices.Equal(dups, []int64{3}) || len(mismatch) > 0 {
		t.Fatalf("re-sent batches %v (mismatched %v), want batch 3 re-sent as it was", dups, mismatch)
	}
	got := sink.messages()
	var want []string // everything the container wrote
	src.mu.Lock()
	for _, f := range src.frames {
		want = append(want, string(f.Data))
	}
	src.mu.Unlock()
	if len(want) < 300 || !slices.Equal(got, want) {
		t.Fatalf("shipped %d lines, want %d, once each and in order", len(got), len(want))
	}
}

// TestSinkDownBlocking: the server is unreachable for a while; blocking
// mode loses nothing.
func TestSinkDownBlocking(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	var down atomic.Bool
	down.Store(true)
	sink.hook = func(*ecsapi.GantryPutLogEventsRequest) (bool, error) {
		if down.Load() {
			return false, errors.New("connection refused")
		}
		return true, nil
	}
	m := newTestManager(t, t.TempDir(), src, sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	_ = m.Follow(testTask(nil), "app", "cid")
	src.write(numbered(0, 20000)...)
	waitFor(t, "retries", func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return len(sink.seqs) > 3 })
	down.Store(false)
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	if got := sink.messages(); !slices.Equal(got, numbered(0, 20000)) {
		t.Fatalf("shipped %d lines, want 20000", len(got))
	}
	if r := m.Reason("cid"); r != "" {
		t.Errorf("reason %q", r)
	}
}

// TestSinkDownNonBlocking: without a spool, events beyond max-buffer-size
// are dropped, and the reason says so.
func TestSinkDownNonBlocking(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	var down atomic.Bool
	down.Store(true)
	sink.hook = func(*ecsapi.GantryPutLogEventsRequest) (bool, error) {
		if down.Load() {
			return false, errors.New("connection refused")
		}
		return true, nil
	}
	var changed atomic.Int32
	m := newSpoolManager(t, t.TempDir(), src, sink, func(string) { changed.Add(1) }, -1) // no spool
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	_ = m.Follow(testTask(map[string]string{OptMode: ModeNonBlocking, OptMaxBufferSize: "64k"}), "app", "cid")
	src.write(numbered(0, 20000)...)
	waitFor(t, "drops", func() bool { return strings.Contains(m.Reason("cid"), "buffer full") })
	down.Store(false)
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	got := sink.messages()
	if len(got) >= 20000 || len(got) == 0 {
		t.Fatalf("shipped %d lines", len(got))
	}
	if !slices.IsSorted(got) {
		t.Fatal("shipped out of order")
	}
	want := fmt.Sprintf("awslogs: dropped %d log events: buffer full", 20000-len(got))
	if r := m.Reason("cid"); r != want {
		t.Errorf("reason %q, want %q", r, want)
	}
	if changed.Load() == 0 {
		t.Error("OnChange not called on drops")
	}
}

// TestRejectedBatchIsDropped: a batch the server refuses for good does not
// wedge the container's cleanup.
func TestRejectedBatchIsDropped(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	sink.hook = func(*ecsapi.GantryPutLogEventsRequest) (bool, error) {
		return false, fmt.Errorf("ResourceNotFoundException: no group: %w", ErrRejected)
	}
	m := newTestManager(t, t.TempDir(), src, sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	_ = m.Follow(testTask(nil), "app", "cid")
	src.write("a", "b")
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	if r := m.Reason("cid"); !strings.HasPrefix(r, "awslogs: dropped 2 log events: ResourceNotFoundException") {
		t.Fatalf("reason %q", r)
	}
}

// TestResumeSkipsShipped: a restarted agent whose last batch was
// acknowledged ships only what came after it, even with equal timestamps.
func TestResumeSkipsShipped(t *testing.T) {
	dir := t.TempDir()
	src, sink := newFakeSource(), newFakeSink()
	task := testTask(nil)
	m := newTestManager(t, dir, src, sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	_ = m.Follow(task, "app", "cid")
	src.write("a", "b")
	// Three frames with the very same timestamp.
	src.mu.Lock()
	same := src.next.Add(1)
	for _, l := range []string{"c1", "c2", "c3"} {
		src.frames = append(src.frames, src.frames[0])
		src.frames[len(src.frames)-1].Time, src.frames[len(src.frames)-1].Data = same, []byte(l)
	}
	src.next = same
	src.bump()
	src.mu.Unlock()
	waitFor(t, "5 lines", func() bool { return len(sink.messages()) == 5 })
	cancel()
	m.Wait()
	src.write("d", "e")
	src.stop()
	m2 := newTestManager(t, dir, src, sink, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); m2.Wait() }()
	m2.Start(ctx2)
	_ = m2.Follow(task, "app", "cid")
	waitFor(t, "drained", func() bool { return m2.Drained("cid") })
	if got := strings.Join(sink.messages(), ","); got != "a,b,c1,c2,c3,d,e" {
		t.Fatalf("shipped %s", got)
	}
}

// TestResumeOrphan: a restarted agent that no longer runs the task finds
// the container's checkpoint and finishes shipping its output.
func TestResumeOrphan(t *testing.T) {
	dir := t.TempDir()
	src, sink := newFakeSource(), newFakeSink()
	m := newTestManager(t, dir, src, sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	_ = m.Follow(testTask(map[string]string{OptMultilinePattern: "^line"}), "app", "cid")
	src.write(numbered(0, 100)...)
	waitFor(t, "some lines", func() bool { return len(sink.messages()) > 0 })
	cancel()
	m.Wait()
	src.write(numbered(100, 200)...)
	src.stop()

	m2 := newTestManager(t, dir, src, sink, nil)
	if m2.Resume("unknown") {
		t.Fatal("resumed a container without a checkpoint")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); m2.Wait() }()
	m2.Start(ctx2)
	if !m2.Resume("cid") {
		t.Fatal("checkpoint not found")
	}
	waitFor(t, "drained", func() bool { return m2.Drained("cid") })
	var want []string
	for _, l := range numbered(0, 200) {
		want = append(want, l+"\n") // multi-line events end with a line break
	}
	if got := sink.messages(); !slices.Equal(got, want) {
		t.Fatalf("shipped %d events, want 200 once each and in order", len(got))
	}
}
