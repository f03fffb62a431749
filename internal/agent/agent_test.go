package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/logship"
	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// logRuntime is a runtime.Runtime that can read logs back; only the type
// matters here.
type logRuntime struct{ runtime.Runtime }

func (logRuntime) ReadLogs(ctx context.Context, id string, since time.Time) (runtime.LogStream, error) {
	return nil, errors.New("unused")
}

func hasAttr(attrs []ecsapi.Attribute, name string) bool {
	for _, a := range attrs {
		if a.Name == name {
			return true
		}
	}
	return false
}

func TestAwslogsAttributes(t *testing.T) {
	names := []string{"com.amazonaws.ecs.capability.logging-driver.awslogs", "ecs.capability.execution-role-awslogs"}
	a, err := New(Config{Server: "http://127.0.0.1:1", DataDir: t.TempDir()}, logRuntime{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !hasAttr(a.attributes(), n) {
			t.Errorf("attribute %s not advertised by an agent that ships awslogs output", n)
		}
	}
	// A runtime that cannot read logs back: no awslogs.
	var plain struct{ runtime.Runtime }
	b, err := New(Config{Server: "http://127.0.0.1:1", DataDir: t.TempDir()}, plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if hasAttr(b.attributes(), n) {
			t.Errorf("attribute %s advertised without a log reader", n)
		}
	}
}

func TestLogSinkErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		events   int
		rejected bool
		ok       bool
	}{
		{name: "ack", status: 200, ok: true, events: 1},
		{name: "already accepted", status: 400, code: "DataAlreadyAcceptedException", ok: true, events: 1},
		{name: "unknown group", status: 400, code: "ResourceNotFoundException", rejected: true, events: 1},
		{name: "invalid", status: 400, code: "InvalidParameterException", rejected: true, events: 1},
		{name: "throttled", status: 400, code: "ThrottlingException", events: 1},
		{name: "server error", status: 500, code: "ServerException", events: 1},
		{name: "old server rejects batches", status: 404, code: "UnknownOperationException", rejected: true, events: 1},
		{name: "old server lets containers start", status: 404, code: "UnknownOperationException", events: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Amzn-ErrorType", tc.code)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			s := logSink{ecsclient.New(srv.URL, "us-east-1", "a", "b"), &counters{}}
			req := &ecsapi.GantryPutLogEventsRequest{Events: make([]ecsapi.GantryLogEvent, tc.events)}
			err := s.PutLogBatch(context.Background(), req)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("err %v, want an acknowledgement", err)
			case !tc.ok && err == nil:
				t.Fatal("no error")
			case !tc.ok && errors.Is(err, logship.ErrRejected) != tc.rejected:
				t.Fatalf("err %v: rejected %v, want %v", err, errors.Is(err, logship.ErrRejected), tc.rejected)
			}
		})
	}
}
