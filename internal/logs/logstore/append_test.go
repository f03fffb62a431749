package logstore

import (
	"fmt"
	"sync"
	"testing"
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
