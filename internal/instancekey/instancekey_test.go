package instancekey

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestIssueRotateExpire(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	k := New(store.NewMemory(clk.Now))
	k.now = clk.Now
	const cl, ci = "arn:aws:ecs:us-east-1:1:cluster/prod", "arn:aws:ecs:us-east-1:1:container-instance/prod/abc"
	first, err := k.Issue(ctx, cl, ci)
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := k.Lookup(ctx, first.AccessKeyID); !ok || rec.SecretAccessKey != first.SecretAccessKey || rec.ContainerInstance != ci {
		t.Fatalf("lookup %+v %v", rec, ok)
	}
	if _, ok, _ := k.Lookup(ctx, "AKGINOPE"); ok {
		t.Fatal("an unknown key was found")
	}
	if _, ok, _ := k.Lookup(ctx, "AKIDNOTANINSTANCE"); ok {
		t.Fatal("a key without the prefix was looked up")
	}
	second, err := k.Issue(ctx, cl, ci)
	if err != nil || second.AccessKeyID == first.AccessKeyID || second.SecretAccessKey == first.SecretAccessKey {
		t.Fatalf("rotate: %+v %v", second, err)
	}
	// The replaced key lasts the grace period (the cache is bypassed as
	// time passes beyond CacheTTL).
	clk.Add(DefaultGracePeriod - time.Minute)
	if _, ok, _ := k.Lookup(ctx, first.AccessKeyID); !ok {
		t.Fatal("the replaced key expired early")
	}
	clk.Add(2 * time.Minute)
	if _, ok, _ := k.Lookup(ctx, first.AccessKeyID); ok {
		t.Fatal("the replaced key outlived its grace period")
	}
	if _, ok, _ := k.Lookup(ctx, second.AccessKeyID); !ok {
		t.Fatal("the current key expired")
	}
	// Concurrent issues for one instance leave exactly one current key.
	var wg sync.WaitGroup
	recs := make([]Record, 8)
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := k.Issue(ctx, cl, ci)
			if err != nil {
				t.Error(err)
			}
			recs[i] = r
		}()
	}
	wg.Wait()
	var cur current
	if _, err := k.st.Get(ctx, indexKey(cl, ci), &cur); err != nil {
		t.Fatal(err)
	}
	clk.Add(DefaultGracePeriod + time.Minute)
	valid := 0
	for _, r := range append(recs, second) {
		if _, ok, _ := k.Lookup(ctx, r.AccessKeyID); ok {
			valid++
			if r.AccessKeyID != cur.AccessKeyID {
				t.Errorf("key %s is valid but not current", r.AccessKeyID)
			}
		}
	}
	if valid != 1 {
		t.Fatalf("%d keys valid after the grace period, want 1", valid)
	}
}

// outage is a memory backend whose reads fail while down is set.
type outage struct {
	*store.Memory
	down atomic.Bool
}

func (o *outage) Range(ctx context.Context, r store.Range) (store.RangeResult, error) {
	if o.down.Load() {
		return store.RangeResult{}, errors.New("etcdserver: request timed out")
	}
	return o.Memory.Range(ctx, r)
}

// TestLookupOutage: a lookup the store cannot answer is an error, not an
// unknown key (the server answers 503 for it, not UnrecognizedClient), and
// it caches nothing: once the store is back the key is found.
func TestLookupOutage(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	b := &outage{Memory: store.NewMemoryBackend(clk.Now)}
	k := New(store.NewOn(b))
	k.now = clk.Now
	rec, err := k.Issue(ctx, "arn:aws:ecs:us-east-1:1:cluster/prod", "arn:aws:ecs:us-east-1:1:container-instance/prod/abc")
	if err != nil {
		t.Fatal(err)
	}
	b.down.Store(true)
	if _, ok, err := k.Lookup(ctx, rec.AccessKeyID); ok || err == nil {
		t.Fatalf("lookup with the store down: ok %v, err %v; want an error", ok, err)
	}
	if _, ok, err := k.Lookup(ctx, "AKGINOPE"); ok || err == nil {
		t.Fatalf("lookup of another key with the store down: ok %v, err %v; want an error", ok, err)
	}
	b.down.Store(false)
	if got, ok, err := k.Lookup(ctx, rec.AccessKeyID); !ok || err != nil || got.SecretAccessKey != rec.SecretAccessKey {
		t.Fatalf("lookup once the store is back: ok %v, err %v", ok, err)
	}
	// A cached answer stands during an outage shorter than CacheTTL.
	b.down.Store(true)
	if _, ok, err := k.Lookup(ctx, rec.AccessKeyID); !ok || err != nil {
		t.Fatalf("cached lookup with the store down: ok %v, err %v", ok, err)
	}
}
