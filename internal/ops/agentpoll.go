package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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

// leases remembers, per instance, the etcd lease that keeps its connected
// key alive from this server.
type leases struct {
	mu sync.Mutex
	m  map[string]clientv3.LeaseID
	// stopped is the lease of recently stopped tasks, used until
	// stoppedUntil.
	stopped      clientv3.LeaseID
	stoppedUntil time.Time
}

// markConnected records that the agent of instance id is connected: its
// connected key lives on a lease of AgentTTL, renewed by every call. When the
// agent stops calling, the key expires and agentConnected turns false, on
// every server of the control plane.
func (s *Service) markConnected(ctx context.Context, cluster, id string) {
	k := cluster + "/" + id
	cli := s.Store.Client()
	s.leases.mu.Lock()
	if s.leases.m == nil {
		s.leases.m = map[string]clientv3.LeaseID{}
	}
	lid, ok := s.leases.m[k]
	s.leases.mu.Unlock()
	if ok {
		if _, err := cli.KeepAliveOnce(ctx, lid); err == nil {
			return
		}
	}
	g, err := cli.Grant(ctx, int64(AgentTTL/time.Second))
	if err != nil {
		s.Logger.Warn("agent lease", "instance", id, "err", err)
		return
	}
	if _, err := cli.Put(ctx, connectedKey(cluster, id), "1", clientv3.WithLease(g.ID)); err != nil {
		s.Logger.Warn("agent connected key", "instance", id, "err", err)
		return
	}
	s.leases.mu.Lock()
	s.leases.m[k] = g.ID
	s.leases.mu.Unlock()
}

// connectedSet returns the IDs of the cluster's instances whose agents are
// connected.
func (s *Service) connectedSet(ctx context.Context, cluster string) (map[string]bool, error) {
	resp, err := s.Store.Client().Get(ctx, prefixOf("connected", cluster), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("connected agents: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		out[k[strings.LastIndex(k, "/")+1:]] = true
	}
	return out, nil
}

// GantryPollTasks returns the tasks assigned to the calling agent's
// instance that are not yet STOPPED: all their ARNs, and in full, with their
// task definitions, those changed since the revision of the previous answer
// (all of them without one). Given a revision and waitSeconds, it first
// waits (at most MaxPollWait) until something changes. Each call also tells the control
// plane the agent is connected.
func (s *Service) GantryPollTasks(ctx context.Context, in *ecsapi.GantryPollTasksRequest) (*ecsapi.GantryPollTasksResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	iid, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
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
	prefix := prefixOf("assign", cluster, iid)
	if in.Revision > 0 && in.WaitSeconds > 0 {
		wait := time.Duration(in.WaitSeconds) * time.Second
		if wait > MaxPollWait {
			wait = MaxPollWait
		}
		wctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), wait)
		wch := s.Store.Client().Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(in.Revision+1))
		select {
		case <-wch:
		case <-wctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if status != instanceInactive {
			s.markConnected(ctx, cluster, iid)
		}
	}
	resp, err := s.Store.Client().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("poll tasks: %w", err)
	}
	out := &ecsapi.GantryPollTasksResponse{Revision: resp.Header.Revision, TaskArns: []string{},
		Tasks: []ecsapi.GantryAssignedTask{}, InstanceStatus: status}
	var gets []clientv3.Op
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		tid := k[strings.LastIndex(k, "/")+1:]
		out.TaskArns = append(out.TaskArns, s.TaskARN(cluster, tid))
		if in.Revision == 0 || kv.ModRevision > in.Revision {
			gets = append(gets, clientv3.OpGet(taskKey(cluster, tid)))
		}
	}
	if len(gets) == 0 {
		return out, nil
	}
	// The changed tasks, read in one transaction at the listing's revision.
	tresp, err := s.Store.Client().Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return nil, fmt.Errorf("poll tasks: %w", err)
	}
	for _, r := range tresp.Responses {
		rr := r.GetResponseRange()
		if rr == nil || len(rr.Kvs) == 0 {
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(rr.Kvs[0].Value, &rec); err != nil {
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
