package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer ok.Close()
	lb503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "awselb/2.0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer lb503.Close()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no url", []string{"-duration", "10ms"}, 2},
		{"bad flag", []string{"-nope"}, 2},
		{"all answered", []string{"-url", ok.URL, "-rate", "200", "-duration", "300ms", "-json"}, 0},
		{"the load balancer's 503", []string{"-url", lb503.URL, "-rate", "100", "-duration", "200ms"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tc.args, &out, &errOut); got != tc.want {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", got, tc.want, out.String(), errOut.String())
			}
			if tc.name == "all answered" {
				var res struct{ Requests, OK int64 }
				if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Requests < 30 || res.OK != res.Requests {
					t.Errorf("JSON result %s (%v)", out.String(), err)
				}
			}
		})
	}
}
