package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/store"
)

// diskGuard keeps the server up when its disk or its etcd quota fills:
// below the reserve of free space on the data dir's file system, or while
// etcd's NOSPACE alarm is raised, the store refuses writes that put keys
// (answered ServerException "store full"); reads and deletes go on. etcd
// itself treats a full disk as fatal, so the guard stops writes before
// the disk fills. When space returns it takes writes again by itself: for
// the quota it compacts history, defragments and disarms the alarm once
// the keys in use fit well below the quota.
type diskGuard struct {
	dir     string // the file system watched
	reserve int64
	st      *store.Store
	etcd    *clientv3.Client // nil: an external cluster (its operators' quota)
	defrag  func() error     // the embedded member's defragmentation
	// cushion, when set, keeps disk blocks allocated ahead of the
	// embedded member's database (etcdembed.Server.Cushion), so that a
	// disk filled by something else between two checks cannot make its
	// next commit fail.
	cushion func(int64) error
	quota   int64
	logger  *slog.Logger
	every   time.Duration

	// disk, when set, gets the free-space verdict alone (not etcd's
	// quota): the stores beside etcd on the data dir's disk (the log
	// store) refuse writes while it is full.
	disk *diskFull

	cushionWarned bool
}

// diskFull is the disk guard's free-space verdict for the stores beside
// etcd: why the data dir's disk is full, "" while it has room.
type diskFull struct{ reason atomic.Pointer[string] }

// Full returns why the disk is full, "" while it has room.
func (d *diskFull) Full() string {
	if r := d.reason.Load(); r != nil {
		return *r
	}
	return ""
}

func (d *diskFull) set(reason string) { d.reason.Store(&reason) }

// cushionBytes is how far ahead of the database's size disk blocks are
// kept allocated.
const cushionBytes = 32 << 20

func (g *diskGuard) run(ctx context.Context) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		g.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check looks once and sets or clears the store's full state.
func (g *diskGuard) check(ctx context.Context) {
	reason := ""
	if g.dir != "" && g.reserve > 0 {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(g.dir, &fs); err == nil {
			free := int64(fs.Bavail) * int64(fs.Bsize)
			// Hysteresis: once full, wait for a second reserve's worth.
			need := g.reserve
			if g.st.Full() != "" {
				need += g.reserve / 2
			}
			if free < need {
				reason = fmt.Sprintf("the data directory's disk has %d bytes free, less than the %d kept in reserve", free, need)
			}
		}
	}
	if g.disk != nil {
		g.disk.set(reason)
	}
	if reason == "" && g.etcd != nil {
		reason = g.quotaFull(ctx)
	}
	was := g.st.Full()
	g.st.SetFull(reason)
	if g.cushion != nil && reason == "" {
		// Only while there is room: the cushion is what the store may
		// still need once the disk is full.
		if err := g.cushion(cushionBytes); err != nil && !g.cushionWarned {
			g.cushionWarned = true
			g.logger.Warn("keep disk space ahead of the store", "err", err)
		}
	}
	switch {
	case reason != "" && was == "":
		g.logger.Error("store full: refusing writes, serving reads", "reason", reason)
	case reason == "" && was != "":
		g.logger.Info("store has space again: taking writes")
	}
}

// quotaFull reports why etcd's quota refuses writes, after trying to
// reclaim space when its NOSPACE alarm is raised; "" when it does not.
func (g *diskGuard) quotaFull(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	alarms, err := g.etcd.AlarmList(ctx)
	if err != nil {
		return ""
	}
	var nospace *etcdserverpb.AlarmMember
	for _, a := range alarms.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			nospace = a
		}
	}
	if nospace == nil {
		return ""
	}
	ep := g.etcd.Endpoints()
	st, err := g.etcd.Status(ctx, firstOr(ep, ""))
	if err != nil {
		return "etcd's backend quota is used up"
	}
	// Old revisions hold most of a full backend: compact them, then
	// give the space back to the file system.
	if _, err := g.etcd.Compact(ctx, st.Header.Revision); err != nil {
		g.logger.Warn("compact the full store", "err", err)
	}
	if err := g.defrag(); err != nil {
		g.logger.Warn("defragment the full store", "err", err)
	}
	if st, err = g.etcd.Status(ctx, firstOr(ep, "")); err == nil && st.DbSizeInUse < g.quota*8/10 {
		if _, err := g.etcd.AlarmDisarm(ctx, (*clientv3.AlarmMember)(nospace)); err == nil {
			return ""
		}
	}
	return fmt.Sprintf("etcd's backend quota of %d bytes is used up", g.quota)
}

func firstOr(s []string, d string) string {
	if len(s) > 0 {
		return s[0]
	}
	return d
}
