package state_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// ours counts the goroutines running code of the state or the store.
func ours() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gantry/internal/state.") || strings.Contains(g, "gantry/internal/store.") {
			n++
			found = append(found, g)
		}
	}
	return n, strings.Join(found, "\n\n")
}

func TestRunLeaksNothing(t *testing.T) {
	s := store.NewMemory(nil)
	defer s.Close()
	st := state.New(state.Config{Store: s, TaskARN: func(cluster, id string) string { return "arn:task/" + cluster + "/" + id }})
	ctx, cancel := context.WithCancel(context.Background())
	st.Run(ctx)
	if err := st.Views.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.TaskDefs.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	st.Agents.Connected(ctx, "c", "i-1")
	if n, err := s.Count(ctx, record.PrefixOf("connected")); err != nil || n != 1 {
		t.Fatalf("connected keys: %d %v", n, err)
	}
	if _, err := s.Create(ctx, record.InstanceKey("c", "i-1"), &record.Instance{}); err != nil {
		t.Fatal(err)
	}
	st.Views.SyncNow(ctx)
	cancel()
	st.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, stacks := ours()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Wait:\n%s", n, stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
