package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// ecsInstances are ACTIVE, connected container instances of cluster c,
// alternately in az0 and az1.
func ecsInstances(arns ...string) []ecsapi.ContainerInstance {
	var out []ecsapi.ContainerInstance
	for i, a := range arns {
		out = append(out, ecsapi.ContainerInstance{ContainerInstanceArn: a, Status: "ACTIVE", AgentConnected: true,
			Attributes: []ecsapi.Attribute{{Name: "ecs.availability-zone", Value: fmt.Sprintf("az%d", i%2)}}})
	}
	return out
}

// newTestController is a controller over w at t0 that does not run: tests
// call Reconcile.
func newTestController(w *fakeWorld) *Controller {
	opts := Options{Config: testCfg, Now: func() time.Time { return t0 }}
	return New(w.deps(&fakeElector{}), opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestReconcileScaleOutOneCall: the missing tasks of a service, 25 here,
// are placed in one call with the service's options, and the event names
// them all.
func TestReconcileScaleOutOneCall(t *testing.T) {
	w := newFakeWorld()
	svc := svcFixture(25, func(s *ecsapi.Service) {
		s.EnableECSManagedTags = true
		s.PropagateTags = "SERVICE"
		s.Tags = []ecsapi.Tag{{Key: "team", Value: "x"}}
		s.LaunchType = "EC2"
	})
	w.put("c", svc)
	w.insts["c"] = ecsInstances(inst1, inst2, inst3)
	c := newTestController(w)
	if err := c.Reconcile(context.Background(), "c/web"); err != nil {
		t.Fatal(err)
	}
	want := []runCall{{Count: 25, Spec: TaskSpec{Cluster: "c", TaskDefinition: "td:1", StartedBy: "d1", Group: "service:web",
		LaunchType: "EC2", PlacementStrategy: defaultStrategy(), PropagateTags: "SERVICE", ServiceTags: svc.Tags,
		ManagedTags: []ecsapi.Tag{{Key: "aws:ecs:clusterName", Value: "c"}, {Key: "aws:ecs:serviceName", Value: "web"}}}}}
	if !reflect.DeepEqual(w.runs, want) {
		t.Fatalf("runs\n got %+v\nwant %+v", w.runs, want)
	}
	if len(w.stops) != 0 || len(w.starts) != 0 {
		t.Fatalf("stops %v starts %v", w.stops, w.starts)
	}
	if len(w.events) != 1 || !strings.HasPrefix(w.events[0], "(service web) has started 25 tasks: (task new001) ") ||
		!strings.HasSuffix(w.events[0], "(task new025).") {
		t.Fatalf("events %q", w.events)
	}
}

// TestReconcileScaleIn: a service above its desired count stops the tasks
// ECS would (not yet running first, then from the fullest zone and
// instance, newest first) with ECS's reason.
func TestReconcileScaleIn(t *testing.T) {
	w := newFakeWorld()
	w.put("c", svcFixture(2))
	w.insts["c"] = ecsInstances(inst1, inst2, inst3)
	a := tk("d1", inst1, "RUNNING")
	b := tk("d1", inst1, "RUNNING")
	cc := tk("d1", inst2, "RUNNING")
	d := tk("d1", inst3, "PENDING")
	w.tasks["c/web"] = []ecsapi.Task{a, b, cc, d}
	c := newTestController(w)
	if err := c.Reconcile(context.Background(), "c/web"); err != nil {
		t.Fatal(err)
	}
	reason := "Scaling activity initiated by (deployment d1)"
	want := []Stop{{TaskArn: d.TaskArn, Reason: reason}, {TaskArn: b.TaskArn, Reason: reason}}
	if !reflect.DeepEqual(w.stops, want) {
		t.Fatalf("stops\n got %+v\nwant %+v", w.stops, want)
	}
	if len(w.runs) != 0 {
		t.Fatalf("runs %+v", w.runs)
	}
	wantEvent := "(service web) has stopped 1 running tasks: (task " + taskID(b.TaskArn) + ")."
	if len(w.events) != 1 || w.events[0] != wantEvent {
		t.Fatalf("events %q, want %q", w.events, wantEvent)
	}
}

// TestReconcileUnplaced: tasks that cannot be started give the service
// ECS's event and a retry; the causes are told apart by type.
func TestReconcileUnplaced(t *testing.T) {
	const head = "(service web) was unable to place a task because no container instance met all of its requirements."
	const tail = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	tests := []struct {
		name     string
		place    int
		failures []ecsapi.Failure
		runErr   error
		event    string // "" for none
		unplaced bool   // the error is errUnplaced (else another retry)
	}{
		{name: "no instance has room", place: 1, failures: []ecsapi.Failure{{Arn: inst2, Reason: "DRAINING"}, {Arn: inst1, Reason: "RESOURCE:MEMORY"}},
			event: head + " The closest matching (container-instance i1) has insufficient memory available." + tail, unplaced: true},
		{name: "no reasons", place: 0,
			event: head + tail, unplaced: true},
		{name: "no container instances", runErr: fmt.Errorf("run: %w", ErrNoInstances),
			event: head + " Reason: No Container Instances were found in your cluster." + tail, unplaced: true},
		{name: "refused", runErr: fmt.Errorf("run: %w", &RefusedError{Message: "TaskDefinition is inactive"}),
			event: "(service web) was unable to start tasks: TaskDefinition is inactive", unplaced: true},
		{name: "failed call", runErr: errors.New("etcd is away")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFakeWorld()
			w.put("c", svcFixture(3))
			w.insts["c"] = ecsInstances(inst1, inst2)
			w.place, w.failures, w.runErr = tt.place, tt.failures, tt.runErr
			c := newTestController(w)
			err := c.Reconcile(context.Background(), "c/web")
			if err == nil {
				t.Fatal("reconcile: nil, want an error to requeue")
			}
			if errors.Is(err, errUnplaced) != tt.unplaced {
				t.Fatalf("reconcile: %v, unplaced %v", err, tt.unplaced)
			}
			var unplacedEvents []string
			for _, e := range w.events {
				if !strings.Contains(e, "has started") {
					unplacedEvents = append(unplacedEvents, e)
				}
			}
			switch {
			case tt.event == "" && len(unplacedEvents) != 0:
				t.Fatalf("events %q, want none", unplacedEvents)
			case tt.event != "" && (len(unplacedEvents) != 1 || unplacedEvents[0] != tt.event):
				t.Fatalf("events\n got %q\nwant %q", unplacedEvents, tt.event)
			}
		})
	}
}

// TestReconcileConflict: when the record changes between the read and the
// write, or this server no longer leads, Reconcile writes nothing, starts
// and stops nothing, and returns ErrConflict so that the key is retried.
func TestReconcileConflict(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(w *fakeWorld, c *Controller)
	}{
		{name: "record changed", setup: func(w *fakeWorld, c *Controller) {
			w.afterRead = func(key string) {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.rev++
				w.revs[key] = w.rev
			}
		}},
		{name: "leadership lost", setup: func(w *fakeWorld, c *Controller) {
			l := &fakeLeadership{lost: make(chan struct{})}
			l.lose()
			c.lead = l
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newFakeWorld()
			// Two running tasks the record does not count yet: a write, and
			// a third task to start after it.
			w.put("c", svcFixture(3))
			w.insts["c"] = ecsInstances(inst1, inst2)
			w.tasks["c/web"] = []ecsapi.Task{tk("d1", inst1, "RUNNING"), tk("d1", inst2, "RUNNING")}
			c := newTestController(w)
			tt.setup(w, c)
			err := c.Reconcile(context.Background(), "c/web")
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("reconcile: %v, want ErrConflict", err)
			}
			if len(w.writes) != 0 || len(w.runs) != 0 || len(w.stops) != 0 || len(w.events) != 0 {
				t.Fatalf("writes %d runs %v stops %v events %q", len(w.writes), w.runs, w.stops, w.events)
			}
			// Against fresh state and a live leadership, it goes through.
			w.afterRead = nil
			c.lead = nil
			if err := c.Reconcile(context.Background(), "c/web"); err != nil {
				t.Fatal(err)
			}
			if len(w.writes) != 1 || w.writes[0].RunningCount != 2 || len(w.runs) != 1 || w.runs[0].Count != 1 {
				t.Fatalf("writes %+v runs %+v", w.writes, w.runs)
			}
		})
	}
}

// TestReconcileDaemon: a DAEMON service starts one task on each eligible
// instance, naming the instance.
func TestReconcileDaemon(t *testing.T) {
	w := newFakeWorld()
	w.put("c", svcFixture(0, func(s *ecsapi.Service) { s.SchedulingStrategy = "DAEMON" }))
	w.insts["c"] = ecsInstances(inst1, inst2)
	c := newTestController(w)
	if err := c.Reconcile(context.Background(), "c/web"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range w.starts {
		if s.Spec.StartedBy != "d1" || s.Spec.Group != "service:web" {
			t.Fatalf("start %+v", s)
		}
		got = append(got, s.Instance)
	}
	if !reflect.DeepEqual(got, []string{inst1, inst2}) || len(w.runs) != 0 {
		t.Fatalf("started on %v, runs %v", got, w.runs)
	}
}

// TestReconcileNothingToDo: a missing or INACTIVE service reconciles to
// nothing, and a cluster key queues the cluster's services.
func TestReconcileNothingToDo(t *testing.T) {
	w := newFakeWorld()
	w.put("c", svcFixture(2, func(s *ecsapi.Service) { s.Status = "INACTIVE" }))
	w.put("c", svcFixture(2, func(s *ecsapi.Service) { s.ServiceName = "api" }))
	c := newTestController(w)
	for _, key := range []string{"c/nope", "c/web", "cluster:c", "junk"} {
		if err := c.Reconcile(context.Background(), key); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	if len(w.writes)+len(w.runs)+len(w.stops)+len(w.starts)+len(w.events) != 0 {
		t.Fatalf("writes %d runs %v stops %v starts %v events %q", len(w.writes), w.runs, w.stops, w.starts, w.events)
	}
}

// TestRunLeadership: Run reconciles only while it leads; a lost
// leadership stops it until it wins again; on return it has resigned.
func TestRunLeadership(t *testing.T) {
	w := newFakeWorld()
	e := &fakeElector{won: make(chan *fakeLeadership)}
	c := New(w.deps(e), Options{Config: testCfg}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	first := <-e.won
	waitFor(t, "leading", c.Leading)
	first.lose()
	second := <-e.won
	waitFor(t, "leading again", c.Leading)
	if !first.isLost() {
		t.Fatal("first term still held")
	}
	cancel()
	<-done
	if c.Leading() {
		t.Fatal("leading after Run returned")
	}
	second.mu.Lock()
	resigned := second.resigned
	second.mu.Unlock()
	if !resigned {
		t.Fatal("Run returned without resigning")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
