package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Docker runs on).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time (user + system) used so far by each party of
// a start.
type cpuSample struct {
	// Client is this process plus its waited-for children (the docker
	// CLI runs); Server and Agent are the gantry processes; Docker is
	// dockerd plus containerd.
	Client, Server, Agent, Docker time.Duration
}

// sub returns s - o.
func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{Client: s.Client - o.Client, Server: s.Server - o.Server, Agent: s.Agent - o.Agent, Docker: s.Docker - o.Docker}
}

// cpuNow samples the CPU time of every party. Failures to read a process
// count as zero: the figures are diagnostics, not measurements.
func (b *bench) cpuNow() cpuSample {
	var s cpuSample
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) == nil && syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) == nil {
		s.Client = rusageTime(self) + rusageTime(children)
	}
	s.Server, _ = procCPU(b.server.pid())
	s.Agent, _ = procCPU(b.agent.pid())
	for _, pid := range b.dockerPIDs {
		d, _ := procCPU(pid)
		s.Docker += d
	}
	return s
}

func rusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// procCPU returns the user + system CPU time of process pid, from
// /proc/PID/stat, in clock ticks of 10 ms.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU parses utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name, field 2, may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
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
	return time.Duration(ut+st) * clockTick, nil
}

// findPIDs returns the IDs of the processes whose command name (comm) is
// one of names.
func findPIDs(names ...string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.TrimSpace(string(comm)) == n {
				pid, _ := strconv.Atoi(filepath.Base(d))
				out = append(out, pid)
			}
		}
	}
	return out
}
