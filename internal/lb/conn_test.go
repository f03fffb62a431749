package lb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// rawBackend is a target with answers the tests need: streamed (chunked),
// with trailers, and echoing the method.
func rawBackend(t *testing.T) lbconf.Target {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	})
	srv := &http.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return lbconf.Target{ID: "raw", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
}

func TestOneConnectionThroughBothPaths(t *testing.T) {
	t.Parallel()
	target := rawBackend(t)
	h := start(t, snapshot(1, []lbconf.LoadBalancer{appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg1")})}, tg("tg1", target)))
	c, err := net.Dial("tcp", h.lb.Addr("l1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	read := func(method string) (*http.Response, string) {
		t.Helper()
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("read the answer: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read the body: %v", err)
		}
		return resp, string(b)
	}
	// Two pipelined GETs, served by the loop.
	fmt.Fprint(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := read("GET"); body != "GET /a " {
		t.Errorf("first pipelined answer %q", body)
	}
	resp, body := read("GET")
	if body != "part0;part1;part2;" || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("streamed answer %q, transfer encoding %v", body, resp.TransferEncoding)
	}
	// HEAD: no body, the target's length.
	fmt.Fprint(c, "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := read("HEAD"); body != "" || resp.ContentLength != int64(len("HEAD /a ")) {
		t.Errorf("HEAD answer %q, length %d", body, resp.ContentLength)
	}
	// Trailers pass.
	fmt.Fprint(c, "GET /trailer HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := read("GET"); body != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("trailer answer %q, trailer %v", body, resp.Trailer)
	}
	// A POST with a body: net/http takes the connection over.
	fmt.Fprint(c, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\ndata")
	if _, body := read("POST"); body != "POST /p data" {
		t.Errorf("POST answer %q", body)
	}
	// And serves what follows on it.
	fmt.Fprint(c, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, body := read("GET"); body != "GET /after " {
		t.Errorf("answer after the hand-over %q", body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection open after Connection: close (%v)", err)
	}
}

func TestHTTP10AndConnectionClose(t *testing.T) {
	t.Parallel()
	target := rawBackend(t)
	h := start(t, snapshot(1, []lbconf.LoadBalancer{appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg1")})}, tg("tg1", target)))
	for _, req := range []string{
		"GET /old HTTP/1.0\r\nHost: x\r\n\r\n",
		"GET /old HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	} {
		c, err := net.Dial("tcp", h.lb.Addr("l1"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, req)
		all, err := io.ReadAll(c) // ends: the connection is closed after the answer
		c.Close()
		if err != nil || !strings.HasSuffix(string(all), "GET /old ") {
			t.Errorf("%q: answered %q, %v", req, all, err)
		}
	}
}

func TestIdleTimeoutClosesKeepAliveConnections(t *testing.T) {
	t.Parallel()
	target := rawBackend(t)
	lbs := appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg1")})
	lbs.IdleTimeout = 300 * time.Millisecond
	h := start(t, snapshot(1, []lbconf.LoadBalancer{lbs}, tg("tg1", target)))
	for _, req := range []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",                        // the listener's loop
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", // net/http
	} {
		c, err := net.Dial("tcp", h.lb.Addr("l1"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = br.ReadByte()
		idle := time.Since(start)
		c.Close()
		if err != io.EOF || idle < 200*time.Millisecond || idle > 2*time.Second {
			t.Errorf("%q: the idle connection ended after %s with %v, want EOF after about 300ms", req, idle, err)
		}
	}
}

func TestMalformedRequestsGet400(t *testing.T) {
	t.Parallel()
	target := rawBackend(t)
	h := start(t, snapshot(1, []lbconf.LoadBalancer{appLB(lbconf.Listener{Arn: "l1", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("tg1")})}, tg("tg1", target)))
	for _, req := range []string{
		"GET /a HTTP/1.1\r\n\r\n",                             // no Host
		"GET /a HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", // a space in a header name
	} {
		c, err := net.Dial("tcp", h.lb.Addr("l1"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, req)
		all, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(all), "HTTP/1.1 400 ") {
			t.Errorf("%q: answered %q", req, all)
		}
	}
}
