package ecs

import (
	"encoding/hex"
	"slices"
	"testing"
	"time"
)

func TestNewTaskID(t *testing.T) {
	base := time.UnixMilli(1795675875029)
	var ids []string
	seen := map[string]bool{}
	for i := range 1000 {
		id := newTaskID(base.Add(time.Duration(i/10) * time.Millisecond))
		if len(id) != 32 {
			t.Fatalf("%q: %d characters, want 32", id, len(id))
		}
		if _, err := hex.DecodeString(id); err != nil {
			t.Fatalf("%q is not hex: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("%q repeated", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if got, want := ids[0][:12], "01a2169f66d5"; got != want {
		t.Fatalf("time prefix %s, want %s (milliseconds in hex)", got, want)
	}
	// IDs of later milliseconds sort after earlier ones.
	for i := 10; i < len(ids); i += 10 {
		if ids[i-1][:12] >= ids[i][:12] {
			t.Fatalf("id %d (%s) does not sort after id %d (%s)", i, ids[i], i-1, ids[i-1])
		}
	}
	if !slices.IsSortedFunc(ids, func(a, b string) int {
		if a[:12] < b[:12] {
			return -1
		}
		if a[:12] > b[:12] {
			return 1
		}
		return 0
	}) {
		t.Fatal("time prefixes out of order")
	}
}
