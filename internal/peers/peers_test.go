package peers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAskSignsAndServerVerifies: a Client with the key reaches the
// Server's operation; a wrong key, a stale time or an unknown operation do
// not; Self is not asked and a dead peer is left out.
func TestAskSignsAndServerVerifies(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := []byte("0123456789abcdef0123456789abcdef")
	srv := NewServer(key, logger)
	srv.Handle("echo", func(ctx context.Context, body []byte) (any, error) {
		var in map[string]string
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return map[string]string{"got": in["x"]}, nil
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	live := []string{"http://self.invalid", ts.URL, "http://127.0.0.1:1"}
	c := &Client{Self: live[0], Key: key, Logger: logger, Timeout: time.Second,
		Live: func(context.Context) ([]string, error) { return live, nil }}
	ans, err := c.Ask(context.Background(), "echo", map[string]string{"x": "y"})
	if err != nil || len(ans) != 1 || ans[0].URL != ts.URL || strings.TrimSpace(string(ans[0].Body)) != `{"got":"y"}` {
		t.Fatalf("%v %+v", err, ans)
	}
	bad := *c
	bad.Key = []byte("another key")
	if ans, err := bad.Ask(context.Background(), "echo", map[string]string{"x": "y"}); err != nil || len(ans) != 0 {
		t.Fatalf("a wrong key is answered: %v %+v", err, ans)
	}
	if ans, err := c.Ask(context.Background(), "nope", nil); err != nil || len(ans) != 0 {
		t.Fatalf("an unknown operation is answered: %v %+v", err, ans)
	}
	srv.now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	if ans, err := c.Ask(context.Background(), "echo", map[string]string{"x": "y"}); err != nil || len(ans) != 0 {
		t.Fatalf("a stale request is answered: %v %+v", err, ans)
	}
	resp, err := http.Post(ts.URL+Prefix+"echo", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned: %s", resp.Status)
	}
}

// TestAskFirst: the first peer to answer ends the wait and the others are
// cancelled; a peer that fails does not count as an answer; with none
// answering the wait ends at the timeout.
func TestAskFirst(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := []byte("0123456789abcdef0123456789abcdef")
	cancelled := make(chan struct{}, 1)
	slow := NewServer(key, logger)
	slow.Handle("wait", func(ctx context.Context, body []byte) (any, error) {
		select {
		case <-ctx.Done():
			cancelled <- struct{}{}
		case <-time.After(10 * time.Second):
		}
		return "slow", nil
	})
	fast := NewServer(key, logger)
	fast.Handle("wait", func(ctx context.Context, body []byte) (any, error) {
		time.Sleep(100 * time.Millisecond)
		return "fast", nil
	})
	ts, tf := httptest.NewServer(slow), httptest.NewServer(fast)
	defer ts.Close()
	defer tf.Close()
	live := []string{"http://self.invalid", ts.URL, tf.URL, "http://127.0.0.1:1"}
	c := &Client{Self: live[0], Key: key, Logger: logger,
		Live: func(context.Context) ([]string, error) { return live, nil }}
	start := time.Now()
	ans, ok := c.AskFirst(context.Background(), "wait", nil, 5*time.Second)
	if !ok || ans.URL != tf.URL || strings.TrimSpace(string(ans.Body)) != `"fast"` {
		t.Fatalf("%v %+v", ok, ans)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("answered after %v", d)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow peer's request was not cancelled")
	}
	live = []string{"http://self.invalid", ts.URL, "http://127.0.0.1:1"}
	start = time.Now()
	if ans, ok := c.AskFirst(context.Background(), "wait", nil, 300*time.Millisecond); ok {
		t.Fatalf("answered: %+v", ans)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}
