package logs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestReconcileRecords: two servers' APIs on one (in-memory) etcd, not
// peers of each other, as when the second was down. Deletions and a
// retention through the first reach the second's store by Reconcile: a
// group or stream created before its tombstone is dropped, one created
// after it kept; the retention is set; a tombstone older than
// TombstoneKeep is swept.
func TestReconcileRecords(t *testing.T) {
	ctx := context.Background()
	etcd := store.NewMemory(nil)
	clock := now
	open := func() *API {
		s, err := logstore.Open(t.TempDir(), logstore.Options{Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		a := New(s, "us-east-1", "123456789012", slog.New(slog.DiscardHandler))
		a.Now = func() time.Time { return clock }
		a.Records = etcd
		return a
	}
	a, b := open(), open()
	for _, api := range []*API{a, b} {
		for _, g := range []string{"old", "new", "ret"} {
			if _, err := api.Store.CreateGroup(g, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := api.Store.CreateStream(g, "s"); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock = clock.Add(time.Second)
	if _, err := a.DeleteLogGroup(ctx, &logsapi.DeleteLogGroupRequest{LogGroupName: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteLogGroup(ctx, &logsapi.DeleteLogGroupRequest{LogGroupName: "new"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteLogStream(ctx, &logsapi.DeleteLogStreamRequest{LogGroupName: "ret", LogStreamName: "s"}); err != nil {
		t.Fatal(err)
	}
	days := int32(14)
	if _, err := a.PutRetentionPolicy(ctx, &logsapi.PutRetentionPolicyRequest{LogGroupName: "ret", RetentionInDays: &days}); err != nil {
		t.Fatal(err)
	}
	// "new" is deleted on b and created again after the tombstone.
	if err := b.Store.DeleteGroup("new"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	if _, err := b.Store.CreateGroup("new", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store.Group("old"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("group deleted meanwhile: %v", err)
	}
	if _, err := b.Store.Group("new"); err != nil {
		t.Errorf("group created again after its deletion: %v", err)
	}
	if _, err := b.Store.Stream("ret", "s"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("stream deleted meanwhile: %v", err)
	}
	if g, err := b.Store.Group("ret"); err != nil || g.RetentionDays != 14 {
		t.Errorf("retention set meanwhile: %+v %v", g, err)
	}
	// A stream of the same name created after its tombstone is kept.
	if _, err := b.Store.CreateStream("ret", "s"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store.Stream("ret", "s"); err != nil {
		t.Errorf("stream created again after its deletion: %v", err)
	}
	n, err := etcd.Count(ctx, tombstonePrefix)
	if err != nil || n != 3 {
		t.Fatalf("%d tombstones, want 3 (%v)", n, err)
	}
	clock = clock.Add(TombstoneKeep + time.Minute)
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := etcd.Count(ctx, tombstonePrefix); err != nil || n != 0 {
		t.Fatalf("%d tombstones after TombstoneKeep, want 0 (%v)", n, err)
	}
	// DeleteLogGroup drops the group's retention record.
	if _, err := a.DeleteLogGroup(ctx, &logsapi.DeleteLogGroupRequest{LogGroupName: "ret"}); err != nil {
		t.Fatal(err)
	}
	if n, err := etcd.Count(ctx, retentionPrefix); err != nil || n != 0 {
		t.Fatalf("%d retention records after the group's deletion, want 0 (%v)", n, err)
	}
}
