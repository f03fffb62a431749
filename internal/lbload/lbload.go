// Package lbload is a load generator for HTTP load balancers: it sends
// requests at a steady rate from many workers, some keeping connections
// alive and some opening a new connection for every request, and counts
// what went wrong by kind: connection errors (nothing or no whole answer
// came back), 5xx answers the load balancer wrote itself (Server:
// awselb/2.0), and 5xx answers that came from a target. cmd/gantry-lbload
// runs it from the command line; tests of zero-loss rollouts call Run.
package lbload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run.
type Config struct {
	// URL is requested with GET.
	URL string
	// Rate is requests per second over all workers; 0 sends as fast as
	// the workers can.
	Rate int
	// Duration is how long the run lasts (or until ctx ends).
	Duration time.Duration
	// Workers is how many requests may be in flight at once (default 32).
	Workers int
	// NewConnFraction is the share of workers that open a new connection
	// for every request (default 0.5; negative: none).
	NewConnFraction float64
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
}

// Result counts what a run saw.
type Result struct {
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// ConnErrors are requests that got no whole answer: refused or reset
	// connections, timeouts, truncated bodies.
	ConnErrors int64 `json:"connErrors"`
	// LB5xx are 5xx answers the load balancer wrote (Server: awselb/2.0).
	LB5xx int64 `json:"lb5xx"`
	// Target5xx are 5xx answers that came from a target.
	Target5xx int64 `json:"target5xx"`
	// Other are answers outside 2xx, 3xx and 5xx.
	Other int64 `json:"other"`
	// NewConns are requests sent on a new connection.
	NewConns int64 `json:"newConns"`
	// Elapsed is the run's wall time; Rate is Requests per second of it.
	Elapsed time.Duration `json:"elapsedNs"`
	Rate    float64       `json:"rate"`
	P50     time.Duration `json:"p50Ns"`
	P99     time.Duration `json:"p99Ns"`
	// FirstErrors are a few of the errors seen, for the report.
	FirstErrors []string `json:"firstErrors,omitempty"`
}

// Failed is every request that did not get an answer from a target: the
// figure a zero-loss rollout must keep at 0.
func (r Result) Failed() int64 { return r.ConnErrors + r.LB5xx }

// String is a one-line summary.
func (r Result) String() string {
	return fmt.Sprintf("%d requests in %s (%.0f/s, %d on new connections): %d ok, %d connection errors, %d load balancer 5xx, %d target 5xx, %d other; p50 %s p99 %s",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Rate, r.NewConns, r.OK, r.ConnErrors, r.LB5xx, r.Target5xx, r.Other,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
}

// Run sends load as cfg says until its duration passes or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == "" {
		return Result{}, errors.New("lbload: no URL")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.NewConnFraction == 0 {
		cfg.NewConnFraction = 0.5
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Second / time.Duration(cfg.Rate)
	}
	newConnWorkers := int(float64(cfg.Workers)*cfg.NewConnFraction + 0.5)
	var (
		res      Result
		slot     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr []string
	)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		fresh := w < newConnWorkers
		wg.Go(func() {
			tr := &http.Transport{Proxy: nil, DisableKeepAlives: fresh, MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
			var mine []time.Duration
			var r Result
			for {
				if interval > 0 {
					at := begin.Add(time.Duration(slot.Add(1)-1) * interval)
					if d := time.Until(at); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
						}
					}
				}
				if ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				code, lbMade, err := one(client, cfg.URL)
				if ctx.Err() != nil && err != nil {
					break // the run ended under this request
				}
				mine = append(mine, time.Since(t0))
				r.Requests++
				if fresh {
					r.NewConns++
				}
				switch {
				case err != nil:
					r.ConnErrors++
					mu.Lock()
					if len(firstErr) < 5 {
						firstErr = append(firstErr, err.Error())
					}
					mu.Unlock()
				case code >= 500 && lbMade:
					r.LB5xx++
					mu.Lock()
					if len(firstErr) < 5 {
						firstErr = append(firstErr, fmt.Sprintf("status %d from the load balancer", code))
					}
					mu.Unlock()
				case code >= 500:
					r.Target5xx++
				case code >= 200 && code < 400:
					r.OK++
				default:
					r.Other++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.Requests += r.Requests
			res.OK += r.OK
			res.ConnErrors += r.ConnErrors
			res.LB5xx += r.LB5xx
			res.Target5xx += r.Target5xx
			res.Other += r.Other
			res.NewConns += r.NewConns
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(begin)
	if res.Elapsed > 0 {
		res.Rate = float64(res.Requests) / res.Elapsed.Seconds()
	}
	slices.Sort(lat)
	res.P50 = quantile(lat, 0.50)
	res.P99 = quantile(lat, 0.99)
	res.FirstErrors = firstErr
	return res, nil
}

// one sends one request and reads the whole answer.
func one(client *http.Client, url string) (code int, lbMade bool, err error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, false, fmt.Errorf("read the body: %w", err)
	}
	return resp.StatusCode, resp.Header.Get("Server") == "awselb/2.0", nil
}

// quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
