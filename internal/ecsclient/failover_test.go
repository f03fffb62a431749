package ecsclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestSplitEndpoints(t *testing.T) {
	got := SplitEndpoints(" http://a:1/ ,http://b:2,,http://a:1")
	if len(got) != 2 || got[0] != "http://a:1" || got[1] != "http://b:2" {
		t.Fatalf("%q", got)
	}
}

// TestFailoverRefusedConnection: a server that refuses the connection is
// skipped within the same call, and the client stays on the one that
// answered.
func TestFailoverRefusedConnection(t *testing.T) {
	var hits atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer ok.Close()
	dead := closedURL(t)
	c := New(dead+","+ok.URL, "us-east-1", "a", "b")
	var switches []string
	c.OnFailover(func(from, to string, err error) { switches = append(switches, from+">"+to) })
	for i := 0; i < 3; i++ {
		if err := c.Call(context.Background(), "ListClusters", struct{}{}, nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if hits.Load() != 3 || c.Endpoint() != ok.URL || len(switches) != 1 || switches[0] != dead+">"+ok.URL {
		t.Fatalf("hits %d, endpoint %s, switches %q", hits.Load(), c.Endpoint(), switches)
	}
}

// TestFailoverServerError: a 5xx answer is returned (the request may have
// been applied) and the next call goes to the other server; a 4xx answer
// moves nothing.
func TestFailoverServerError(t *testing.T) {
	code := http.StatusInternalServerError
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		w.Write([]byte(`{"__type":"ServerException","message":"x"}`))
	}))
	defer bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }))
	defer good.Close()

	c := New(bad.URL+","+good.URL, "us-east-1", "a", "b")
	code = http.StatusBadRequest
	if err := c.Call(context.Background(), "X", struct{}{}, nil); err == nil || c.Endpoint() != bad.URL {
		t.Fatalf("a client error moved the client: %v %s", err, c.Endpoint())
	}
	code = http.StatusInternalServerError
	if err := c.Call(context.Background(), "X", struct{}{}, nil); err == nil {
		t.Fatal("a server error was not returned")
	}
	if c.Endpoint() != good.URL {
		t.Fatalf("endpoint %s after a server error", c.Endpoint())
	}
	if err := c.Call(context.Background(), "X", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSetEndpoints: the live set comes first, the seeds stay after it, and
// the current endpoint stays current.
func TestSetEndpoints(t *testing.T) {
	c := New("http://seed:1", "us-east-1", "a", "b")
	c.SetEndpoints([]string{"http://b:2/", "http://seed:1", "http://c:3"})
	got := c.Endpoints()
	if len(got) != 3 || got[0] != "http://b:2" || got[1] != "http://seed:1" || c.Endpoint() != "http://seed:1" {
		t.Fatalf("%q current %s", got, c.Endpoint())
	}
	c.SetEndpoints([]string{"http://c:3"})
	got = c.Endpoints()
	if len(got) != 2 || got[0] != "http://c:3" || got[1] != "http://seed:1" || c.Endpoint() != "http://seed:1" {
		t.Fatalf("%q current %s", got, c.Endpoint())
	}
}
