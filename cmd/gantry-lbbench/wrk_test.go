package main

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := `Running 3s test @ http://127.0.0.1:41231/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.50ms    3.10ms  40.00ms   90.00%
    Req/Sec    14.00k     1.20k   16.00k    70.00%
  Latency Distribution
     50%    1.92ms
     75%    2.50ms
     90%    4.00ms
     99%   24.84ms
  83100 requests in 3.00s, 9.91MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  27708.12
Transfer/sec:      3.30MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rate != 27708.12 || r.requests != 83100 || r.failed != 10 ||
		r.p50 != 1920*time.Microsecond || r.p99 != 24840*time.Microsecond {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("no error for output without a rate")
	}
}

func TestCombineTakesTheMedianRound(t *testing.T) {
	r := combine([]result{
		{rate: 100, p99: 3 * time.Millisecond, requests: 300, cpuPerReq: 10 * time.Microsecond},
		{rate: 300, p99: 1 * time.Millisecond, requests: 900, cpuPerReq: 20 * time.Microsecond, failed: 1},
		{rate: 200, p99: 2 * time.Millisecond, requests: 600, cpuPerReq: 10 * time.Microsecond},
	})
	if r.rate != 200 || r.p99 != 2*time.Millisecond || r.requests != 1800 || r.failed != 1 || r.cpuPerReq != 15*time.Microsecond {
		t.Errorf("combined %+v", r)
	}
}
