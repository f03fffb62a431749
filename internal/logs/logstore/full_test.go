package logstore

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFullDiskRefusesWritesServesReads: while Options.Full reports a full
// disk, every write that adds data fails with ErrFull and its reason,
// nothing is written, reads and deletes go on, and writes resume by
// themselves once it reports room again.
func TestFullDiskRefusesWritesServesReads(t *testing.T) {
	var full atomic.Pointer[string]
	s, _, _ := openTest(t, Options{Full: func() string {
		if r := full.Load(); r != nil {
			return *r
		}
		return ""
	}})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	mustStream(t, s, "g", "b")
	if _, err := s.Append("g", "a", "p", 1, evs(1, 2)); err != nil {
		t.Fatal(err)
	}

	reason := "the data directory's disk has 10 bytes free, less than the 64 kept in reserve"
	full.Store(&reason)
	wantFull := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), reason) {
			t.Fatalf("%s on a full disk: got %v, want ErrFull with the reason", what, err)
		}
	}
	_, err := s.Append("g", "a", "p", 2, evs(3))
	wantFull("Append", err)
	_, err = s.CreateGroup("g2", nil)
	wantFull("CreateGroup", err)
	_, err = s.CreateStream("g", "c")
	wantFull("CreateStream", err)
	wantFull("SetRetention", s.SetRetention("g", 7))
	wantFull("SetTags", s.SetTags("g", map[string]string{"k": "v"}, nil))

	// Reads go on and show that nothing was written.
	r, err := s.Read("g", "a", ReadQuery{StartFromHead: true})
	if err != nil || len(r.Events) != 2 {
		t.Fatalf("read on a full disk: %d events, %v", len(r.Events), err)
	}
	if _, err := s.Group("g2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a group was created on a full disk: %v", err)
	}
	// Deletes free space, so they go on.
	if err := s.DeleteStream("g", "b"); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}

	// Space is back: the same batch is taken, once.
	full.Store(nil)
	res, err := s.Append("g", "a", "p", 2, evs(3))
	if err != nil || res.Duplicate {
		t.Fatalf("after space returned: %+v %v", res, err)
	}
	if r, err = s.Read("g", "a", ReadQuery{StartFromHead: true}); err != nil || len(r.Events) != 3 {
		t.Fatalf("read after recovery: %d events, %v", len(r.Events), err)
	}
	if _, err := s.CreateGroup("g2", nil); err != nil {
		t.Fatalf("CreateGroup after recovery: %v", err)
	}
}
