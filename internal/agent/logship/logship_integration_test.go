package logship_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/logship"
	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/runtime/docker"
	"github.com/gantry-dev/gantry/internal/agent/taskengine"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// linesSource prints os.Args[1] numbered lines on stdout, os.Args[3]
// (default 1) at a time every os.Args[2], each padded to os.Args[4] bytes
// if given, then "done" on stderr, and exits.
const linesSource = `package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	every, _ := time.ParseDuration(os.Args[2])
	burst, pad := 1, 0
	if len(os.Args) > 3 {
		burst, _ = strconv.Atoi(os.Args[3])
	}
	if len(os.Args) > 4 {
		pad, _ = strconv.Atoi(os.Args[4])
	}
	next := time.Now()
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("line %06d", i)
		if len(line) < pad {
			line += " " + strings.Repeat("x", pad-len(line)-1)
		}
		os.Stdout.WriteString(line + "\n")
		if every > 0 && (i+1)%burst == 0 {
			next = next.Add(every)
			time.Sleep(time.Until(next))
		}
	}
	fmt.Fprintln(os.Stderr, "done")
}
`

const linesTag = "gantry-test/lines:latest"

// recordingSink stores batches once per (producer, batchSeq), as the
// server will, and records every BatchSeq it receives.
type recordingSink struct {
	mu     sync.Mutex
	last   map[string]int64
	byKey  map[string][]ecsapi.GantryLogEvent
	events []ecsapi.GantryLogEvent
	seqs   []int64
	dups   []int64
	diff   []int64 // re-sent seqs whose events differ
	reqs   []ecsapi.GantryPutLogEventsRequest
	// hook, when set, may keep the batch from being stored or answer an
	// error after storing it (a lost acknowledgement).
	hook func(req *ecsapi.GantryPutLogEventsRequest) (store bool, err error)
}

func newRecordingSink() *recordingSink {
	return &recordingSink{last: map[string]int64{}, byKey: map[string][]ecsapi.GantryLogEvent{}}
}

func (s *recordingSink) PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(req.Events) == 0 {
		return nil
	}
	r := *req
	r.Events = nil
	s.reqs = append(s.reqs, r)
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
		if !slices.Equal(s.byKey[key], req.Events) {
			s.diff = append(s.diff, req.BatchSeq)
		}
		return err
	}
	s.last[req.Producer] = req.BatchSeq
	s.byKey[key] = slices.Clone(req.Events)
	s.events = append(s.events, req.Events...)
	return err
}

func (s *recordingSink) stdout() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		if e.Message != "done" {
			out = append(out, e.Message)
		}
	}
	return out
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %06d", i)
	}
	return out
}

type env struct {
	rt   *docker.Runtime
	task *runtime.Task
	dir  string
}

func setup(t *testing.T, lines int, every time.Duration, more ...string) *env {
	t.Helper()
	cli := testutil.RequireDocker(t)
	testutil.BuildImage(t, linesTag, linesSource)
	instance := testutil.UniqueID("logship")
	testutil.CleanupLabelled(t, cli, docker.LabelInstance+"="+instance)
	rt, err := docker.New(docker.Config{InstanceID: instance, StopTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	task := &runtime.Task{Arn: "arn:aws:ecs:us-east-1:123456789012:task/it/" + testutil.UniqueID("t"), Cluster: "it",
		Definition: ecsapi.TaskDefinition{Family: "lines", Revision: 1, ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: linesTag, Command: append([]string{fmt.Sprint(lines), every.String()}, more...),
			LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
				"awslogs-group": "/it/lines", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "it"}},
		}}}}
	return &env{rt: rt, task: task, dir: t.TempDir()}
}

// start creates and starts the task's container and returns its ID.
func (e *env) start(t *testing.T, ctx context.Context) string {
	t.Helper()
	res, err := e.rt.PrepareTask(ctx, e.task)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.rt.CreateContainer(ctx, runtime.CreateSpec{Task: e.task, Container: "app", Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.rt.Client().ContainerInspect(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if lc := c.HostConfig.LogConfig; lc.Type != "local" || lc.Config["max-size"] != logship.LocalMaxSize {
		t.Fatalf("awslogs container created with log config %+v, want the local driver", lc)
	}
	if err := e.rt.StartContainer(ctx, ref.ID); err != nil {
		t.Fatal(err)
	}
	return ref.ID
}

func (e *env) manager(t *testing.T, sink logship.Sink) *logship.Manager {
	t.Helper()
	m, err := logship.New(logship.Config{Dir: e.dir, Cluster: "it", InstanceArn: func() string { return "arn:aws:ecs:us-east-1:123456789012:container-instance/it/i" },
		Sink: sink, Source: e.rt, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, timeout, what, func() error {
		if !cond() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// TestShipContainerAcrossRestart: a container prints numbered lines; the
// shipper is killed (its context cancelled) right after the server stored
// a batch whose acknowledgement it never saw, and restarted from the same
// data dir: every line arrives once and in order, and the re-sent batch
// keeps its BatchSeq and events.
func TestShipContainerAcrossRestart(t *testing.T) {
	e := setup(t, 3000, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := e.start(t, ctx)

	sink := newRecordingSink()
	mctx, kill := context.WithCancel(ctx)
	var lost int64
	sink.hook = func(req *ecsapi.GantryPutLogEventsRequest) (bool, error) {
		if lost == 0 && len(req.Events) > 0 && req.BatchSeq >= 3 {
			lost = req.BatchSeq
			kill() // the agent dies before it hears the answer
			return true, fmt.Errorf("connection reset")
		}
		return true, nil
	}
	m := e.manager(t, sink)
	m.Start(mctx)
	if err := m.Follow(e.task, "app", id); err != nil {
		t.Fatal(err)
	}
	<-mctx.Done()
	m.Wait()
	sink.mu.Lock()
	sink.hook = nil
	before := len(sink.events)
	sink.mu.Unlock()
	if lost == 0 {
		t.Fatal("no batch lost")
	}

	m2 := e.manager(t, sink)
	m2ctx, stop := context.WithCancel(ctx)
	defer func() { stop(); m2.Wait() }()
	m2.Start(m2ctx)
	if err := m2.Follow(e.task, "app", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "all lines shipped", func() bool { return m2.Drained(id) })
	if got, want := sink.stdout(), numbered(3000); !slices.Equal(got, want) {
		t.Fatalf("shipped %d stdout lines (first batches %d), want 3000 once each and in order", len(got), before)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !slices.Equal(sink.dups, []int64{lost}) || len(sink.diff) > 0 {
		t.Fatalf("re-sent batches %v (differing %v), want batch %d re-sent as it was", sink.dups, sink.diff, lost)
	}
	// Docker copies stdout and stderr on separate goroutines, so stderr's
	// last line may reach the log file before stdout's last lines: it must
	// arrive once, not necessarily last.
	if n := len(sink.events) - 3000; n != 1 {
		t.Errorf("stderr's done shipped %d times, want once", n)
	}
	r := sink.reqs[0]
	if r.LogGroupName != "/it/lines" || r.LogStreamName != "it/app/"+logship.TaskID(e.task.Arn) || r.ContainerName != "app" || r.Task != e.task.Arn {
		t.Errorf("request %+v", r)
	}
}

// TestShipContainerThatExitsAtOnce: a container that prints and exits at
// once has all its lines shipped, even when the shipper starts after it
// exited.
func TestShipContainerThatExitsAtOnce(t *testing.T) {
	e := setup(t, 2000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := e.start(t, ctx)
	waitFor(t, time.Minute, "container exited", func() bool {
		st, err := e.rt.InspectContainer(ctx, id)
		return err == nil && st.State == runtime.StateStopped
	})
	sink := newRecordingSink()
	m := e.manager(t, sink)
	mctx, stop := context.WithCancel(ctx)
	defer func() { stop(); m.Wait() }()
	m.Start(mctx)
	if err := m.Follow(e.task, "app", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "drained", func() bool { return m.Drained(id) })
	if got := sink.stdout(); !slices.Equal(got, numbered(2000)) {
		t.Fatalf("shipped %d lines, want 2000 in order", len(got))
	}
	if sink.count() != 2001 {
		t.Fatalf("%d events, want 2001", sink.count())
	}
}

// stateRecorder records the task's reports, and how many events the sink
// held when the task was reported STOPPED.
type stateRecorder struct {
	mu        sync.Mutex
	sink      *recordingSink
	statuses  []string
	atStopped int
	last      ecsapi.GantrySubmitTaskStateRequest
}

func (r *stateRecorder) SubmitTaskState(ctx context.Context, req *ecsapi.GantrySubmitTaskStateRequest) error {
	n := r.sink.count()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) == 0 || r.statuses[len(r.statuses)-1] != req.Status {
		r.statuses = append(r.statuses, req.Status)
		if req.Status == "STOPPED" {
			r.atStopped = n
		}
	}
	r.last = *req
	return nil
}

// TestEngineShipsBeforeStoppedAndCleanup: through the task engine, a
// container that prints and exits at once has all its lines shipped
// before its task is reported STOPPED, and its container is removed (and
// its checkpoint deleted) only after.
func TestEngineShipsBeforeStoppedAndCleanup(t *testing.T) {
	e := setup(t, 3000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sink := newRecordingSink()
	rec := &stateRecorder{sink: sink}
	var engine *taskengine.Engine
	m, err := logship.New(logship.Config{Dir: e.dir, Cluster: "it", InstanceArn: func() string { return "arn:aws:ecs:us-east-1:123456789012:container-instance/it/i" },
		Sink: sink, Source: e.rt, OnChange: func(arn string) { engine.LogsChanged(arn) }})
	if err != nil {
		t.Fatal(err)
	}
	engine = taskengine.New(taskengine.Config{Cluster: "it", Logs: m, LogFlushTimeout: time.Minute}, e.rt, rec)
	m.Start(ctx)
	if err := engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); engine.Wait(); m.Wait() }()
	engine.Sync([]ecsapi.GantryAssignedTask{{
		Task:           ecsapi.Task{TaskArn: e.task.Arn, LastStatus: "PROVISIONING", DesiredStatus: "RUNNING"},
		TaskDefinition: e.task.Definition,
	}}, nil)
	waitFor(t, time.Minute, "task cleaned up", func() bool { return len(engine.Running()) == 0 })
	rec.mu.Lock()
	atStopped, statuses := rec.atStopped, rec.statuses
	rec.mu.Unlock()
	if atStopped != 3001 {
		t.Fatalf("%d events shipped when the task was reported STOPPED (statuses %v), want 3001", atStopped, statuses)
	}
	if got := sink.stdout(); !slices.Equal(got, numbered(3000)) {
		t.Fatalf("shipped %d lines, want 3000 in order", len(got))
	}
	if list, _ := e.rt.ListContainers(ctx); len(list) != 0 {
		t.Errorf("containers left: %v", list)
	}
	if files, _ := os.ReadDir(e.dir); len(files) != 0 {
		t.Errorf("checkpoints left: %v", files)
	}
}
