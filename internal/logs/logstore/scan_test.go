package logstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// scanAll pages through a scan and returns "stream:message" per event.
func scanAll(t *testing.T, s *Store, group string, q ScanQuery, match func(string) bool) []string {
	t.Helper()
	var out []string
	for range 1000 {
		r, err := s.Scan(group, q, match)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Events {
			out = append(out, e.Stream+":"+e.Message)
		}
		if r.Cursor == "" {
			return out
		}
		q.Cursor = r.Cursor
	}
	t.Fatal("scan does not end")
	return nil
}

func TestScanInterleaves(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	for _, n := range []string{"b", "a", "c", "other"} {
		mustStream(t, s, "g", n)
	}
	mustAppend(t, s, "g", "a", evs(1, 4, 4, 7)...)
	mustAppend(t, s, "g", "b", evs(2, 4, 9)...)
	mustAppend(t, s, "g", "c", evs(3)...)
	want := []string{"a:m1", "b:m2", "c:m3", "a:m4", "a:m4", "b:m4", "a:m7", "b:m9"}
	for _, limit := range []int{0, 1, 2, 3, 100} {
		got := scanAll(t, s, "g", ScanQuery{StreamNames: []string{"c", "a", "b", "a", "missing"}, Limit: limit}, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: got %v, want %v", limit, got, want)
		}
	}
	for _, budget := range []int{1, 2, 5} {
		got := scanAll(t, s, "g", ScanQuery{StreamNames: []string{"a", "b", "c"}, MaxScanned: budget}, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("MaxScanned %d: got %v", budget, got)
		}
	}
	got := scanAll(t, s, "g", ScanQuery{StartTime: 3, EndTime: 9}, nil)
	if !slices.Equal(got, want[2:7]) {
		t.Fatalf("time range: %v", got)
	}
	// A prefix selects streams; the match func filters messages.
	mustAppend(t, s, "g", "other", evs(4)...)
	got = scanAll(t, s, "g", ScanQuery{Limit: 2}, func(m string) bool { return m == "m4" })
	if !slices.Equal(got, []string{"a:m4", "a:m4", "b:m4", "other:m4"}) {
		t.Fatalf("all streams, match m4: %v", got)
	}
	got = scanAll(t, s, "g", ScanQuery{StreamPrefix: "o"}, nil)
	if !slices.Equal(got, []string{"other:m4"}) {
		t.Fatalf("prefix: %v", got)
	}

	r, err := s.Scan("g", ScanQuery{StreamNames: []string{"a", "b", "c"}, Limit: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cursor == "" || r.Scanned != 3 {
		t.Fatalf("limited page: cursor %q scanned %d", r.Cursor, r.Scanned)
	}
	if fmt.Sprint(r.Searched) != "[{a false} {b false} {c true}]" {
		t.Fatalf("searched %v", r.Searched)
	}
	for _, q := range []ScanQuery{{StreamNames: []string{"a"}, StreamPrefix: "a"}, {Limit: -1}, {MaxScanned: -1}, {Cursor: "nope"}} {
		if _, err := s.Scan("g", q, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Scan(%+v): %v, want ErrInvalidArgument", q, err)
		}
	}
	if _, err := s.Scan("nope", ScanQuery{}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// TestScanManyStreams checks the merge over more events than a reader
// buffers, against a sort of everything.
func TestScanManyStreams(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	var want []string
	type key struct {
		ts     int64
		stream string
		i      int
	}
	var keys []key
	for k := range 7 {
		name := fmt.Sprintf("s%d", k)
		mustStream(t, s, "g", name)
		var batch []Event
		for i := range 700 {
			ts := int64((i*(k+3))%1000) + 1
			batch = append(batch, Event{Timestamp: ts, Message: fmt.Sprintf("%s-%d", name, i)})
		}
		mustAppend(t, s, "g", name, batch...)
		// Expected order: (ts, stream, arrival).
		for i, e := range batch {
			keys = append(keys, key{e.Timestamp, name, i})
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.ts != b.ts {
			return int(a.ts - b.ts)
		}
		if c := strings.Compare(a.stream, b.stream); c != 0 {
			return c
		}
		return a.i - b.i
	})
	for _, k := range keys {
		want = append(want, fmt.Sprintf("%s:%s-%d", k.stream, k.stream, k.i))
	}
	got := scanAll(t, s, "g", ScanQuery{Limit: 777}, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("merge differs from sort (%d vs %d events)", len(got), len(want))
	}
	// A selective match in small pages.
	match := func(m string) bool { return strings.HasSuffix(m, "-7") }
	got = scanAll(t, s, "g", ScanQuery{Limit: 2, MaxScanned: 1000}, match)
	var wantSel []string
	for _, w := range want {
		if strings.HasSuffix(w, "-7") {
			wantSel = append(wantSel, w)
		}
	}
	if !slices.Equal(got, wantSel) {
		t.Fatalf("selective: got %v, want %v", got, wantSel)
	}
}

func TestScanPageBytes(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	mustStream(t, s, "g", "b")
	big := func(ts int64) Event { return Event{Timestamp: ts, Message: fmt.Sprintf("%0300000d", ts)} }
	mustAppend(t, s, "g", "a", big(1), big(3), Event{Timestamp: 4, Message: "small"})
	mustAppend(t, s, "g", "b", big(2), big(5))
	r, err := s.Scan("g", ScanQuery{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 x 300 kB and "small" fit in 1 MB; the fourth big one does not.
	if len(r.Events) != 4 || r.Scanned != 4 || r.Cursor == "" {
		t.Fatalf("first page: %d events, %d scanned, cursor %q", len(r.Events), r.Scanned, r.Cursor)
	}
	r, _ = s.Scan("g", ScanQuery{Cursor: r.Cursor}, nil)
	if len(r.Events) != 1 || r.Events[0].Timestamp != 5 || r.Cursor != "" {
		t.Fatalf("second page: %d events, cursor %q", len(r.Events), r.Cursor)
	}
}
