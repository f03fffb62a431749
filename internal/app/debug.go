package app

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startDebug serves Go's profiling endpoints and the server's Prometheus
// metrics (/metrics) on addr (loopback, checked by the config) until the
// server closes. Nothing there is authenticated: loopback keeps it to the
// host's own users (a Prometheus or an agent on the host, or an SSH
// tunnel).
func (s *Server) startDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{s.logger}}))
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	s.debug = srv
	s.DebugURL = "http://" + ln.Addr().String()
	s.logger.Info("profiling endpoints", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

// slogPromLogger logs promhttp's errors through slog.
type slogPromLogger struct {
	l interface{ Error(string, ...any) }
}

// Println logs v as an error.
func (p slogPromLogger) Println(v ...any) {
	p.l.Error("prometheus exposition", "err", fmt.Sprint(v...))
}
