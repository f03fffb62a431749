package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// Deleting task definitions as ECS does: DeleteTaskDefinitions moves a
// deregistered revision to DELETE_IN_PROGRESS; it is deleted at once when
// nothing uses it, else kept (the agent still reads it for the tasks that
// run it, and services may still scale on it) until the last task that
// has not stopped and the last service that is not INACTIVE stop using it.
// ReapTaskDefinitions deletes those whose use has ended; the server runs
// it periodically (RunTaskDefinitionReaper).

// DefaultReapInterval is how often RunTaskDefinitionReaper looks for
// revisions in DELETE_IN_PROGRESS that nothing uses any more.
const DefaultReapInterval = 30 * time.Second

// taskDefsInUse returns which of arns are used by a task that has not
// stopped or by a service that is not INACTIVE (its task definition or a
// deployment's). It reads every service and task record: DeleteTaskDefinitions
// and the reaper are rare, and a record is decoded only when it names one
// of arns.
func (s *API) taskDefsInUse(ctx context.Context, arns []string) (map[string]bool, error) {
	used := map[string]bool{}
	if len(arns) == 0 {
		return used, nil
	}
	quoted := make([][]byte, len(arns))
	for i, a := range arns {
		quoted[i] = []byte(`"` + a + `"`)
	}
	names := func(v []byte) bool {
		for _, q := range quoted {
			if bytes.Contains(v, q) {
				return true
			}
		}
		return false
	}
	p := prefixOf("services")
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	for _, it := range resp.Items {
		if !names(it.Value) {
			continue
		}
		var svc ecsapi.Service
		if json.Unmarshal(it.Value, &svc) != nil || svc.Status == "INACTIVE" {
			continue
		}
		used[svc.TaskDefinition] = true
		for _, d := range svc.Deployments {
			used[d.TaskDefinition] = true
		}
		for _, ts := range svc.TaskSets {
			used[ts.TaskDefinition] = true
		}
	}
	p = prefixOf("tasks")
	resp, err = s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("read tasks: %w", err)
	}
	for _, it := range resp.Items {
		if !names(it.Value) {
			continue
		}
		var rec taskRecord
		if json.Unmarshal(it.Value, &rec) != nil || rec.Task.LastStatus == taskStopped {
			continue
		}
		used[rec.Task.TaskDefinitionArn] = true
	}
	out := map[string]bool{}
	for _, a := range arns {
		if used[a] {
			out[a] = true
		}
	}
	return out, nil
}

// ReapTaskDefinitions deletes the revisions in DELETE_IN_PROGRESS that
// nothing uses any more, each guarded by the revision of its record (a
// concurrent change keeps it for the next pass). It returns how many it
// deleted.
func (s *API) ReapTaskDefinitions(ctx context.Context) (int, error) {
	st, err := s.taskDefs(ctx)
	if err != nil {
		return 0, err
	}
	type cand struct {
		key string
		mod int64
		arn string
	}
	var cands []cand
	st.Read(func(v *state.TDView) {
		for family, f := range v.Families {
			for _, e := range f.Revs {
				if e.Rec.TaskDefinition.Status == tdDeleteInProgress {
					cands = append(cands, cand{key: taskDefKey(family, e.Rev), mod: e.ModRev, arn: e.Rec.TaskDefinition.TaskDefinitionArn})
				}
			}
		}
	})
	if len(cands) == 0 {
		return 0, nil
	}
	arns := make([]string, len(cands))
	for i, c := range cands {
		arns[i] = c.arn
	}
	used, err := s.taskDefsInUse(ctx, arns)
	if err != nil {
		return 0, err
	}
	n := 0
	var last int64
	for _, c := range cands {
		if used[c.arn] {
			continue
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(c.key, c.mod)}, store.OpDelete(c.key))
		if err != nil {
			return n, fmt.Errorf("delete %s: %w", c.arn, err)
		}
		if resp.Succeeded {
			n++
			last = resp.Revision
		}
	}
	if last > 0 {
		st.Sync(ctx, last)
	}
	return n, nil
}

// RunTaskDefinitionReaper runs ReapTaskDefinitions every interval
// (DefaultReapInterval when not positive) until ctx ends. Every server may
// run it: each deletion is guarded.
func (s *API) RunTaskDefinitionReaper(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReapInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n, err := s.ReapTaskDefinitions(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("reap task definitions", "error", err)
		} else if n > 0 {
			s.Logger.Info("task definitions deleted", "count", n)
		}
	}
}
