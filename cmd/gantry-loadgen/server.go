package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// child is a `gantry server` this run started: on a free loopback port,
// with a temporary data directory and generated credentials.
type child struct {
	URL             string
	PID             int
	AccessKeyID     string
	SecretAccessKey string

	cmd    *exec.Cmd
	dir    string
	log    *os.File
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startChild builds gantry (unless bin is given) and starts `gantry server`,
// returning once it answers the API. The caller must Stop it.
func startChild(ctx context.Context, bin string, region string, progress func(string, ...any)) (*child, error) {
	dir, err := os.MkdirTemp("", "gantry-loadgen-")
	if err != nil {
		return nil, err
	}
	c := &child{dir: dir, exited: make(chan struct{})}
	if bin == "" {
		bin = filepath.Join(dir, "gantry")
		progress("building gantry into %s", bin)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gantry-dev/gantry/cmd/gantry")
		if out, err := build.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build ./cmd/gantry (run from within the gantry module, or give -gantry): %v\n%s", err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.AccessKeyID = "AKLOADGEN" + strings.ToUpper(randomHex(6))
	c.SecretAccessKey = randomHex(20)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.URL = "http://" + addr
	if c.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.cmd = exec.Command(bin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--region", region)
	c.cmd.Env = append(os.Environ(), "GANTRY_ACCESS_KEY_ID="+c.AccessKeyID, "GANTRY_SECRET_ACCESS_KEY="+c.SecretAccessKey)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	// Its own process group, so a Ctrl-C of the terminal reaches only the
	// load generator, which then stops the server in order.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		c.log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start gantry server: %w", err)
	}
	c.PID = c.cmd.Process.Pid
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	progress("started gantry server pid %d on %s (log %s)", c.PID, c.URL, c.log.Name())
	if err := c.waitReady(ctx, region); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// waitReady polls ListClusters until the server answers, it exits, or 60
// seconds pass.
func (c *child) waitReady(ctx context.Context, region string) error {
	cli := ecsclient.New(c.URL, region, c.AccessKeyID, c.SecretAccessKey)
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cli.Call(cctx, "ListClusters", &ecsapi.ListClustersRequest{}, &ecsapi.ListClustersResponse{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("gantry server exited before it answered (%v):\n%s", c.err, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gantry server did not answer within 60s (last error: %v):\n%s", err, c.logTail())
		}
	}
}

// logTail is the end of the server's log.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.log.Name())
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop terminates the server (SIGTERM, then SIGKILL after 15 seconds) and
// removes its directory. It reports whether the server had exited by
// itself before.
func (c *child) Stop() error {
	var early error
	select {
	case <-c.exited:
		early = fmt.Errorf("gantry server exited during the run (%v):\n%s", c.err, c.logTail())
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	c.log.Close()
	return errors.Join(early, os.RemoveAll(c.dir))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// memory is a process's resident memory, from /proc/PID/status.
type memory struct {
	RSS, HWM int64 // bytes
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return m, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, name, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
	}
	return m, sc.Err()
}

// readRunqueueWait is how long the threads of process pid have waited,
// runnable, for a CPU (the second field of /proc/PID/task/TID/schedstat):
// on a shared machine, the CPU the process wanted and did not get.
func readRunqueueWait(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread has exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, fmt.Errorf("%s/%s/schedstat: %q", dir, t.Name(), b)
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, t.Name(), err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// perfRecorder runs `perf record -g` on a process until stopped.
type perfRecorder struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func startPerf(pid int, file string) (*perfRecorder, error) {
	p := &perfRecorder{done: make(chan error, 1)}
	p.cmd = exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", file)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}

// Stop ends the recording and waits for perf to write its file.
func (p *perfRecorder) Stop() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("perf record did not stop within 30s (killed: %v)", <-p.done)
	}
	// perf ends on the interrupt: by the signal itself or with status 130.
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) && (ee.ExitCode() == 130 || interrupted(ee)) {
		return nil
	}
	return fmt.Errorf("perf record: %v: %s", err, strings.TrimSpace(p.out.String()))
}

// interrupted reports whether the process ended by SIGINT.
func interrupted(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
