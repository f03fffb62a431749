package runtime

import (
	"context"
	"time"
)

// LogFrame is one message of a container's output as the runtime stored it:
// a line, or a piece of a long line.
type LogFrame struct {
	// Time is when the runtime read the message from the container, with
	// the runtime's full (nanosecond) precision.
	Time time.Time
	// Stderr is set for the standard error stream.
	Stderr bool
	// Data is the message without its line break. It is only valid until
	// the next call to LogStream.Next.
	Data []byte
	// Partial is set when the line goes on in the next frame of the same
	// stream (the runtime cut a long line).
	Partial bool
}

// LogStream is a container's output, frame by frame, in the order the
// runtime stored it.
type LogStream interface {
	// Next returns the next frame. It returns io.EOF at the end of the
	// output: once the container has stopped and everything it wrote was
	// returned (or, for a container not running, at once after what it
	// wrote so far).
	Next() (LogFrame, error)
	// Close releases the stream.
	Close() error
}

// LogReader is a runtime that keeps its containers' output and can read it
// back: the agent ships the output of containers whose log driver it
// implements (awslogs) from there.
type LogReader interface {
	// ReadLogs returns the output of container id, stdout and stderr
	// interleaved, from the first frame whose Time is not before since (all
	// of it for the zero time), following it while the container runs. An
	// unknown container is an error wrapping ErrNotFound.
	ReadLogs(ctx context.Context, id string, since time.Time) (LogStream, error)
}
