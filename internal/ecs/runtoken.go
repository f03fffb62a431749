package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// runTokenRecord remembers, for about StoppedTaskRetention, what a RunTask
// with a clientToken did, so that
// the same request sent again (a retry after a lost answer) returns the
// same tasks instead of starting more.
type runTokenRecord struct {
	// Request is a hash of the request: the token may not be reused for
	// another one.
	Request  string           `json:"request"`
	Done     bool             `json:"done"`
	TaskArns []string         `json:"taskArns,omitempty"`
	Failures []ecsapi.Failure `json:"failures,omitempty"`
}

// runToken is a claimed clientToken.
type runToken struct {
	s   *API
	key string
	rec runTokenRecord
}

func runTokenKey(cluster, token string) string { return store.Key("runtokens", cluster, token) }

// claimRunToken claims in.ClientToken for this request. If another request
// with the token ran (or is running), it returns that one's answer once
// known; a token used for a different request is refused.
func (s *API) claimRunToken(ctx context.Context, cluster string, in *ecsapi.RunTaskRequest) (*runToken, *ecsapi.RunTaskResponse, error) {
	if len(in.ClientToken) > 64 {
		return nil, nil, apierror.InvalidParameter("clientToken may contain up to 64 characters.")
	}
	req := *in
	req.ClientToken = ""
	b, _ := json.Marshal(&req)
	sum := sha256.Sum256(b)
	t := &runToken{s: s, key: runTokenKey(cluster, in.ClientToken), rec: runTokenRecord{Request: hex.EncodeToString(sum[:])}}
	// Tokens share the hour-long lease of stopped tasks.
	lease, err := s.stoppedTaskLease(ctx)
	if err != nil {
		return nil, nil, err
	}
	val, _ := json.Marshal(&t.rec)
	resp, err := s.Store.Txn(ctx, []store.Cmp{store.Absent(t.key)}, store.OpPutLeased(t.key, val, lease))
	if err != nil {
		return nil, nil, err
	}
	if resp.Succeeded {
		return t, nil, nil
	}
	// The token is taken: wait for its request's answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var prev runTokenRecord
		if _, err := s.Store.Get(ctx, t.key, &prev); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return s.claimRunToken(ctx, cluster, in) // released by a failed request
			}
			return nil, nil, err
		}
		if prev.Request != t.rec.Request {
			return nil, nil, apierror.InvalidParameter("The clientToken was already used for a different RunTask request.")
		}
		if prev.Done {
			out := &ecsapi.RunTaskResponse{Tasks: []ecsapi.Task{}, Failures: prev.Failures}
			if out.Failures == nil {
				out.Failures = []ecsapi.Failure{}
			}
			if len(prev.TaskArns) > 0 {
				if out.Tasks, err = s.replayedTasks(ctx, cluster, prev.TaskArns); err != nil {
					return nil, nil, err
				}
			}
			return nil, out, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, apierror.Client("A RunTask request with this clientToken is still in progress.")
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// complete records the answer of the token's request.
func (t *runToken) complete(ctx context.Context, recs []*taskRecord, failures []ecsapi.Failure) {
	t.rec.Done, t.rec.Failures = true, failures
	for _, r := range recs {
		t.rec.TaskArns = append(t.rec.TaskArns, r.Task.TaskArn)
	}
	val, _ := json.Marshal(&t.rec)
	if _, err := t.s.Store.Txn(ctx, nil, store.OpPutKeepLease(t.key, val)); err != nil {
		t.s.Logger.Warn("record RunTask clientToken", "key", t.key, "err", err)
	}
}

// release forgets the token of a request that failed, so it may be sent
// again.
func (t *runToken) release(ctx context.Context) {
	_, _ = t.s.Store.Txn(ctx, nil, store.OpDelete(t.key))
}

// replayedTasks reads the records of the tasks a RunTask with a client
// token started, in one transaction, and returns them as RunTask showed
// them (a task whose record has expired is left out).
func (s *API) replayedTasks(ctx context.Context, cluster string, arns []string) ([]ecsapi.Task, error) {
	gets := make([]store.Op, len(arns))
	for i, arn := range arns {
		gets[i] = store.OpGet(taskKey(cluster, taskIDOf(arn)))
	}
	resp, err := s.Store.Txn(ctx, nil, gets...)
	if err != nil {
		return nil, fmt.Errorf("replay RunTask: %w", err)
	}
	tasks := make([]ecsapi.Task, 0, len(arns))
	for _, r := range resp.Reads {
		if len(r.Items) == 0 {
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(r.Items[0].Value, &rec); err != nil {
			return nil, fmt.Errorf("replay RunTask: decode %s: %w", r.Items[0].Key, err)
		}
		tasks = append(tasks, s.taskView(&rec, false))
	}
	return tasks, nil
}
