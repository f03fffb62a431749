package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/benchproc"
)

// machine describes the computer a run measured.
type machine struct {
	CPU        string // model name, family and model; "KVM guest" etc.
	Cores      int
	Memory     int64 // bytes
	Kernel     string
	Go         string
	GOMAXPROCS int
	LoadStart  string // load averages (1, 5, 15 minutes) when the run started
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadStart: benchproc.LoadAverage()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var model, family, num string
	hypervisor := false
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "model name" && model == "":
				model = v
			case k == "cpu family" && family == "":
				family = v
			case k == "model" && num == "":
				num = v
			case k == "flags" && !hypervisor:
				hypervisor = strings.Contains(" "+v+" ", " hypervisor ")
			}
		}
		f.Close()
	}
	m.CPU = model
	if family != "" {
		m.CPU += " (family " + family + ", model " + num + ")"
	}
	if hypervisor {
		m.CPU += ", virtual machine"
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				fields := strings.Fields(rest)
				if len(fields) > 0 {
					kb, _ := strconv.ParseInt(fields[0], 10, 64)
					m.Memory = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	return m
}
