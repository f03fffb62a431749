package state_test

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

func taskARN(cluster, id string) string { return "arn:task/" + cluster + "/" + id }

// running starts a state on s until the test ends.
func running(t *testing.T, s *store.Store) *state.State {
	t.Helper()
	st := state.New(state.Config{Store: s, TaskARN: taskARN})
	ctx, cancel := context.WithCancel(context.Background())
	st.Run(ctx)
	t.Cleanup(func() {
		cancel()
		st.Wait()
	})
	if err := st.Views.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func putTask(t *testing.T, s *store.Store, id, group, last string) {
	t.Helper()
	rec := &record.Task{Task: ecsapi.Task{TaskArn: taskARN("c", id), Group: group, LastStatus: last, DesiredStatus: "RUNNING",
		Tags: []ecsapi.Tag{{Key: "k", Value: "v"}}, Overrides: &ecsapi.TaskOverride{}}}
	if _, err := store.Mutate(t.Context(), s, record.TaskKey("c", id), func(cur *record.Task, _ bool) error {
		*cur = *rec
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestServiceTasksFromTheWatch: task records written by others (not this
// server's placements) reach the index through the watch, as summaries;
// a new state loads them from the list; a deletion removes them.
func TestServiceTasksFromTheWatch(t *testing.T) {
	s := store.NewMemory(nil)
	defer s.Close()
	st := running(t, s)
	ctx := t.Context()
	putTask(t, s, "a", "service:x", "PENDING")
	putTask(t, s, "b", "service:x", "PENDING")
	putTask(t, s, "c", "family:web", "PENDING")
	putTask(t, s, "d", "service:y", "PENDING")
	got := st.Views.ServiceTasks(ctx, "c", "x")
	if len(got) != 2 || got[0].TaskArn != taskARN("c", "a") || got[1].TaskArn != taskARN("c", "b") {
		t.Fatalf("service x: %+v", got)
	}
	if got[0].Tags != nil || got[0].Overrides != nil {
		t.Fatalf("summary keeps tags or overrides: %+v", got[0])
	}
	putTask(t, s, "a", "service:x", "RUNNING")
	if got := st.Views.ServiceTasks(ctx, "c", "x"); got[0].LastStatus != "RUNNING" {
		t.Fatalf("after the update: %+v", got[0])
	}
	// A second server loads them from the list.
	other := running(t, s)
	if got := other.Views.ServiceTasks(ctx, "c", "x"); len(got) != 2 || got[0].LastStatus != "RUNNING" {
		t.Fatalf("loaded: %+v", got)
	}
	if _, err := s.Txn(ctx, nil, store.OpDelete(record.TaskKey("c", "a"))); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*state.Views{st.Views, other.Views} {
		if got := v.ServiceTasks(ctx, "c", "x"); len(got) != 1 || got[0].TaskArn != taskARN("c", "b") {
			t.Fatalf("after the delete: %+v", got)
		}
		if got := v.ServiceTasks(ctx, "c", "y"); len(got) != 1 {
			t.Fatalf("service y: %+v", got)
		}
		if got := v.ServiceTasks(ctx, "c", "web"); len(got) != 0 {
			t.Fatalf("family task indexed: %+v", got)
		}
	}
}
