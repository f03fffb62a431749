package lb

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// demandSink records the demand signals of a data plane and calls wake
// on the first of each target group.
type demandSink struct {
	mu    sync.Mutex
	calls map[string]int
	wake  func(arn string)
}

func (d *demandSink) Demand(_ context.Context, arn string) error {
	d.mu.Lock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[arn]++
	first := d.calls[arn] == 1
	wake := d.wake
	d.mu.Unlock()
	if first && wake != nil {
		go wake(arn)
	}
	return nil
}

func (d *demandSink) setWake(f func(string)) {
	d.mu.Lock()
	d.wake = f
	d.mu.Unlock()
}

func (d *demandSink) count(arn string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[arn]
}

// TestHeldRequestServedWhenATargetTurnsHealthy: a target group with
// holding on and no target holds a request, signals its demand, and
// serves the request once a target is registered and healthy; without
// holding, the same request gets ELB's 503 at once.
func TestHeldRequestServedWhenATargetTurnsHealthy(t *testing.T) {
	t.Parallel()
	be := startBackend(t, "woken")
	held := tg("tg-hold")
	held.HoldTimeout = 30 * time.Second
	plain := tg("tg-plain")
	lbs := []lbconf.LoadBalancer{appLB(
		lbconf.Listener{Arn: "l-hold", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg-hold")},
		lbconf.Listener{Arn: "l-plain", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg-plain")})}
	sink := &demandSink{}
	h := startWith(t, snapshot(1, lbs, held, plain), Options{Demand: sink})
	// The demand registers the target (as a service woken from zero
	// does), after a while.
	sink.setWake(func(arn string) {
		time.Sleep(300 * time.Millisecond)
		woken := tg("tg-hold", be.target())
		woken.HoldTimeout = 30 * time.Second
		h.src.Publish(snapshot(2, lbs, woken, plain))
	})
	c := &http.Client{Timeout: 20 * time.Second}
	if code, _, _ := get(t, c, h.url("l-plain")+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("no target, not held: %d, want 503", code)
	}
	if n := sink.count("tg-plain"); n != 0 {
		t.Fatalf("a group that does not hold signalled demand %d times", n)
	}
	start := time.Now()
	code, body, _ := get(t, c, h.url("l-hold")+"/")
	if code != http.StatusOK || body != "woken" {
		t.Fatalf("held request: %d %q, want 200 from the woken target", code, body)
	}
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Fatalf("answered after %v, before the target existed", took)
	}
	if n := sink.count("tg-hold"); n < 1 {
		t.Fatalf("no demand signalled")
	}
	if n := h.lb.Held(); n != 0 {
		t.Fatalf("%d requests still held", n)
	}
	// With a healthy target, nothing is held.
	start = time.Now()
	if code, _, _ := get(t, c, h.url("l-hold")+"/"); code != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Fatalf("request with a healthy target: %d after %v", code, time.Since(start))
	}
}

// TestHeldRequestTimesOut: nothing wakes the group, so the held request
// gets ELB's 503 after the hold timeout, and demand is signalled again
// while it waits (about once a second).
func TestHeldRequestTimesOut(t *testing.T) {
	t.Parallel()
	g := tg("tg-hold")
	g.HoldTimeout = 2500 * time.Millisecond
	lbs := []lbconf.LoadBalancer{appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg-hold")})}
	sink := &demandSink{}
	h := startWith(t, snapshot(1, lbs, g), Options{Demand: sink})
	c := &http.Client{Timeout: 20 * time.Second}
	start := time.Now()
	code, _, _ := get(t, c, h.url("l1")+"/")
	took := time.Since(start)
	if code != http.StatusServiceUnavailable || took < 2500*time.Millisecond || took > 10*time.Second {
		t.Fatalf("held request with nothing to wake: %d after %v, want 503 after the 2.5 s timeout", code, took)
	}
	if n := sink.count("tg-hold"); n < 2 {
		t.Fatalf("demand signalled %d times while held 2.5 s, want a signal a second", n)
	}
}

// TestHeldRequestReleasedWhenHoldingIsTurnedOff: a held request does not
// wait out its timeout when the group stops holding.
func TestHeldRequestReleasedWhenHoldingIsTurnedOff(t *testing.T) {
	t.Parallel()
	g := tg("tg-hold")
	g.HoldTimeout = 30 * time.Second
	lbs := []lbconf.LoadBalancer{appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg-hold")})}
	h := startWith(t, snapshot(1, lbs, g), Options{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		h.src.Publish(snapshot(2, lbs, tg("tg-hold")))
	}()
	c := &http.Client{Timeout: 20 * time.Second}
	start := time.Now()
	if code, _, _ := get(t, c, h.url("l1")+"/"); code != http.StatusServiceUnavailable || time.Since(start) > 5*time.Second {
		t.Fatalf("request after holding was turned off: %d after %v", code, time.Since(start))
	}
}

// TestHeldTCPConnection: a network load balancer's target group that
// holds keeps a new connection until a target is healthy, then passes it
// through.
func TestHeldTCPConnection(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				_, _ = c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	target := lbconf.Target{ID: "echo", Port: echo.Addr().(*net.TCPAddr).Port, Host: "127.0.0.1"}
	group := func(targets ...lbconf.Target) *lbconf.TargetGroup {
		g := tg("tg1", targets...)
		g.Protocol = lbconf.ProtocolTCP
		g.HealthCheck.Protocol = lbconf.ProtocolTCP
		g.HoldTimeout = 30 * time.Second
		return g
	}
	nlb := []lbconf.LoadBalancer{{Arn: "nlb", Name: "nlb", Type: lbconf.TypeNetwork, Address: "127.0.0.1",
		Listeners: []lbconf.Listener{{Arn: "t1", Protocol: lbconf.ProtocolTCP, DefaultActions: fwd("tg1")}}}}
	sink := &demandSink{}
	h := startWith(t, snapshot(1, nlb, group()), Options{Demand: sink})
	sink.setWake(func(string) {
		time.Sleep(200 * time.Millisecond)
		h.src.Publish(snapshot(2, nlb, group(target)))
	})
	c, err := net.Dial("tcp", h.lb.Addr("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	_, _ = c.Write([]byte("held bytes"))
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "HELD BYTES" {
		t.Fatalf("held connection: %q, %v", got, err)
	}
	if sink.count("tg1") < 1 {
		t.Fatal("no demand signalled")
	}
}
