package app

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// startDebug serves Go's profiling endpoints on addr (loopback, checked by
// the config) until the server closes.
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
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	s.debug = srv
	s.logger.Info("profiling endpoints", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}
