package lb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// defaultIdleTimeout is idle_timeout.timeout_seconds's default.
const defaultIdleTimeout = 60 * time.Second

// connectTimeout is how long a connection to a target may take: ALB's 10
// seconds, after which it answers 504.
const connectTimeout = 10 * time.Second

// port is one bound listener socket. Its configuration is swapped
// atomically on each snapshot; the socket stays, so no connection waiting
// in its accept queue is lost.
type port struct {
	key         string
	kind        string
	listenerArn string
	ln          net.Listener
	logger      *slog.Logger

	httpCfg atomic.Pointer[httpConfig]
	tcpCfg  atomic.Pointer[tcpConfig]
	// stats are the counters of the listener's load balancer.
	stats atomic.Pointer[lbStats]

	// fast are the connections served by the port's own loop (conn.go).
	fast conns

	// tcpConns are a TCP listener's client connections and their target
	// connections, for the idle timeout; done ends the reaper.
	tcpMu    sync.Mutex
	tcpConns map[net.Conn]net.Conn
	tcpIdle  time.Duration
	done     chan struct{}

	// drain bounds how long a replaced or closing server waits for its
	// requests in flight; bg counts the replaced servers shutting down.
	drain time.Duration
	bg    sync.WaitGroup

	mu      sync.Mutex
	srv     *httpServer // the server new HTTP connections go to
	started bool
	closed  bool
	accept  sync.WaitGroup
}

// httpServer is an http.Server fed connections by a port's accept loop.
// Changing the idle timeout or HTTP/2 starts a new one and shuts the old
// one down gracefully: its connections finish their requests.
type httpServer struct {
	srv   *http.Server
	ln    *chanListener
	idle  time.Duration
	http2 bool
}

// start is a no-op: a port's accept loop starts with its first
// configuration (update).
func (p *port) start() {}

// update applies a listener's configuration.
func (p *port) update(l *LB, spec listenerSpec) {
	stats := l.statsOf(spec.lb.Arn)
	p.stats.Store(stats)
	if p.kind == lbconf.ProtocolTCP {
		p.tcpCfg.Store(&tcpConfig{action: l.terminal(spec.ls.DefaultActions), idle: spec.ls.IdleTimeout, lb: l})
		p.startAccept()
		return
	}
	idle := spec.lb.IdleTimeout
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	listenPort := spec.ls.Port
	if a, ok := p.ln.Addr().(*net.TCPAddr); ok {
		listenPort = a.Port
	}
	p.httpCfg.Store(&httpConfig{
		listenerArn: spec.ls.Arn,
		port:        strconv.Itoa(listenPort),
		rules:       l.compileRules(spec.ls.Rules),
		def:         l.terminal(spec.ls.DefaultActions),
		http2:       spec.lb.HTTP2,
		proxy:       l.proxy(idle),
		lb:          l,
		timeout:     idle,
		stats:       stats,
	})
	p.mu.Lock()
	old := p.srv
	if old == nil || old.idle != idle || old.http2 != spec.lb.HTTP2 {
		ns := p.newServer(idle, spec.lb.HTTP2)
		p.srv = ns
		go func() { _ = ns.srv.Serve(ns.ln) }()
	}
	cur := p.srv
	p.mu.Unlock()
	if old != nil && old != cur {
		p.bg.Go(func() { old.shutdown(p.drain) })
	}
	p.startAccept()
}

// newServer builds the HTTP server of the port's current settings.
func (p *port) newServer(idle time.Duration, http2 bool) *httpServer {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if http2 {
		// No TLS yet, so HTTP/2 is h2c with prior knowledge.
		protos.SetUnencryptedHTTP2(true)
	}
	s := &http.Server{
		Handler:           p,
		IdleTimeout:       idle,
		ReadHeaderTimeout: idle,
		MaxHeaderBytes:    64 << 10, // ALB's limit on a request's headers
		Protocols:         protos,
		ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
		ConnState: func(c net.Conn, state http.ConnState) {
			// A connection handed over by the loop leaves the active
			// ones when it closes (or is hijacked: a WebSocket).
			if pc, ok := c.(*prefixConn); ok && (state == http.StateClosed || state == http.StateHijacked) && pc.closed != nil {
				pc.closed()
				pc.closed = nil
			}
		},
	}
	return &httpServer{srv: s, ln: newChanListener(p.ln.Addr()), idle: idle, http2: http2}
}

// shutdown closes a server that takes no new connections any more, after
// its requests in flight finish (at most wait).
func (s *httpServer) shutdown(wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// startAccept starts the accept loop once.
func (p *port) startAccept() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	p.accept.Add(1)
	go p.acceptLoop()
	if p.kind == lbconf.ProtocolTCP {
		go p.reapIdle(p.done)
	}
}

// acceptLoop accepts connections until the socket is closed.
func (p *port) acceptLoop() {
	defer p.accept.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.logger.Warn("accept", "listener", p.listenerArn, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		closed := p.stats.Load().conn()
		if p.kind == lbconf.ProtocolTCP {
			go p.serveTCP(c, closed)
			continue
		}
		go p.serveConn(c, closed)
	}
}

// handOver gives an accepted connection to the current HTTP server.
func (p *port) handOver(c net.Conn) {
	for {
		p.mu.Lock()
		s := p.srv
		p.mu.Unlock()
		if s == nil {
			_ = c.Close()
			return
		}
		select {
		case s.ln.ch <- c:
			return
		case <-s.ln.done:
			// Swapped for a new server meanwhile: try the new one.
			p.mu.Lock()
			same := p.srv == s
			p.mu.Unlock()
			if same {
				_ = c.Close()
				return
			}
		}
	}
}

// close stops accepting and shuts the port's server down once what is in
// flight finished (at most wait).
func (p *port) close(wait time.Duration) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	// The idle reaper goes with the listener; the connections it watched
	// stay until their ends close them or their target retires.
	close(p.done)
	p.accept.Wait()
	p.mu.Lock()
	s := p.srv
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { p.fast.shutdown(wait) })
	if s != nil {
		s.shutdown(wait)
	}
	wg.Wait()
	p.bg.Wait()
	p.logger.Info("listener closed", "listener", p.listenerArn, "address", p.ln.Addr().String())
}

// chanListener is a net.Listener whose connections come from a channel.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// Accept returns the next connection handed over.
func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept.
func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// Addr is the bound socket's address.
func (c *chanListener) Addr() net.Addr { return c.addr }
