package logstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// openTest opens a store in a temporary directory with a test clock.
func openTest(t testing.TB, opts Options) (*Store, *clock, string) {
	t.Helper()
	dir := t.TempDir()
	c := &clock{t: t0}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, c, dir
}

func mustGroup(t testing.TB, s *Store, name string) {
	t.Helper()
	if _, err := s.CreateGroup(name, nil); err != nil {
		t.Fatal(err)
	}
}

func mustStream(t testing.TB, s *Store, group, name string) {
	t.Helper()
	if _, err := s.CreateStream(group, name); err != nil {
		t.Fatal(err)
	}
}

func mustAppend(t testing.TB, s *Store, group, stream string, events ...Event) AppendResult {
	t.Helper()
	res, err := s.Append(group, stream, "", 0, events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// evs builds events with the given timestamps and messages "m<ts>".
func evs(ts ...int64) []Event {
	out := make([]Event, len(ts))
	for i, x := range ts {
		out[i] = Event{Timestamp: x, Message: fmt.Sprintf("m%d", x)}
	}
	return out
}

func messages(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Message
	}
	return out
}

func TestGroups(t *testing.T) {
	s, c, _ := openTest(t, Options{})
	g, err := s.CreateGroup("/ecs/app", map[string]string{"team": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "/ecs/app" || g.CreationTime != t0.UnixMilli() || g.RetentionDays != 0 || g.StoredBytes != 0 {
		t.Fatalf("created %+v", g)
	}
	if _, err := s.CreateGroup("/ecs/app", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "a\x00b", string(make([]byte, 513))} {
		if _, err := s.CreateGroup(bad, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("create %q: %v, want ErrInvalidArgument", bad, err)
		}
	}
	if _, err := s.Group("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Group(nope): %v", err)
	}
	c.Set(t0.Add(time.Hour))
	if err := s.SetRetention("/ecs/app", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRetention("/ecs/app", -1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative retention: %v", err)
	}
	if err := s.SetRetention("nope", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retention of unknown: %v", err)
	}
	g, _ = s.Group("/ecs/app")
	if g.RetentionDays != 7 || g.CreationTime != t0.UnixMilli() {
		t.Fatalf("after SetRetention: %+v", g)
	}

	if err := s.SetTags("/ecs/app", map[string]string{"env": "prod", "team": "b"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTags("/ecs/app", nil, []string{"env", "missing"}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.Tags("/ecs/app")
	if err != nil || !maps.Equal(tags, map[string]string{"team": "b"}) {
		t.Fatalf("tags %v %v", tags, err)
	}
	tags["x"] = "y" // a copy
	if tags, _ := s.Tags("/ecs/app"); len(tags) != 1 {
		t.Fatalf("Tags returned the stored map: %v", tags)
	}
	if err := s.SetTags("nope", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Tags("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}

	mustStream(t, s, "/ecs/app", "a")
	mustAppend(t, s, "/ecs/app", "a", evs(1, 2)...)
	if err := s.DeleteGroup("/ecs/app"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup("/ecs/app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Stream("/ecs/app", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stream of deleted group: %v", err)
	}
	// A new group of the same name starts empty.
	mustGroup(t, s, "/ecs/app")
	mustStream(t, s, "/ecs/app", "a")
	r, err := s.Read("/ecs/app", "a", ReadQuery{StartFromHead: true})
	if err != nil || len(r.Events) != 0 {
		t.Fatalf("read after re-create: %v %v", r.Events, err)
	}
	if st, _ := s.Stats(); st.StoredBytes != 0 || st.Groups != 1 || st.Streams != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestListGroups(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	names := []string{"/aws/lambda/x", "/ecs/Web", "/ecs/api", "/ecs/worker", "other"} // byte order
	for _, n := range names {
		mustGroup(t, s, n)
	}
	list := func(q GroupQuery) []string {
		t.Helper()
		var out []string
		for {
			gs, next, err := s.ListGroups(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				out = append(out, g.Name)
			}
			if next == "" {
				return out
			}
			q.Cursor = next
		}
	}
	tests := []struct {
		name string
		q    GroupQuery
		want []string
	}{
		{"all", GroupQuery{}, names},
		{"all by 2", GroupQuery{Limit: 2}, names},
		{"all by 1", GroupQuery{Limit: 1}, names},
		{"prefix", GroupQuery{Prefix: "/ecs/", Limit: 2}, names[1:4]},
		{"prefix none", GroupQuery{Prefix: "/zzz"}, nil},
		{"pattern ignores case", GroupQuery{Pattern: "ECS/w", Limit: 1}, []string{"/ecs/Web", "/ecs/worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.q); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The cursor is exact: a full last page has no cursor.
	gs, next, _ := s.ListGroups(GroupQuery{Prefix: "/ecs/", Limit: 3})
	if len(gs) != 3 || next != "" {
		t.Fatalf("exact page: %d %q", len(gs), next)
	}
	for _, q := range []GroupQuery{{Prefix: "a", Pattern: "b"}, {Limit: -1}, {Cursor: "garbage"}} {
		if _, _, err := s.ListGroups(q); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ListGroups(%+v): %v, want ErrInvalidArgument", q, err)
		}
	}
}

func TestStreams(t *testing.T) {
	s, c, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	if _, err := s.CreateStream("nope", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stream in unknown group: %v", err)
	}
	st, err := s.CreateStream("g", "a")
	if err != nil {
		t.Fatal(err)
	}
	if st.Group != "g" || st.Name != "a" || st.CreationTime != t0.UnixMilli() || st.EventCount != 0 {
		t.Fatalf("created %+v", st)
	}
	if _, err := s.CreateStream("g", "a"); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.CreateStream("g", "a\x00"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad name: %v", err)
	}
	c.Set(t0.Add(time.Minute))
	res := mustAppend(t, s, "g", "a", Event{Timestamp: 500, Message: "hello"}, Event{Timestamp: 100, Message: "x"})
	want := Stream{Group: "g", Name: "a", CreationTime: t0.UnixMilli(), FirstEventTimestamp: 100,
		LastEventTimestamp: 500, LastIngestionTime: t0.Add(time.Minute).UnixMilli(),
		StoredBytes: 5 + 1 + 2*26, EventCount: 2}
	if res.Stream != want || res.FirstSeq != 0 {
		t.Fatalf("append result %+v, want %+v", res, want)
	}
	if got, _ := s.Stream("g", "a"); got != want {
		t.Fatalf("Stream %+v", got)
	}
	if g, _ := s.Group("g"); g.StoredBytes != want.StoredBytes {
		t.Fatalf("group bytes %d", g.StoredBytes)
	}
	if _, err := s.Stream("g", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.DeleteStream("g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream("g", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Append("g", "a", "", 0, evs(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("append to deleted: %v", err)
	}
	if _, err := s.Read("g", "a", ReadQuery{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read deleted: %v", err)
	}
	if g, _ := s.Group("g"); g.StoredBytes != 0 {
		t.Fatalf("group bytes after delete %d", g.StoredBytes)
	}
	mustStream(t, s, "g", "a")
	if r, _ := s.Read("g", "a", ReadQuery{StartFromHead: true}); len(r.Events) != 0 {
		t.Fatalf("recreated stream has events %v", r.Events)
	}
}

func TestListStreams(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	// Streams c, a, d, b with last events 30, 10, none, 20; e is in
	// another group with a shared prefix of keys.
	for _, n := range []string{"c", "a", "d", "b", "ab"} {
		mustStream(t, s, "g", n)
	}
	mustGroup(t, s, "g2")
	mustStream(t, s, "g2", "zz")
	mustAppend(t, s, "g", "c", evs(5, 30)...)
	mustAppend(t, s, "g", "a", evs(10)...)
	mustAppend(t, s, "g", "b", evs(20)...)
	mustAppend(t, s, "g", "ab", evs(20)...)
	mustAppend(t, s, "g", "a", evs(1)...) // not newer: stays at 10
	list := func(q StreamQuery) []string {
		t.Helper()
		var out []string
		for {
			sts, next, err := s.ListStreams("g", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range sts {
				out = append(out, st.Name)
			}
			if next == "" {
				return out
			}
			q.Cursor = next
		}
	}
	tests := []struct {
		name string
		q    StreamQuery
		want []string
	}{
		{"by name", StreamQuery{}, []string{"a", "ab", "b", "c", "d"}},
		{"by name paged", StreamQuery{Limit: 2}, []string{"a", "ab", "b", "c", "d"}},
		{"by name desc", StreamQuery{Descending: true, Limit: 2}, []string{"d", "c", "b", "ab", "a"}},
		{"prefix", StreamQuery{Prefix: "a", Limit: 1}, []string{"a", "ab"}},
		{"prefix desc", StreamQuery{Prefix: "a", Descending: true, Limit: 1}, []string{"ab", "a"}},
		{"by time", StreamQuery{OrderByLastEventTime: true, Limit: 2}, []string{"d", "a", "ab", "b", "c"}},
		{"by time desc", StreamQuery{OrderByLastEventTime: true, Descending: true, Limit: 3}, []string{"c", "b", "ab", "a", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.q); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Moving a stream in the time index.
	mustAppend(t, s, "g", "d", evs(100)...)
	if got := list(StreamQuery{OrderByLastEventTime: true, Descending: true}); got[0] != "d" {
		t.Fatalf("after append to d: %v", got)
	}
	if err := s.DeleteStream("g", "d"); err != nil {
		t.Fatal(err)
	}
	if got := list(StreamQuery{OrderByLastEventTime: true}); !slices.Equal(got, []string{"a", "ab", "b", "c"}) {
		t.Fatalf("after delete: %v", got)
	}
	for _, q := range []StreamQuery{{Prefix: "a", OrderByLastEventTime: true}, {Limit: -1}, {Cursor: "x"}} {
		if _, _, err := s.ListStreams("g", q); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ListStreams(%+v): %v, want ErrInvalidArgument", q, err)
		}
	}
	if _, _, err := s.ListStreams("nope", StreamQuery{}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestClosed(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.CreateGroup("h", nil); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := s.Append("g", "a", "", 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := s.Read("g", "a", ReadQuery{}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := s.Scan("g", ScanQuery{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := s.EnforceRetention(t0); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestOpenTwice(t *testing.T) {
	_, _, dir := openTest(t, Options{})
	if s2, err := Open(dir, Options{}); err == nil {
		_ = s2.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}
