package logstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestRead(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	// Events at 10, 20, ..., 100.
	var ts []int64
	for i := int64(1); i <= 10; i++ {
		ts = append(ts, i*10)
	}
	mustAppend(t, s, "g", "a", evs(ts...)...)
	tests := []struct {
		name string
		q    ReadQuery
		want []int64
	}{
		{"tail default", ReadQuery{}, ts},
		{"tail limit", ReadQuery{Limit: 3}, []int64{80, 90, 100}},
		{"head limit", ReadQuery{StartFromHead: true, Limit: 3}, []int64{10, 20, 30}},
		{"range head", ReadQuery{StartFromHead: true, StartTime: 20, EndTime: 50}, []int64{20, 30, 40}},
		{"range tail", ReadQuery{StartTime: 20, EndTime: 50, Limit: 2}, []int64{30, 40}},
		{"empty range", ReadQuery{StartTime: 21, EndTime: 29}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.Read("g", "a", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := timestamps(r.Events); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.Read("g", "a", ReadQuery{Token: "x/abc"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := s.Read("g", "a", ReadQuery{Limit: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad limit: %v", err)
	}
	if _, err := s.Read("g", "zz", ReadQuery{}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func timestamps(events []Event) []int64 {
	var out []int64
	for _, e := range events {
		out = append(out, e.Timestamp)
	}
	return out
}

// TestReadTokens pages forward and backward, checks that the end of the
// stream returns the same token, and that a token at the end finds events
// appended later.
func TestReadTokens(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	// Two events share each timestamp: 1,1,2,2,...,5,5.
	var batch []Event
	for i := range 10 {
		batch = append(batch, Event{Timestamp: int64(i/2 + 1), Message: fmt.Sprintf("e%d", i)})
	}
	mustAppend(t, s, "g", "a", batch...)
	all := messages(batch)

	// Forward from the head in pages of 3 (splitting equal timestamps).
	var got []string
	r, err := s.Read("g", "a", ReadQuery{StartFromHead: true, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	for len(r.Events) > 0 {
		got = append(got, messages(r.Events)...)
		tok := r.NextForwardToken
		r, err = s.Read("g", "a", ReadQuery{Token: tok, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Events) == 0 && r.NextForwardToken != tok {
			t.Fatalf("end of stream: forward token %q, want the same %q", r.NextForwardToken, tok)
		}
	}
	if !slices.Equal(got, all) {
		t.Fatalf("forward pages %v", got)
	}
	endTok := r.NextForwardToken
	// Once more at the end: the same token again.
	r2, _ := s.Read("g", "a", ReadQuery{Token: endTok})
	if len(r2.Events) != 0 || r2.NextForwardToken != endTok {
		t.Fatalf("end again: %v %q", r2.Events, r2.NextForwardToken)
	}
	// New events appear behind the end token.
	mustAppend(t, s, "g", "a", Event{Timestamp: 6, Message: "new"})
	r2, _ = s.Read("g", "a", ReadQuery{Token: endTok})
	if !slices.Equal(messages(r2.Events), []string{"new"}) {
		t.Fatalf("after append: %v", messages(r2.Events))
	}
	all = append(all, "new")

	// Backward from the tail in pages of 4; each page is ascending.
	var pages [][]string
	r, _ = s.Read("g", "a", ReadQuery{Limit: 4})
	for len(r.Events) > 0 {
		pages = append(pages, messages(r.Events))
		tok := r.NextBackwardToken
		r, _ = s.Read("g", "a", ReadQuery{Token: tok, Limit: 4})
		if len(r.Events) == 0 && r.NextBackwardToken != tok {
			t.Fatalf("start of stream: backward token %q, want the same %q", r.NextBackwardToken, tok)
		}
	}
	got = nil
	for i := len(pages) - 1; i >= 0; i-- {
		got = append(got, pages[i]...)
	}
	if !slices.Equal(got, all) || fmt.Sprint(pages[0]) != "[e7 e8 e9 new]" {
		t.Fatalf("backward pages %v", pages)
	}

	// A backward page's forward token continues after it.
	r, _ = s.Read("g", "a", ReadQuery{StartFromHead: true, Limit: 5})
	r, _ = s.Read("g", "a", ReadQuery{Token: r.NextForwardToken, Limit: 2})
	r3, _ := s.Read("g", "a", ReadQuery{Token: r.NextBackwardToken, Limit: 2})
	if fmt.Sprint(messages(r.Events), messages(r3.Events)) != "[e5 e6] [e3 e4]" {
		t.Fatalf("turning around: %v then %v", messages(r.Events), messages(r3.Events))
	}
	r3, _ = s.Read("g", "a", ReadQuery{Token: r3.NextForwardToken, Limit: 2})
	if fmt.Sprint(messages(r3.Events)) != "[e5 e6]" {
		t.Fatalf("forward again: %v", messages(r3.Events))
	}

	// Tokens respect the time range given with them.
	r, _ = s.Read("g", "a", ReadQuery{StartFromHead: true, StartTime: 2, EndTime: 4, Limit: 3})
	r, _ = s.Read("g", "a", ReadQuery{Token: r.NextForwardToken, StartTime: 2, EndTime: 4, Limit: 3})
	if fmt.Sprint(messages(r.Events)) != "[e5]" {
		t.Fatalf("range with token: %v", messages(r.Events))
	}
}

func TestReadEmptyStream(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	for _, head := range []bool{true, false} {
		r, err := s.Read("g", "a", ReadQuery{StartFromHead: head})
		if err != nil || len(r.Events) != 0 || r.NextForwardToken == "" || r.NextBackwardToken == "" {
			t.Fatalf("head=%v: %+v %v", head, r, err)
		}
		r2, _ := s.Read("g", "a", ReadQuery{Token: r.NextForwardToken})
		if r2.NextForwardToken != r.NextForwardToken {
			t.Fatalf("head=%v: forward token changed on an empty stream", head)
		}
	}
	// A tail read of an empty stream gives a forward token that finds
	// later events (aws logs tail polls so).
	r, _ := s.Read("g", "a", ReadQuery{})
	mustAppend(t, s, "g", "a", evs(7)...)
	r, _ = s.Read("g", "a", ReadQuery{Token: r.NextForwardToken})
	if !slices.Equal(timestamps(r.Events), []int64{7}) {
		t.Fatalf("after append: %v", r.Events)
	}
}

func TestReadPageBytes(t *testing.T) {
	s, _, _ := openTest(t, Options{})
	mustGroup(t, s, "g")
	mustStream(t, s, "g", "a")
	big := string(make([]byte, 300_000))
	mustAppend(t, s, "g", "a", Event{Timestamp: 1, Message: big}, Event{Timestamp: 2, Message: big},
		Event{Timestamp: 3, Message: big}, Event{Timestamp: 4, Message: big})
	r, _ := s.Read("g", "a", ReadQuery{StartFromHead: true})
	if len(r.Events) != 3 {
		t.Fatalf("1 MB page holds %d events of 300 kB, want 3", len(r.Events))
	}
	r, _ = s.Read("g", "a", ReadQuery{})
	if !slices.Equal(timestamps(r.Events), []int64{2, 3, 4}) {
		t.Fatalf("tail page %v", timestamps(r.Events))
	}
}
