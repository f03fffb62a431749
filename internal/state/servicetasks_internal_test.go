package state

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestOwnServiceTaskBeforeCommitReturns: when the watch delivers this
// server's placement of a service task before its commit has returned
// (the view holds the task, the revision is not yet known as its own), the
// task is indexed from the record the committer holds, undecoded; an own
// task of no service is left alone.
func TestOwnServiceTaskBeforeCommitReturns(t *testing.T) {
	cfg := Config{Store: store.NewMemory(nil), MaxTxnOps: 128, Logger: slog.New(slog.DiscardHandler),
		TaskARN: func(cluster, id string) string { return "arn:task/" + cluster + "/" + id }}
	defer cfg.Store.Close()
	v := newViews(cfg, newAgents(cfg))
	const inst = "arn:container-instance/c/i-1"
	c := v.clusterLocked("c")
	if err := c.PutInstance(scheduler.Instance{ARN: inst, Status: "ACTIVE", AgentConnected: true, CPU: 1024, Memory: 1024,
		Attributes: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "f1"} {
		if err := c.PutTask(scheduler.Task{ID: cfg.TaskARN("c", id), InstanceARN: inst, Demand: scheduler.Demand{CPU: 1, Memory: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &record.Task{Task: ecsapi.Task{TaskArn: cfg.TaskARN("c", "s1"), Group: "service:x", LastStatus: "PROVISIONING"}}
	v.svcPending[taskKey{"c", "s1"}] = svc
	ev := func(id string, rec *record.Task, rev int64) store.WatchResponse {
		b, _ := json.Marshal(rec)
		return store.WatchResponse{Revision: rev, Events: []store.Event{{Item: store.Item{Key: record.TaskKey("c", id), Value: b, ModRev: rev, Version: 1}}}}
	}
	v.apply(ev("s1", svc, 5))
	v.apply(ev("f1", &record.Task{Task: ecsapi.Task{TaskArn: cfg.TaskARN("c", "f1"), Group: "family:web"}}, 6))
	if got := v.svcTasks.list("c", "x"); len(got) != 1 || got[0].TaskArn != svc.Task.TaskArn {
		t.Fatalf("indexed %+v", got)
	}
	if len(v.svcTasks.service) != 1 {
		t.Fatalf("index holds %v", v.svcTasks.service)
	}
	// An older version never replaces a newer one.
	old := *svc
	old.Task.LastStatus = "STALE"
	v.svcTasks.put("c", "s1", &old.Task, 4)
	if got := v.svcTasks.list("c", "x"); got[0].LastStatus != "PROVISIONING" {
		t.Fatalf("older version applied: %+v", got[0])
	}
	v.svcTasks.remove("c", "s1")
	if len(v.svcTasks.tasks) != 0 || len(v.svcTasks.service) != 0 {
		t.Fatalf("index not empty after remove: %+v", v.svcTasks)
	}
}
