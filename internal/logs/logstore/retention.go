package logstore

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// RetentionResult reports what EnforceRetention deleted.
type RetentionResult struct {
	// EventsDeleted and BytesDeleted count all deleted events and their
	// stored bytes.
	EventsDeleted, BytesDeleted int64
	// BoundEventsDeleted counts the events among them that were dropped
	// to keep within Options.MaxBytes.
	BoundEventsDeleted int64
}

const dayMs = 24 * 60 * 60 * 1000

// EnforceRetention deletes what the store must no longer keep at time now:
//
//  1. In every group with a retention of N days, the events whose
//     timestamp is before now minus N days (one range deletion per stream).
//  2. Then, if the stored bytes of all groups exceed Options.MaxBytes, the
//     oldest events by timestamp across all groups and streams, until the
//     total is at most 90% of MaxBytes (the slack avoids trimming at every
//     run). All events with the last deleted timestamp go too, so a bit
//     more may be freed. Streams and groups stay, even when emptied.
//
// Deletions are synced; a stream's record (first event time, stored bytes,
// event count) changes in the same batch. Disk space is reclaimed as Pebble
// compacts the deleted ranges. Run calls this every minute. Errors:
// ErrClosed, or a wrapped storage error (what was deleted before it stays
// deleted).
func (s *Store) EnforceRetention(now time.Time) (RetentionResult, error) {
	if err := s.enter(); err != nil {
		return RetentionResult{}, err
	}
	defer s.leave()
	var res RetentionResult
	nowMs := now.UnixMilli()
	type job struct {
		st     *stream
		cutoff int64
	}
	var jobs []job
	var all []*stream
	s.mu.RLock()
	for _, g := range s.groups {
		for _, st := range g.streams {
			all = append(all, st)
			if g.rec.RetentionDays > 0 {
				jobs = append(jobs, job{st, nowMs - int64(g.rec.RetentionDays)*dayMs})
			}
		}
	}
	s.mu.RUnlock()
	for _, j := range jobs {
		ev, by, err := s.trim(j.st, appendPos(nil, j.cutoff, 0), math.MaxInt64)
		res.EventsDeleted += ev
		res.BytesDeleted += by
		if err != nil {
			return res, fmt.Errorf("enforce retention: %w", err)
		}
	}
	if s.opts.MaxBytes > 0 && s.storedBytes.Load() > s.opts.MaxBytes {
		ev, by, err := s.enforceBound(all)
		res.EventsDeleted += ev
		res.BytesDeleted += by
		res.BoundEventsDeleted = ev
		if err != nil {
			return res, fmt.Errorf("enforce disk bound: %w", err)
		}
	}
	return res, nil
}

// enforceBound drops the oldest events of all streams until the stored
// bytes are at most 90% of MaxBytes. It merges all streams in timestamp
// order (as Scan does) to find the cutoff time T that frees enough, then
// deletes every event before T with one range deletion per stream.
func (s *Store) enforceBound(streams []*stream) (events, freed int64, err error) {
	need := s.storedBytes.Load() - s.opts.MaxBytes/10*9
	if need <= 0 {
		return 0, 0, nil
	}
	cutoff, err := s.boundCutoff(streams, need)
	if err != nil {
		return 0, 0, err
	}
	upTo := appendPos(nil, cutoff, 0)
	for _, st := range streams {
		ev, by, err := s.trim(st, upTo, math.MaxInt64)
		events += ev
		freed += by
		if err != nil {
			return events, freed, err
		}
	}
	return events, freed, nil
}

// boundCutoff returns the smallest time T such that the events before T
// hold at least need bytes (or the end of time when all of them do not).
func (s *Store) boundCutoff(streams []*stream, need int64) (int64, error) {
	h := make(readerHeap, 0, len(streams))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixEvent), UpperBound: prefixEnd([]byte(prefixEvent))})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for _, st := range streams {
		r := &streamReader{
			name: st.group.name + sep + st.name,
			next: append(append([]byte(nil), st.prefix...), minPos()...),
			hi:   append(append([]byte(nil), st.prefix...), maxPos()...),
			plen: len(st.prefix),
		}
		if err := r.fill(it); err != nil {
			return 0, err
		}
		if r.more() {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	var sum int64
	for len(h) > 0 {
		r := h[0]
		e := &r.buf[r.i]
		sum += int64(e.end-e.off) + eventOverhead
		if sum >= need {
			return e.ts + 1, nil
		}
		r.i++
		if r.i == len(r.buf) {
			if err := r.fill(it); err != nil {
				return 0, err
			}
		}
		if r.more() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return math.MaxInt64, nil
}

// trim deletes st's oldest events: those before position upTo, but stops
// once at least need bytes are freed. It returns what it deleted.
func (s *Store) trim(st *stream, upTo []byte, need int64) (events, freed int64, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deleted || st.rec.Events == 0 || bytes.Compare(appendPos(nil, st.rec.FirstEvent, 0), upTo) >= 0 {
		return 0, 0, nil
	}
	hi := append(append([]byte(nil), st.prefix...), upTo...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: st.prefix, UpperBound: prefixEnd(st.prefix)})
	if err != nil {
		return 0, 0, err
	}
	var cut []byte // first key kept
	newFirst := int64(0)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if bytes.Compare(k, hi) >= 0 || freed >= need {
			cut = append([]byte(nil), k...)
			newFirst = decodeTs(k[len(st.prefix):])
			break
		}
		v := it.Value()
		_, n := binary.Uvarint(v)
		freed += int64(len(v)-n) + eventOverhead
		events++
	}
	if err := closeIter(it); err != nil {
		return 0, 0, err
	}
	if events == 0 {
		return 0, 0, nil
	}
	if cut == nil {
		cut = prefixEnd(st.prefix)
	}
	rec := cloneRecord(st.rec)
	rec.Events -= events
	rec.StoredBytes -= freed
	rec.FirstEvent = newFirst
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(st.prefix, cut, nil)
	if err := st.recordBatch(b, &rec); err != nil {
		return 0, 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, 0, fmt.Errorf("trim %q in %q: %w", st.name, st.group.name, err)
	}
	st.setRec(rec)
	st.group.storedBytes.Add(-freed)
	s.storedBytes.Add(-freed)
	return events, freed, nil
}
