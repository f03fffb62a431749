// Command testserver is the program of Gantry's integration test image: a
// tiny HTTP server whose behaviour tests set through its arguments and
// environment. testutil.TestServerSource returns this file's source and
// testutil.TestServerImage builds it into a FROM-scratch image as /app.
//
// Usage:
//
//	app [serve]              serve HTTP (the default)
//	app exit CODE            exit at once with CODE
//	app sleep DURATION [CODE]  sleep, then exit with CODE (default 0)
//	app check URL            GET URL; exit 0 on a 2xx answer, else 1 (health checks)
//	app write PATH TEXT      write TEXT to PATH, then exit 0
//	app cat PATH             print the contents of PATH, then exit 0
//	app alloc MIB            allocate and touch MIB MiB of memory, then sleep
//	app count N INTERVAL     print "line 000001" to "line N" on stdout, one every INTERVAL, then exit 0
//	app flood N RATE SIZE [FOR]  print N lines of SIZE bytes (the line break not counted), numbered
//	                         "0000000001 xxx...", at RATE lines a second (0: as fast as stdout takes
//	                         them), stopping after FOR (a Go duration) if given, then exit 0; with
//	                         START_AT (Unix milliseconds) in the environment it waits until then
//	                         and stops at START_AT + FOR even if it started late
//
// Environment of serve:
//
//	PORT            TCP port to listen on (default 8080)
//	UDP_PORT        if set, echo UDP datagrams on this port
//	START_DELAY     wait this long (Go duration) before listening
//	EXIT_AFTER      exit this long (Go duration) after starting, with EXIT_CODE
//	EXIT_CODE       exit code for EXIT_AFTER (default 0)
//	IGNORE_SIGTERM  if "1", ignore SIGTERM (so only SIGKILL stops it);
//	                otherwise SIGTERM exits with code 0
//	UNHEALTHY       if "1", /health answers 503
//
// Endpoints of serve:
//
//	GET /            JSON: hostname, args, env, uid, gid, cwd
//	GET /health      200 "ok", or 503 when UNHEALTHY=1
//	GET /file?path=P the contents of file P (404 if missing)
//	GET /exit?code=N answer, then exit with N
//	GET /fetch?url=U or /fetch?env=VAR&path=P[&method=M&body=B]
//	                 make the request to U (or to $VAR followed by P) from
//	                 inside the container; the answer is 200 with the
//	                 fetched body and its status in X-Fetched-Status, or
//	                 502 when the request failed
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		serve()
	case "exit":
		os.Exit(atoi(arg(args, 1)))
	case "sleep":
		d, err := time.ParseDuration(arg(args, 1))
		if err != nil {
			fail(err)
		}
		time.Sleep(d)
		code := 0
		if len(args) > 2 {
			code = atoi(args[2])
		}
		os.Exit(code)
	case "count":
		n := atoi(arg(args, 1))
		every, err := time.ParseDuration(arg(args, 2))
		if err != nil {
			fail(err)
		}
		for i := 1; i <= n; i++ {
			fmt.Printf("line %06d\n", i)
			time.Sleep(every)
		}
		os.Exit(0)
	case "flood":
		var stop time.Duration
		if len(args) > 4 {
			d, err := time.ParseDuration(args[4])
			if err != nil {
				fail(err)
			}
			stop = d
		}
		flood(atoi(arg(args, 1)), atoi(arg(args, 2)), atoi(arg(args, 3)), stop)
	case "check":
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(arg(args, 1))
		if err != nil {
			fail(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			fail(fmt.Errorf("status %s", resp.Status))
		}
	case "write":
		if err := os.WriteFile(arg(args, 1), []byte(arg(args, 2)), 0o644); err != nil {
			fail(err)
		}
	case "cat":
		b, err := os.ReadFile(arg(args, 1))
		if err != nil {
			fail(err)
		}
		os.Stdout.Write(b)
	case "alloc":
		var hold [][]byte
		for range atoi(arg(args, 1)) {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hold = append(hold, b)
		}
		fmt.Printf("allocated %d MiB\n", len(hold))
		time.Sleep(time.Hour)
		runtime.KeepAlive(hold)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", args[0])
		os.Exit(2)
	}
}

func serve() {
	term := make(chan os.Signal, 1)
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if d := os.Getenv("START_DELAY"); d != "" {
		wait, err := time.ParseDuration(d)
		if err != nil {
			fail(err)
		}
		time.Sleep(wait)
	}
	exitAfter := make(<-chan time.Time)
	if d := os.Getenv("EXIT_AFTER"); d != "" {
		wait, err := time.ParseDuration(d)
		if err != nil {
			fail(err)
		}
		exitAfter = time.After(wait)
	}
	if p := os.Getenv("UDP_PORT"); p != "" {
		go echoUDP(p)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		cwd, _ := os.Getwd()
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hostname": host, "args": os.Args, "env": env,
			"uid": os.Getuid(), "gid": os.Getgid(), "cwd": cwd,
		})
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("UNHEALTHY") == "1" {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		url := q.Get("url")
		if e := q.Get("env"); e != "" {
			url = os.Getenv(e) + q.Get("path")
		}
		method := q.Get("method")
		if method == "" {
			method = http.MethodGet
		}
		req, err := http.NewRequest(method, url, strings.NewReader(q.Get("body")))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cl := http.Client{Timeout: 15 * time.Second}
		resp, err := cl.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("X-Fetched-Status", strconv.Itoa(resp.StatusCode))
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		_, _ = io.Copy(w, resp.Body)
	})
	exitNow := make(chan int, 1)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		exitNow <- atoi(r.URL.Query().Get("code"))
	})
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fail(err)
	}
	fmt.Printf("listening on :%s\n", port)
	go func() { _ = http.Serve(ln, mux) }()
	select {
	case <-term:
		fmt.Println("SIGTERM: exiting")
		os.Exit(0)
	case <-exitAfter:
		os.Exit(atoi(os.Getenv("EXIT_CODE")))
	case code := <-exitNow:
		time.Sleep(50 * time.Millisecond) // let the answer go out
		os.Exit(code)
	}
}

func echoUDP(port string) {
	conn, err := net.ListenPacket("udp", ":"+port)
	if err != nil {
		fail(err)
	}
	buf := make([]byte, 2048)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			fail(err)
		}
		_, _ = conn.WriteTo(buf[:n], addr)
	}
}

// flood prints n numbered lines of size bytes at rate lines a second (0:
// as fast as it can, through a 64 KiB buffer), for at most stop (0: no
// limit). A paced flood writes every 10 ms what is due by then.
func flood(n, rate, size int, stop time.Duration) {
	var deadline time.Time // a common end for floods with a common start
	if at := os.Getenv("START_AT"); at != "" {
		t := time.UnixMilli(int64(atoi(at)))
		time.Sleep(time.Until(t))
		if stop > 0 {
			deadline = t.Add(stop)
		}
	}
	size = max(size, 11)
	line := make([]byte, size+1)
	for i := range line {
		line[i] = 'x'
	}
	line[10], line[size] = ' ', '\n'
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	start := time.Now()
	put := func(i int) {
		for j, v := 9, i; j >= 0; j-- {
			line[j] = byte('0' + v%10)
			v /= 10
		}
		if _, err := w.Write(line); err != nil {
			fail(err)
		}
	}
	i := 1
	for i <= n {
		elapsed := time.Since(start)
		if stop > 0 && elapsed >= stop || !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		due := min(n, i+999) // as fast as possible: check the clock every 1,000 lines
		if rate > 0 {
			due = min(n, int(elapsed.Seconds()*float64(rate)))
		}
		for ; i <= due; i++ {
			put(i)
		}
		if rate > 0 {
			if err := w.Flush(); err != nil {
				fail(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := w.Flush(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

func arg(args []string, i int) string {
	if i >= len(args) {
		fmt.Fprintf(os.Stderr, "%s: missing argument %d\n", args[0], i)
		os.Exit(2)
	}
	return args[i]
}

func atoi(s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		fail(err)
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
