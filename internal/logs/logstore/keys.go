package logstore

import (
	"encoding/binary"
	"math"
	"strings"
)

const (
	prefixGroup  = "g/"
	prefixStream = "s/"
	prefixLast   = "l/"
	prefixEvent  = "e/"
	sep          = "\x00"

	// posLen is the length of an event position: timestamp and sequence.
	posLen = 16
	// maxNameLen bounds group and stream names (AWS allows 512).
	maxNameLen = 512
	// eventOverhead is the per-event size CloudWatch Logs adds to a message.
	eventOverhead = 26
)

// validName reports whether name can be a group or stream name in a key.
func validName(name string) bool {
	return name != "" && len(name) <= maxNameLen && !strings.Contains(name, sep)
}

func groupKey(group string) []byte { return []byte(prefixGroup + group) }

func streamKey(group, stream string) []byte {
	return []byte(prefixStream + group + sep + stream)
}

func streamPrefix(group string) []byte { return []byte(prefixStream + group + sep) }

func lastPrefix(group string) []byte { return []byte(prefixLast + group + sep) }

func lastKey(group string, ts int64, stream string) []byte {
	k := lastPrefix(group)
	k = appendTs(k, ts)
	return append(k, stream...)
}

func eventGroupPrefix(group string) []byte { return []byte(prefixEvent + group + sep) }

func eventPrefix(group, stream string) []byte {
	return []byte(prefixEvent + group + sep + stream + sep)
}

// appendTs appends ts so that byte order is numeric order.
func appendTs(b []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(ts)^(1<<63))
}

func decodeTs(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// appendPos appends the position (ts, seq) of an event.
func appendPos(b []byte, ts int64, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendTs(b, ts), seq)
}

// decodePos splits a 16-byte position.
func decodePos(p []byte) (int64, uint64) {
	return decodeTs(p[:8]), binary.BigEndian.Uint64(p[8:16])
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// minPos returns the position below every event.
func minPos() []byte { return appendPos(nil, math.MinInt64, 0) }

// maxPos returns the position above every event.
func maxPos() []byte { return appendPos(nil, math.MaxInt64, math.MaxUint64) }

// posAfter returns the position immediately after (ts, seq).
func posAfter(ts int64, seq uint64) []byte {
	if seq == math.MaxUint64 {
		return appendPos(nil, ts+1, 0)
	}
	return appendPos(nil, ts, seq+1)
}
