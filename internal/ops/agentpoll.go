package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// AgentTTL is how long an agent counts as connected after its last call.
// Agents poll at most MaxPollWait apart, so a live agent never lapses.
const AgentTTL = 10 * time.Second

// MaxPollWait bounds how long GantryPollTasks waits for a change.
const MaxPollWait = 5 * time.Second

func connectedKey(cluster, id string) string { return store.Key("connected", cluster, id) }

// leases holds the lease of recently stopped tasks, used until
// stoppedUntil.
type leases struct {
	mu           sync.Mutex
	stopped      store.LeaseID
	stoppedUntil time.Time
}

// agentConns tracks the agents that call this server. An agent counts as
// connected, on every server of the control plane, while its key
// connected/<cluster>/<id> exists. This server writes that key once, when an
// agent starts calling it, on one lease of its own (AgentTTL, kept alive for
// as long as the server runs); after that a call only notes the time in
// memory. A sweep each second deletes the keys of agents silent for
// AgentTTL, and if the server dies its lease expires and takes its agents'
// keys with it. Heartbeats therefore cost no etcd write.
//
// Another server may take an agent over: it puts the key on its own lease.
// The views see that write (or a deletion) and tell this server its key is
// gone (lost), so that the agent's next call here writes it again; the
// sweep deletes a key only while it is still on this server's lease.
type agentConns struct {
	grantMu sync.Mutex // one lease grant at a time

	mu      sync.Mutex
	lease   store.LeaseID
	m       map[string]*agentConn // cluster/id
	started bool
}

// agentConn is what this server knows of one agent.
type agentConn struct {
	last time.Time // its latest call
	// written: its connected key is on this server's lease.
	written bool
	// lostAt is the revision at which the key was last seen deleted or on
	// another lease; a write older than it does not count.
	lostAt int64
}

// markConnected records that the agent of instance id called: see
// agentConns.
func (s *Service) markConnected(ctx context.Context, cluster, id string) {
	a := &s.conns
	k := cluster + "/" + id
	a.mu.Lock()
	if !a.started {
		a.started = true
		a.m = map[string]*agentConn{}
		s.goBackground(s.sweepConns)
	}
	c := a.m[k]
	if c == nil {
		c = &agentConn{}
		a.m[k] = c
	}
	c.last = time.Now()
	written := c.written
	a.mu.Unlock()
	if written {
		return
	}
	lease, err := s.connLease(ctx)
	if err != nil {
		s.Logger.Warn("agent lease", "instance", id, "err", err)
		return
	}
	resp, err := s.Store.Txn(ctx, nil, store.OpPutLeased(connectedKey(cluster, id), []byte("1"), lease))
	if err != nil {
		s.Logger.Warn("agent connected key", "instance", id, "err", err)
		return
	}
	a.mu.Lock()
	if a.lease == lease && a.m[k] == c && c.lostAt < resp.Revision {
		c.written = true
	}
	a.mu.Unlock()
}

// connLease returns this server's lease for connected keys, granting it
// (and starting its keep-alive) when there is none.
func (s *Service) connLease(ctx context.Context) (store.LeaseID, error) {
	a := &s.conns
	a.grantMu.Lock()
	defer a.grantMu.Unlock()
	a.mu.Lock()
	lease := a.lease
	a.mu.Unlock()
	if lease != 0 {
		return lease, nil
	}
	id, err := s.Store.Grant(ctx, AgentTTL)
	if err != nil {
		return 0, err
	}
	kept, err := s.Store.KeepAlive(s.background(), id)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	a.lease = id
	a.mu.Unlock()
	s.goBackground(func(context.Context) {
		<-kept
		// The lease is gone (expired, revoked, or the client closed):
		// every key on it is gone too, to be written again on a new one.
		a.mu.Lock()
		if a.lease == id {
			a.lease = 0
			for _, c := range a.m {
				c.written = false
			}
		}
		a.mu.Unlock()
	})
	return id, nil
}

// connLost tells the tracker that an instance's connected key was deleted
// or written on another lease at revision rev (from the views' watch).
func (s *Service) connLost(cluster, id string, lease store.LeaseID, deleted bool, rev int64) {
	a := &s.conns
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.m[cluster+"/"+id]
	if c == nil || !deleted && a.lease != 0 && lease == a.lease {
		return
	}
	c.written = false
	if rev > c.lostAt {
		c.lostAt = rev
	}
}

// sweepConns deletes, every second, the connected keys of the agents that
// have not called this server for AgentTTL.
func (s *Service) sweepConns(ctx context.Context) {
	a := &s.conns
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var gone []string
		a.mu.Lock()
		lease := a.lease
		for k, c := range a.m {
			if time.Since(c.last) > AgentTTL {
				if c.written {
					gone = append(gone, k)
				}
				delete(a.m, k)
			}
		}
		a.mu.Unlock()
		for _, k := range gone {
			cluster, id, _ := strings.Cut(k, "/")
			key := connectedKey(cluster, id)
			// Only while the key is still on this server's lease: another
			// server may have taken the agent over.
			if _, err := s.Store.Txn(ctx, []store.Cmp{store.LeaseIs(key, lease)}, store.OpDelete(key)); err != nil && ctx.Err() == nil {
				s.Logger.Warn("agent disconnected", "instance", id, "err", err)
			}
		}
	}
}

// connectedSet returns the IDs of the cluster's instances whose agents are
// connected.
func (s *Service) connectedSet(ctx context.Context, cluster string) (map[string]bool, error) {
	p := prefixOf("connected", cluster)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("connected agents: %w", err)
	}
	out := make(map[string]bool, len(resp.Items))
	for _, kv := range resp.Items {
		k := kv.Key
		out[k[strings.LastIndex(k, "/")+1:]] = true
	}
	return out, nil
}

// GantryPollTasks returns the tasks assigned to the calling agent's
// instance that are not yet STOPPED: all their ARNs, and in full, with their
// task definitions, those changed since the revision of the previous answer
// (all of them without one; none with omitTasks). Given a revision and
// waitSeconds, it first waits (at most MaxPollWait) until something
// changes. Each call also tells the control plane the agent is connected.
//
// The assignments come from the placement views, which follow them through
// the etcd watch: a poll reads etcd only for the tasks that changed, and a
// waiting poll waits on its instance's entry in the views.
func (s *Service) GantryPollTasks(ctx context.Context, in *ecsapi.GantryPollTasksRequest) (*ecsapi.GantryPollTasksResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	iid, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	v, err := s.placementViews(ctx)
	if err != nil {
		return nil, err
	}
	if in.Revision > 0 {
		// The revision may come from another server's answer.
		v.sync(ctx, in.Revision)
	}
	status, err := s.instanceStatus(ctx, cluster, iid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.InvalidParameter("Container instance %s is not registered in cluster %s.", in.ContainerInstance, cluster)
	}
	if err != nil {
		return nil, err
	}
	if status != instanceInactive {
		s.markConnected(ctx, cluster, iid)
	}
	k := cluster + "/" + iid
	if in.Revision > 0 && in.WaitSeconds > 0 {
		wait := time.Duration(in.WaitSeconds) * time.Second
		if wait > MaxPollWait {
			wait = MaxPollWait
		}
		timer := time.NewTimer(wait)
		for waiting := true; waiting; {
			ch := v.assignChange(k, in.Revision)
			if ch == nil {
				break
			}
			select {
			case <-ch:
			case <-timer.C:
				waiting = false
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			}
		}
		timer.Stop()
		if status != instanceInactive {
			s.markConnected(ctx, cluster, iid)
		}
	}
	// A placement notes its assignments as soon as it is written, maybe
	// before the views have followed the watch that far: the answer's
	// revision must cover them, or the next poll would see them again.
	v.sync(ctx, v.assignedAt(k))
	rev, ids, changed := v.assigned(k, in.Revision)
	out := &ecsapi.GantryPollTasksResponse{Revision: rev, TaskArns: make([]string, len(ids)),
		Tasks: []ecsapi.GantryAssignedTask{}, InstanceStatus: status}
	for i, tid := range ids {
		out.TaskArns[i] = s.TaskARN(cluster, tid)
	}
	if len(changed) == 0 || in.OmitTasks {
		return out, nil
	}
	// The changed tasks, read in one transaction.
	gets := make([]store.Op, len(changed))
	for i, tid := range changed {
		gets[i] = store.OpGet(taskKey(cluster, tid))
	}
	tresp, err := s.Store.Txn(ctx, nil, gets...)
	if err != nil {
		return nil, fmt.Errorf("poll tasks: %w", err)
	}
	for _, r := range tresp.Reads {
		if len(r.Items) == 0 {
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(r.Items[0].Value, &rec); err != nil {
			return nil, fmt.Errorf("poll tasks: decode task: %w", err)
		}
		at := ecsapi.GantryAssignedTask{Task: rec.Task}
		if td, err := s.lookupTaskDef(ctx, rec.Task.TaskDefinitionArn); err != nil {
			return nil, err
		} else if td != nil {
			at.TaskDefinition = td.TaskDefinition
		}
		out.Tasks = append(out.Tasks, at)
	}
	return out, nil
}

// instanceStatus returns an instance's status from the placement views,
// which every poll would otherwise read and decode from etcd; an instance
// the views do not have yet (just registered) is read from etcd.
// store.ErrNotFound if there is none.
func (s *Service) instanceStatus(ctx context.Context, cluster, id string) (string, error) {
	if v, err := s.placementViews(ctx); err == nil {
		v.mu.Lock()
		vi := v.inst[cluster+"/"+id]
		var st string
		if vi != nil && vi.rec != nil {
			st = vi.rec.Instance.Status
		}
		v.mu.Unlock()
		if st != "" {
			return st, nil
		}
	}
	var rec instanceRecord
	if _, err := s.Store.Get(ctx, instanceKey(cluster, id), &rec); err != nil {
		return "", err
	}
	return rec.Instance.Status, nil
}
