package lb

import (
	"errors"
	"io"
	"net"
)

// connIO is how the fast paths read and write a connection: a reader
// and writer with one more step, a write handed to the next read.
type connIO interface {
	io.ReadWriter
	// sendThenRead makes the next Read write b first, then wait for an
	// answer.
	sendThenRead(b []byte)
}

// plainIO is connIO over a net.Conn's own methods.
type plainIO struct {
	net.Conn
	pending []byte
}

func (p *plainIO) sendThenRead(b []byte) { p.pending = b }

// Read writes the pending bytes, if any, then reads.
func (p *plainIO) Read(b []byte) (int, error) {
	if len(p.pending) > 0 {
		w := p.pending
		p.pending = nil
		if _, err := p.Conn.Write(w); err != nil {
			return 0, err
		}
	}
	return p.Conn.Read(b)
}

// errWouldBlock is a read inside a raw read's callback that found
// nothing to read: the loop returns to wait.
var errWouldBlock = errors.New("no data to read yet")

// loopReader is what a client connection's bufio.Reader reads through:
// the connection's connIO, or, inside rawServer.serve's callback (fd set),
// the socket itself without waiting (errWouldBlock when it is empty).
type loopReader struct {
	io connIO
	// fd is the socket while the callback runs, -1 otherwise.
	fd int
	// drained: the last read took all the socket held then (it read
	// less than it could, or found nothing).
	drained bool
}

// rawServer is a connIO that can run a serving loop inside one raw read.
type rawServer interface {
	// serve calls step, with lr reading the socket directly, until it
	// returns true; when it returns false, serve waits for the socket
	// to become readable, or for the read deadline.
	serve(lr *loopReader, step func() bool) error
}

// readConn reads through the connection (reads wait), noting whether the
// read took all the socket held.
func (r *loopReader) readConn(b []byte) (int, error) {
	n, err := r.io.Read(b)
	r.drained = n < len(b)
	return n, err
}
