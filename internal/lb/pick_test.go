package lb

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"/api/*", "/api/", false, true},
		{"/api/*", "/api/v1/x", false, true},
		{"/api/*", "/api", false, false},
		{"/api/v?", "/api/v1", false, true},
		{"/api/v?", "/api/v10", false, false},
		{"*.example.com", "a.b.example.com", true, true},
		{"*.example.com", "example.com", true, false},
		{"*.EXAMPLE.com", "www.example.COM", true, true},
		{"/Case", "/case", false, false},
		{"*a*b*c*", "xxaxxbxxcxx", false, true},
		{"*a*b*c", "xxaxxbxxcxx", false, false},
		{"*", "", false, true},
		{"?", "", false, false},
	}
	for _, tc := range tests {
		if got := newPattern(tc.pat, tc.fold).match(tc.s); got != tc.want {
			t.Errorf("%q match %q (fold %v) = %v, want %v", tc.pat, tc.s, tc.fold, got, tc.want)
		}
	}
}

func TestMatchCode(t *testing.T) {
	tests := []struct {
		matcher string
		code    int
		want    bool
	}{
		{"", 200, true},
		{"", 204, false},
		{"200", 200, true},
		{"200-299", 250, true},
		{"200-299", 300, false},
		{"200,202", 202, true},
		{"200,202", 201, false},
		{"200, 300-302", 301, true},
	}
	for _, tc := range tests {
		if got := matchCode(tc.matcher, tc.code); got != tc.want {
			t.Errorf("matchCode(%q, %d) = %v, want %v", tc.matcher, tc.code, got, tc.want)
		}
	}
}

// testGroup builds a group of n healthy backends with a fixed clock.
func testGroup(n int, cfg groupConfig, now time.Time) (*group, []*backend) {
	g := &group{arn: "g", now: func() time.Time { return now }}
	g.cfg.Store(&cfg)
	var bs []*backend
	for i := range n {
		b := newBackend("g", lbconf.Target{ID: string(rune('a' + i)), Port: 80, Host: "127.0.0.1"}, 1)
		b.state.Store(stateHealthy)
		bs = append(bs, b)
	}
	g.targets.Store(&bs)
	return g, bs
}

func TestLeastOutstandingRequests(t *testing.T) {
	g, bs := testGroup(3, groupConfig{algorithm: algorithmLOR}, time.Now())
	bs[0].outstanding.Store(5)
	bs[1].outstanding.Store(1)
	bs[2].outstanding.Store(3)
	for range 10 {
		if got := g.pick(nil); got != bs[1] {
			t.Fatalf("picked %s, want the least loaded b", got.id)
		}
	}
	if got := g.pick(bs[1]); got != bs[2] {
		t.Errorf("picked %s excluding b, want c", got.id)
	}
	bs[1].draining.Store(true)
	if got := g.pick(nil); got != bs[2] {
		t.Errorf("picked %s with b draining, want c", got.id)
	}
}

func TestSlowStartRampsUp(t *testing.T) {
	now := time.Unix(1000, 0)
	g, bs := testGroup(2, groupConfig{algorithm: algorithmRoundRobin, slowStart: 100 * time.Second}, now)
	// a is long healthy; b became healthy 10s into a 100s slow start.
	bs[0].healthySince.Store(now.Add(-time.Hour).UnixNano())
	bs[1].healthySince.Store(now.Add(-10 * time.Second).UnixNano())
	n := map[string]int{}
	for range 20000 {
		n[g.pick(nil).id]++
	}
	// Round robin offers b half the turns and it takes ~10% of them.
	share := float64(n["b"]) / 20000
	if share < 0.03 || share > 0.08 {
		t.Errorf("b took %.3f of requests 10%% into slow start, want about 0.05", share)
	}
	bs[1].healthySince.Store(now.Add(-200 * time.Second).UnixNano())
	n = map[string]int{}
	for range 2000 {
		n[g.pick(nil).id]++
	}
	if n["a"] != 1000 || n["b"] != 1000 {
		t.Errorf("after slow start: %v, want an even split", n)
	}
}

func TestFailOpenAndDraining(t *testing.T) {
	g, bs := testGroup(3, groupConfig{algorithm: algorithmRoundRobin}, time.Now())
	bs[0].state.Store(stateUnhealthy)
	bs[1].state.Store(stateInitial)
	bs[2].state.Store(stateUnhealthy)
	bs[2].draining.Store(true)
	seen := map[string]bool{}
	for range 10 {
		seen[g.pick(nil).id] = true
	}
	if !seen["a"] || !seen["b"] || seen["c"] {
		t.Errorf("no healthy target: picked %v, want a and b (fail-open), never the draining c", seen)
	}
	bs[0].draining.Store(true)
	bs[1].draining.Store(true)
	if got := g.pick(nil); got != nil {
		t.Errorf("every target draining: picked %s, want none", got.id)
	}
}

func TestSimpleHead(t *testing.T) {
	tests := []struct {
		name, head string
		ok         bool
		code       int
		length     int64
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", true, 200, 5},
		{"no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", true, 404, 0},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, 0, 0},
		{"no length", "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n", false, 0, 0},
		{"connection header", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", false, 0, 0},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", false, 0, 0},
		{"informational", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 0},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 0, 0},
		{"folded", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: b\r\n c\r\n\r\nx", false, 0, 0},
		{"bad code", "HTTP/1.1 2x0 OK\r\nContent-Length: 1\r\n\r\nx", false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := simpleHead(bufio.NewReader(strings.NewReader(tc.head)))
			if ok != tc.ok || ok && (h.code != tc.code || h.length != tc.length || tc.head[h.n-4:h.n] != "\r\n\r\n") {
				t.Errorf("simpleHead = %+v, %v; want ok %v code %d length %d", h, ok, tc.ok, tc.code, tc.length)
			}
		})
	}
}
