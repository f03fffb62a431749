package lb

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// fakeSource is an in-memory lbconf.Source: Publish sends a snapshot to
// every watcher (a watcher that has not read the previous one gets only
// the newest, as a store watch coalesces).
type fakeSource struct {
	mu   sync.Mutex
	cur  *lbconf.Snapshot
	subs []chan *lbconf.Snapshot
}

func (f *fakeSource) Watch(ctx context.Context) <-chan *lbconf.Snapshot {
	ch := make(chan *lbconf.Snapshot, 1)
	f.mu.Lock()
	if f.cur != nil {
		ch <- f.cur
	}
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch
}

func (f *fakeSource) Publish(s *lbconf.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = s
	for _, ch := range f.subs {
		select {
		case <-ch:
		default:
		}
		ch <- s
	}
}

// healthEvent is one recorded HealthSink report.
type healthEvent struct {
	group, id string
	port      int
	h         lbconf.Health
}

// recordSink records health reports.
type recordSink struct {
	mu     sync.Mutex
	events []healthEvent
}

func (r *recordSink) Report(_ context.Context, g, id string, port int, h lbconf.Health) error {
	r.mu.Lock()
	r.events = append(r.events, healthEvent{g, id, port, h})
	r.mu.Unlock()
	return nil
}

// last is the last report for a target, if any.
func (r *recordSink) last(id string, port int) (lbconf.Health, bool) {
	return r.lastIn("", id, port)
}

// lastIn is the last report for a target in a group ("": any group).
func (r *recordSink) lastIn(group, id string, port int) (lbconf.Health, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if e := r.events[i]; e.id == id && e.port == port && (group == "" || e.group == group) {
			return e.h, true
		}
	}
	return lbconf.Health{}, false
}

// testBackend is an HTTP target: it answers its name, and a few paths
// that tests use.
type testBackend struct {
	name   string
	srv    *httptest.Server
	health atomic.Int32 // status of /health (0: 200)
	hits   atomic.Int64
	port   int
}

func startBackend(t *testing.T, name string) *testBackend {
	t.Helper()
	b := &testBackend{name: name}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if c := b.health.Load(); c != 0 {
			w.WriteHeader(int(c))
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, b.name)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h := map[string]any{"Host": r.Host, "Header": r.Header, "URI": r.RequestURI}
		_ = json.NewEncoder(w).Encode(h)
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "no upgrade", http.StatusBadRequest)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		// Echo lines, prefixed with the backend's name.
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = rw.WriteString(b.name + ":" + line)
			_ = rw.Flush()
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", b.name)
		_, _ = io.WriteString(w, b.name)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	_, p, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	b.port, _ = strconv.Atoi(p)
	return b
}

func (b *testBackend) target() lbconf.Target {
	return lbconf.Target{ID: b.name, Port: b.port, Host: "127.0.0.1"}
}

// fastCheck is a health check that decides within a few tens of
// milliseconds.
func fastCheck() lbconf.HealthCheck {
	return lbconf.HealthCheck{
		Enabled: true, Protocol: lbconf.ProtocolHTTP, Port: "traffic-port", Path: "/health",
		Interval: 30 * time.Millisecond, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 3, Matcher: "200",
	}
}

// tg builds a target group of targets.
func tg(arn string, targets ...lbconf.Target) *lbconf.TargetGroup {
	return &lbconf.TargetGroup{
		Arn: arn, Name: arn, Protocol: lbconf.ProtocolHTTP, Port: 80, TargetType: "ip",
		HealthCheck: fastCheck(), Algorithm: algorithmRoundRobin, Targets: targets,
	}
}

// fwd is a forward action to target groups of weight 1.
func fwd(arns ...string) []lbconf.Action {
	a := lbconf.Action{Type: lbconf.ActionForward}
	for _, arn := range arns {
		a.Forward = append(a.Forward, lbconf.WeightedTargetGroup{TargetGroupArn: arn, Weight: 1})
	}
	return []lbconf.Action{a}
}

// appLB is an application load balancer on loopback with listeners on
// random ports.
func appLB(listeners ...lbconf.Listener) lbconf.LoadBalancer {
	return lbconf.LoadBalancer{
		Arn: "lb", Name: "lb", Type: lbconf.TypeApplication, Address: "127.0.0.1",
		IdleTimeout: 5 * time.Second, HTTP2: true, Listeners: listeners,
	}
}

func snapshot(rev int64, lbs []lbconf.LoadBalancer, groups ...*lbconf.TargetGroup) *lbconf.Snapshot {
	s := &lbconf.Snapshot{Revision: rev, LoadBalancers: lbs, TargetGroups: map[string]*lbconf.TargetGroup{}}
	for _, g := range groups {
		s.TargetGroups[g.Arn] = g
	}
	return s
}

// harness runs a data plane on a fake source.
type harness struct {
	t    *testing.T
	src  *fakeSource
	sink *recordSink
	lb   *LB
}

func start(t *testing.T, first *lbconf.Snapshot) *harness {
	t.Helper()
	return startWith(t, first, Options{})
}

// startWith is start with options (Source and Health are the harness's).
func startWith(t *testing.T, first *lbconf.Snapshot, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, src: &fakeSource{}, sink: &recordSink{}}
	h.src.Publish(first)
	opts.Source, opts.Health = h.src, h.sink
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 2 * time.Second
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.lb = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	h.wait(first.Revision)
	return h
}

// publish applies a snapshot and waits until it is served.
func (h *harness) publish(s *lbconf.Snapshot) {
	h.t.Helper()
	h.src.Publish(s)
	h.wait(s.Revision)
}

func (h *harness) wait(rev int64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.lb.WaitRevision(ctx, rev); err != nil {
		h.t.Fatalf("revision %d not applied: %v", rev, err)
	}
}

// url is the base URL of a listener.
func (h *harness) url(listenerArn string) string {
	h.t.Helper()
	a := h.lb.Addr(listenerArn)
	if a == "" {
		h.t.Fatalf("listener %s not bound", listenerArn)
	}
	return "http://" + a
}

// waitHealthy waits until every named target was reported healthy.
func (h *harness) waitHealthy(targets ...lbconf.Target) {
	h.t.Helper()
	h.waitState(lbconf.StateHealthy, targets...)
}

func (h *harness) waitState(state string, targets ...lbconf.Target) {
	h.t.Helper()
	h.waitStateIn("", state, targets...)
}

// waitStateIn waits until every named target of a group ("": any) was
// reported in state.
func (h *harness) waitStateIn(group, state string, targets ...lbconf.Target) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, tgt := range targets {
		for {
			got, ok := h.sink.lastIn(group, tgt.ID, tgt.Port)
			if ok && got.State == state {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("target %s: state %+v, want %s", tgt.ID, got, state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// get does a GET and returns the status and body.
func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// rawUpgrade opens a connection, sends an upgrade request and returns the
// reader after the 101.
func rawUpgrade(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", path)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	return c, br
}
