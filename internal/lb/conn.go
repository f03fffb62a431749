package lb

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// An HTTP listener's connections start in a loop of its own (serveConn):
// it peeks at each request's head, and serves the common case (HTTP/1.1
// GET, HEAD or OPTIONS without a body or an upgrade) itself, with the
// same handler (port.ServeHTTP) on a minimal ResponseWriter, so a
// keep-alive connection costs no net/http server machinery per request
// (its per-request background read alone costs a syscall and a
// goroutine). At the first request it does not serve (a body, an
// upgrade, HTTP/1.0, HTTP/2's preface, a head it cannot peek at whole),
// it hands the connection, with the bytes it peeked, to the listener's
// http.Server, which serves it from then on.

// maxFastHead is the longest request head the loop serves itself; longer
// ones go to net/http (which allows 1 MiB).
const maxFastHead = 16 << 10

// fconn is a client connection served by the loop.
type fconn struct {
	c        net.Conn
	src      *loopReader // what br reads through
	parse    parseCache  // what parseHead reuses
	armed    bool        // the read deadline was set after the last answer
	br       *bufio.Reader
	bw       *bufio.Writer
	deadline time.Time
	active   atomic.Bool
	// w is the connection's ResponseWriter, reset for each request (the
	// handlers keep nothing of it after they return).
	w fastWriter
}

// conns tracks a port's connections in the loop, for a graceful close.
type conns struct {
	mu      sync.Mutex
	set     map[*fconn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func (cs *conns) add(fc *fconn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closing {
		return false
	}
	if cs.set == nil {
		cs.set = make(map[*fconn]struct{})
	}
	cs.set[fc] = struct{}{}
	cs.wg.Add(1)
	return true
}

func (cs *conns) remove(fc *fconn) {
	cs.mu.Lock()
	delete(cs.set, fc)
	cs.mu.Unlock()
	cs.wg.Done()
}

// shutdown makes every connection close once its request in flight is
// answered (an idle one at once), and waits for them, at most wait.
func (cs *conns) shutdown(wait time.Duration) {
	cs.mu.Lock()
	cs.closing = true
	for fc := range cs.set {
		if !fc.active.Load() {
			_ = fc.c.SetReadDeadline(time.Unix(1, 0))
		}
	}
	cs.mu.Unlock()
	done := make(chan struct{})
	go func() { cs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		cs.mu.Lock()
		for fc := range cs.set {
			// (Close waits for a raw read in progress to end, that is
			// for the request being served.)
			go fc.c.Close()
		}
		cs.mu.Unlock()
	}
}

func (cs *conns) isClosing() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.closing
}

// armDeadline sets a read deadline of about timeout from now, moving it
// only when it drifted by more than a tenth of timeout (at most a second),
// since setting one costs about as much as a small write.
func armDeadline(c net.Conn, cur *time.Time, now time.Time, timeout time.Duration) {
	slack := min(timeout/10, time.Second)
	if cur.Sub(now) >= timeout-slack {
		return
	}
	*cur = now.Add(timeout)
	_ = c.SetReadDeadline(*cur)
}

// serveConn serves a connection of an HTTP listener until it closes, or
// hands it to net/http. closed is called once the connection closes.
//
// On a TCP connection in Linux the loop runs inside one raw read of the
// socket (rawIO.serve): it serves what it can read without waiting, and
// waits on Go's poller only when it needs more, so after an answer it
// waits for the next request without first trying a read that finds
// nothing (net.Conn's Read tries before it waits, since its wait forgets
// data that came before the call; inside one raw read nothing is
// forgotten).
func (p *port) serveConn(c net.Conn, closed func()) {
	cio := newConnIO(c)
	src := &loopReader{io: cio, fd: -1}
	fc := &fconn{c: c, src: src, br: bufio.NewReaderSize(src, maxFastHead), bw: bufio.NewWriterSize(cio, 4<<10)}
	if !p.fast.add(fc) {
		_ = c.Close()
		closed()
		return
	}
	handed := false
	defer func() {
		p.fast.remove(fc)
		if !handed {
			_ = c.Close()
			closed()
		}
	}()
	remote := c.RemoteAddr().String()
	var out step
	if rs, ok := cio.(rawServer); ok {
		if err := rs.serve(src, func() bool {
			out = p.serveReady(fc, remote)
			return out != stepWait
		}); err != nil {
			return
		}
	} else {
		for out = stepWait; out == stepWait; {
			out = p.serveReady(fc, remote)
		}
	}
	if out == stepHandOver {
		// Not ours to serve: net/http takes the connection, with what
		// was read of it.
		buffered, _ := fc.br.Peek(fc.br.Buffered())
		_ = c.SetReadDeadline(time.Time{})
		handed = true
		p.handOver(&prefixConn{Conn: c, prefix: bytes.Clone(buffered), closed: closed})
	}
}

// step is where serveReady stopped.
type step int

const (
	// stepWait: it needs more bytes from the client.
	stepWait step = iota
	// stepDone: the connection ends.
	stepDone
	// stepHandOver: net/http is to serve the connection from here.
	stepHandOver
)

// serveReady serves the requests that can be read without waiting (all
// of them when reads wait), and says why it stopped.
func (p *port) serveReady(fc *fconn, remote string) step {
	for {
		cfg := p.httpCfg.Load()
		if !fc.armed {
			armDeadline(fc.c, &fc.deadline, time.Now(), cfg.timeout)
		}
		fc.armed = false
		n, ok, err := peekHead(fc.br)
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				return stepWait
			}
			return stepDone
		}
		if !ok {
			return stepHandOver
		}
		fc.active.Store(true)
		head, _ := fc.br.Peek(n)
		req, parsed := parseHead(head, &fc.parse)
		if parsed {
			_, _ = fc.br.Discard(n)
		} else {
			req, err = http.ReadRequest(fc.br)
		}
		if err == nil && req.Host == "" {
			err = errors.New("no Host header")
		}
		if err != nil {
			// A malformed request: ALB's 400, and the connection ends.
			cfg.stats.elbCode(http.StatusBadRequest)
			body := elbPage("400 Bad Request")
			_, _ = fc.bw.WriteString("HTTP/1.1 400 Bad Request\r\nServer: " + serverHeader +
				"\r\nContent-Type: text/html\r\nContent-Length: " + strconv.Itoa(len(body)) +
				"\r\nConnection: close\r\n\r\n" + body)
			_ = fc.bw.Flush()
			fc.active.Store(false)
			return stepDone
		}
		req.RemoteAddr = remote
		keep := p.serveOne(fc, req) && !req.Close && !p.fast.isClosing()
		fc.active.Store(false)
		if !keep {
			return stepDone
		}
		if fc.br.Buffered() == 0 && fc.src.drained {
			// Nothing more was sent when the socket was last read: wait
			// for the next request (the idle timeout from now).
			armDeadline(fc.c, &fc.deadline, time.Now(), cfg.timeout)
			fc.armed = true
			return stepWait
		}
	}
}

// serveOne answers one request; it reports whether the connection can
// take another.
func (p *port) serveOne(fc *fconn, req *http.Request) (keep bool) {
	w := &fc.w
	header := w.header
	if header == nil {
		header = make(http.Header, 8)
	} else {
		clear(header)
	}
	*w = fastWriter{bw: fc.bw, header: header, req: req}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
				p.logger.Error("panic serving a request", "listener", p.listenerArn, "panic", v)
			}
			keep = false
		}
	}()
	p.ServeHTTP(w, req)
	if err := w.finish(); err != nil {
		return false
	}
	return !w.closeAfter
}

// peekHead peeks at the request head in br: n bytes, up to the empty
// line. ok is false when the loop does not serve the request itself.
func peekHead(br *bufio.Reader) (n int, ok bool, err error) {
	// Wait for the first bytes (the idle wait between requests).
	if _, err := br.Peek(1); err != nil {
		return 0, false, err
	}
	for {
		buf, perr := br.Peek(br.Buffered())
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return i + 4, fastHead(buf[:i+2]), nil
		}
		if len(buf) >= maxFastHead {
			return 0, false, nil
		}
		if perr != nil {
			return 0, false, perr
		}
		// Read more.
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return 0, false, nil
			}
			return 0, false, err
		}
	}
}

// fastHead reports whether a request head (up to the last header's CRLF)
// is one the loop serves: GET, HEAD or OPTIONS in HTTP/1.1 with no body,
// upgrade or expectation.
func fastHead(head []byte) bool {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	switch {
	case bytes.HasPrefix(line, []byte("GET ")), bytes.HasPrefix(line, []byte("HEAD ")), bytes.HasPrefix(line, []byte("OPTIONS ")):
	default:
		return false
	}
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
		return false
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, _, found := bytes.Cut(h, []byte(":"))
		if !found || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			return false // obsolete line folding or worse: net/http decides
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")),
			bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("Expect")),
			bytes.EqualFold(name, []byte("HTTP2-Settings")):
			return false
		}
	}
	return true
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	prefix []byte
	// closed, called once when the connection closes, uncounts it from
	// the load balancer's active connections.
	closed func()
}

// Read reads the prefix first.
func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// fastWriter is the ResponseWriter of the loop: it writes the head at
// WriteHeader, with the body framed by the Content-Length header when
// there is one and chunked otherwise.
type fastWriter struct {
	bw          *bufio.Writer
	header      http.Header
	req         *http.Request
	wroteHeader bool
	chunked     bool
	noBody      bool
	closeAfter  bool
	err         error
}

// Header is the answer's header.
func (w *fastWriter) Header() http.Header { return w.header }

// WriteHeader writes the status line and the header.
func (w *fastWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		return // informational answers are not passed on
	}
	w.wroteHeader = true
	bw := w.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(code))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(code))
	_, _ = bw.WriteString("\r\n")
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	_, hasLength := w.header["Content-Length"]
	if !hasLength && !w.noBody {
		w.chunked = true
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := w.header["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(time.Now().UTC().Format(http.TimeFormat))
		_, _ = bw.WriteString("\r\n")
	}
	for k, vs := range w.header {
		if k == "Trailer" && w.chunked {
			// Declared, then sent after the body.
			for _, v := range vs {
				writeHeaderLine(bw, k, v)
			}
			continue
		}
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			continue
		}
		for _, v := range vs {
			writeHeaderLine(bw, k, v)
		}
	}
	if w.req.Close {
		w.closeAfter = true
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, w.err = bw.WriteString("\r\n")
}

// writeRaw writes an answer head passed on as bytes (up to its last
// header's CRLF), then the headers set on w and the connection's own.
func (w *fastWriter) writeRaw(head []byte, code int) {
	w.wroteHeader = true
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	bw := w.bw
	_, _ = bw.Write(head)
	for k, vs := range w.header {
		for _, v := range vs {
			writeHeaderLine(bw, k, v)
		}
	}
	if w.req.Close {
		w.closeAfter = true
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, w.err = bw.WriteString("\r\n")
}

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(v)
	_, _ = bw.WriteString("\r\n")
}

// Write writes body bytes.
func (w *fastWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody || len(b) == 0 {
		return len(b), nil
	}
	if w.chunked {
		_, _ = w.bw.WriteString(strconv.FormatInt(int64(len(b)), 16))
		_, _ = w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(b)
	if err == nil && w.chunked {
		_, err = w.bw.WriteString("\r\n")
	}
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return n, err
}

// Flush sends what is buffered.
func (w *fastWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}

// finish ends the body (the last chunk and the trailers) and sends it.
func (w *fastWriter) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n")
		for k, vs := range w.header {
			if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
				for _, v := range vs {
					writeHeaderLine(w.bw, k[len(http.TrailerPrefix):], v)
				}
			}
		}
		_, _ = w.bw.WriteString("\r\n")
	}
	return w.bw.Flush()
}

// ensure fastWriter flushes like net/http's.
var _ http.Flusher = (*fastWriter)(nil)
