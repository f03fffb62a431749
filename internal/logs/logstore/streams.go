package logstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Stream describes a log stream. Timestamps are ms since the epoch; the
// event timestamps and LastIngestionTime are 0 while the stream has no
// events.
type Stream struct {
	// Group and Name identify the stream.
	Group, Name string
	// CreationTime is when the stream was created.
	CreationTime int64
	// FirstEventTimestamp is the smallest timestamp of a stored event.
	FirstEventTimestamp int64
	// LastEventTimestamp is the largest timestamp ever appended; retention
	// does not lower it.
	LastEventTimestamp int64
	// LastIngestionTime is when the last batch was appended.
	LastIngestionTime int64
	// StoredBytes is the size of the stored events: message bytes plus 26
	// per event.
	StoredBytes int64
	// EventCount is the number of stored events.
	EventCount int64
}

// setRec makes rec the stream's record and publishes it for readers that
// must not wait for st.mu (held across commits). The caller holds st.mu.
func (st *stream) setRec(rec streamRecord) {
	st.rec = rec
	st.snap.Store(&Stream{Group: st.group.name, Name: st.name, CreationTime: rec.CreationTime,
		FirstEventTimestamp: rec.FirstEvent, LastEventTimestamp: rec.LastEvent,
		LastIngestionTime: rec.LastIngestion, StoredBytes: rec.StoredBytes, EventCount: rec.Events})
}

// public returns the stream's last published state without locking.
func (st *stream) public() Stream { return *st.snap.Load() }

// lookup returns the named group and stream. The caller holds s.mu.
func (s *Store) lookup(group, name string) (*group, *stream, error) {
	g := s.groups[group]
	if g == nil {
		return nil, nil, fmt.Errorf("group %q: %w", group, ErrNotFound)
	}
	st := g.streams[name]
	if st == nil {
		return g, nil, fmt.Errorf("stream %q in group %q: %w", name, group, ErrNotFound)
	}
	return g, st, nil
}

// CreateStream creates an empty stream in a group and returns it. Errors:
// ErrInvalidArgument (empty name, a NUL byte, longer than 512 bytes),
// ErrNotFound (no such group), ErrExists, ErrClosed.
func (s *Store) CreateStream(group, name string) (Stream, error) {
	if !validName(name) {
		return Stream{}, fmt.Errorf("create stream %q: name: %w", name, ErrInvalidArgument)
	}
	if err := s.enterWrite(); err != nil {
		return Stream{}, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return Stream{}, fmt.Errorf("create stream %q: group %q: %w", name, group, ErrNotFound)
	}
	if g.streams[name] != nil {
		return Stream{}, fmt.Errorf("create stream %q in group %q: %w", name, group, ErrExists)
	}
	st := newStream(g, name)
	st.setRec(streamRecord{CreationTime: s.nowMs()})
	v, err := json.Marshal(&st.rec)
	if err != nil {
		return Stream{}, fmt.Errorf("create stream %q: %w", name, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(streamKey(group, name), v, nil)
	_ = b.Set(lastKey(group, st.rec.lastIndexTs(), name), nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return Stream{}, fmt.Errorf("create stream %q in group %q: %w", name, group, err)
	}
	g.streams[name] = st
	return st.public(), nil
}

// DeleteStream deletes a stream and its events. Appends in flight to it
// finish first or fail with ErrNotFound. Errors: ErrNotFound, ErrClosed.
func (s *Store) DeleteStream(group, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	g, st, err := s.lookup(group, name)
	if err != nil {
		return fmt.Errorf("delete stream: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(st.prefix, prefixEnd(st.prefix), nil)
	_ = b.Delete(streamKey(group, name), nil)
	_ = b.Delete(lastKey(group, st.rec.lastIndexTs(), name), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("delete stream %q in group %q: %w", name, group, err)
	}
	st.deleted = true
	delete(g.streams, name)
	g.storedBytes.Add(-st.rec.StoredBytes)
	s.storedBytes.Add(-st.rec.StoredBytes)
	return nil
}

// Stream returns the named stream. Errors: ErrNotFound (no such group or
// stream), ErrClosed.
func (s *Store) Stream(group, name string) (Stream, error) {
	if err := s.enter(); err != nil {
		return Stream{}, err
	}
	defer s.leave()
	s.mu.RLock()
	_, st, err := s.lookup(group, name)
	s.mu.RUnlock()
	if err != nil {
		return Stream{}, err
	}
	return st.public(), nil
}

// StreamQuery selects streams for ListStreams.
type StreamQuery struct {
	// Prefix keeps the streams whose names start with it; it cannot be
	// combined with OrderByLastEventTime (as in DescribeLogStreams).
	Prefix string
	// OrderByLastEventTime orders by LastEventTimestamp (then name), streams
	// that never had an event first; otherwise the order is by name.
	OrderByLastEventTime bool
	// Descending reverses the order.
	Descending bool
	// Cursor resumes a listing where the previous page ended; "" starts at
	// the beginning. A cursor is only valid with the same query.
	Cursor string
	// Limit is the page size; 0 means 50, AWS's default.
	Limit int
}

// ListStreams returns one page of a group's streams and a cursor for the
// next page, "" when there is none. Ordering by last event time reads an
// index kept in step with appends, so it costs the same as by name.
// Errors: ErrInvalidArgument (Prefix with OrderByLastEventTime, a negative
// Limit, a malformed Cursor), ErrNotFound (no such group), ErrClosed.
func (s *Store) ListStreams(group string, q StreamQuery) ([]Stream, string, error) {
	if q.Prefix != "" && q.OrderByLastEventTime || q.Limit < 0 {
		return nil, "", fmt.Errorf("list streams: query: %w", ErrInvalidArgument)
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	var base []byte
	if q.OrderByLastEventTime {
		base = lastPrefix(group)
	} else {
		base = streamPrefix(group)
	}
	lower := append(append([]byte(nil), base...), q.Prefix...)
	upper := prefixEnd(lower)
	var cursor []byte
	if q.Cursor != "" {
		rest, ok := strings.CutPrefix(q.Cursor, "s/")
		c, err := base64.RawURLEncoding.DecodeString(rest)
		if !ok || err != nil {
			return nil, "", fmt.Errorf("list streams: cursor: %w", ErrInvalidArgument)
		}
		cursor = append(append([]byte(nil), base...), c...)
	}
	if err := s.enter(); err != nil {
		return nil, "", err
	}
	defer s.leave()
	s.mu.RLock()
	g := s.groups[group]
	s.mu.RUnlock()
	if g == nil {
		return nil, "", fmt.Errorf("list streams: group %q: %w", group, ErrNotFound)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, "", fmt.Errorf("list streams: %w", err)
	}
	var ok bool
	switch {
	case cursor == nil && !q.Descending:
		ok = it.First()
	case cursor == nil:
		ok = it.Last()
	case !q.Descending:
		ok = it.SeekGE(append(cursor, 0))
	default:
		ok = it.SeekLT(cursor)
	}
	var out []Stream
	var lastKey []byte
	next := ""
	for ; ok; ok = step(it, q.Descending) {
		k := it.Key()
		name := string(k[len(base):])
		if q.OrderByLastEventTime {
			name = name[8:]
		}
		s.mu.RLock()
		st := g.streams[name]
		s.mu.RUnlock()
		if st == nil {
			continue
		}
		if len(out) == limit {
			next = "s/" + base64.RawURLEncoding.EncodeToString(lastKey[len(base):])
			break
		}
		out = append(out, st.public())
		lastKey = append(lastKey[:0], k...)
	}
	if err := closeIter(it); err != nil {
		return nil, "", fmt.Errorf("list streams: %w", err)
	}
	return out, next, nil
}

func step(it *pebble.Iterator, backward bool) bool {
	if backward {
		return it.Prev()
	}
	return it.Next()
}

// recordBatch adds st's record, rec, to b, and moves its index entry when
// its last event time changed. The caller holds st.mu.
func (st *stream) recordBatch(b *pebble.Batch, rec *streamRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	g := st.group.name
	if old, nw := st.rec.lastIndexTs(), rec.lastIndexTs(); old != nw {
		_ = b.Delete(lastKey(g, old, st.name), nil)
		_ = b.Set(lastKey(g, nw, st.name), nil, nil)
	}
	return b.Set(streamKey(g, st.name), v, nil)
}

// cloneRecord returns a copy of r that can be changed without touching r.
func cloneRecord(r streamRecord) streamRecord {
	r.Producers = maps.Clone(r.Producers)
	return r
}
