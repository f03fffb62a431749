package metricstore

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFullDiskRefusesAppendServesReads: while Options.Full reports a full
// disk, Append fails with ErrFull and its reason and writes nothing (not
// even a new series), reads go on, and Append works again by itself once
// it reports room.
func TestFullDiskRefusesAppendServesReads(t *testing.T) {
	var full atomic.Pointer[string]
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }, Full: func() string {
		if r := full.Load(); r != nil {
			return *r
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	web := Series{Namespace: "NS", Name: "Latency", Dimensions: []Dimension{{"Service", "web"}}}
	other := Series{Namespace: "NS", Name: "Other"}
	if err := s.Append([]Datum{{Series: web, Time: now.Add(-time.Minute), Unit: "None", Values: []float64{1}}}); err != nil {
		t.Fatal(err)
	}
	reason := "the data directory's disk has 10 bytes free, less than the 64 kept in reserve"
	full.Store(&reason)
	err = s.Append([]Datum{{Series: web, Time: now, Unit: "None", Values: []float64{2}}, {Series: other, Time: now, Unit: "None", Values: []float64{3}}})
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if got := collect(t, s, web, now.Add(-time.Hour), now.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("read on a full disk: %v", got)
	}
	if _, ok := s.Lookup(other); ok {
		t.Fatal("a series was added on a full disk")
	}
	full.Store(nil)
	if err := s.Append([]Datum{{Series: web, Time: now, Unit: "None", Values: []float64{2}}}); err != nil {
		t.Fatalf("Append after space returned: %v", err)
	}
	if got := collect(t, s, web, now.Add(-time.Hour), now.Add(time.Minute)); len(got) != 2 {
		t.Fatalf("read after recovery: %v", got)
	}
}
