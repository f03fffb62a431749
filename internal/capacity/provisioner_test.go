package capacity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseProvisioner(t *testing.T) {
	tests := []struct {
		in   string
		want string // type, or "" for nil, "error"
	}{
		{"", ""},
		{"command:/usr/local/bin/scale", "Command"},
		{"http://127.0.0.1:8850/", "HTTP"},
		{"https://scaler.example/hook", "HTTP"},
		{"http:127.0.0.1:8850/", "HTTP"},
		{"http:https://scaler.example/", "HTTP"},
		{"command:", "error"},
		{"docker", "error"},
	}
	for _, tt := range tests {
		p, err := ParseProvisioner(tt.in, time.Second)
		got := ""
		switch v := p.(type) {
		case Command:
			got = "Command"
		case HTTP:
			got = "HTTP"
			if !strings.HasPrefix(v.URL, "http://") && !strings.HasPrefix(v.URL, "https://") {
				t.Errorf("%q: URL %q", tt.in, v.URL)
			}
		}
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("ParseProvisioner(%q) = %s (%v), want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestCommandProvisioner(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "scale.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n{ echo \"$1 $GANTRY_CLUSTER $GANTRY_CAPACITY_PROVIDER $GANTRY_DESIRED_COUNT $GANTRY_INSTANCES_TO_REMOVE\"; cat; } > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	req := Request{Cluster: "c", CapacityProvider: "p", DesiredCount: 3, InstancesToRemove: []Instance{{ContainerInstanceArn: "arn:i1"}}}
	if err := (Command{Path: script, Timeout: 10 * time.Second}).Scale(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	line, body, _ := strings.Cut(string(b), "\n")
	if line != "3 c p 3 arn:i1" {
		t.Fatalf("argument and environment %q", line)
	}
	var got Request
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.DesiredCount != 3 || got.InstancesToRemove[0].ContainerInstanceArn != "arn:i1" {
		t.Fatalf("stdin %q (%v)", body, err)
	}
	failing := filepath.Join(dir, "fail.sh")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho no capacity >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (Command{Path: failing}).Scale(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no capacity") {
		t.Fatalf("failing command: %v", err)
	}
}

func TestHTTPProvisioner(t *testing.T) {
	var got Request
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := HTTP{URL: srv.URL, Client: srv.Client()}
	if err := p.Scale(context.Background(), Request{Cluster: "c", CapacityProvider: "p", DesiredCount: 2, InstancesToRemove: []Instance{}}); err != nil {
		t.Fatal(err)
	}
	if got.Cluster != "c" || got.CapacityProvider != "p" || got.DesiredCount != 2 {
		t.Fatalf("hook received %+v", got)
	}
	status = http.StatusInternalServerError
	if err := p.Scale(context.Background(), Request{Cluster: "c", CapacityProvider: "p", DesiredCount: 2}); err == nil {
		t.Fatal("a 500 from the hook is not an error")
	}
}
