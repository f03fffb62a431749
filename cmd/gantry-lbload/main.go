// Command gantry-lbload sends steady HTTP load to a load balancer's
// listener, half the workers on keep-alive connections and half opening a
// new connection for every request, and reports connection errors, the
// load balancer's own 5xx and the targets' 5xx separately:
//
//	gantry-lbload -url http://127.0.0.1:8080/ -rate 500 -duration 30s
//
// It exits 1 when a request failed (a connection error or a 5xx the load
// balancer wrote), so a script can assert a zero-loss rollout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/gantry-dev/gantry/internal/lbload"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gantry-lbload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg lbload.Config
	fs.StringVar(&cfg.URL, "url", "", "URL to GET (required)")
	fs.IntVar(&cfg.Rate, "rate", 500, "requests per second over all workers (0: as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to run")
	fs.IntVar(&cfg.Workers, "workers", 32, "requests in flight at most")
	fs.Float64Var(&cfg.NewConnFraction, "new-conns", 0.5, "share of workers that open a new connection per request (negative: none)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of each request")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.URL == "" {
		fmt.Fprintln(stderr, "gantry-lbload: -url is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := lbload.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "gantry-lbload:", err)
		return 2
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(res)
	} else {
		fmt.Fprintln(stdout, res.String())
		for _, e := range res.FirstErrors {
			fmt.Fprintln(stdout, "  error:", e)
		}
	}
	if res.Failed() > 0 {
		return 1
	}
	return 0
}
