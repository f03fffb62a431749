package logship

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// DefaultSpoolSize is the disk the agent's spools may take, all containers
// together, when Config.SpoolSize is zero: 1 GiB, some 8 minutes of 20
// containers printing 1,000 lines of 100 bytes a second each, or hours of
// a quieter agent.
const DefaultSpoolSize = 1 << 30

// spoolHeader is a spool record's header: the payload's length and its
// CRC-32C, 4 bytes each, little-endian.
const spoolHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spool is a container's on-disk overflow queue: assembled events the
// server has not acknowledged, kept in order while it is unreachable (or
// slower than the container), so that Docker rotating its local driver's
// files away cannot lose them. The file is a sequence of records
// (spoolHeader, then the event: its position, timestamp, size and
// message); a record torn by a crash fails its CRC and ends the spool.
//
// Offsets: write is the end of the last whole record; read is the first
// record not yet taken into memory (the shipper's pending). The checkpoint
// keeps the offset after the last acknowledged record (checkpoint.SpoolOff),
// from which a restarted agent ships the spool again.
type spool struct {
	path  string
	f     *os.File
	write int64
	read  int64
	// last is the position of the last record written: a restarted agent
	// reads the container's output again after it.
	last Pos
	// pend holds the records after flushed, not yet written to the
	// file: written once it passes spoolFlush, and before any read. A
	// record lost in it by a crash is read again from the container's
	// output (the reader resumes after the last record in the file).
	pend    []byte
	flushed int64
}

// spoolFlush is how much the spool buffers before it writes (the sender
// also flushes it whenever it looks for a batch): less than a file of the
// smallest local-driver rotation worth having, so that what a crash loses
// from the buffer is still in the runtime's files.
const spoolFlush = 4 << 10

// spoolPath is the spool file beside a container's checkpoint.
func spoolPath(checkpoint string) string { return checkpoint + ".spool" }

// openSpool opens (or creates) the spool at path, finds the end of its
// last whole record and cuts off what follows it.
func openSpool(path string) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log spool: %w", err)
	}
	sp := &spool{path: path, f: f}
	for {
		events, next, err := sp.readAt(sp.write, 4<<20)
		if err != nil || len(events) == 0 {
			break
		}
		sp.write = next
		sp.last = events[len(events)-1].pos
	}
	sp.flushed = sp.write
	if err := f.Truncate(sp.write); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open log spool: %w", err)
	}
	return sp, nil
}

// append writes e as a record and returns the offset after it.
func (sp *spool) append(e event) (int64, error) {
	start := len(sp.pend)
	b := append(sp.pend, make([]byte, spoolHeader)...)
	b = binary.AppendVarint(b, e.pos.TS)
	b = binary.AppendUvarint(b, uint64(e.pos.N))
	b = binary.AppendVarint(b, e.ts)
	b = binary.AppendUvarint(b, uint64(e.size))
	b = append(b, e.msg...)
	rec := b[start:]
	payload := rec[spoolHeader:]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))
	sp.pend = b
	sp.write += int64(len(rec))
	sp.last = e.pos
	if len(sp.pend) >= spoolFlush {
		if err := sp.flush(); err != nil {
			return sp.write, err
		}
	}
	return sp.write, nil
}

// flush writes the buffered records. On an error they are dropped from
// the spool (write goes back to what the file holds).
func (sp *spool) flush() error {
	if len(sp.pend) == 0 {
		return nil
	}
	_, err := sp.f.WriteAt(sp.pend, sp.flushed)
	sp.pend = sp.pend[:0]
	if err != nil {
		// A partial record fails its CRC; the next one overwrites it.
		sp.write = sp.flushed
		return fmt.Errorf("write log spool: %w", err)
	}
	sp.flushed = sp.write
	return nil
}

// load returns the records from read on, about max bytes of messages (at
// least one record), and moves read past them. Each event's spoolEnd is
// the offset after its record.
func (sp *spool) load(max int) ([]event, error) {
	if err := sp.flush(); err != nil {
		return nil, err
	}
	events, next, err := sp.readAt(sp.read, max)
	if err != nil {
		return nil, err
	}
	sp.read = next
	return events, nil
}

// readAt parses the whole records from off on, up to about max bytes and
// not past write when write is known (a spool being opened reads to the
// end of the file). It returns them and the offset after the last one; a
// torn or corrupt record ends them.
func (sp *spool) readAt(off int64, max int) ([]event, int64, error) {
	size := int64(max) + spoolHeader + 64
	chunk := make([]byte, size)
	n, err := sp.f.ReadAt(chunk, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, off, fmt.Errorf("read log spool: %w", err)
	}
	chunk = chunk[:n]
	var events []event
	taken := 0
	for len(chunk) >= spoolHeader {
		l := int(binary.LittleEndian.Uint32(chunk[0:4]))
		if l > len(chunk)-spoolHeader {
			if len(events) > 0 || l > MaxEventBytes+64 {
				break
			}
			// One record larger than the chunk: read it whole.
			chunk = make([]byte, spoolHeader+l)
			n, err := sp.f.ReadAt(chunk, off)
			if n < len(chunk) {
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, off, fmt.Errorf("read log spool: %w", err)
				}
				break // torn
			}
			continue
		}
		payload := chunk[spoolHeader : spoolHeader+l]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(chunk[4:8]) {
			break
		}
		e, ok := decodeSpooled(payload)
		if !ok {
			break
		}
		off += int64(spoolHeader + l)
		e.spoolEnd = off
		events = append(events, e)
		chunk = chunk[spoolHeader+l:]
		taken += e.size
		if taken >= max {
			break
		}
	}
	return events, off, nil
}

func decodeSpooled(b []byte) (event, bool) {
	var e event
	var k int
	if e.pos.TS, k = binary.Varint(b); k <= 0 {
		return e, false
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return e, false
	}
	e.pos.N, b = int(n), b[k:]
	if e.ts, k = binary.Varint(b); k <= 0 {
		return e, false
	}
	b = b[k:]
	size, k := binary.Uvarint(b)
	if k <= 0 {
		return e, false
	}
	e.size, e.msg = int(size), string(b[k:])
	return e, true
}

// reset empties the spool.
func (sp *spool) reset() error {
	sp.write, sp.read, sp.last, sp.flushed, sp.pend = 0, 0, Pos{}, 0, sp.pend[:0]
	if err := sp.f.Truncate(0); err != nil {
		return fmt.Errorf("empty log spool: %w", err)
	}
	return nil
}

// close writes what is buffered and closes the file.
func (sp *spool) close() {
	_ = sp.flush()
	_ = sp.f.Close()
}
