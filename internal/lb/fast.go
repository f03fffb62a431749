package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The fast path forwards the most common requests (HTTP/1.x GET, HEAD
// and OPTIONS without a body or an upgrade) over the target's pool of
// keep-alive connections with synchronous I/O on the request's own
// goroutine: it writes the request, reads the answer and copies it, with
// none of net/http.Transport's per-connection read and write goroutines
// and hand-offs between them, which cost more than the proxying itself.
// Everything else (bodies, upgrades, HTTP/2 from the client) goes through
// net/http/httputil.ReverseProxy.

// fastAttempts is how many times the fast path sends a request: again on
// a new connection after a stale one, and to other targets after one
// refused, went down or closed without answering.
const fastAttempts = 4

// poolIdleTimeout is how long an idle connection to a target is kept:
// below the 60 s most servers keep one (and Go's net/http's 3 min default
// for IdleTimeout=0 is longer).
const poolIdleTimeout = 50 * time.Second

// bconn is a keep-alive connection to a target.
type bconn struct {
	c        net.Conn
	io       connIO // c's reads and writes (br reads through it)
	br       *bufio.Reader
	head     []byte // the request head being written, reused
	lastUsed time.Time
	// cut: the target went down while bc awaited its answer, and bc's
	// deadline was moved to the past (backend.waitMu guards it).
	cut bool
	// deadline is the read deadline set on c: refreshed only when less
	// than half the target timeout is left, since setting one costs as
	// much as a small write.
	deadline time.Time
}

// arm makes sure reading from bc times out no sooner than half the
// target timeout from now and no later than the whole: ALB's idle timeout
// on the target's side (no byte for that long answers 504 before the
// head, or ends the answer after it).
func (bc *bconn) arm(now time.Time, timeout time.Duration) {
	if bc.deadline.Sub(now) >= timeout/2 {
		return
	}
	bc.deadline = now.Add(timeout)
	_ = bc.c.SetReadDeadline(bc.deadline)
}

// pool is a target's idle connections, most recently used last.
type pool struct {
	mu   sync.Mutex
	idle []*bconn
	max  int
	shut bool
}

// get takes an idle connection that has not been idle too long, or nil.
func (p *pool) get(now time.Time) *bconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		bc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if now.Sub(bc.lastUsed) < poolIdleTimeout {
			return bc
		}
		_ = bc.c.Close()
	}
	return nil
}

// put returns a connection for reuse, or closes it if the pool is full
// or shut.
func (p *pool) put(bc *bconn, now time.Time) {
	bc.lastUsed = now
	p.mu.Lock()
	if p.shut || len(p.idle) >= p.max {
		p.mu.Unlock()
		_ = bc.c.Close()
		return
	}
	p.idle = append(p.idle, bc)
	p.mu.Unlock()
}

// flush closes every idle connection.
func (p *pool) flush() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, bc := range idle {
		_ = bc.c.Close()
	}
}

// close closes every idle connection; later puts close theirs.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.shut = true
	p.mu.Unlock()
	for _, bc := range idle {
		_ = bc.c.Close()
	}
}

// fastEligible reports whether a request can take the fast path.
func fastEligible(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Body != http.NoBody {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	_, upgrade := r.Header["Upgrade"]
	return !upgrade
}

// isHop reports whether k (canonical) is a hop-by-hop header, which a
// proxy does not pass on: one of RFC 9110's or one the Connection header
// lists.
func isHop(k string, connListed []string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	for _, c := range connListed {
		if strings.EqualFold(k, c) {
			return true
		}
	}
	return false
}

// connectionListed are the header names a Connection header lists.
func connectionListed(h http.Header) []string {
	var out []string
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// errNoAnswer is a target that closed or reset the connection before
// the first byte of an answer.
var errNoAnswer = errors.New("target closed the connection before answering")

// fastForward forwards r to st.b, or to another target when st.b refuses
// the connection, goes down or closes it without answering (r is
// idempotent and has no body), and copies the answer to w.
func (l *LB) fastForward(w http.ResponseWriter, r *http.Request, st *reqState, timeout time.Duration) {
	var (
		bc    *bconn
		resp  *http.Response
		err   error
		fresh bool // skip the pool: it held a stale connection
	)
	fw, isFW := w.(*fastWriter)
	// other moves the request to another target; false if there is none.
	other := func() bool {
		nb := st.g.pick(st.b)
		if nb == nil {
			return false
		}
		st.b.outstanding.Add(-1)
		nb.outstanding.Add(1)
		st.b = nb
		fresh = false
		return true
	}
	for attempt := 0; ; attempt++ {
		last := attempt >= fastAttempts-1
		bc = nil
		if !fresh {
			bc = st.b.pool.get(st.start)
		}
		reused := bc != nil
		if bc == nil {
			bc, err = dialTarget(r.Context(), st.b)
			if err != nil {
				if (isDialRefused(err) || errors.Is(err, errTargetDown)) && !last && other() {
					continue
				}
				st.elb = proxyError(w, r, err)
				return
			}
		}
		var raw rawHead
		now := st.start
		if !reused {
			now = time.Now()
		}
		resp, raw, err = roundTrip(r, bc, st, now, timeout, isFW)
		if err == nil && raw.n > 0 {
			st.answered(raw.code)
			if passRaw(fw, bc, raw, timeout) {
				st.b.pool.put(bc, st.head)
			} else {
				_ = bc.c.Close()
			}
			return
		}
		if err == nil {
			st.answered(resp.StatusCode)
			break
		}
		_ = bc.c.Close()
		if !last && reused && errors.Is(err, errNoAnswer) {
			// A stale keep-alive connection: its pool is likely stale
			// too (the target closed its idle connections, or died).
			// The request is idempotent and nothing came back, so send
			// it again on a new connection.
			st.b.pool.flush()
			fresh = true
			continue
		}
		if !last && (errors.Is(err, errTargetDown) || errors.Is(err, errNoAnswer)) && other() {
			// The target went down while the request waited for its
			// answer's first byte, or closed a new connection without
			// answering (a process killed): the request is idempotent,
			// so another target answers it.
			continue
		}
		st.elb = proxyError(w, r, err)
		return
	}
	// Answer headers, without hop-by-hop ones.
	listed := connectionListed(resp.Header)
	dst := w.Header()
	for k, vs := range resp.Header {
		if isHop(k, listed) {
			continue
		}
		dst[k] = vs
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	buf := l.buffers.Get()
	_, cerr := copyBody(w, resp.Body, buf, resp.ContentLength < 0, bc, timeout)
	l.buffers.Put(buf)
	// The body must have been read to its end for the connection to be
	// reused.
	rerr := resp.Body.Close()
	for k, vs := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vs
	}
	if cerr != nil || rerr != nil || resp.Close || r.Context().Err() != nil {
		_ = bc.c.Close()
		if cerr != nil && !errors.Is(cerr, errClientWrite) {
			// The target broke off the body: the client sees a cut
			// answer, as from ALB; nothing more to send.
			panic(http.ErrAbortHandler)
		}
		return
	}
	st.b.pool.put(bc, st.head)
}

// errTargetDown is a request given up because its target went down
// (found unhealthy, or deregistered for good) before answering.
var errTargetDown = errors.New("target went down before answering")

// dialTarget connects to a target; it gives up if the target goes down
// meanwhile (a killed container's address may not refuse, only stay
// silent until the connect timeout).
func dialTarget(ctx context.Context, b *backend) (*bconn, error) {
	d := net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	down := b.downCtx()
	if down.Err() == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(down, cancel)
		defer stop()
	}
	c, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		if down.Err() != nil && ctx.Err() != nil {
			return nil, errTargetDown
		}
		return nil, err
	}
	cio := newConnIO(c)
	return &bconn{c: c, io: cio, br: bufio.NewReaderSize(cio, 16<<10), head: make([]byte, 0, 1024)}, nil
}

// rawHead is an answer head simple enough to pass on as bytes: n bytes
// of head in the connection's buffer, a status that is not 1xx, and a
// Content-Length.
type rawHead struct {
	n      int
	code   int
	length int64
}

// roundTrip writes r on bc (now is about the current time) and reads the answer's head: into a
// *http.Response, or, when raw is allowed and the head is simple, only
// peeked (rawHead; the caller passes its bytes on).
func roundTrip(r *http.Request, bc *bconn, st *reqState, now time.Time, timeout time.Duration, raw bool) (*http.Response, rawHead, error) {
	if err := writeRequest(bc, r, st); err != nil {
		if isReset(err) || errors.Is(err, net.ErrClosed) {
			return nil, rawHead{}, errNoAnswer
		}
		return nil, rawHead{}, err
	}
	// The target timeout: ALB answers 504 when the target has not
	// answered within the idle timeout.
	bc.arm(now, timeout)
	stop := func() bool { return true }
	if r.Context().Done() != nil {
		// (The loop's requests have none: a client that goes away is
		// seen when its answer is written.)
		stop = context.AfterFunc(r.Context(), func() { _ = bc.c.SetReadDeadline(time.Unix(1, 0)) })
	}
	// A target found unhealthy while the answer is awaited (a killed
	// container stays silent): give up on it. Not when it was already
	// down (fail-open routes to unhealthy targets).
	awaited := st.b.awaitAnswer(bc)
	_, err := bc.br.Peek(1)
	if ran := !stop(); ran || awaited && st.b.answerCame(bc) {
		// A cut came (it may have come after the first byte): the
		// connection's deadline is in the past.
		bc.deadline = time.Time{}
		if err == nil {
			bc.arm(time.Now(), timeout)
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return nil, rawHead{}, errNoAnswer
		}
		if st.b.isDown() && r.Context().Err() == nil {
			// The cut, or the silence, came with the target going down.
			return nil, rawHead{}, errTargetDown
		}
		return nil, rawHead{}, err
	}
	if raw {
		if h, ok := simpleHead(bc.br); ok {
			return nil, h, nil
		}
	}
	for {
		resp, err := http.ReadResponse(bc.br, r)
		if err != nil {
			return nil, rawHead{}, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // 1xx informational: the final answer follows
		}
		return resp, rawHead{}, nil
	}
}

// simpleHead peeks at an answer's head and reports whether it can be
// passed on as bytes: HTTP/1.1, a final status, one Content-Length, and
// no header a proxy must act on (Connection and the other hop-by-hop
// ones, Transfer-Encoding, obsolete line folding).
func simpleHead(br *bufio.Reader) (rawHead, bool) {
	var buf []byte
	for {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			buf = b[:i+4]
			break
		}
		if len(b) >= br.Size() {
			return rawHead{}, false
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return rawHead{}, false
		}
	}
	line, rest, _ := bytes.Cut(buf[:len(buf)-2], []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || len(line) > 12 && line[12] != ' ' {
		return rawHead{}, false
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 200 || code > 599 {
		return rawHead{}, false
	}
	h := rawHead{n: len(buf), code: code, length: -1}
	for len(rest) > 0 {
		var f []byte
		f, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(f, []byte(":"))
		if !found || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			return rawHead{}, false
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
			if err != nil || n < 0 || h.length >= 0 {
				return rawHead{}, false
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Connection")),
			bytes.EqualFold(name, []byte("Keep-Alive")),
			bytes.EqualFold(name, []byte("Proxy-Connection")),
			bytes.EqualFold(name, []byte("Trailer")),
			bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("Te")):
			return rawHead{}, false
		}
	}
	if h.length < 0 {
		return rawHead{}, false
	}
	return h, true
}

// passRaw passes a simple answer on to the loop's writer: its head as
// bytes, with the headers the load balancer adds (stickiness cookies),
// then Content-Length bytes of body. It reports whether bc can be reused;
// a target that breaks off the body aborts the client's connection.
func passRaw(fw *fastWriter, bc *bconn, h rawHead, timeout time.Duration) bool {
	head, _ := bc.br.Peek(h.n)
	fw.writeRaw(head[:len(head)-2], h.code)
	_, _ = bc.br.Discard(h.n)
	if fw.noBody || h.length == 0 {
		return fw.err == nil
	}
	left := h.length
	if int64(bc.br.Buffered()) >= left {
		// The whole body came with the head (the common small answer).
		body, _ := bc.br.Peek(int(left))
		_, _ = fw.bw.Write(body)
		_, _ = bc.br.Discard(int(left))
		return fw.err == nil
	}
	for left > 0 {
		bc.arm(time.Now(), timeout)
		chunk := min(left, 32<<10)
		n, err := io.CopyN(fw.bw, bc.br, chunk)
		left -= n
		if err != nil {
			if _, werr := fw.bw.Write(nil); werr == nil {
				// The client takes bytes: the target broke off the body.
				panic(http.ErrAbortHandler)
			}
			fw.closeAfter = true
			return false
		}
	}
	return fw.err == nil
}

// isReset reports a connection reset by the target.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// writeRequest writes r's head (it has no body) with the X-Forwarded
// headers, as rewrite does for the slow path, in one write.
func writeRequest(bc *bconn, r *http.Request, st *reqState) error {
	b := bc.head[:0]
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	listed := connectionListed(r.Header)
	for k, vs := range r.Header {
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Amzn-Trace-Id", "Host":
			continue
		}
		if isHop(k, listed) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "X-Forwarded-For: "...)
	for _, v := range r.Header["X-Forwarded-For"] {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	b = append(b, client...)
	b = append(b, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: "...)
	b = append(b, st.port...)
	b = append(b, "\r\nX-Amzn-Trace-Id: "...)
	var prior string
	if v := r.Header["X-Amzn-Trace-Id"]; len(v) > 0 {
		prior = v[0]
	}
	b = appendTraceHeader(b, prior, st.start)
	b = append(b, "\r\n\r\n"...)
	bc.head = b
	if bc.br.Buffered() == 0 {
		// Written by the read that waits for the answer (see rawIO).
		bc.io.sendThenRead(b)
		return nil
	}
	_, err = bc.io.Write(b)
	return err
}

// errClientWrite marks a failed write to the client.
var errClientWrite = errors.New("write to the client")

// copyBody copies an answer's body to the client, flushing after each
// read when the length is unknown (streams).
func copyBody(w http.ResponseWriter, body io.Reader, buf []byte, flush bool, bc *bconn, timeout time.Duration) (int64, error) {
	var n int64
	var f http.Flusher
	if flush {
		f, _ = w.(http.Flusher)
	}
	for {
		bc.arm(time.Now(), timeout)
		nr, rerr := body.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, errClientWrite
			}
			if f != nil {
				f.Flush()
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
