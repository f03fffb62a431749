package logstore

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Event is one log event.
type Event struct {
	// Timestamp is the event's time in ms since the epoch.
	Timestamp int64
	// Message is the event's text.
	Message string
	// IngestionTime is when the store accepted the event, in ms since the
	// epoch. Append ignores it and sets it from its clock.
	IngestionTime int64
	// Seq is the event's arrival sequence in its stream, unique in the
	// stream and increasing with each append (an event ID is (stream,
	// Timestamp, Seq)). Append ignores it and assigns it.
	Seq uint64
}

// AppendResult reports the outcome of Append.
type AppendResult struct {
	// Duplicate is true when the batch had already been accepted (its
	// batchSeq was not above the producer's last one) and nothing was
	// written.
	Duplicate bool
	// FirstSeq is the sequence of the batch's first event; the batch's
	// events got FirstSeq, FirstSeq+1, ... in the order given. Zero for a
	// duplicate or an empty batch.
	FirstSeq uint64
	// Stream is the stream after the append.
	Stream Stream
}

// Append stores events in a stream atomically and durably: when it returns
// nil, every event is on disk (one synced Pebble batch) and a crash cannot
// leave a part of the batch. The events need not be sorted; each gets the
// next arrival sequence in the order given, so events with equal
// timestamps keep their order. Validation of timestamps, sizes and counts
// is the caller's (the API's batch rules).
//
// De-duplication: when producer is not "", batchSeq numbers the producer's
// batches for this stream and must grow with each new batch. The last
// accepted batchSeq per (stream, producer) is stored in the same batch as
// the events; a batch whose batchSeq is not above it is answered with
// Duplicate set and nothing written, so a producer that retries a batch
// after a lost answer delivers it exactly once. An empty batch with a
// producer only records its batchSeq. With producer "" there is no
// de-duplication (PutLogEvents) and batchSeq is ignored.
//
// Errors: ErrNotFound (no such group or stream, or deleted while waiting),
// ErrClosed, or a wrapped storage error (nothing was written).
func (s *Store) Append(group, stream, producer string, batchSeq uint64, events []Event) (AppendResult, error) {
	if err := s.enterWrite(); err != nil {
		return AppendResult{}, err
	}
	defer s.leave()
	s.mu.RLock()
	g, st, err := s.lookup(group, stream)
	s.mu.RUnlock()
	if err != nil {
		return AppendResult{}, fmt.Errorf("append: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deleted {
		return AppendResult{}, fmt.Errorf("append: stream %q in group %q: %w", stream, group, ErrNotFound)
	}
	if producer != "" {
		if last, ok := st.rec.Producers[producer]; ok && batchSeq <= last {
			return AppendResult{Duplicate: true, Stream: st.public()}, nil
		}
	}
	if len(events) == 0 && producer == "" {
		return AppendResult{Stream: st.public()}, nil
	}

	now := s.nowMs()
	rec := st.rec
	if producer != "" {
		rec = cloneRecord(st.rec)
		if rec.Producers == nil {
			rec.Producers = map[string]uint64{}
		}
		rec.Producers[producer] = batchSeq
	}
	b := s.db.NewBatch()
	defer b.Close()
	first := rec.NextSeq
	var added int64
	keyLen := len(st.prefix) + posLen
	var scratch [binary.MaxVarintLen64]byte
	nowLen := binary.PutUvarint(scratch[:], uint64(now))
	for i := range events {
		ev := &events[i]
		seq := rec.NextSeq
		rec.NextSeq++
		op := b.SetDeferred(keyLen, nowLen+len(ev.Message))
		n := copy(op.Key, st.prefix)
		binary.BigEndian.PutUint64(op.Key[n:], uint64(ev.Timestamp)^(1<<63))
		binary.BigEndian.PutUint64(op.Key[n+8:], seq)
		copy(op.Value[binary.PutUvarint(op.Value, uint64(now)):], ev.Message)
		if err := op.Finish(); err != nil {
			return AppendResult{}, fmt.Errorf("append to %q in %q: %w", stream, group, err)
		}
		if rec.Events == 0 || ev.Timestamp < rec.FirstEvent {
			rec.FirstEvent = ev.Timestamp
		}
		if rec.Events == 0 && seq == 0 || ev.Timestamp > rec.LastEvent {
			rec.LastEvent = ev.Timestamp
		}
		rec.Events++
		added += int64(len(ev.Message)) + eventOverhead
	}
	if len(events) > 0 {
		rec.LastIngestion = now
	}
	rec.StoredBytes += added
	if err := st.recordBatch(b, &rec); err != nil {
		return AppendResult{}, fmt.Errorf("append to %q in %q: %w", stream, group, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return AppendResult{}, fmt.Errorf("append to %q in %q: %w", stream, group, err)
	}
	st.setRec(rec)
	g.storedBytes.Add(added)
	s.storedBytes.Add(added)
	if len(events) > 0 {
		g.wake()
	}
	res := AppendResult{Stream: st.public()}
	if len(events) > 0 {
		res.FirstSeq = first
	}
	return res, nil
}
