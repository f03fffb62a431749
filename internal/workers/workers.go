// Package workers runs a program as several worker processes, as nginx
// runs its workers: each is started with its share of the CPUs, started
// again when it exits, and stopped with SIGTERM when the supervisor stops.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// GOMAXPROCS is each of n workers' share of the host's CPUs.
func GOMAXPROCS(n int) int { return max(1, runtime.NumCPU()/n) }

// RestartDelay is how long a worker that exited waits to start again.
var RestartDelay = time.Second

// Supervise runs n workers (newCmd(i) each), starts again one that exits
// while ctx lives, and when ctx ends sends each SIGTERM and waits for
// them (SIGKILL after grace). It returns an error only when a worker
// cannot be started.
func Supervise(ctx context.Context, n int, newCmd func(i int) *exec.Cmd, grace time.Duration, logger *slog.Logger) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cmd := newCmd(i)
				if err := cmd.Start(); err != nil {
					errs <- fmt.Errorf("start worker %d: %w", i, err)
					return
				}
				logger.Info("worker started", "worker", i, "pid", cmd.Process.Pid)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if ctx.Err() != nil {
						return
					}
					logger.Error("worker exited; starting it again", "worker", i, "err", err, "after", RestartDelay)
					select {
					case <-ctx.Done():
						return
					case <-time.After(RestartDelay):
					}
				case <-ctx.Done():
					_ = cmd.Process.Signal(syscall.SIGTERM)
					var err error
					select {
					case err = <-done:
					case <-time.After(grace):
						logger.Warn("worker did not stop; killing it", "worker", i)
						_ = cmd.Process.Kill()
						err = <-done
					}
					logger.Info("worker stopped", "worker", i, "exit", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}
