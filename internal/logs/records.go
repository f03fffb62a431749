package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/store"
)

// Records of deletions and retention in etcd. A change of a group or
// stream reaches only the live servers (applyEverywhere); a server that is
// down misses it. So DeleteLogGroup and DeleteLogStream also write a
// tombstone (the name and the deletion time), and Put/DeleteRetentionPolicy
// the group's retention, each a few bytes in etcd (never log data). Every
// server reconciles its own store against them when it starts and every
// RecordsInterval: it drops a group or stream created before its
// tombstone (one created again after the deletion is kept) and sets the
// recorded retention. Tombstones are swept after TombstoneKeep.

// The etcd prefixes of the records.
const (
	tombstonePrefix = "logs/tombstones/"
	retentionPrefix = "logs/retention/"
)

// TombstoneKeep is how long a deletion is remembered: a server down for
// longer than this brings back, when it returns, the groups and streams
// deleted meanwhile.
const TombstoneKeep = 30 * 24 * time.Hour

// RecordsInterval is how often a server reconciles its store with the
// records (besides at start).
const RecordsInterval = time.Minute

// tombstone records the deletion of a group (Stream empty) or stream.
type tombstone struct {
	Group  string `json:"group"`
	Stream string `json:"stream,omitempty"`
	// Time is the deletion time, in ms since the epoch.
	Time int64 `json:"time"`
}

// retentionRecord is a group's retention as last set (0: forever).
type retentionRecord struct {
	Days int `json:"days"`
}

// tombstoneKey names a tombstone: group names cannot hold ':', so the
// stream's follows the first one.
func tombstoneKey(group, stream string) string {
	if stream == "" {
		return tombstonePrefix + group
	}
	return tombstonePrefix + group + ":" + stream
}

// record writes the etcd record of a change applied through this server
// (when Records is set). deleted is the time taken before the change.
func (a *API) record(ctx context.Context, in peerApplyRequest, deleted time.Time) error {
	if a.Records == nil {
		return nil
	}
	var ops []store.Op
	switch in.Op {
	case applyDeleteGroup, applyDeleteStream:
		b, err := json.Marshal(tombstone{Group: in.Group, Stream: in.Stream, Time: deleted.UnixMilli()})
		if err != nil {
			return err
		}
		ops = append(ops, store.OpPut(tombstoneKey(in.Group, in.Stream), b))
		if in.Op == applyDeleteGroup {
			ops = append(ops, store.OpDelete(retentionPrefix+in.Group))
		}
	case applyRetention:
		b, err := json.Marshal(retentionRecord{Days: in.Days})
		if err != nil {
			return err
		}
		ops = append(ops, store.OpPut(retentionPrefix+in.Group, b))
	default:
		return nil
	}
	if _, err := a.Records.Txn(ctx, nil, ops...); err != nil {
		return fmt.Errorf("record %s of %q: %w", in.Op, in.Group, err)
	}
	return nil
}

// Reconcile applies the records to this server's store: it deletes the
// groups and streams created before their tombstone and sets the recorded
// retentions; it sweeps tombstones older than TombstoneKeep. Without
// Records it does nothing.
func (a *API) Reconcile(ctx context.Context) error {
	if a.Records == nil {
		return nil
	}
	now := a.now()
	items, _, err := a.Records.ListRange(ctx, tombstonePrefix, store.PrefixEnd(tombstonePrefix), 0)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range items {
		var ts tombstone
		if err := json.Unmarshal(it.Value, &ts); err != nil {
			a.Logger.Warn("a log tombstone is unreadable", "key", it.Key, "err", err)
			continue
		}
		if now.Sub(time.UnixMilli(ts.Time)) > TombstoneKeep {
			// Guarded: a newer deletion of the same name stays.
			if _, err := a.Records.Txn(ctx, []store.Cmp{store.ModRevisionIs(it.Key, it.ModRev)}, store.OpDelete(it.Key)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		errs = append(errs, a.applyTombstone(ts))
	}
	items, _, err = a.Records.ListRange(ctx, retentionPrefix, store.PrefixEnd(retentionPrefix), 0)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, it := range items {
		var r retentionRecord
		if err := json.Unmarshal(it.Value, &r); err != nil {
			a.Logger.Warn("a log retention record is unreadable", "key", it.Key, "err", err)
			continue
		}
		name := strings.TrimPrefix(it.Key, retentionPrefix)
		g, err := a.Store.Group(name)
		if errors.Is(err, logstore.ErrNotFound) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		if g.RetentionDays != r.Days {
			err := a.Store.SetRetention(name, r.Days)
			if err == nil {
				a.Logger.Info("log group retention set from its record", "group", name, "days", r.Days)
			} else if !errors.Is(err, logstore.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// applyTombstone deletes this store's group or stream that a tombstone
// names when it was created before the deletion.
func (a *API) applyTombstone(ts tombstone) error {
	var err error
	if ts.Stream == "" {
		var g logstore.Group
		if g, err = a.Store.Group(ts.Group); err == nil && g.CreationTime < ts.Time {
			if err = a.Store.DeleteGroup(ts.Group); err == nil {
				a.Logger.Info("log group deleted while this server was away: dropped", "group", ts.Group)
			}
		}
	} else {
		var s logstore.Stream
		if s, err = a.Store.Stream(ts.Group, ts.Stream); err == nil && s.CreationTime < ts.Time {
			if err = a.Store.DeleteStream(ts.Group, ts.Stream); err == nil {
				a.Logger.Info("log stream deleted while this server was away: dropped", "group", ts.Group, "stream", ts.Stream)
			}
		}
	}
	if errors.Is(err, logstore.ErrNotFound) {
		return nil
	}
	return err
}

// RunRecords reconciles the store with the records every RecordsInterval
// until ctx ends (a server cut off from the others past its lease, still
// running, catches up then).
func (a *API) RunRecords(ctx context.Context) {
	t := time.NewTicker(RecordsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Reconcile(ctx); err != nil && ctx.Err() == nil {
				a.Logger.Warn("reconcile the log store with its records", "err", err)
			}
		}
	}
}
