package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8845", true},
		{"http://localhost:8845", true},
		{"http://[::1]:8845", true},
		{"http://10.0.0.1:8845", false},
		{"http://example.com", false},
		{"ftp://127.0.0.1", false},
	} {
		if err := checkLoopback(tt.url); (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Instances, c.Tasks, c.Count, c.Strategy, c.Server = 10, 1000, 11, "random", "http://192.0.2.1"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"-tasks 1000", "-count 11", "-strategy", "-server", "GANTRY_ACCESS_KEY_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %s", err, want)
		}
	}
}

// TestRunRejectsBadFlags checks that flag problems exit 2 before anything
// starts.
func TestRunRejectsBadFlags(t *testing.T) {
	if code := run(context.Background(), []string{"-tasks", "0", "-strategy", "x"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}
