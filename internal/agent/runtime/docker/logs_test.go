package docker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func muxFrame(stream byte, payload string) []byte {
	h := make([]byte, 8)
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestLogStreamMultiplexed(t *testing.T) {
	var b bytes.Buffer
	b.Write(muxFrame(1, "2026-01-02T03:04:05.000000001Z hello\n"))
	b.Write(muxFrame(2, "2026-01-02T03:04:05.000000002Z a long li"))
	b.Write(muxFrame(2, "2026-01-02T03:04:05.000000003Z ne\n"))
	s := &logStream{rc: io.NopCloser(&b), br: bufio.NewReader(&b)}
	type want struct {
		data            string
		stderr, partial bool
		nanos           int
	}
	for _, w := range []want{{"hello", false, false, 1}, {"a long li", true, true, 2}, {"ne", true, false, 3}} {
		f, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(f.Data) != w.data || f.Stderr != w.stderr || f.Partial != w.partial ||
			!f.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, w.nanos, time.UTC)) {
			t.Errorf("frame %+v (%q), want %+v", f, f.Data, w)
		}
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

func TestLogStreamTTY(t *testing.T) {
	r := strings.NewReader("2026-01-02T03:04:05.5Z one\n2026-01-02T03:04:06Z two\n")
	s := &logStream{rc: io.NopCloser(r), br: bufio.NewReader(r), tty: true}
	for _, want := range []string{"one", "two"} {
		f, err := s.Next()
		if err != nil || string(f.Data) != want || f.Partial {
			t.Fatalf("frame %q partial %v err %v, want %q", f.Data, f.Partial, err, want)
		}
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

func TestLogStreamBadFrame(t *testing.T) {
	var b bytes.Buffer
	b.Write(muxFrame(1, "no-timestamp"))
	s := &logStream{rc: io.NopCloser(&b), br: bufio.NewReader(&b)}
	if _, err := s.Next(); err == nil {
		t.Fatal("no error for a frame without a timestamp")
	}
}
