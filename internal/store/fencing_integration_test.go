package store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// partitionProxy forwards TCP connections to a Unix socket. While cut, it
// forwards nothing in either direction (bytes wait, connections stay open,
// as behind a network partition), and delivers what waited once healed.
type partitionProxy struct {
	ln  net.Listener
	cut atomic.Bool
}

func newPartitionProxy(t *testing.T, sock string) *partitionProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", sock)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *partitionProxy) pipe(dst io.WriteCloser, src io.ReadCloser) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.cut.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// event is one entry of the recorded history.
type event struct {
	at   time.Time
	who  string
	what string // "leads", "stops", "write"
	ok   bool   // for a write: it applied
	rev  int64  // for an applied write: its revision
	err  error
}

type history struct {
	mu sync.Mutex
	ev []event
}

func (h *history) add(e event) {
	e.at = time.Now()
	h.mu.Lock()
	h.ev = append(h.ev, e)
	h.mu.Unlock()
}

func (h *history) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	t0 := h.ev[0].at
	for _, e := range h.ev {
		fmt.Fprintf(&b, "%8.3fs %s %s ok=%v rev=%d err=%v\n", e.at.Sub(t0).Seconds(), e.who, e.what, e.ok, e.rev, e.err)
	}
	return b.String()
}

// TestPartitionedLeaderIsFenced: server A leads an election and writes,
// guarded by its leadership, every 20 ms; B waits to lead. A is cut off
// from etcd (its connections stall, as behind a partition). The recorded
// history must show that A stopped acting before B started; that B's
// writes apply; and that A's write sent during the partition, delivered
// once the partition heals (after B leads), does not apply: every applied
// write of A has a lower revision than every write of B.
func TestPartitionedLeaderIsFenced(t *testing.T) {
	e := testutil.StartEtcd(t)
	proxy := newPartitionProxy(t, strings.TrimPrefix(e.ClientURL, "unix://"))
	ca, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.ln.Addr().String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	a, b := store.New(ca), store.New(e.Client())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const prefix = "/fencing-test/leader"
	const key = "/fencing-test/data"
	ttl := 2 * time.Second
	h := &history{}

	la, err := a.Campaign(ctx, prefix, []byte("a"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	h.add(event{who: "A", what: "leads"})
	// act sends a write guarded by l every 20 ms, without waiting for the
	// previous one, until l ends (recorded as "stops"); done closes when
	// every write sent has been answered.
	act := func(who string, s *store.Store, l *store.Leadership, stop <-chan struct{}) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			defer wg.Wait()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-l.Done():
					h.add(event{who: who, what: "stops"})
					return
				case <-stop:
					return
				case <-tick.C:
				}
				select {
				case <-l.Done():
					h.add(event{who: who, what: "stops"})
					return
				default:
				}
				h.add(event{who: who, what: "send"})
				wg.Add(1)
				go func() {
					defer wg.Done()
					wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
					r, err := s.Txn(wctx, []store.Cmp{l.Guard()}, store.OpPut(key, []byte(fmt.Sprintf("%s-%d", who, i))))
					wcancel()
					h.add(event{who: who, what: "write", ok: err == nil && r.Succeeded, rev: r.Revision, err: err})
				}()
			}
		}()
		return done
	}
	aDone := act("A", a, la, nil)

	bLeads := make(chan *store.Leadership, 1)
	go func() {
		l, err := b.Campaign(ctx, prefix, []byte("b"), ttl)
		if err != nil {
			t.Error(err)
			close(bLeads)
			return
		}
		h.add(event{who: "B", what: "leads"})
		bLeads <- l
	}()

	time.Sleep(300 * time.Millisecond)
	proxy.cut.Store(true)
	h.add(event{who: "net", what: "partition A"})
	var lb *store.Leadership
	select {
	case lb = <-bLeads:
	case <-time.After(30 * time.Second):
		t.Fatalf("B never led:\n%s", h)
	}
	if lb == nil {
		t.FailNow()
	}
	stopB := make(chan struct{})
	bDone := act("B", b, lb, stopB)
	time.Sleep(500 * time.Millisecond)
	proxy.cut.Store(false)
	h.add(event{who: "net", what: "heal"})
	select {
	case <-aDone:
	case <-time.After(40 * time.Second):
		t.Fatalf("A's write in flight never returned:\n%s", h)
	}
	time.Sleep(200 * time.Millisecond)
	close(stopB)
	<-bDone
	t.Logf("history:\n%s", h)

	var aStop, bStart, heal time.Time
	var aMax, bMin int64
	aSentLate, aFenced := 0, 0
	for _, ev := range h.ev {
		switch {
		case ev.who == "A" && ev.what == "stops":
			aStop = ev.at
		case ev.who == "B" && ev.what == "leads":
			bStart = ev.at
		case ev.who == "net" && ev.what == "heal":
			heal = ev.at
		case ev.who == "A" && ev.what == "send" && !aStop.IsZero():
			aSentLate++
		case ev.who == "A" && ev.what == "write" && ev.ok:
			aMax = max(aMax, ev.rev)
		case ev.who == "A" && ev.what == "write" && ev.err == nil && !heal.IsZero():
			aFenced++ // delivered after the partition healed, refused by the guard
		case ev.who == "B" && ev.what == "write" && ev.ok && bMin == 0:
			bMin = ev.rev
		}
	}
	if aStop.IsZero() || bStart.IsZero() || !aStop.Before(bStart) {
		t.Fatalf("A stopped at %v, B started at %v: A must stop first", aStop, bStart)
	}
	if aSentLate > 0 {
		t.Fatalf("A sent %d writes after its leadership ended", aSentLate)
	}
	if aMax == 0 || bMin == 0 {
		t.Fatalf("A applied up to %d, B from %d: both should have written", aMax, bMin)
	}
	if aMax >= bMin {
		t.Fatalf("A's write at revision %d applied after B's at %d", aMax, bMin)
	}
	if aFenced == 0 {
		t.Fatal("no write of A sent during the partition was delivered after it: the test proves no fencing")
	}
	t.Logf("A stopped %v before B started; %d writes of A sent during the partition were refused by the guard after it healed",
		bStart.Sub(aStop).Round(time.Millisecond), aFenced)
}
