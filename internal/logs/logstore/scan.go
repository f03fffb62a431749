package logstore

import (
	"bytes"
	"container/heap"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

// ScanQuery selects events of a group's streams for Scan (FilterLogEvents).
type ScanQuery struct {
	// StreamNames limits the scan to these streams; names of streams that
	// do not exist are skipped.
	StreamNames []string
	// StreamPrefix limits the scan to the streams whose names start with
	// it. At most one of StreamNames and StreamPrefix may be set; with
	// neither, every stream of the group is scanned.
	StreamPrefix string
	// StartTime keeps events at or after it (ms); 0 means no lower bound.
	StartTime int64
	// EndTime keeps events before it (ms, exclusive, like ReadQuery's);
	// 0 means no bound. FilterLogEvents' endTime is inclusive ("events
	// with a timestamp later than this time are not returned"), so the
	// operation passes its endTime+1.
	EndTime int64
	// Limit bounds the matching events returned; 0 means DefaultLimit.
	// The answer never exceeds MaxPageBytes either.
	Limit int
	// MaxScanned, when above 0, bounds the events examined in one call,
	// so a selective pattern over much data answers in bounded time with
	// fewer events and a Cursor (AWS answers FilterLogEvents so too).
	MaxScanned int
	// Cursor resumes where an earlier Scan with the same query stopped.
	Cursor string
}

// ScanEvent is an event found by Scan.
type ScanEvent struct {
	// Stream is the name of the event's stream.
	Stream string
	Event
}

// SearchedStream reports whether Scan searched a stream to the end of the
// query's time range (FilterLogEvents' searchedLogStreams).
type SearchedStream struct {
	Name       string
	Completely bool
}

// ScanResult is one page of Scan.
type ScanResult struct {
	// Events are the matching events in (timestamp, stream name,
	// sequence) order, streams interleaved.
	Events []ScanEvent
	// Cursor continues the scan; "" when every stream was searched to the
	// end of the time range.
	Cursor string
	// Searched lists the streams considered, in name order.
	Searched []SearchedStream
	// Scanned counts the events examined.
	Scanned int
}

// scanBatch is how many events a stream's reader loads per seek.
const scanBatch = 256

// Scan returns the events of a group's streams that match, merged in
// timestamp order, with FilterLogEvents' semantics. match receives each
// event's message; the string is only valid during the call (it points
// into a reused buffer), so match must not keep it. A nil match keeps
// every event. Scan reads with one Pebble iterator (one consistent
// snapshot per call) and a k-way merge over per-stream buffered readers.
// Errors: ErrInvalidArgument (StreamNames with StreamPrefix, a negative
// Limit or MaxScanned, a malformed Cursor), ErrNotFound (no such group),
// ErrClosed.
func (s *Store) Scan(group string, q ScanQuery, match func(msg string) bool) (ScanResult, error) {
	if len(q.StreamNames) > 0 && q.StreamPrefix != "" || q.Limit < 0 || q.MaxScanned < 0 {
		return ScanResult{}, fmt.Errorf("scan: query: %w", ErrInvalidArgument)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var resume *scanPos
	if q.Cursor != "" {
		p, err := decodeScanCursor(q.Cursor)
		if err != nil {
			return ScanResult{}, fmt.Errorf("scan: cursor: %w", err)
		}
		resume = &p
	}
	if err := s.enter(); err != nil {
		return ScanResult{}, err
	}
	defer s.leave()

	loPos, hiPos := minPos(), maxPos()
	if q.StartTime != 0 {
		loPos = appendPos(nil, q.StartTime, 0)
	}
	if q.EndTime != 0 {
		hiPos = appendPos(nil, q.EndTime, 0)
	}
	readers, searched, err := s.scanReaders(group, q, loPos, hiPos, resume)
	if err != nil {
		return ScanResult{}, err
	}
	res := ScanResult{Searched: searched}
	if len(readers) == 0 {
		return res, nil
	}
	gp := eventGroupPrefix(group)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: gp, UpperBound: prefixEnd(gp)})
	if err != nil {
		return ScanResult{}, fmt.Errorf("scan %q: %w", group, err)
	}
	defer it.Close()
	h := make(readerHeap, 0, len(readers))
	for _, r := range readers {
		if err := r.fill(it); err != nil {
			return ScanResult{}, fmt.Errorf("scan %q: %w", group, err)
		}
		if r.more() {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	size := 0
	var last scanPos // the last event examined
	for len(h) > 0 {
		if len(res.Events) == limit || q.MaxScanned > 0 && res.Scanned == q.MaxScanned {
			break
		}
		r := h[0]
		e := &r.buf[r.i]
		msg := r.arena[e.off:e.end]
		if match == nil || match(unsafe.String(unsafe.SliceData(msg), len(msg))) {
			size += len(msg) + eventOverhead
			if size > MaxPageBytes && len(res.Events) > 0 {
				// The page is full: resume at this event.
				break
			}
			res.Events = append(res.Events, ScanEvent{Stream: r.name,
				Event: Event{Timestamp: e.ts, Seq: e.seq, IngestionTime: e.ing, Message: string(msg)}})
		}
		res.Scanned++
		last = scanPos{ts: e.ts, seq: e.seq, stream: r.name}
		r.i++
		if r.i == len(r.buf) {
			if err := r.fill(it); err != nil {
				return ScanResult{}, fmt.Errorf("scan %q: %w", group, err)
			}
		}
		if r.more() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	if len(h) > 0 {
		if res.Scanned == 0 {
			// Not reached (limits are at least 1): keep the position.
			res.Cursor = q.Cursor
		} else {
			res.Cursor = encodeScanCursor(last)
		}
	}
	done := map[string]bool{}
	for _, r := range readers {
		done[r.name] = !r.more()
	}
	for i := range res.Searched {
		if d, ok := done[res.Searched[i].Name]; ok {
			res.Searched[i].Completely = d
		}
	}
	return res, nil
}

// scanReaders picks the streams to scan and positions a reader on each.
func (s *Store) scanReaders(group string, q ScanQuery, loPos, hiPos []byte, resume *scanPos) ([]*streamReader, []SearchedStream, error) {
	s.mu.RLock()
	g := s.groups[group]
	if g == nil {
		s.mu.RUnlock()
		return nil, nil, fmt.Errorf("scan: group %q: %w", group, ErrNotFound)
	}
	var sts []*stream
	if len(q.StreamNames) > 0 {
		for _, n := range q.StreamNames {
			if st := g.streams[n]; st != nil {
				sts = append(sts, st)
			}
		}
	} else {
		for n, st := range g.streams {
			if strings.HasPrefix(n, q.StreamPrefix) {
				sts = append(sts, st)
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(sts, func(a, b *stream) int { return strings.Compare(a.name, b.name) })
	sts = slices.CompactFunc(sts, func(a, b *stream) bool { return a == b })

	var readers []*streamReader
	searched := make([]SearchedStream, 0, len(sts))
	for _, st := range sts {
		searched = append(searched, SearchedStream{Name: st.name, Completely: true})
		// Skip streams with nothing in the time range.
		p := st.public()
		if p.EventCount == 0 || bytes.Compare(appendPos(nil, p.LastEventTimestamp, 1<<64-1), loPos) < 0 ||
			bytes.Compare(appendPos(nil, p.FirstEventTimestamp, 0), hiPos) >= 0 {
			continue
		}
		start := loPos
		if resume != nil {
			// Resume after the cursor in (ts, stream, seq) order.
			var p []byte
			switch c := strings.Compare(st.name, resume.stream); {
			case c < 0:
				p = appendPos(nil, resume.ts+1, 0)
			case c == 0:
				p = posAfter(resume.ts, resume.seq)
			default:
				p = appendPos(nil, resume.ts, 0)
			}
			if bytes.Compare(p, start) > 0 {
				start = p
			}
		}
		if bytes.Compare(start, hiPos) >= 0 {
			continue
		}
		readers = append(readers, &streamReader{
			name: st.name,
			next: append(append([]byte(nil), st.prefix...), start...),
			hi:   append(append([]byte(nil), st.prefix...), hiPos...),
			plen: len(st.prefix),
		})
	}
	return readers, searched, nil
}

// streamReader reads one stream's events in batches for the merge.
type streamReader struct {
	name string
	// next is the key to seek to for the next batch; hi bounds the range.
	next, hi []byte
	plen     int
	// buf holds the loaded events, arena their messages; i is the head.
	buf   []bufEvent
	arena []byte
	i     int
	// eof is set when the stream's range is exhausted.
	eof bool
}

type bufEvent struct {
	ts       int64
	seq      uint64
	ing      int64
	off, end int
}

func (r *streamReader) more() bool { return r.i < len(r.buf) }

// fill loads the next batch of events, reusing the buffers.
func (r *streamReader) fill(it *pebble.Iterator) error {
	r.buf, r.arena, r.i = r.buf[:0], r.arena[:0], 0
	if r.eof {
		return nil
	}
	ok := it.SeekGE(r.next)
	for ; ok && len(r.buf) < scanBatch; ok = it.Next() {
		k := it.Key()
		if bytes.Compare(k, r.hi) >= 0 {
			ok = false
			break
		}
		v := it.Value()
		ing, n := binary.Uvarint(v)
		if n <= 0 || len(k) != r.plen+posLen {
			return fmt.Errorf("stream %q: corrupt event %x", r.name, k)
		}
		ts, seq := decodePos(k[r.plen:])
		off := len(r.arena)
		r.arena = append(r.arena, v[n:]...)
		r.buf = append(r.buf, bufEvent{ts: ts, seq: seq, ing: int64(ing), off: off, end: len(r.arena)})
	}
	if err := it.Error(); err != nil {
		return err
	}
	if !ok {
		r.eof = true
	} else if len(r.buf) > 0 {
		last := r.buf[len(r.buf)-1]
		r.next = append(r.next[:r.plen], posAfter(last.ts, last.seq)...)
	}
	return nil
}

// readerHeap orders readers by their head event: (ts, stream, seq).
type readerHeap []*streamReader

func (h readerHeap) Len() int { return len(h) }
func (h readerHeap) Less(i, j int) bool {
	a, b := &h[i].buf[h[i].i], &h[j].buf[h[j].i]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if h[i].name != h[j].name {
		return h[i].name < h[j].name
	}
	return a.seq < b.seq
}
func (h readerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readerHeap) Push(x any)   { *h = append(*h, x.(*streamReader)) }
func (h *readerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// scanPos is a position in the merge order.
type scanPos struct {
	ts     int64
	seq    uint64
	stream string
}

func encodeScanCursor(p scanPos) string {
	b := appendPos(nil, p.ts, p.seq)
	b = append(b, p.stream...)
	return "c/" + base64.RawURLEncoding.EncodeToString(b)
}

func decodeScanCursor(c string) (scanPos, error) {
	rest, ok := strings.CutPrefix(c, "c/")
	if !ok {
		return scanPos{}, ErrInvalidArgument
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) <= posLen {
		return scanPos{}, ErrInvalidArgument
	}
	ts, seq := decodePos(b[:posLen])
	return scanPos{ts: ts, seq: seq, stream: string(b[posLen:])}, nil
}

// CursorAfter returns a Scan cursor that resumes right after the event at
// (ts, seq) of the named stream in Scan's (timestamp, stream, sequence)
// order, as if an earlier Scan had stopped there. Live tailing uses it to
// wait for what comes after the newest event a client has seen.
func CursorAfter(stream string, ts int64, seq uint64) string {
	return encodeScanCursor(scanPos{ts: ts, seq: seq, stream: stream})
}
