package testutil

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/etcdembed"
)

// StartEtcd starts an embedded etcd member with its data in a temporary
// directory and its listeners on random loopback ports, stopped when the
// test ends. It skips the test under -short: etcd makes it an integration
// test.
func StartEtcd(t testing.TB) *etcdembed.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test (etcd): skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcdembed.Start(ctx, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}
