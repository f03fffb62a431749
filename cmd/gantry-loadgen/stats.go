package main

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// tally counts events by name (error codes, failure reasons); safe for
// concurrent use.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(name string, n int) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[name] += n
	t.mu.Unlock()
}

func (t *tally) snapshot() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.m)
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.m {
		n += v
	}
	return n
}

// latencies summarises call durations.
type latencies struct {
	N             int
	P50, P99, Max time.Duration
}

// summarize sorts d and returns its nearest-rank percentiles.
func summarize(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	slices.Sort(d)
	return latencies{N: len(d), P50: percentile(d, 50), P99: percentile(d, 99), Max: d[len(d)-1]}
}

// percentile is the nearest-rank p-th percentile of sorted d.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// errCode names an error for counting: the API's error code, "timeout",
// "canceled" or "transport".
func errCode(err error) string {
	var ae *ecsclient.Error
	switch {
	case errors.As(err, &ae):
		if ae.Code == "" {
			return "HTTP " + strconv.Itoa(ae.Status)
		}
		return ae.Code
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "transport"
}

// retryable reports whether a refused call may be sent again: throttling,
// a conflict, a server error or a lost connection. The last two are
// ambiguous for RunTask (the tasks may have been written); the final check
// would show any duplicate.
func retryable(err error) bool {
	var ae *ecsclient.Error
	if errors.As(err, &ae) {
		return ae.Code == "ThrottlingException" || ae.Code == "ConflictException" || ae.Status >= 500
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// caller sends calls with retries, counting what it retried.
type caller struct {
	cli     *ecsclient.Client
	retries int
	retried *tally // by error code
}

// call sends op until it succeeds, fails for good or runs out of retries.
// Each attempt's duration and error go to attempt (which may be nil).
func (c *caller) call(ctx context.Context, op string, in, out any, attempt func(time.Duration, error)) error {
	for n := 0; ; n++ {
		start := time.Now()
		err := c.cli.Call(ctx, op, in, out)
		if attempt != nil {
			attempt(time.Since(start), err)
		}
		if err == nil || n >= c.retries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		c.retried.add(op+" "+errCode(err), 1)
		backoff := min(time.Second, 10*time.Millisecond<<n)
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
