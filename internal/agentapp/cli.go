package agentapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// EnvDefault applies GANTRY_<NAME> environment variables to the flags of
// fs that were not set on the command line.
func EnvDefault(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "GANTRY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// RunCLI is `gantry agent` (and the gantry-agent binary): it parses args,
// starts the agent and runs it until ctx ends, leaving the tasks'
// containers running.
func RunCLI(ctx context.Context, name string, args []string, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRegisters this host as a container instance of --cluster and runs the tasks\nthe control plane assigns to it as Docker containers.\nCredentials: GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY.\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	f := AddFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := EnvDefault(fs); err != nil {
		return err
	}
	f.Finish()
	f.Config.AccessKeyID, f.Config.SecretAccessKey = os.Getenv("GANTRY_ACCESS_KEY_ID"), os.Getenv("GANTRY_SECRET_ACCESS_KEY")
	if f.Config.AccessKeyID == "" || f.Config.SecretAccessKey == "" {
		return errors.New("set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY to credentials the server accepts")
	}
	a, err := StartAgent(ctx, f.Config, AgentOptions{DockerHost: f.DockerHost}, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("agent shutting down; containers keep running")
		return a.Close()
	case <-a.Done():
		return a.Err()
	}
}
