// Command gantry-agent is `gantry agent` on its own: the same flags and
// behaviour in a binary that links only the agent's packages (no etcd, no
// API server), so that it stays small on every host. `gantry agent` remains
// for convenience.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gantry-dev/gantry/internal/agentapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := agentapp.RunCLI(ctx, "gantry-agent", os.Args[1:], os.LookupEnv, os.Stderr, logger)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry-agent:", err)
		os.Exit(1)
	}
}
