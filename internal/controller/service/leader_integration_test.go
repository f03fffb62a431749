package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestLeaderCrashTakeover: two controllers share an etcd; when the leader's
// connection dies without resigning (a crash), the other leads within
// about the lease TTL, and a write guarded by the old leadership fails.
func TestLeaderCrashTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	newController := func() (*Controller, *clientv3.Client, *ecs.API) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		o := &ecs.API{Store: store.New(cli), Region: "us-east-1", Account: "123456789012", Logger: logger}
		return New(o, cli, Options{LeaseTTL: 2 * time.Second}, logger), cli, o
	}
	c1, cli1, _ := newController()
	c2, cli2, o2 := newController()
	defer cli2.Close()
	done1, done2 := make(chan struct{}), make(chan struct{})
	go func() { defer close(done1); c1.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, "first leads", func() error {
		if !c1.Leading() {
			return errors.New("not leading")
		}
		return nil
	})
	go func() { defer close(done2); c2.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	if c2.Leading() {
		t.Fatal("two leaders")
	}
	c1.mu.Lock()
	staleGuard := c1.guard
	c1.mu.Unlock()
	// Crash: the connection goes, nothing resigns.
	crashed := time.Now()
	cli1.Close()
	testutil.WaitFor(t, 10*time.Second, "second leads", func() error {
		if !c2.Leading() {
			return fmt.Errorf("not leading after %v", time.Since(crashed))
		}
		return nil
	})
	took := time.Since(crashed)
	t.Logf("takeover %v after the crash (lease TTL 2s)", took)
	if took > 5*time.Second {
		t.Fatalf("takeover took %v", took)
	}
	// The deposed leader's guard no longer holds.
	svc := &ecsapi.Service{ServiceName: "s", Status: "ACTIVE"}
	rev, err := o2.Store.Create(ctx, store.Key("services", "c", "s"), svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o2.WriteServiceRecord(ctx, "c", svc, rev, staleGuard...); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write under the old leadership: %v, want a conflict", err)
	}
	c2.mu.Lock()
	guard := c2.guard
	c2.mu.Unlock()
	if _, err := o2.WriteServiceRecord(ctx, "c", svc, rev, guard...); err != nil {
		t.Fatalf("write under the new leadership: %v", err)
	}
	cancel()
	<-done1
	<-done2
}
