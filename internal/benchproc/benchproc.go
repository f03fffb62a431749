// Package benchproc holds what the benchmark commands share to start child
// processes and to measure them from /proc: CPU time, memory, process
// lookup, the machine's load and model, and free loopback ports. It reads
// Linux's /proc and is meant for cmd/gantry-*bench only.
package benchproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const ClockTick = 10 * time.Millisecond

// Proc is a child process a benchmark started and must stop.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

// Start starts bin with args and extra environment, its output going to
// logPath. The child gets its own process group, so a Ctrl-C in the
// terminal reaches only the benchmark, which then stops it in order; should
// the benchmark die without cleaning up, the child gets SIGTERM.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive returns an error, with the end of the process's log, once it has
// exited.
func (p *Proc) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); last lines of its log:\n%s", p.name, p.err, p.LogTail(20))
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process (by its ID only), waits up to grace,
// then kills it.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// LogTail returns the last n lines of the process's log.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ProcCPU returns the user + system CPU time process pid has used, from
// /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseProcStatCPU(string(b))
}

// ParseProcStatCPU parses utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name, field 2, may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat %q: too few fields", stat)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat %q: bad utime or stime", stat)
	}
	return time.Duration(ut+st) * ClockTick, nil
}

// SelfCPU is the CPU time (user and system) this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return RusageTime(ru)
}

// RusageTime is the user plus system time of r.
func RusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// ChildPIDs returns the IDs of the processes whose parent is pid, in
// order (parent from /proc/PID/stat, field 4).
func ChildPIDs(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if p, err := strconv.Atoi(filepath.Base(d)); err == nil {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// FindPIDs returns the IDs of the processes whose command name (comm) is
// one of names.
func FindPIDs(names ...string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.TrimSpace(string(comm)) != n {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// LoadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg, or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// CPUModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func CPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// Machine describes the machine as "MODEL, N cores".
func Machine() string {
	return fmt.Sprintf("%s, %d cores", CPUModel(), runtime.NumCPU())
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	return strconv.Atoi(port)
}

// MemStatus is the memory of a process from /proc/PID/status, in KiB.
type MemStatus struct {
	VmRSS, VmHWM, RssAnon, RssFile int64
}

// ReadMemStatus reads the memory lines of /proc/PID/status.
func ReadMemStatus(pid int) (MemStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return MemStatus{}, err
	}
	return ParseMemStatus(b)
}

// ParseMemStatus parses the VmRSS, VmHWM, RssAnon and RssFile lines of a
// /proc/PID/status file.
func ParseMemStatus(b []byte) (MemStatus, error) {
	var m MemStatus
	fields := map[string]*int64{"VmRSS": &m.VmRSS, "VmHWM": &m.VmHWM, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		dst, want := fields[name]
		if !ok || !want {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc status line %q: want VALUE kB", sc.Text())
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc status line %q: %w", sc.Text(), err)
		}
		*dst = v
		found++
	}
	if found != len(fields) {
		return m, errors.New("/proc status: VmRSS, VmHWM, RssAnon or RssFile missing")
	}
	return m, nil
}

// PIDOf returns the ID of a process whose command name is name (the first
// found), or 0 when none is visible.
func PIDOf(name string) int {
	if pids := FindPIDs(name); len(pids) > 0 {
		return pids[0]
	}
	return 0
}

// CPUSeconds is the user plus system CPU time process pid has used, in
// seconds; 0 when pid is 0 or cannot be read.
func CPUSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	d, err := ProcCPU(pid)
	if err != nil {
		return 0
	}
	return d.Seconds()
}
