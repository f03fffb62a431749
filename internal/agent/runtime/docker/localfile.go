package docker

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-units"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// Reading the local log driver's files directly.
//
// Docker's ContainerLogs with follow costs the daemon far more CPU than
// writing the lines did (tens of microseconds a line: it wakes up, decodes
// and re-frames every entry for every reader), so when the agent can read
// the local driver's files (it runs beside the daemon, as root) it reads
// them itself: <container dir>/local-logs/container.log, a sequence of
// entries, each a 4-byte big-endian length, a protobuf LogEntry
// (1 source, 2 time_nano, 3 line, 4 partial, 5 partial metadata) and the
// length again. Docker rotates the file by renaming it container.log.1
// (later compressed to container.log.1.gz) and creating a new one; the
// stream keeps the file it has open, reads it to its end, and goes on
// with the new container.log once it has checked that no file came in
// between (else it returns errLogRotated and the caller reads again from
// its position, through the API).
//
// The stream looks for a rotation once it has read max-size bytes of the
// open file (Docker rotates a file only then; every rotationCheckEvery
// before that) and polls the file every
// filePace when it is at its end. It learns that the container has
// stopped from a ContainerWait request (or, should that fail, by
// inspecting the container at most every stoppedCheckEvery); once it has
// stopped and the file is read to its end, the stream ends (Docker writes
// a container's last output before it reports it stopped).

// errLogRotated is returned by a file stream that lost track of the
// rotated files; reading again from the last position (ReadLogs with
// since) resumes the output.
var errLogRotated = errors.New("docker log files rotated faster than they were read")

// filePace is how long a file stream at the end of its file waits before
// it looks again: a line printed now and then waits that long at most
// (the agent's batches wait longer), and twenty quiet containers cost a
// hundred reads a second.
const filePace = 200 * time.Millisecond

// rotationCheckEvery is how often a stream at the end of a file smaller
// than max-size checks for a rotation all the same, should the driver
// count max-size differently.
const rotationCheckEvery = 5 * time.Second

// stoppedCheckEvery bounds how often a file stream at the end of its file
// asks the daemon whether the container has stopped.
const stoppedCheckEvery = time.Second

// localLogFile is the local driver's current file of a container whose
// log driver is local, or "" when it is not.
func localLogFile(c container.InspectResponse) string {
	if c.ContainerJSONBase == nil || c.HostConfig == nil || c.HostConfig.LogConfig.Type != "local" || c.HostnamePath == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(c.HostnamePath), "local-logs", "container.log")
}

// openLocalFile returns a stream of the local driver's files of container
// c from since, or nil when they cannot serve it: they are not readable
// here, or since lies before the current file and the rotated ones would
// be needed.
func (r *Runtime) openLocalFile(ctx context.Context, c container.InspectResponse, since time.Time) *fileStream {
	path := localLogFile(c)
	if path == "" || r.cfg.NoLocalLogFiles {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	s := &fileStream{r: r, id: c.ID, path: path, f: f, buf: make([]byte, 0, fileBuffer), maxSize: localMaxSize(c.HostConfig.LogConfig.Config)}
	if !since.IsZero() {
		s.since = since.UnixNano()
	}
	if rotated, _ := filepath.Glob(path + ".*"); len(rotated) > 0 {
		// Older output is in rotated files: the current file serves only
		// a reader that starts after its first entry.
		first, ok := firstEntryTime(path)
		if since.IsZero() || !ok || s.since < first {
			f.Close()
			return nil
		}
	}
	// One request that the daemon answers when the container stops tells
	// the stream so, rather than an inspection every so often.
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.exited, s.waitErr = r.cli.ContainerWait(s.ctx, c.ID, container.WaitConditionNotRunning)
	return s
}

// fileBuffer is the read buffer of a file stream; an entry longer than it
// grows it.
const fileBuffer = 256 << 10

// fileStream is a runtime.LogStream of the local driver's files.
type fileStream struct {
	ctx     context.Context
	cancel  context.CancelFunc
	exited  <-chan container.WaitResponse // the daemon's answer once the container stops
	waitErr <-chan error                  // or why it could not answer: then inspect
	r       *Runtime
	id      string
	path    string
	f       *os.File
	since   int64

	buf      []byte // unread bytes are buf[off:]
	off      int
	read     int64 // bytes read from the open file
	maxSize  int64 // the driver rotates a file once it holds this much; 0 if unknown
	rotCheck time.Time
	firstTS  int64 // first entry of the open file; 0 until read
	stopped  bool
	checked  time.Time
	rotating bool // the path names another file: drain this one, then switch
}

func (s *fileStream) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	return s.f.Close()
}

func (s *fileStream) Next() (runtime.LogFrame, error) {
	for {
		f, ok, err := s.decode()
		if err != nil {
			return runtime.LogFrame{}, err
		}
		if ok {
			if f.Time.UnixNano() < s.since {
				continue
			}
			return f, nil
		}
		n, err := s.fill()
		if err != nil && !errors.Is(err, io.EOF) {
			return runtime.LogFrame{}, fmt.Errorf("read %s: %w", s.path, err)
		}
		if n > 0 {
			continue
		}
		// At the end of the open file.
		if s.rotating {
			if err := s.switchFile(); err != nil {
				return runtime.LogFrame{}, err
			}
			continue
		}
		if (s.read >= s.maxSize || time.Since(s.rotCheck) >= rotationCheckEvery) && s.rotated() {
			s.rotating = true // read what was written before the rename first
			continue
		}
		if s.stopped {
			if s.off < len(s.buf) {
				return runtime.LogFrame{}, fmt.Errorf("read %s: truncated entry at its end", s.path)
			}
			return runtime.LogFrame{}, io.EOF
		}
		select {
		case <-s.exited:
			s.stopped = true
			continue // read once more: what came before it stopped
		case werr := <-s.waitErr:
			// The wait itself failed (werr): inspect from now on.
			_ = werr
			s.waitErr, s.exited = nil, nil
		default:
		}
		if s.exited == nil && time.Since(s.checked) >= stoppedCheckEvery {
			s.checked = time.Now()
			c, err := s.r.cli.ContainerInspect(s.ctx, s.id)
			switch {
			case errdefs.IsNotFound(err):
				s.stopped = true
			case err != nil:
				if s.ctx.Err() != nil {
					return runtime.LogFrame{}, s.ctx.Err()
				}
			case c.State == nil || !c.State.Running && !c.State.Restarting && !c.State.Paused:
				s.stopped = true
			}
			if s.stopped {
				continue // read once more: what came before it stopped
			}
		}
		t := time.NewTimer(filePace)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return runtime.LogFrame{}, s.ctx.Err()
		case <-t.C:
		}
	}
}

// decode returns the next complete entry in the buffer, if there is one.
func (s *fileStream) decode() (runtime.LogFrame, bool, error) {
	b := s.buf[s.off:]
	if len(b) < 4 {
		return runtime.LogFrame{}, false, nil
	}
	n := int(binary.BigEndian.Uint32(b))
	if n > maxFrame {
		return runtime.LogFrame{}, false, fmt.Errorf("read %s: entry of %d bytes", s.path, n)
	}
	if len(b) < 8+n {
		if cap(s.buf) < 8+n {
			nb := make([]byte, len(b), 8+n+fileBuffer)
			copy(nb, b)
			s.buf, s.off = nb, 0
		}
		return runtime.LogFrame{}, false, nil
	}
	f, err := parseEntry(b[4 : 4+n])
	if err != nil {
		return runtime.LogFrame{}, false, fmt.Errorf("read %s: %w", s.path, err)
	}
	s.off += 8 + n
	if s.firstTS == 0 {
		s.firstTS = f.Time.UnixNano()
	}
	return f, true, nil
}

// fill reads more of the open file into the buffer.
func (s *fileStream) fill() (int, error) {
	if s.off > 0 {
		m := copy(s.buf, s.buf[s.off:])
		s.buf, s.off = s.buf[:m], 0
	}
	if len(s.buf) == cap(s.buf) {
		return 0, nil // a whole entry is buffered: decode takes it
	}
	n, err := s.f.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	s.read += int64(n)
	return n, err
}

// rotated reports whether the path now names another file than the open
// one.
func (s *fileStream) rotated() bool {
	s.rotCheck = time.Now()
	cur, err := os.Stat(s.path)
	if err != nil {
		return false // between the rename and the new file: look again later
	}
	open, err := s.f.Stat()
	return err == nil && !os.SameFile(cur, open)
}

// switchFile goes on with the new current file, once the open one (which
// Docker no longer writes) is read to its end; the file rotated first
// must be the open one, else a file was missed and errLogRotated is
// returned.
func (s *fileStream) switchFile() error {
	if s.off < len(s.buf) {
		return fmt.Errorf("read %s: truncated entry before rotation", s.path)
	}
	first, ok := firstEntryTime(s.path + ".1")
	if !ok {
		first, ok = firstEntryTime(s.path + ".1.gz")
	}
	if !ok || s.firstTS == 0 || first != s.firstTS {
		return errLogRotated
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("%w: %w", errLogRotated, err)
	}
	s.f.Close()
	s.f, s.buf, s.off, s.read, s.firstTS, s.rotating = f, s.buf[:0], 0, 0, 0, false
	return nil
}

// localMaxSize is the size at which the local driver rotates its file,
// from its max-size option (20 MB when unset, its default), or 0 when it
// cannot be told: then the stream checks for a rotation at every end of
// the file instead of only once the file is that large (Docker rotates a
// file only once it has reached max-size).
func localMaxSize(opts map[string]string) int64 {
	v, ok := opts["max-size"]
	if !ok {
		return 20 << 20
	}
	n, err := units.FromHumanSize(v) // as the local driver parses it: 20m is 20,000,000
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// firstEntryTime returns the time (Unix nanoseconds) of the first entry
// of a local driver file, gzip-compressed if its name ends with .gz.
func firstEntryTime(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 4096)
	if filepath.Ext(path) == ".gz" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return 0, false
		}
		r = zr
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, false
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return 0, false
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, false
	}
	e, err := parseEntry(b)
	if err != nil {
		return 0, false
	}
	return e.Time.UnixNano(), true
}

// parseEntry decodes a protobuf LogEntry of Docker's local driver into a
// frame whose Data aliases b. A piece of a line Docker cut carries
// partial metadata; the last piece (metadata field 2, last, set) ends the
// line, as the line break does in the API's stream.
func parseEntry(b []byte) (runtime.LogFrame, error) {
	var f runtime.LogFrame
	partial, last := false, false
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return f, errors.New("bad log entry")
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return f, errors.New("bad log entry varint")
			}
			b = b[n:]
			switch field {
			case 2:
				f.Time = time.Unix(0, int64(v)).UTC()
			case 4:
				partial = v != 0
			}
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return f, errors.New("bad log entry length")
			}
			v := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 1:
				f.Stderr = string(v) == "stderr"
			case 3:
				f.Data = v
			case 5:
				last = partialLast(v)
			}
		case 1:
			if len(b) < 8 {
				return f, errors.New("bad log entry fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return f, errors.New("bad log entry fixed32")
			}
			b = b[4:]
		default:
			return f, fmt.Errorf("bad log entry wire type %d", wire)
		}
	}
	if f.Time.IsZero() {
		return f, errors.New("log entry without a time")
	}
	f.Partial = partial && !last
	return f, nil
}

// partialLast reads field 1 (last, a bool) of PartialLogEntryMetadata.
func partialLast(b []byte) bool {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		b = b[n:]
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return false
			}
			b = b[n:]
			if key>>3 == 1 {
				return v != 0
			}
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return false
			}
			b = b[n+int(l):]
		default:
			return false
		}
	}
	return false
}
