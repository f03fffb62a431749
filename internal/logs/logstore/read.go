package logstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Defaults of GetLogEvents and FilterLogEvents: at most 10,000 events and
// 1 MB (message bytes plus 26 per event) in one answer.
const (
	DefaultLimit = 10_000
	MaxPageBytes = 1 << 20
)

// ReadQuery selects events of one stream for Read (GetLogEvents).
type ReadQuery struct {
	// StartTime keeps events at or after it (ms); 0 means no lower bound.
	StartTime int64
	// EndTime keeps events before it (ms, exclusive as in AWS); 0 means no
	// upper bound.
	EndTime int64
	// StartFromHead reads the oldest events first when Token is "";
	// otherwise the newest events are returned (AWS's default).
	StartFromHead bool
	// Token is a NextForwardToken or NextBackwardToken of an earlier Read
	// of the same stream; it sets the position and direction and overrides
	// StartFromHead. StartTime and EndTime still apply.
	Token string
	// Limit bounds the number of events; 0 means DefaultLimit. The answer
	// never exceeds MaxPageBytes either (but holds at least one event).
	Limit int
}

// ReadResult is one page of Read.
type ReadResult struct {
	// Events are in ascending (timestamp, sequence) order in both
	// directions, as AWS returns them.
	Events []Event
	// NextForwardToken reads the events after the newest one returned.
	// Read answers a forward token with no new events with no events and
	// the same token, which tells a client it reached the end.
	NextForwardToken string
	// NextBackwardToken reads the events before the oldest one returned;
	// at the beginning it too comes back unchanged.
	NextBackwardToken string
}

// Read returns a page of a stream's events with GetLogEvents' semantics.
// Tokens are opaque strings that encode a position in the stream ("f/..."
// forward, "b/..." backward); they stay valid across restarts and new
// appends. Errors: ErrInvalidArgument (a malformed Token, a negative
// Limit), ErrNotFound (no such group or stream), ErrClosed.
func (s *Store) Read(group, stream string, q ReadQuery) (ReadResult, error) {
	if q.Limit < 0 {
		return ReadResult{}, fmt.Errorf("read: limit %d: %w", q.Limit, ErrInvalidArgument)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	forward := q.StartFromHead
	var tokPos []byte
	if q.Token != "" {
		var err error
		forward, tokPos, err = decodeReadToken(q.Token)
		if err != nil {
			return ReadResult{}, fmt.Errorf("read: token: %w", err)
		}
	}
	if err := s.enter(); err != nil {
		return ReadResult{}, err
	}
	defer s.leave()
	s.mu.RLock()
	_, st, err := s.lookup(group, stream)
	s.mu.RUnlock()
	if err != nil {
		return ReadResult{}, fmt.Errorf("read: %w", err)
	}

	// The range of positions the query allows: [loPos, hiPos).
	loPos, hiPos := minPos(), maxPos()
	if q.StartTime != 0 {
		loPos = appendPos(nil, q.StartTime, 0)
	}
	if q.EndTime != 0 {
		hiPos = appendPos(nil, q.EndTime, 0)
	}
	// from is where this read starts: forward reads [from, hi), backward
	// reads [lo, from).
	from := tokPos
	if from == nil {
		if forward {
			from = loPos
		} else {
			from = hiPos
		}
	}
	lower, upper := loPos, hiPos
	if forward && bytes.Compare(from, lower) > 0 {
		lower = from
	}
	if !forward && bytes.Compare(from, upper) < 0 {
		upper = from
	}
	var events []Event
	if bytes.Compare(lower, upper) < 0 {
		events, err = s.readRange(st.prefix, lower, upper, forward, limit)
		if err != nil {
			return ReadResult{}, fmt.Errorf("read %q in %q: %w", stream, group, err)
		}
	}
	res := ReadResult{Events: events}
	if len(events) == 0 {
		tok := q.Token
		if tok == "" {
			tok = encodeReadToken(forward, from)
		}
		// Nothing on this side of from: the other direction starts at
		// the same position.
		res.NextForwardToken, res.NextBackwardToken = tok, tok
		switch {
		case forward:
			res.NextBackwardToken = encodeReadToken(false, from)
		case q.Token == "":
			// The whole range is empty: read forward from its start,
			// so that events appended later are found.
			res.NextForwardToken = encodeReadToken(true, loPos)
		default:
			res.NextForwardToken = encodeReadToken(true, from)
		}
		return res, nil
	}
	first, last := events[0], events[len(events)-1]
	res.NextForwardToken = encodeReadToken(true, posAfter(last.Timestamp, last.Seq))
	res.NextBackwardToken = encodeReadToken(false, appendPos(nil, first.Timestamp, first.Seq))
	return res, nil
}

// readRange reads up to limit events (and MaxPageBytes) with positions in
// [lower, upper) of the stream with the given key prefix, from the low end
// when forward and from the high end otherwise, and returns them in
// ascending order.
func (s *Store) readRange(prefix, lower, upper []byte, forward bool, limit int) ([]Event, error) {
	lo := append(append([]byte(nil), prefix...), lower...)
	hi := append(append([]byte(nil), prefix...), upper...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	var events []Event
	size := 0
	ok := it.First()
	if !forward {
		ok = it.Last()
	}
	for ; ok && len(events) < limit; ok = step(it, !forward) {
		ev, err := decodeEvent(it.Key()[len(prefix):], it.Value())
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		size += len(ev.Message) + eventOverhead
		if size > MaxPageBytes && len(events) > 0 {
			break
		}
		events = append(events, ev)
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	if !forward {
		slices.Reverse(events)
	}
	return events, nil
}

// decodeEvent decodes an event from its position and value.
func decodeEvent(pos, value []byte) (Event, error) {
	if len(pos) != posLen {
		return Event{}, fmt.Errorf("event key of %d bytes", len(pos))
	}
	ing, n := binary.Uvarint(value)
	if n <= 0 {
		return Event{}, fmt.Errorf("event value: bad ingestion time")
	}
	ts, seq := decodePos(pos)
	return Event{Timestamp: ts, Seq: seq, IngestionTime: int64(ing), Message: string(value[n:])}, nil
}

// ReadToken is a Read token at the position (ts, seq): a forward one
// reads the events at or after it, a backward one those before it. Seq
// may be math.MaxUint64 and ts any int64; servers that merge the pages of
// one stream held by several stores build their tokens with it.
func ReadToken(forward bool, ts int64, seq uint64) string {
	return encodeReadToken(forward, appendPos(nil, ts, seq))
}

func encodeReadToken(forward bool, pos []byte) string {
	d := "b/"
	if forward {
		d = "f/"
	}
	return d + base64.RawURLEncoding.EncodeToString(pos)
}

func decodeReadToken(tok string) (forward bool, pos []byte, err error) {
	var rest string
	switch {
	case strings.HasPrefix(tok, "f/"):
		forward, rest = true, tok[2:]
	case strings.HasPrefix(tok, "b/"):
		rest = tok[2:]
	default:
		return false, nil, ErrInvalidArgument
	}
	pos, err = base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(pos) != posLen {
		return false, nil, ErrInvalidArgument
	}
	return forward, pos, nil
}
