package main

import (
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
)

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
		s.Client = benchproc.RusageTime(self) + benchproc.RusageTime(children)
	}
	s.Server, _ = benchproc.ProcCPU(b.server.Pid())
	s.Agent, _ = benchproc.ProcCPU(b.agent.Pid())
	for _, pid := range b.dockerPIDs {
		d, _ := benchproc.ProcCPU(pid)
		s.Docker += d
	}
	return s
}
