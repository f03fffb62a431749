package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/gantry-dev/gantry/internal/workers"
)

// envLBWorker marks a process started by `gantry lb --workers N` as its
// worker number i: it serves instead of starting workers of its own.
const envLBWorker = "GANTRY_LB_WORKER"

// lbWorkerCommand is the command of worker i of n (workers.Supervise runs
// them; as nginx's worker processes, each is a whole data plane with a Go
// scheduler of its own, and the kernel spreads a listener's new
// connections among them with SO_REUSEPORT, which serves more requests
// on the same CPUs than one process with all of them, whose goroutines
// wake one another across threads): this program with
// args, marked by envLBWorker, with its share of the CPUs as GOMAXPROCS
// unless the environment sets GOMAXPROCS, and, when name is set, a name
// of its own among the data planes (name-wI).
func lbWorkerCommand(exe string, args []string, name string, i, n int) *exec.Cmd {
	wargs := append([]string{"lb"}, args...)
	if name != "" {
		wargs = append(wargs, "--name", fmt.Sprintf("%s-w%d", name, i))
	}
	cmd := exec.Command(exe, wargs...)
	cmd.Env = append(os.Environ(), envLBWorker+"="+strconv.Itoa(i))
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(workers.GOMAXPROCS(n)))
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// A worker ends with its supervisor, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}
