package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/lb"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/workers"
)

// runBackend serves a tiny answer on several ports and prints their
// addresses on one line.
func runBackend(args []string) int {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	ports := fs.Int("ports", 3, "how many ports to serve")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello from the backend\n")
	})
	var addrs []string
	for range *ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			return 1
		}
		addrs = append(addrs, ln.Addr().String())
		go func() { _ = http.Serve(ln, h) }()
	}
	fmt.Println(strings.Join(addrs, " "))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	return 0
}

// staticSource is an lbconf.Source whose snapshots a program sets.
type staticSource struct {
	mu   sync.Mutex
	cur  *lbconf.Snapshot
	subs []chan *lbconf.Snapshot
}

// Watch sends the current snapshot and each one set after it.
func (s *staticSource) Watch(ctx context.Context) <-chan *lbconf.Snapshot {
	ch := make(chan *lbconf.Snapshot, 1)
	s.mu.Lock()
	if s.cur != nil {
		ch <- s.cur
	}
	s.subs = append(s.subs, ch)
	s.mu.Unlock()
	return ch
}

// set publishes a snapshot, replacing one not yet read.
func (s *staticSource) set(snap *lbconf.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = snap
	for _, ch := range s.subs {
		select {
		case <-ch:
		default:
		}
		ch <- snap
	}
}

// runGantry runs the data plane with one HTTP listener forwarding to the
// targets; with -churn, one target is deregistered (draining), dropped
// and registered again, one change every period.
func runGantry(args []string) int {
	fs := flag.NewFlagSet("gantry", flag.ContinueOnError)
	port := fs.Int("port", 0, "listener port")
	targetList := fs.String("targets", "", "host:port,... of the targets")
	churn := fs.Duration("churn", 0, "change the targets this often (0: never)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	nworkers := fs.Int("workers", 1, "worker processes, as `gantry lb --workers`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nworkers > 1 {
		return superviseGantry(*port, *targetList, *nworkers)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gantry:", err)
			return 1
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var targets []lbconf.Target
	for i, a := range strings.Split(*targetList, ",") {
		host, p, err := net.SplitHostPort(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gantry:", err)
			return 2
		}
		pn, _ := strconv.Atoi(p)
		targets = append(targets, lbconf.Target{ID: fmt.Sprintf("t%d", i), Host: host, Port: pn, RegisteredAt: time.Now()})
	}
	rev := int64(1)
	snap := func(ts []lbconf.Target) *lbconf.Snapshot {
		rev++
		return &lbconf.Snapshot{
			Revision: rev,
			LoadBalancers: []lbconf.LoadBalancer{{
				Arn: "bench", Name: "bench", Type: lbconf.TypeApplication, Address: "127.0.0.1",
				IdleTimeout: 60 * time.Second, HTTP2: true,
				Listeners: []lbconf.Listener{{Arn: "bench-80", Port: *port, Protocol: lbconf.ProtocolHTTP,
					DefaultActions: []lbconf.Action{{Type: lbconf.ActionForward, Forward: []lbconf.WeightedTargetGroup{{TargetGroupArn: "tg", Weight: 1}}}}}},
			}},
			TargetGroups: map[string]*lbconf.TargetGroup{"tg": {
				Arn: "tg", Name: "tg", Protocol: lbconf.ProtocolHTTP, Port: 80, TargetType: "ip", Algorithm: "round_robin",
				HealthCheck: lbconf.HealthCheck{Enabled: true, Protocol: lbconf.ProtocolHTTP, Port: "traffic-port", Path: "/",
					Interval: 200 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"},
				Targets: ts,
			}},
		}
	}
	src := &staticSource{}
	src.set(snap(targets))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := lb.New(lb.Options{Source: src, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = l.WaitRevision(wctx, 2)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry: not serving:", err)
		return 1
	}
	// Give the health checks time to find every target healthy.
	time.Sleep(600 * time.Millisecond)
	fmt.Println("ready")
	changes := 0
	if *churn > 0 {
		tick := time.NewTicker(*churn)
		defer tick.Stop()
		last := len(targets) - 1
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
			}
			ts := append([]lbconf.Target(nil), targets...)
			switch changes % 3 {
			case 0: // deregistered: draining
				ts[last].Draining = true
			case 1: // its deregistration delay passed: gone
				ts = ts[:last]
			case 2: // registered again
				ts[last].RegisteredAt = time.Now()
			}
			src.set(snap(ts))
			changes++
		}
		fmt.Printf("%d target changes (deregister, drop, register again in turn)\n", changes)
	}
	<-done
	return 0
}

// superviseGantry runs n processes of the gantry role on one port, as
// `gantry lb --workers n` runs its workers (internal/workers, each with
// its share of the CPUs), and says it is ready once one is.
func superviseGantry(port int, targets string, n int) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ready := make(chan struct{}, n)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		<-ready
		fmt.Println("ready")
	}()
	err = workers.Supervise(ctx, n, func(i int) *exec.Cmd {
		cmd := exec.Command(self, "gantry", "-port", strconv.Itoa(port), "-targets", targets)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(workers.GOMAXPROCS(n)))
		cmd.Stderr = os.Stderr
		cmd.Stdout = &firstWrite{ch: ready}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		return cmd
	}, 5*time.Second, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		return 1
	}
	return 0
}

// firstWrite signals ch at its first write (a worker's "ready") and
// discards what is written.
type firstWrite struct {
	ch   chan<- struct{}
	once sync.Once
}

func (w *firstWrite) Write(b []byte) (int, error) {
	w.once.Do(func() { w.ch <- struct{}{} })
	return len(b), nil
}
