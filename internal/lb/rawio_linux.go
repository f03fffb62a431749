package lb

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO reads and writes a TCP connection's non-blocking socket with
// raw system calls from inside the connection's syscall.RawConn, which
// waits on Go's network poller as net.Conn does. The calls never block,
// so they skip the scheduler's system-call bookkeeping: with net.Conn
// each read and write hands the goroutine's processor off and back, and
// the runtime's monitor thread wakes every 20 µs to take processors from
// calls it finds running, which on a proxy making four calls a request
// cost more than the calls' own work.
//
// A write can also be handed to the next read (sendThenRead): it is made
// from inside the read's wait, after the poller's readiness was reset,
// so the read waits for the answer without first trying a read that
// would find nothing (net.Conn reads before it waits).
type rawIO struct {
	rc syscall.RawConn
	// pending is written by the next Read before it waits for data.
	pending []byte
}

// newConnIO is c's reads and writes: raw system calls for a TCP
// connection, c's own methods otherwise.
func newConnIO(c net.Conn) connIO {
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			return &rawIO{rc: rc}
		}
	}
	return &plainIO{Conn: c}
}

// sendThenRead makes the next Read write b first, then wait for data.
func (r *rawIO) sendThenRead(b []byte) { r.pending = b }

// sysRead reads the socket with recvfrom(2), as event-loop proxies do:
// on Linux read(2) on a socket goes through the file layer first
// (fdget_pos, vfs_read), which costs about as much as the copy.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// sysWrite writes the socket with sendto(2) (see sysRead); MSG_NOSIGNAL
// makes a write to a closed connection fail with EPIPE without a signal.
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// Read reads into b as net.Conn's Read does (io.EOF at the end, the
// connection's read deadline honoured).
func (r *rawIO) Read(b []byte) (int, error) {
	if len(r.pending) > 0 {
		if n, err, done := r.sendAndRead(b); done {
			return n, err
		}
	}
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n int
		e syscall.Errno
	)
	if err := r.rc.Read(func(fd uintptr) bool {
		n, e = sysRead(fd, b)
		return e != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	return readResult(n, e)
}

// sendAndRead writes the pending bytes and reads the answer in one wait.
// done is false when the socket took only part of the bytes: the rest
// has been written by then, and the caller reads as usual.
func (r *rawIO) sendAndRead(b []byte) (n int, err error, done bool) {
	p := r.pending
	r.pending = nil
	var (
		sent, partial bool
		we, re        syscall.Errno
	)
	rerr := r.rc.Read(func(fd uintptr) bool {
		if !sent {
			sent = true
			for len(p) > 0 {
				m, e := sysWrite(fd, p)
				if e == unix.EAGAIN {
					partial = true
					return true
				}
				if e != 0 {
					we = e
					return true
				}
				p = p[m:]
			}
			// The poller's readiness was reset before this call, so an
			// answer to these bytes wakes the wait below.
			return false
		}
		if len(b) == 0 {
			return true
		}
		n, re = sysRead(fd, b)
		return re != unix.EAGAIN
	})
	switch {
	case rerr != nil:
		return 0, rerr, true
	case we != 0:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("sendto", we)}, true
	case partial:
		if _, werr := r.Write(p); werr != nil {
			return 0, werr, true
		}
		return 0, nil, false
	case len(b) == 0:
		return 0, nil, true
	}
	n, err = readResult(n, re)
	return n, err, true
}

func readResult(n int, e syscall.Errno) (int, error) {
	if e != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("recvfrom", e)}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting for room as net.Conn's Write does (the
// connection's write deadline honoured).
func (r *rawIO) Write(b []byte) (int, error) {
	var (
		n int
		e syscall.Errno
	)
	if len(b) == 0 {
		return 0, nil
	}
	if err := r.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, we := sysWrite(fd, b[n:])
			if we == unix.EAGAIN {
				return false
			}
			if we != 0 {
				e = we
				return true
			}
			n += m
		}
		return true
	}); err != nil {
		return n, err
	}
	if e != 0 {
		return n, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("sendto", e)}
	}
	return n, nil
}

// serve runs step inside one raw read of the socket (see rawServer).
// Go's poller forgets readiness at the start of a read, not between the
// callback's calls, so bytes that arrive while step runs wake the wait
// at once even when step did not read them.
func (r *rawIO) serve(lr *loopReader, step func() bool) error {
	return r.rc.Read(func(fd uintptr) bool {
		lr.fd = int(fd)
		done := step()
		lr.fd = -1
		return done
	})
}

// Read reads the socket without waiting inside serve's callback, and
// through the connection otherwise.
func (r *loopReader) Read(b []byte) (int, error) {
	if r.fd < 0 {
		return r.readConn(b)
	}
	if len(b) == 0 {
		return 0, nil
	}
	n, e := sysRead(uintptr(r.fd), b)
	if e == unix.EAGAIN {
		r.drained = true
		return 0, errWouldBlock
	}
	r.drained = n < len(b)
	return readResult(n, e)
}
