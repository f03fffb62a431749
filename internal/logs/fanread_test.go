package logs

import (
	"math"
	"testing"
)

// TestReadKeyPos: a merged position turns into each server's own position
// so that "at or after the key" on every server is exactly the merged
// order's (timestamp, server, sequence) suffix.
func TestReadKeyPos(t *testing.T) {
	k := readKey{T: 100, U: "http://b", S: 7}
	for _, tc := range []struct {
		name, url string
		ts        int64
		seq       uint64
	}{
		{"the key's own server", "http://b", 100, 7},
		{"a server sorted before: only later timestamps", "http://a", 101, 0},
		{"a server sorted after: the same timestamp on", "http://c", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ts, seq := k.pos(tc.url); ts != tc.ts || seq != tc.seq {
				t.Fatalf("pos(%s) = %d/%d, want %d/%d", tc.url, ts, seq, tc.ts, tc.seq)
			}
		})
	}
	if ts, seq := (readKey{T: math.MaxInt64, U: "x"}).pos("a"); ts != math.MaxInt64 || seq != math.MaxUint64 {
		t.Fatalf("the end: %d/%d", ts, seq)
	}
	if k.after().compare(k) <= 0 || (readKey{T: 100, U: "http://c"}).compare(k) <= 0 || (readKey{T: 101, U: "http://a"}).compare(k) <= 0 {
		t.Fatal("order")
	}
	for _, fwd := range []bool{true, false} {
		tok := encodeReadKey(fwd, k)
		f, got, err := decodeReadKey(tok)
		if err != nil || f != fwd || got != k {
			t.Fatalf("%s: %v %v %+v", tok, err, f, got)
		}
	}
	for _, bad := range []string{"", "x/abc", "f/!!", "b/" + "e30x"} {
		if _, _, err := decodeReadKey(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
}
