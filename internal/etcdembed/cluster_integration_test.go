package etcdembed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Three members form one cluster; a fourth that names two of them under
// another cluster token stops with an error naming the mismatch instead
// of waiting for a quorum it never gets.
func TestClusterRefusesAnotherCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (etcd): skipped under -short")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var urls []string
	for i := 0; i < 3; i++ {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	members := make([]*Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			members[i], errs[i] = StartWithOptions(ctx, t.TempDir(), Options{Cluster: &Cluster{Name: fmt.Sprintf("m%d", i),
				InitialCluster: strings.Join(urls, ","), State: "new", Token: "one"}}, logger)
		}(i)
	}
	wg.Wait()
	for i, m := range members {
		if errs[i] != nil {
			t.Fatalf("member %d: %v", i, errs[i])
		}
		defer m.Close()
	}
	if _, err := members[0].Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := members[2].Client().Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read through another member: %v %v", r, err)
	}
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	_, err = StartWithOptions(wctx, t.TempDir(), Options{Cluster: &Cluster{Name: "x",
		InitialCluster: fmt.Sprintf("x=http://127.0.0.1:%d,%s,%s", p, urls[1], urls[2]), State: "new", Token: "another"}}, logger)
	if err == nil || !strings.Contains(err.Error(), "belongs to cluster") {
		t.Fatalf("a member of another cluster: %v after %v, want a refusal naming the mismatch", err, time.Since(start))
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
