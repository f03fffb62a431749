package docker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// fakeEventsDaemon answers /_ping and /events like the Docker Engine: the
// first events stream sends one start event and breaks, the second sends a
// die event and stays open.
type fakeEventsDaemon struct {
	mu      sync.Mutex
	streams int
	since   []string
	filters []string
}

func (d *fakeEventsDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		w.Write([]byte("OK"))
	case strings.HasSuffix(r.URL.Path, "/events"):
		d.mu.Lock()
		d.streams++
		n := d.streams
		d.since = append(d.since, r.URL.Query().Get("since"))
		d.filters = append(d.filters, r.URL.Query().Get("filters"))
		d.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		attrs := map[string]string{LabelTaskARN: "arn:task", LabelContainerName: "web"}
		if n == 1 {
			enc.Encode(events.Message{Type: "container", Action: "start", Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: time.Now().UnixNano()})
			w.(http.Flusher).Flush()
			return // the stream breaks
		}
		attrs["exitCode"] = "0"
		enc.Encode(events.Message{Type: "container", Action: "die", Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: time.Now().UnixNano()})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.NotFound(w, r)
	}
}

func TestEventsReconnectAfterTheStreamBreaks(t *testing.T) {
	daemon := &fakeEventsDaemon{}
	srv := httptest.NewServer(daemon)
	defer srv.Close()
	rt, err := New(Config{InstanceID: "i-1", Host: "tcp://" + srv.Listener.Addr().String(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx, cancel := context.WithCancel(t.Context())
	evs := rt.Events(ctx)

	var got []runtime.EventType
	for len(got) < 3 {
		select {
		case ev := <-evs:
			got = append(got, ev.Type)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far %v", got)
		}
	}
	if want := []runtime.EventType{runtime.EventStart, runtime.EventReconnected, runtime.EventDie}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	cancel()
	for range evs { // the channel closes once ctx is done
	}

	daemon.mu.Lock()
	defer daemon.mu.Unlock()
	// The first subscription replays from the call (the client subscribes
	// from a goroutine); the reconnect replays from just after the last
	// event received.
	first, err1 := strconv.ParseFloat(daemon.since[0], 64)
	second, err2 := strconv.ParseFloat(daemon.since[1], 64)
	if err1 != nil || err2 != nil || first <= 0 || second <= first {
		t.Errorf("since parameters %q: the first must be the call's time, the reconnect's the last event's", daemon.since)
	}
	if !strings.Contains(daemon.filters[0], `"dev.gantry.instance=i-1":true`) || !strings.Contains(daemon.filters[1], "health_status") {
		t.Errorf("filters %q", daemon.filters)
	}
}
