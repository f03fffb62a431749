package lb

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// randomGroup picks a target group of a forward action by weight.
func (a *action) randomGroup() *group {
	switch len(a.forward) {
	case 0:
		return nil
	case 1:
		return a.forward[0].g
	}
	n := rand.IntN(a.total)
	for _, f := range a.forward {
		if n < f.weight {
			return f.g
		}
		n -= f.weight
	}
	return a.forward[len(a.forward)-1].g
}

// serveTCP passes a connection of a TCP listener through to a target:
// bytes both ways, each direction's end (half-close) passed on, until
// both ends are done. A target that refuses the connection is replaced by
// another, up to maxRetries times; with none left the client's connection
// is closed, as a network load balancer resets it.
func (p *port) serveTCP(c net.Conn, closed func()) {
	defer closed()
	cfg := p.tcpCfg.Load()
	g := cfg.action.randomGroup()
	if g == nil {
		_ = c.Close()
		return
	}
	if cfg.lb != nil && g.cfg.Load().hold > 0 && !g.hasHealthy() {
		// Held while the group has no healthy target and holds
		// connections; the listener closing ends the wait.
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-p.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		cfg.lb.hold(ctx, g)
		cancel()
	}
	var b *backend
	var up net.Conn
	for attempt := 0; attempt <= maxRetries; attempt++ {
		nb := g.pick(b)
		if nb == nil {
			break
		}
		b = nb
		var err error
		up, err = net.DialTimeout("tcp", b.addr, connectTimeout)
		if err == nil {
			break
		}
		p.logger.Debug("connect to a target", "listener", p.listenerArn, "target", b.addr, "err", err)
		up = nil
	}
	if up == nil {
		_ = c.Close()
		return
	}
	if !b.track(c) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	b.outstanding.Add(1)
	p.tcpTrack(c, up)
	defer func() {
		b.outstanding.Add(-1)
		b.untrack(c)
		p.tcpUntrack(c)
		_ = c.Close()
		_ = up.Close()
	}()
	var wg sync.WaitGroup
	var in int64
	wg.Go(func() { in = pipe(up, c) })
	out := pipe(c, up)
	wg.Wait()
	if s := p.stats.Load(); s != nil {
		s.bytes.Add(in + out)
	}
}

// pipe copies from src to dst (splice(2) between TCP sockets on Linux)
// and then closes dst for writing, so the other side sees the end.
// It returns the bytes copied.
func pipe(dst, src net.Conn) int64 {
	n, _ := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
	return n
}

// tcpTrack records a client connection and its target connection, for
// the idle timeout.
func (p *port) tcpTrack(c, up net.Conn) {
	p.tcpMu.Lock()
	if p.tcpConns == nil {
		p.tcpConns = make(map[net.Conn]net.Conn)
	}
	p.tcpConns[c] = up
	p.tcpMu.Unlock()
}

func (p *port) tcpUntrack(c net.Conn) {
	p.tcpMu.Lock()
	delete(p.tcpConns, c)
	p.tcpMu.Unlock()
}

// reapIdle closes, until done closes, the TCP connections that carried no
// data either way for the listener's idle timeout (tcp.idle_timeout.seconds,
// 350 seconds unless set). It reads the kernel's TCP_INFO of each connection now
// and then, so the copy stays splice(2) with no per-read bookkeeping.
func (p *port) reapIdle(done <-chan struct{}) {
	idleOf := func() time.Duration {
		if cfg := p.tcpCfg.Load(); cfg != nil && cfg.idle > 0 {
			return cfg.idle
		}
		return p.tcpIdle
	}
	timer := time.NewTimer(min(idleOf()/4, 10*time.Second))
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		case <-timer.C:
		}
		idle := idleOf()
		timer.Reset(min(idle/4, 10*time.Second))
		p.tcpMu.Lock()
		var stale [][2]net.Conn
		for c, up := range p.tcpConns {
			if d, ok := tcpIdle(c); ok && d >= idle {
				stale = append(stale, [2]net.Conn{c, up})
			}
		}
		p.tcpMu.Unlock()
		for _, pair := range stale {
			_ = pair[0].Close()
			_ = pair[1].Close()
		}
	}
}
