package logship_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// clientSink sends batches as the agent does: JSON over signed HTTP.
type clientSink struct{ c *ecsclient.Client }

func (s clientSink) PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error {
	return s.c.Call(ctx, "GantryPutLogEvents", req, nil)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAgentCPU measures the CPU the shipper uses for a container printing
// 1,000 lines of 100 bytes a second, through the real Docker log stream,
// JSON encoding, SigV4 signing and HTTP to a server that discards the
// batches (its CPU counts too: the figure is an upper bound). Run it with
//
//	GANTRY_LOGSHIP_CPU=1 go test -run TestAgentCPU -v ./internal/agent/logship
func TestAgentCPU(t *testing.T) {
	if os.Getenv("GANTRY_LOGSHIP_CPU") == "" {
		t.Skip("set GANTRY_LOGSHIP_CPU=1 to measure the shipper's CPU (30 s)")
	}
	const seconds, rate = 20, 1000
	e := setup(t, seconds*rate, 10*time.Millisecond, "10", "100")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	counting := &countingSink{next: clientSink{ecsclient.New(srv.URL, "us-east-1", "AKID", "SECRET")}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := e.manager(t, counting)
	m.Start(ctx)
	defer func() { cancel(); m.Wait() }()
	id := e.start(t, ctx)
	if err := m.Follow(e.task, "app", id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // steady state
	c0, w0, n0 := cpuTime(), time.Now(), counting.count()
	time.Sleep(10 * time.Second)
	c1, w1, n1 := cpuTime(), time.Now(), counting.count()
	wall := w1.Sub(w0)
	cpu := c1 - c0
	t.Logf("%d events in %v (%.0f/s); shipper CPU %v = %.2f%% of a core; %.1f ms CPU per 1,000 events",
		n1-n0, wall.Round(time.Millisecond), float64(n1-n0)/wall.Seconds(), cpu.Round(time.Millisecond),
		100*cpu.Seconds()/wall.Seconds(), float64(cpu.Milliseconds())*1000/float64(max(n1-n0, 1)))
}

// countingSink counts the events next acknowledged.
type countingSink struct {
	next clientSink
	mu   sync.Mutex
	n    int
}

func (s *countingSink) PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error {
	err := s.next.PutLogBatch(ctx, req)
	if err == nil {
		s.mu.Lock()
		s.n += len(req.Events)
		s.mu.Unlock()
	}
	return err
}

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
