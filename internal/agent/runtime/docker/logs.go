package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

var _ runtime.LogReader = (*Runtime)(nil)

// ReadLogs streams the container's output. For a container with the local
// log driver (what the runtime gives awslogs containers) whose files the
// agent can read, it reads them directly (see localfile.go): far cheaper
// for the daemon than ContainerLogs. Otherwise, and when rotated files
// would be needed, it goes through the Engine API (ContainerLogs with
// follow and timestamps, stdout and stderr). Either stream ends once the
// container has stopped and its output was read.
// Errors are CannotInspectContainerError; an unknown container matches
// runtime.ErrNotFound.
func (r *Runtime) ReadLogs(ctx context.Context, id string, since time.Time) (runtime.LogStream, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, wrap(runtime.CannotInspectContainerError, err)
	}
	if fs := r.openLocalFile(ctx, c, since); fs != nil {
		return fs, nil
	}
	tty := c.Config != nil && c.Config.Tty
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := r.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return nil, wrap(runtime.CannotInspectContainerError, err)
	}
	return &logStream{rc: rc, br: bufio.NewReaderSize(pacedReader{rc, logPace}, 64<<10), tty: tty}, nil
}

// logPace is how long the stream waits after a read that found little, so
// that a container printing a line now and then costs a read (a system
// call and a wake-up) every logPace instead of one per line. It delays
// lines by that much at most.
const logPace = 50 * time.Millisecond

// pacedReader waits d after each read that returned less than a quarter
// of what was asked.
type pacedReader struct {
	r io.Reader
	d time.Duration
}

func (p pacedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == nil && n < len(b)/4 {
		time.Sleep(p.d)
	}
	return n, err
}

// logStream parses Docker's log stream: frames of the multiplexed stream
// (an 8-byte header: stream, 3 zero bytes, big-endian payload length), or
// lines of the raw stream of a container with a TTY; each message starts
// with its RFC 3339 timestamp and a space, and ends with a line break
// unless Docker cut the line (a partial message).
type logStream struct {
	rc  io.ReadCloser
	br  *bufio.Reader
	tty bool
	buf []byte
	hdr [8]byte
}

// maxFrame bounds a frame's payload; Docker's messages are at most 16 KiB
// (its copier cuts longer lines) plus the timestamp.
const maxFrame = 1 << 20

func (s *logStream) Next() (runtime.LogFrame, error) {
	var payload []byte
	stderr := false
	if s.tty {
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: keep it whole.
			s.buf = append(s.buf[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.br.ReadSlice('\n')
				s.buf = append(s.buf, line...)
			}
			line = s.buf
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				payload = line
			} else {
				return runtime.LogFrame{}, err
			}
		} else {
			payload = line
		}
	} else {
		if _, err := io.ReadFull(s.br, s.hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return runtime.LogFrame{}, fmt.Errorf("docker log stream: truncated frame header: %w", err)
			}
			return runtime.LogFrame{}, err
		}
		stderr = s.hdr[0] == 2
		n := binary.BigEndian.Uint32(s.hdr[4:])
		if n > maxFrame {
			return runtime.LogFrame{}, fmt.Errorf("docker log stream: frame of %d bytes", n)
		}
		if cap(s.buf) < int(n) {
			s.buf = make([]byte, n)
		}
		s.buf = s.buf[:n]
		if _, err := io.ReadFull(s.br, s.buf); err != nil {
			return runtime.LogFrame{}, fmt.Errorf("docker log stream: truncated frame: %w", err)
		}
		payload = s.buf
	}
	return parseFrame(payload, stderr)
}

// parseFrame splits "TIMESTAMP MESSAGE[\n]".
func parseFrame(p []byte, stderr bool) (runtime.LogFrame, error) {
	sp := bytes.IndexByte(p, ' ')
	if sp < 0 {
		return runtime.LogFrame{}, fmt.Errorf("docker log stream: message without a timestamp: %.40q", p)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(p[:sp]))
	if err != nil {
		return runtime.LogFrame{}, fmt.Errorf("docker log stream: %w", err)
	}
	data := p[sp+1:]
	f := runtime.LogFrame{Time: ts, Stderr: stderr, Partial: true}
	if n := len(data); n > 0 && data[n-1] == '\n' {
		data = data[:n-1]
		f.Partial = false
	}
	f.Data = data
	return f, nil
}

func (s *logStream) Close() error { return s.rc.Close() }
