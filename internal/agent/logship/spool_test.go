package logship

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// downSink makes sink fail every batch while the returned flag is set.
func downSink(sink *fakeSink) *atomic.Bool {
	var down atomic.Bool
	down.Store(true)
	sink.hook = func(*ecsapi.GantryPutLogEventsRequest) (bool, error) {
		if down.Load() {
			return false, errors.New("connection refused")
		}
		return true, nil
	}
	return &down
}

// TestSpoolOutageRotationRestart: the server is unreachable, the container
// writes far more than the memory buffer, the runtime rotates its log
// files away and the agent restarts while the server is still down; once
// the server is back every line arrives, once and in order, from the
// spool.
func TestSpoolOutageRotationRestart(t *testing.T) {
	for _, mode := range []string{ModeBlocking, ModeNonBlocking} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			src, sink := newFakeSource(), newFakeSink()
			down := downSink(sink)
			task := testTask(map[string]string{OptMode: mode})
			m := newTestManager(t, dir, src, sink, nil)
			ctx, cancel := context.WithCancel(context.Background())
			m.Start(ctx)
			if err := m.Follow(task, "app", "cid"); err != nil {
				t.Fatal(err)
			}
			const n = 60000 // 60,000 lines of ~100 bytes: about 6 MiB, three times the memory buffer
			pad := strings.Repeat("x", 88)
			var want []string
			for i := 0; i < n; i++ {
				want = append(want, numbered(i, i+1)[0]+pad)
			}
			src.write(want[:n/2]...)
			var seen int64
			waitFor(t, "everything read into the spool", func() bool {
				time.Sleep(300 * time.Millisecond)
				used := m.SpoolUsed()
				done := used > 2<<20 && used == seen
				seen = used
				return done
			})
			cancel() // the agent dies
			m.Wait()
			src.write(want[n/2:]...)
			// The runtime's files hold only what came after the agent's
			// death, and the last 100 lines before it (more than the
			// spool's write buffer).
			src.rotate(n/2 + 100)

			m2 := newTestManager(t, dir, src, sink, nil)
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer func() { cancel2(); m2.Wait() }()
			m2.Start(ctx2)
			if err := m2.Follow(task, "app", "cid"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the rest spooled", func() bool { return m2.SpoolUsed() > 5<<20 })
			down.Store(false)
			src.stop()
			waitFor(t, "drained", func() bool { return m2.Drained("cid") })
			got := sink.messages()
			if !slices.Equal(got, want) {
				t.Fatalf("shipped %d lines, want %d once each and in order", len(got), len(want))
			}
			if r := m2.Reason("cid"); r != "" {
				t.Errorf("reason %q", r)
			}
			waitFor(t, "spool emptied", func() bool { return m2.SpoolUsed() == 0 })
			m2.Forget("cid")
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Errorf("files left after Forget: %v", left)
			}
		})
	}
}

// TestSpoolFullNonBlocking: in non-blocking mode, events beyond the memory
// buffer and the spools' bound are dropped, the reason says so, and what
// was kept arrives in order.
func TestSpoolFullNonBlocking(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	down := downSink(sink)
	var changed atomic.Int32
	m := newSpoolManager(t, t.TempDir(), src, sink, func(string) { changed.Add(1) }, 256<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	_ = m.Follow(testTask(map[string]string{OptMode: ModeNonBlocking, OptMaxBufferSize: "64k"}), "app", "cid")
	src.write(numbered(0, 40000)...)
	waitFor(t, "drops", func() bool { return strings.Contains(m.Reason("cid"), "buffer full") })
	down.Store(false)
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	got := sink.messages()
	// 64 KiB in memory and 256 KiB of spool hold more than 64 KiB alone.
	if len(got) >= 40000 || len(got) < 64<<10/(11+EventOverhead)+1000 {
		t.Fatalf("shipped %d lines", len(got))
	}
	if !slices.IsSorted(got) {
		t.Fatal("shipped out of order")
	}
	if r, want := m.Reason("cid"), "buffer full"; !strings.Contains(r, want) {
		t.Errorf("reason %q", r)
	}
	if changed.Load() == 0 {
		t.Error("OnChange not called on drops")
	}
}

// TestSpoolBlockingWaitsWhenFull: in blocking mode a full spool stops the
// reader (the rest waits in the runtime's files); nothing is dropped.
func TestSpoolBlockingWaitsWhenFull(t *testing.T) {
	src, sink := newFakeSource(), newFakeSink()
	down := downSink(sink)
	m := newSpoolManager(t, t.TempDir(), src, sink, nil, 256<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); m.Wait() }()
	m.Start(ctx)
	_ = m.Follow(testTask(nil), "app", "cid")
	src.write(numbered(0, 120000)...)
	// The reader stops at the bound, short of the output's end.
	var used int64
	waitFor(t, "the spool full and the reader stopped", func() bool {
		time.Sleep(300 * time.Millisecond)
		now := m.SpoolUsed()
		done := now >= 256<<10 && now == used
		used = now
		return done
	})
	if total := 120000 * spoolCost(event{msg: "line 000000"}); used >= total {
		t.Fatalf("spool at %d bytes: the whole output (%d) was spooled", used, total)
	}
	down.Store(false)
	src.stop()
	waitFor(t, "drained", func() bool { return m.Drained("cid") })
	if got := sink.messages(); !slices.Equal(got, numbered(0, 120000)) {
		t.Fatalf("shipped %d lines, want 120000", len(got))
	}
}

// TestSpoolTornTail: a record torn by a crash ends the spool; the records
// before it are read back as written.
func TestSpoolTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.spool")
	sp, err := openSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	in := []event{{ts: 1, msg: "one", size: 29, pos: Pos{TS: 10, N: 1}},
		{ts: 2, msg: "two\nlines", size: 35, pos: Pos{TS: 20, N: 2}},
		{ts: 3, msg: "three", size: 31, pos: Pos{TS: 30, N: 1}}}
	var ends []int64
	for _, e := range in {
		end, err := sp.append(e)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	sp.close()
	if err := os.Truncate(path, ends[2]-2); err != nil {
		t.Fatal(err)
	}
	sp, err = openSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.write != ends[1] || sp.last != in[1].pos {
		t.Fatalf("spool ends at %d after %v, want %d after %v", sp.write, sp.last, ends[1], in[1].pos)
	}
	sp.read = ends[0]
	got, err := sp.load(1 << 20)
	if err != nil || len(got) != 1 {
		t.Fatalf("load: %v %v", got, err)
	}
	want := in[1]
	want.spoolEnd = ends[1]
	if got[0] != want {
		t.Fatalf("read %+v, want %+v", got[0], want)
	}
}
