package logship

import (
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// CloudWatch Logs' batch rules (PutLogEvents), which Docker's awslogs
// driver follows too.
const (
	// EventOverhead is added to each event's message length.
	EventOverhead = 26
	// MaxBatchBytes bounds a batch: messages plus EventOverhead each.
	MaxBatchBytes = 1048576
	// MaxBatchEvents bounds a batch's event count.
	MaxBatchEvents = 10000
	// MaxEventBytes bounds one event's message; longer lines are split.
	MaxEventBytes = 262144 - EventOverhead
	// MaxBatchSpan bounds the time between a batch's first and last events.
	MaxBatchSpan = 24 * time.Hour
)

// Pos is a position in a container's output: the frame whose Docker
// timestamp is TS (Unix nanoseconds) and which is the N-th (from 1) of the
// consecutive frames carrying exactly that timestamp. The zero Pos is the
// start of the output.
type Pos struct {
	TS int64 `json:"ts"`
	N  int   `json:"n"`
}

// IsZero reports whether p is the start of the output.
func (p Pos) IsZero() bool { return p == Pos{} }

// event is one log event ready to ship.
type event struct {
	// ts is the event's timestamp in milliseconds: its first frame's.
	ts  int64
	msg string
	// size is the message's length as CloudWatch counts it (invalid UTF-8
	// bytes become U+FFFD, 3 bytes) plus EventOverhead.
	size int
	// pos is the last frame the event holds: once the event is shipped,
	// the output up to pos is.
	pos Pos
	// spoolEnd is, for an event kept in the spool, the offset after its
	// record: once the event is shipped, the spool up to there is.
	spoolEnd int64
}

// assembler turns frames into events. Without a multi-line pattern each
// line is an event (the pieces of a line Docker cut are joined again);
// with one, a line that matches the pattern starts a new event and the
// lines that follow it, up to the next match, join it, each followed by a
// line break, as Docker's awslogs driver does. An event never exceeds
// MaxEventBytes: what would overflow it starts a new event, at a frame
// boundary where possible.
type assembler struct {
	multiline *regexp.Regexp
	max       int
	emit      func(event)

	buf     []byte
	bufLen  int   // effective length of buf
	bufTS   int64 // ms of the first frame in buf
	bufPos  Pos   // last frame in buf
	has     bool  // buf holds at least one frame
	started time.Time

	midLine   bool // the last frame was cut: the next one of its stream goes on
	midStderr bool
	lastPos   Pos // the last frame added
}

func newAssembler(multiline *regexp.Regexp, emit func(event)) *assembler {
	return &assembler{multiline: multiline, max: MaxEventBytes, emit: emit}
}

// add takes the frame f at position pos; now is the wall clock, for
// flushStale.
func (a *assembler) add(f runtime.LogFrame, pos Pos, now time.Time) {
	lineStart := !a.midLine || a.midStderr != f.Stderr
	ms := f.Time.UnixMilli()
	data := f.Data
	if a.multiline == nil {
		if lineStart && a.has {
			a.flush() // a cut line whose end never came
		}
	} else if lineStart && a.has && a.multiline.Match(data) {
		a.flush()
	}
	n := effectiveLen(data)
	nl := a.multiline != nil && !f.Partial && n < a.max
	if nl {
		n++
	}
	if a.has && a.bufLen+n > a.max {
		a.flush()
	}
	for n > a.max { // one frame longer than an event (raw TTY lines)
		cut, eff := validSplit(data, a.max)
		if cut == 0 {
			break
		}
		a.emit(event{ts: ms, msg: string(data[:cut]), size: eff + EventOverhead, pos: a.lastPos})
		data = data[cut:]
		n -= eff
	}
	if !a.has {
		a.bufTS, a.started, a.has = ms, now, true
	}
	a.buf = append(a.buf, data...)
	if nl {
		a.buf = append(a.buf, '\n')
	}
	a.bufLen += n
	a.bufPos, a.lastPos = pos, pos
	a.midLine, a.midStderr = f.Partial, f.Stderr
	if a.multiline == nil && !f.Partial {
		a.flush()
	}
}

// flush emits what the buffer holds as one event. Empty lines make no
// event, as with Docker's awslogs driver.
func (a *assembler) flush() {
	if !a.has {
		return
	}
	if len(a.buf) > 0 {
		a.emit(event{ts: a.bufTS, msg: string(a.buf), size: a.bufLen + EventOverhead, pos: a.bufPos})
	}
	a.buf, a.bufLen, a.has = a.buf[:0], 0, false
}

// flushStale flushes an event that has been waiting for its next line (a
// multi-line event, or a cut line) since before now-age, as Docker's
// driver flushes after its flush interval.
func (a *assembler) flushStale(now time.Time, age time.Duration) {
	if a.has && now.Sub(a.started) >= age {
		a.flush()
		a.midLine = false
	}
}

// effectiveLen is len(b) once invalid UTF-8 bytes are replaced by U+FFFD.
func effectiveLen(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		n += utf8.RuneLen(r)
		i += size
	}
	return n
}

// validSplit returns how many bytes of b fit in max effective bytes
// without cutting a character, and their effective length.
func validSplit(b []byte, max int) (cut, eff int) {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		l := utf8.RuneLen(r)
		if eff+l > max {
			return i, eff
		}
		eff += l
		i += size
	}
	return len(b), eff
}

// cutBatch takes from events the longest prefix that makes one batch:
// at most MaxBatchEvents events and MaxBatchBytes bytes, spanning at most
// MaxBatchSpan. It returns the batch and the rest.
func cutBatch(events []event) (batch, rest []event) {
	size := 0
	for i, e := range events {
		if i == MaxBatchEvents || size+e.size > MaxBatchBytes ||
			(i > 0 && time.Duration(e.ts-events[0].ts)*time.Millisecond > MaxBatchSpan) {
			return events[:i], events[i:]
		}
		size += e.size
	}
	return events, nil
}
