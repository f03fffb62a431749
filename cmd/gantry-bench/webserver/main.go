// Command webserver is the program of gantry-bench's container image: a
// static HTTP server that answers 200 "ok" to every request, so the
// benchmark can tell when a container is ready to serve. It listens on
// the PORT environment variable (default 8080) and exits with code 0 on
// SIGTERM, as a well-behaved service does, so stopping it is quick.
//
// gantry-bench embeds this file and compiles it into a FROM-scratch image
// through the Docker API (no registry needed); it imports only the
// standard library for that reason.
package main

import (
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		os.Stderr.WriteString("webserver: " + err.Error() + "\n")
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-term
		os.Exit(0)
	}()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	if err := http.Serve(ln, h); err != nil {
		os.Stderr.WriteString("webserver: " + err.Error() + "\n")
		os.Exit(1)
	}
}
