package logstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "keep")
	mustGroup(t, s, "week")
	now := t0
	day := int64(dayMs)
	old := now.UnixMilli() - 10*day
	recent := now.UnixMilli() - 2*day
	for _, g := range []string{"keep", "week"} {
		mustStream(t, s, g, "a")
		mustStream(t, s, g, "b")
		mustAppend(t, s, g, "a", evs(old, old+1, recent)...)
		mustAppend(t, s, g, "b", evs(old)...)
	}
	if err := s.SetRetention("week", 7); err != nil {
		t.Fatal(err)
	}
	res, err := s.EnforceRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventsDeleted != 3 || res.BoundEventsDeleted != 0 {
		t.Fatalf("result %+v", res)
	}
	r, _ := s.Read("week", "a", ReadQuery{StartFromHead: true})
	if !slices.Equal(timestamps(r.Events), []int64{recent}) {
		t.Fatalf("week/a after retention: %v", timestamps(r.Events))
	}
	st, _ := s.Stream("week", "a")
	msgLen := int64(len(fmt.Sprint("m", recent)))
	if st.FirstEventTimestamp != recent || st.EventCount != 1 || st.StoredBytes != msgLen+26 {
		t.Fatalf("week/a record %+v", st)
	}
	st, _ = s.Stream("week", "b")
	if st.EventCount != 0 || st.StoredBytes != 0 || st.LastEventTimestamp != old {
		t.Fatalf("week/b record %+v", st)
	}
	if g, _ := s.Group("week"); g.StoredBytes != msgLen+26 {
		t.Fatalf("week bytes %d", g.StoredBytes)
	}
	r, _ = s.Read("keep", "a", ReadQuery{StartFromHead: true})
	if len(r.Events) != 3 {
		t.Fatalf("keep/a lost events: %v", r.Events)
	}
	// Idempotent.
	if res, _ = s.EnforceRetention(now); res.EventsDeleted != 0 {
		t.Fatalf("second run %+v", res)
	}
	// Scans skip the emptied stream.
	sr, _ := s.Scan("week", ScanQuery{}, nil)
	if len(sr.Events) != 1 {
		t.Fatalf("scan after retention %v", sr.Events)
	}
}

// TestDiskBound fills past MaxBytes and checks that the oldest events go
// first across groups and streams, down to 90% of the bound.
func TestDiskBound(t *testing.T) {
	// Each event is 74 bytes of message + 26 = 100 bytes.
	msg := func(i int) string { return fmt.Sprintf("%074d", i) }
	s, _, _ := openTest(t, Options{MaxBytes: 10_000})
	names := []string{"g1/a", "g1/b", "g2/a"}
	mustGroup(t, s, "g1")
	mustGroup(t, s, "g2")
	mustStream(t, s, "g1", "a")
	mustStream(t, s, "g1", "b")
	mustStream(t, s, "g2", "a")
	// 150 events, timestamps 0..149 spread round-robin over the streams.
	for i := range 150 {
		n := names[i%3]
		mustAppend(t, s, n[:2], n[3:], Event{Timestamp: int64(i + 1), Message: msg(i)})
	}
	st, _ := s.Stats()
	if st.StoredBytes != 15_000 {
		t.Fatalf("stored %d", st.StoredBytes)
	}
	res, err := s.EnforceRetention(t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.BoundEventsDeleted != 60 || res.BytesDeleted != 6000 {
		t.Fatalf("result %+v", res)
	}
	st, _ = s.Stats()
	if st.StoredBytes != 9_000 {
		t.Fatalf("stored after %d", st.StoredBytes)
	}
	// The 90 newest remain: timestamps 61..150.
	var left []int64
	for _, n := range names {
		r, _ := s.Read(n[:2], n[3:], ReadQuery{StartFromHead: true})
		left = append(left, timestamps(r.Events)...)
	}
	slices.Sort(left)
	if len(left) != 90 || left[0] != 61 || left[89] != 150 {
		t.Fatalf("left %d events, %v..%v", len(left), left[0], left[len(left)-1])
	}
}

func TestRunStops(t *testing.T) {
	s, c, _ := openTest(t, Options{RetentionInterval: 10 * time.Millisecond})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	mustAppend(t, s, "g", "a", evs(c.Now().UnixMilli()-3*dayMs)...)
	if err := s.SetRetention("g", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := s.Stream("g", "a")
		if st.EventCount == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not enforce retention")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
