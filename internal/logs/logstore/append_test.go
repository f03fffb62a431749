package logstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestAppendDedup(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	res, err := s.Append("g", "a", "agent-1", 1, evs(1, 2))
	if err != nil || res.Duplicate || res.FirstSeq != 0 {
		t.Fatalf("first batch: %+v %v", res, err)
	}
	// The same batch again (a retry after a lost answer) and an older one.
	for _, seq := range []uint64{1, 0} {
		res, err = s.Append("g", "a", "agent-1", seq, evs(1, 2))
		if err != nil || !res.Duplicate || res.Stream.EventCount != 2 {
			t.Fatalf("repeat of batch %d: %+v %v", seq, res, err)
		}
	}
	// Another producer's sequence is its own.
	res, err = s.Append("g", "a", "agent-2", 1, evs(3))
	if err != nil || res.Duplicate || res.FirstSeq != 2 {
		t.Fatalf("other producer: %+v %v", res, err)
	}
	// An empty batch only records the sequence.
	if res, err = s.Append("g", "a", "agent-1", 5, nil); err != nil || res.Duplicate {
		t.Fatalf("empty batch: %+v %v", res, err)
	}
	if res, _ = s.Append("g", "a", "agent-1", 4, evs(9)); !res.Duplicate {
		t.Fatal("batch 4 after empty batch 5 was accepted")
	}
	// Without a producer nothing is de-duplicated.
	for range 2 {
		if res, _ = s.Append("g", "a", "", 1, evs(4)); res.Duplicate {
			t.Fatal("plain append reported as duplicate")
		}
	}
	r, err := s.Read("g", "a", ReadQuery{StartFromHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(messages(r.Events)); got != "[m1 m2 m3 m4 m4]" {
		t.Fatalf("events %s", got)
	}
	for i, e := range r.Events {
		if e.Seq != uint64(i) || e.IngestionTime != t0.UnixMilli() {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

func TestAppendOrderWithinTimestamp(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	mustAppend(t, s, "g", "a", Event{Timestamp: 5, Message: "b1"}, Event{Timestamp: 3, Message: "a"}, Event{Timestamp: 5, Message: "b2"})
	mustAppend(t, s, "g", "a", Event{Timestamp: 5, Message: "b3"}, Event{Timestamp: 4, Message: "late"})
	r, _ := s.Read("g", "a", ReadQuery{StartFromHead: true})
	if got := fmt.Sprint(messages(r.Events)); got != "[a late b1 b2 b3]" {
		t.Fatalf("order %s", got)
	}
}

// TestConcurrentAppends appends from several goroutines to distinct streams
// and to one shared stream, with and without producers, and checks that no
// event is lost or doubled.
func TestConcurrentAppends(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "shared")
	const workers, batches, per = 6, 20, 50
	for w := range workers {
		mustStream(t, s, "g", fmt.Sprintf("own-%d", w))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			own := fmt.Sprintf("own-%d", w)
			producer := fmt.Sprintf("p%d", w)
			for b := range batches {
				batch := make([]Event, per)
				for i := range batch {
					batch[i] = Event{Timestamp: int64(b*per + i), Message: fmt.Sprintf("w%d-%d", w, b*per+i)}
				}
				if _, err := s.Append("g", own, "", 0, batch); err != nil {
					errs <- err
					return
				}
				// Each batch to the shared stream is sent twice.
				for range 2 {
					if _, err := s.Append("g", "shared", producer, uint64(b+1), batch); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(stream string, want int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		q := ReadQuery{StartFromHead: true, Limit: 333}
		for {
			r, err := s.Read("g", stream, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Events) == 0 {
				break
			}
			for _, e := range r.Events {
				seen[e.Message]++
			}
			q.Token = r.NextForwardToken
		}
		if len(seen) != want {
			t.Fatalf("%s: %d distinct events, want %d", stream, len(seen), want)
		}
		for m, n := range seen {
			if n != 1 {
				t.Fatalf("%s: %q stored %d times", stream, m, n)
			}
		}
		return seen
	}
	for w := range workers {
		check(fmt.Sprintf("own-%d", w), batches*per)
	}
	check("shared", workers*batches*per)
	st, _ := s.Stream("g", "shared")
	if st.EventCount != workers*batches*per {
		t.Fatalf("shared EventCount %d", st.EventCount)
	}
}

// TestConcurrentMixed runs appends beside deletions, re-creations, reads,
// scans, listings and retention with a disk bound, for the race detector;
// errors other than ErrNotFound on the churned stream fail.
func TestConcurrentMixed(t *testing.T) {
	s, _, _ := openTest(t, Options{MaxBytes: 200_000})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "steady")
	mustStream(t, s, "g", "churn")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	loop := func(f func(i int) error) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(i); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExists) {
					errs <- err
					return
				}
			}
		})
	}
	loop(func(i int) error {
		_, err := s.Append("g", "steady", "p", uint64(i+1), evs(int64(i), int64(i)+1))
		return err
	})
	loop(func(i int) error {
		_, err := s.Append("g", "churn", "", 0, evs(int64(i)))
		return err
	})
	loop(func(i int) error {
		if i%2 == 0 {
			return s.DeleteStream("g", "churn")
		}
		_, err := s.CreateStream("g", "churn")
		return err
	})
	loop(func(int) error {
		_, err := s.Read("g", "steady", ReadQuery{Limit: 50})
		return err
	})
	loop(func(int) error {
		_, err := s.Scan("g", ScanQuery{Limit: 50}, nil)
		return err
	})
	loop(func(int) error {
		_, _, err := s.ListStreams("g", StreamQuery{OrderByLastEventTime: true})
		return err
	})
	loop(func(int) error {
		_, err := s.EnforceRetention(t0)
		return err
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := s.Stream("g", "steady")
	if err != nil || st.EventCount == 0 {
		t.Fatalf("steady %+v %v", st, err)
	}
	checkAccounts(t, s)
}

// checkAccounts checks that every stream's record matches its events and
// that group and store totals are the sums.
func checkAccounts(t *testing.T, s *Store) {
	t.Helper()
	var total int64
	gs, _, _ := s.ListGroups(GroupQuery{Limit: 1000})
	for _, g := range gs {
		var sum int64
		sts, _, _ := s.ListStreams(g.Name, StreamQuery{Limit: 1000})
		for _, st := range sts {
			var n, bytes int64
			q := ReadQuery{StartFromHead: true}
			for {
				r, err := s.Read(g.Name, st.Name, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Events) == 0 {
					break
				}
				for _, e := range r.Events {
					n++
					bytes += int64(len(e.Message)) + eventOverhead
				}
				q.Token = r.NextForwardToken
			}
			if n != st.EventCount || bytes != st.StoredBytes {
				t.Fatalf("%s/%s: record says %d events %d bytes, found %d and %d",
					g.Name, st.Name, st.EventCount, st.StoredBytes, n, bytes)
			}
			sum += bytes
		}
		if sum != g.StoredBytes {
			t.Fatalf("group %s: %d bytes, streams sum to %d", g.Name, g.StoredBytes, sum)
		}
		total += sum
	}
	if stats, _ := s.Stats(); stats.StoredBytes != total {
		t.Fatalf("store: %d bytes, groups sum to %d", stats.StoredBytes, total)
	}
}

func TestNotify(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	ch, err := s.Notify("g")
	if err != nil {
		t.Fatal(err)
	}
	ch2, _ := s.Notify("g")
	if ch != ch2 {
		t.Fatal("two waiters got different channels")
	}
	select {
	case <-ch:
		t.Fatal("closed before any append")
	default:
	}
	mustAppend(t, s, "g", "a") // empty: no events, no wake-up
	select {
	case <-ch:
		t.Fatal("closed by an empty append")
	default:
	}
	mustAppend(t, s, "g", "a", evs(1)...)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("not closed by an append")
	}
	ch, _ = s.Notify("g")
	if err := s.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	<-ch
	if _, err := s.Notify("g"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// TestWatchGeneration: the generation moves with each append of events
// (not an empty one), so a reader can tell whether events came since it
// read.
func TestWatchGeneration(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	_, g0, err := s.Watch("g")
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "g", "a")
	if _, g, _ := s.Watch("g"); g != g0 {
		t.Fatalf("an empty append moved the generation: %d, was %d", g, g0)
	}
	mustAppend(t, s, "g", "a", evs(3)...)
	_, g1, _ := s.Watch("g")
	if g1 == g0 {
		t.Fatal("an append did not move the generation")
	}
	if _, _, err := s.Watch("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}
