package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
)

// startProc starts this program's binary with args and extra environment
// as a child process (see benchproc.Start), its output going to logPath.
func startProc(name string, args, env []string, logPath string) (*benchproc.Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return benchproc.Start(name, self, args, env, logPath)
}

// procCPU is the CPU time process pid has used; 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	d, _ := benchproc.ProcCPU(pid)
	return d
}

// profile fetches a CPU profile of secs seconds from the process's
// profiling endpoint at addr into path.
func profile(ctx context.Context, addr string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
