package docker

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// entry encodes a local driver entry as Docker writes it: length,
// protobuf LogEntry, length.
func entry(source string, nanos int64, line string, partial, last bool) []byte {
	var pb []byte
	str := func(field int, s []byte) {
		pb = binary.AppendUvarint(pb, uint64(field<<3|2))
		pb = binary.AppendUvarint(pb, uint64(len(s)))
		pb = append(pb, s...)
	}
	str(1, []byte(source))
	pb = binary.AppendUvarint(pb, 2<<3)
	pb = binary.AppendUvarint(pb, uint64(nanos))
	str(3, []byte(line))
	if partial {
		pb = append(pb, 4<<3, 1)
		meta := []byte{}
		if last {
			meta = append(meta, 1<<3, 1)
		}
		meta = append(meta, 2<<3|2, 2, 'i', 'd', 3<<3, 1)
		str(5, meta)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(pb)))
	out = append(out, pb...)
	return binary.BigEndian.AppendUint32(out, uint32(len(pb)))
}

func appendFile(t *testing.T, path string, data ...[]byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, d := range data {
		if _, err := f.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

// openTest opens a file stream on path that never asks a daemon: stopped
// ends it at the end of the file; otherwise it follows the file.
func openTest(t *testing.T, path string, stopped bool) *fileStream {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &fileStream{ctx: context.Background(), path: path, f: f, buf: make([]byte, 0, 64), stopped: stopped, checked: time.Now().Add(time.Hour),
		exited: make(chan container.WaitResponse)}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileStreamEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	long := string(make([]byte, 300)) // longer than the test buffer
	appendFile(t, path,
		entry("stdout", 1, "hello", false, false),
		entry("stderr", 2, "a long li", true, false),
		entry("stderr", 3, "ne", true, true),
		entry("stdout", 4, long, false, false),
		entry("stdout", 5, "no line break", true, false))
	s := openTest(t, path, true)
	type want struct {
		data            string
		stderr, partial bool
		nanos           int64
	}
	for _, w := range []want{{"hello", false, false, 1}, {"a long li", true, true, 2}, {"ne", true, false, 3}, {long, false, false, 4}, {"no line break", false, true, 5}} {
		f, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(f.Data) != w.data || f.Stderr != w.stderr || f.Partial != w.partial || f.Time.UnixNano() != w.nanos {
			t.Errorf("frame %+v, want %+v", f, w)
		}
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

func TestFileStreamSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	appendFile(t, path, entry("stdout", 10, "a", false, false), entry("stdout", 20, "b", false, false), entry("stdout", 30, "c", false, false))
	s := openTest(t, path, true)
	s.since = 20
	for _, want := range []string{"b", "c"} {
		f, err := s.Next()
		if err != nil || string(f.Data) != want {
			t.Fatalf("frame %q err %v, want %q", f.Data, err, want)
		}
	}
}

// TestFileStreamFollow: entries written in pieces while the stream
// waits, and a rotation, come out whole and in order.
func TestFileStreamFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "container.log")
	appendFile(t, path, entry("stdout", 1, "one", false, false))
	s := openTest(t, path, false)
	done := make(chan error, 1)
	go func() {
		e := entry("stdout", 2, "two", false, false)
		time.Sleep(2 * filePace)
		appendFile(t, path, e[:7])
		time.Sleep(2 * filePace)
		appendFile(t, path, e[7:])
		// Rotate as Docker does: rename, then a new file.
		time.Sleep(2 * filePace)
		if err := os.Rename(path, path+".1"); err != nil {
			done <- err
			return
		}
		time.Sleep(2 * filePace)
		appendFile(t, path, entry("stdout", 3, "three", false, false))
		done <- nil
	}()
	for _, want := range []string{"one", "two", "three"} {
		f, err := s.Next()
		if err != nil || string(f.Data) != want {
			t.Fatalf("frame %q err %v, want %q", f.Data, err, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFileStreamMissedRotation: when another file was rotated between
// the open one and the current one, the stream says so.
func TestFileStreamMissedRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "container.log")
	appendFile(t, path, entry("stdout", 1, "one", false, false))
	s := openTest(t, path, false)
	if f, err := s.Next(); err != nil || string(f.Data) != "one" {
		t.Fatalf("frame %q err %v", f.Data, err)
	}
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", entry("stdout", 2, "two", false, false))
	appendFile(t, path, entry("stdout", 3, "three", false, false))
	if _, err := s.Next(); !errors.Is(err, errLogRotated) {
		t.Fatalf("err %v, want errLogRotated", err)
	}
}

func TestFirstEntryTimeGzip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "container.log.1.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	_, _ = zw.Write(entry("stdout", 42, "x", false, false))
	_ = zw.Close()
	_ = f.Close()
	if ts, ok := firstEntryTime(path); !ok || ts != 42 {
		t.Fatalf("first entry %d %v, want 42", ts, ok)
	}
}
