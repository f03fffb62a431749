package lbload

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsEachKindOfFailure(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 10 {
		case 1: // the load balancer's own 503
			w.Header().Set("Server", "awselb/2.0")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2: // the target's 500
			w.WriteHeader(http.StatusInternalServerError)
		case 3: // no answer at all
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
		case 4:
			w.WriteHeader(http.StatusNotFound)
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Rate: 600, Duration: time.Second, Workers: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	// The generator aims at 600 a second; what it reaches depends on the
	// machine (a busy CI machine gave 260), so the floor only says that
	// it ran at a steady rate rather than a trickle.
	if res.Rate < 150 {
		t.Errorf("rate %.0f/s, want at least 150", res.Rate)
	}
	if res.Requests != res.OK+res.ConnErrors+res.LB5xx+res.Target5xx+res.Other {
		t.Errorf("counts do not add up: %+v", res)
	}
	// The server counts every request it saw, retried ones included; each
	// kind is about a tenth of them.
	for name, got := range map[string]int64{"lb5xx": res.LB5xx, "target5xx": res.Target5xx, "other": res.Other} {
		if got < res.Requests/20 || got > res.Requests/5 {
			t.Errorf("%s = %d of %d, want about a tenth", name, got, res.Requests)
		}
	}
	if res.ConnErrors == 0 {
		t.Errorf("no connection errors counted")
	}
	if res.NewConns < res.Requests/4 || res.NewConns > 3*res.Requests/4 {
		t.Errorf("%d of %d requests on new connections, want about half", res.NewConns, res.Requests)
	}
	if res.Failed() != res.ConnErrors+res.LB5xx {
		t.Errorf("Failed %d", res.Failed())
	}
}
