package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// oneSnapshot is a Source of one snapshot.
type oneSnapshot struct{ s *lbconf.Snapshot }

func (o oneSnapshot) Watch(ctx context.Context) <-chan *lbconf.Snapshot {
	ch := make(chan *lbconf.Snapshot, 1)
	ch <- o.s
	return ch
}

func TestLBDataPlaneServesUntilTheServerStops(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "target") }))
	defer backend.Close()
	_, bp, _ := net.SplitHostPort(backend.Listener.Addr().String())
	bport, _ := strconv.Atoi(bp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	snap := &lbconf.Snapshot{Revision: 1,
		LoadBalancers: []lbconf.LoadBalancer{{Arn: "lb", Type: lbconf.TypeApplication, Address: "127.0.0.1",
			Listeners: []lbconf.Listener{{Arn: "l", Port: port, Protocol: lbconf.ProtocolHTTP,
				DefaultActions: []lbconf.Action{{Type: lbconf.ActionForward, Forward: []lbconf.WeightedTargetGroup{{TargetGroupArn: "tg", Weight: 1}}}}}}}},
		TargetGroups: map[string]*lbconf.TargetGroup{"tg": {Arn: "tg", Protocol: lbconf.ProtocolHTTP,
			HealthCheck: lbconf.HealthCheck{Enabled: true, Protocol: lbconf.ProtocolTCP, Interval: time.Hour},
			Targets:     []lbconf.Target{{ID: "t", Host: "127.0.0.1", Port: bport}}}},
	}
	s := &Server{logger: slog.New(slog.DiscardHandler)}
	run, err := lbDataPlane(s, oneSnapshot{snap}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		break
	}
	if string(body) != "target" {
		t.Fatalf("listener answered %q, want the target's answer", body)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the data plane did not stop with the server")
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("the listener still answers after the server stopped")
	}
}
