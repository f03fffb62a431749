package logship

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeSource is one container's output in memory.
type fakeSource struct {
	mu      sync.Mutex
	frames  []runtime.LogFrame
	state   runtime.State
	changed chan struct{}
	next    time.Time
}

func newFakeSource() *fakeSource {
	return &fakeSource{state: runtime.StateRunning, changed: make(chan struct{}), next: t0}
}

func (f *fakeSource) bump() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// write appends lines, each 1 µs after the previous one.
func (f *fakeSource) write(lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range lines {
		f.next = f.next.Add(time.Microsecond)
		f.frames = append(f.frames, runtime.LogFrame{Time: f.next, Data: []byte(l)})
	}
	f.bump()
}

// rotate forgets all but the last keep frames, as Docker's local driver
// forgets its oldest file.
func (f *fakeSource) rotate(keep int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frames) > keep {
		f.frames = slices.Clone(f.frames[len(f.frames)-keep:])
	}
}

func (f *fakeSource) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = runtime.StateStopped
	f.bump()
}

func (f *fakeSource) InspectContainer(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return runtime.ContainerStatus{State: f.state}, nil
}

func (f *fakeSource) ReadLogs(ctx context.Context, id string, since time.Time) (runtime.LogStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, _ := slices.BinarySearchFunc(f.frames, since, func(fr runtime.LogFrame, t time.Time) int { return fr.Time.Compare(t) })
	return &fakeStream{f: f, i: i, ctx: ctx}, nil
}

type fakeStream struct {
	f   *fakeSource
	i   int
	ctx context.Context
}

func (s *fakeStream) Next() (runtime.LogFrame, error) {
	for {
		s.f.mu.Lock()
		if s.i < len(s.f.frames) {
			fr := s.f.frames[s.i]
			s.i++
			s.f.mu.Unlock()
			return fr, nil
		}
		if s.f.state == runtime.StateStopped {
			s.f.mu.Unlock()
			return runtime.LogFrame{}, io.EOF
		}
		ch := s.f.changed
		s.f.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return runtime.LogFrame{}, s.ctx.Err()
		case <-ch:
		}
	}
}

func (s *fakeStream) Close() error { return nil }

// fakeSink stores batches as the server will: once per (producer,
// batchSeq), in order.
type fakeSink struct {
	mu       sync.Mutex
	last     map[string]int64
	stored   map[string][]ecsapi.GantryLogEvent // by producer+seq, to compare re-sends
	events   []ecsapi.GantryLogEvent
	seqs     []int64 // every BatchSeq received, re-sends included
	dups     []int64
	sizes    []int
	hook     func(req *ecsapi.GantryPutLogEventsRequest) (store bool, err error)
	mismatch []string
}

func newFakeSink() *fakeSink {
	return &fakeSink{last: map[string]int64{}, stored: map[string][]ecsapi.GantryLogEvent{}}
}

func (s *fakeSink) PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(req.Events) == 0 {
		return nil
	}
	s.seqs = append(s.seqs, req.BatchSeq)
	store, err := true, error(nil)
	if s.hook != nil {
		store, err = s.hook(req)
	}
	if !store {
		return err
	}
	key := fmt.Sprintf("%s#%d", req.Producer, req.BatchSeq)
	if req.BatchSeq <= s.last[req.Producer] {
		s.dups = append(s.dups, req.BatchSeq)
		if prev, ok := s.stored[key]; ok && !slices.Equal(prev, req.Events) {
			s.mismatch = append(s.mismatch, key)
		}
		return err
	}
	s.last[req.Producer] = req.BatchSeq
	s.stored[key] = slices.Clone(req.Events)
	s.events = append(s.events, req.Events...)
	s.sizes = append(s.sizes, len(req.Events))
	return err
}

func (s *fakeSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.Message
	}
	return out
}

// testTask is a task with one awslogs container "app".
func testTask(opts map[string]string) *runtime.Task {
	o := map[string]string{OptGroup: "g", OptRegion: "us-east-1", OptStreamPrefix: "p"}
	for k, v := range opts {
		o[k] = v
	}
	return &runtime.Task{Arn: "arn:aws:ecs:us-east-1:123456789012:task/default/0123abcd", Cluster: "default",
		Definition: ecsapi.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: "x", LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: o}}}}}
}

func newTestManager(t *testing.T, dir string, src Source, sink Sink, onChange func(string)) *Manager {
	t.Helper()
	return newSpoolManager(t, dir, src, sink, onChange, 0)
}

// newSpoolManager is newTestManager with Config.SpoolSize spool.
func newSpoolManager(t *testing.T, dir string, src Source, sink Sink, onChange func(string), spool int64) *Manager {
	t.Helper()
	m, err := New(Config{Dir: dir, Cluster: "default", InstanceArn: func() string { return "arn:aws:ecs:us-east-1:123456789012:container-instance/default/i1" },
		Sink: sink, Source: src, BatchDelay: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, OnChange: onChange, SpoolSize: spool, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %06d", i))
	}
	return out
}

func testLogger() *slog.Logger {
	if os.Getenv("LOGSHIP_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
