package taskengine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeLogs is a LogShipper whose containers drain when the test says so.
type fakeLogs struct {
	mu         sync.Mutex
	followed   []string
	drained    map[string]bool
	reason     map[string]string
	forgotten  []string
	prepareErr error
}

func (f *fakeLogs) Prepare(ctx context.Context, task *runtime.Task, container, id string) error {
	return f.prepareErr
}

func (f *fakeLogs) Follow(task *runtime.Task, container, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.followed = append(f.followed, id)
	return nil
}

func (f *fakeLogs) Resume(id string) bool { return false }

func (f *fakeLogs) Drained(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drained[id]
}

func (f *fakeLogs) Reason(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason[id]
}

func (f *fakeLogs) Forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, id)
}

func startWithLogs(t *testing.T, logs *fakeLogs) (*Engine, *fakeRuntime, *recorder) {
	t.Helper()
	rt, rec := newFake(), &recorder{}
	e := New(Config{Cluster: "c", Resync: 50 * time.Millisecond, Logs: logs, LogFlushTimeout: 100 * time.Millisecond}, rt, rec)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	return e, rt, rec
}

// TestContainersKeptUntilLogsShipped: a stopped task's containers are not
// removed before their output is shipped, and the drop reason is reported.
func TestContainersKeptUntilLogsShipped(t *testing.T) {
	logs := &fakeLogs{drained: map[string]bool{}, reason: map[string]string{}}
	e, rt, rec := startWithLogs(t, logs)
	e.Sync([]ecsapi.GantryAssignedTask{assigned("arn:l1", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "img"})}, nil)
	waitFor(t, "RUNNING", func() bool { return strings.HasSuffix(joined(rec.statuses()), "RUNNING") })
	logs.mu.Lock()
	followed := strings.Join(logs.followed, ",")
	logs.reason["c1"] = "awslogs: dropped 3 log events: buffer full"
	logs.mu.Unlock()
	if followed != "c1" {
		t.Fatalf("followed %q, want c1", followed)
	}
	rt.exit("arn:l1", "web", 0)
	waitFor(t, "STOPPED", func() bool { return strings.HasSuffix(joined(rec.statuses()), "STOPPED") })
	if r := rec.last().Containers[0].Reason; r != "awslogs: dropped 3 log events: buffer full" {
		t.Errorf("container reason %q", r)
	}
	time.Sleep(200 * time.Millisecond)
	rt.mu.Lock()
	early := strings.Contains(joined(rt.calls), "cleanup")
	rt.mu.Unlock()
	if early {
		t.Fatal("containers removed before their logs were shipped")
	}
	logs.mu.Lock()
	logs.drained["c1"] = true
	logs.mu.Unlock()
	e.LogsChanged("arn:l1")
	waitFor(t, "cleanup", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return strings.Contains(joined(rt.calls), "cleanup")
	})
	waitFor(t, "forget", func() bool {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		return len(logs.forgotten) == 1
	})
}

func TestLogPrepareFailureFailsToStart(t *testing.T) {
	logs := &fakeLogs{drained: map[string]bool{}, prepareErr: errors.New("ResourceNotFoundException: The specified log group does not exist.")}
	e, _, rec := startWithLogs(t, logs)
	e.Sync([]ecsapi.GantryAssignedTask{assigned("arn:l2", "RUNNING", ecsapi.ContainerDefinition{Name: "web", Image: "img"})}, nil)
	waitFor(t, "STOPPED", func() bool { return strings.HasSuffix(joined(rec.statuses()), "STOPPED") })
	if r := rec.last().Reason; !strings.HasPrefix(r, "CannotStartContainerError: failed to initialize logging driver: ResourceNotFoundException") {
		t.Fatalf("reason %q", r)
	}
}
