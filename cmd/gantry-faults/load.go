package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// regInput is an operation on the register of one tag key of the load's
// cluster: TagResource writes it, ListTagsForResource reads it.
type regInput struct {
	Key   string
	Write bool
	Value string
}

// regModel is a register per key ("" until written).
var regModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).Key
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	Equal: func(a, b interface{}) bool { return a == b },
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		if in.Write {
			return fmt.Sprintf("put %s=%s", in.Key, in.Value)
		}
		return fmt.Sprintf("get %s -> %v", in.Key, output)
	},
}

// call is one API call of the load: when it ended, how long it took,
// whether it failed after the SDK's retries and every server.
type call struct {
	end    time.Time
	took   time.Duration
	failed bool
}

// load runs API calls against the servers, recording the register
// operations as a history and every call's latency.
type load struct {
	env        *env
	clusterArn string
	t0         time.Time

	mu  sync.Mutex
	ops []porcupine.Operation
	// inflight holds each worker's write under way: a read may already
	// see its value, so a check made meanwhile counts it as a write of
	// unknown outcome (return time infinite).
	inflight map[int]porcupine.Operation
	calls    []call
}

// do runs f against the servers, from the i-th on, as a client that does
// not know which of them are down: the SDK retries within one server; a
// call that still fails moves on to the next. The load's workers call
// through it.
func (l *load) do(ctx context.Context, i int, f func(ctx context.Context, cl *ecs.Client) error) error {
	return l.call(ctx, i, false, f)
}

// doLive is do through the servers that the harness has not taken down:
// its own probes and checks, whose timing must not include a wait on a
// killed server's address (the SDK's retries on a dead address take about
// 20 s, which the first runs took for the controller's failover).
func (l *load) doLive(ctx context.Context, i int, f func(ctx context.Context, cl *ecs.Client) error) error {
	return l.call(ctx, i, true, f)
}

func (l *load) call(ctx context.Context, i int, live bool, f func(ctx context.Context, cl *ecs.Client) error) error {
	err := errors.New("no server is up")
	n := len(l.env.servers)
	for k := 0; k < n; k++ {
		s := l.env.servers[(i+k)%n]
		if live && s.down {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = f(cctx, ecsClient(s.url))
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (l *load) now() int64 { return int64(time.Since(l.t0)) }

// run runs workers until ctx ends.
func (l *load) run(ctx context.Context, workers int, keys []string) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w) + time.Now().UnixNano()))
			for seq := 0; ctx.Err() == nil; seq++ {
				in := regInput{Key: keys[rng.Intn(len(keys))], Write: rng.Intn(2) == 0}
				if in.Write {
					in.Value = fmt.Sprintf("w%d-%d", w, seq)
				}
				var out string
				start := time.Now()
				call0 := l.now()
				if in.Write {
					l.mu.Lock()
					if l.inflight == nil {
						l.inflight = map[int]porcupine.Operation{}
					}
					l.inflight[w] = porcupine.Operation{ClientId: w, Input: in, Call: call0, Return: math.MaxInt64}
					l.mu.Unlock()
				}
				err := l.do(ctx, w, func(ctx context.Context, cl *ecs.Client) error {
					if in.Write {
						_, err := cl.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(l.clusterArn),
							Tags: []types.Tag{{Key: aws.String(in.Key), Value: aws.String(in.Value)}}})
						return err
					}
					r, err := cl.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(l.clusterArn)})
					if err != nil {
						return err
					}
					out = ""
					for _, t := range r.Tags {
						if aws.ToString(t.Key) == in.Key {
							out = aws.ToString(t.Value)
						}
					}
					return nil
				})
				ret := l.now()
				if ctx.Err() != nil && err != nil {
					// Cut short by the end of the run: its outcome is
					// unknown, as for a failed write.
					if in.Write {
						l.record(w, in, call0, math.MaxInt64, "")
					}
					return
				}
				l.mu.Lock()
				l.calls = append(l.calls, call{end: time.Now(), took: time.Since(start), failed: err != nil})
				l.mu.Unlock()
				switch {
				case err == nil:
					l.record(w, in, call0, ret, out)
				case in.Write:
					// A failed write may have been applied: it may take
					// effect at any time after its call.
					l.record(w, in, call0, math.MaxInt64, "")
				}
				time.Sleep(time.Duration(20+rng.Intn(30)) * time.Millisecond)
			}
		}(w)
	}
	wg.Wait()
}

func (l *load) record(w int, in regInput, call, ret int64, out string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, porcupine.Operation{ClientId: w, Input: in, Call: call, Output: out, Return: ret})
	delete(l.inflight, w)
}

// check checks the history so far for linearizability.
func (l *load) check(timeout time.Duration) (porcupine.CheckResult, int) {
	l.mu.Lock()
	ops := append([]porcupine.Operation(nil), l.ops...)
	for _, op := range l.inflight {
		ops = append(ops, op)
	}
	l.mu.Unlock()
	return porcupine.CheckOperationsTimeout(regModel, ops, timeout), len(ops)
}

// window returns the calls that ended in [from, to): their count, the
// failed ones, and the 99th percentile latency.
func (l *load) window(from, to time.Time) (n, failed int, p99 time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lat []time.Duration
	for _, c := range l.calls {
		if c.end.Before(from) || !c.end.Before(to) {
			continue
		}
		n++
		if c.failed {
			failed++
		}
		lat = append(lat, c.took)
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p99 = lat[(len(lat)*99)/100]
	}
	return n, failed, p99
}
