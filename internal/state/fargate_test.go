package state_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestTaskOnAnotherClustersInstance follows a task of cluster "a" that runs
// on an instance of cluster "pool" (a Fargate pool host): the pool's view
// accounts for it, the pool host's assignments list it as a/ID (none of
// cluster a's), and once it is STOPPED both are gone.
func TestTaskOnAnotherClustersInstance(t *testing.T) {
	s := store.NewMemory(nil)
	defer s.Close()
	st := state.New(state.Config{Store: s, TaskARN: func(cluster, id string) string { return "arn:aws:ecs:us-east-1:0:task/" + cluster + "/" + id }})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); st.Wait() }()
	st.Run(ctx)
	if err := st.Views.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	instARN := "arn:aws:ecs:us-east-1:0:container-instance/pool/i-1"
	inst := &record.Instance{Instance: ecsapi.ContainerInstance{ContainerInstanceArn: instARN, Ec2InstanceId: "i-1", Status: "ACTIVE",
		RegisteredResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 4096}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 4096}}}}
	if _, err := s.Create(ctx, record.InstanceKey("pool", "i-1"), inst); err != nil {
		t.Fatal(err)
	}
	task := &record.Task{Task: ecsapi.Task{TaskArn: "arn:aws:ecs:us-east-1:0:task/a/t-1", ContainerInstanceArn: instARN,
		LastStatus: "PENDING", DesiredStatus: "RUNNING", LaunchType: "FARGATE"}, Demand: &scheduler.Demand{CPU: 256, Memory: 512}}
	rev, err := s.Create(ctx, record.TaskKey("a", "t-1"), task)
	if err != nil {
		t.Fatal(err)
	}
	st.Views.SyncNow(ctx)
	if _, ids, _ := st.Views.Assigned("pool/i-1", 0); !slices.Equal(ids, []string{"a/t-1"}) {
		t.Fatalf("pool host's assignments %v, want [a/t-1]", ids)
	}
	if _, ids, _ := st.Views.Assigned("a/i-1", 0); len(ids) != 0 {
		t.Fatalf("cluster a has assignments %v", ids)
	}
	is, ok := st.Views.InstanceState("pool", instARN)
	if !ok || is.RemainingCPU != 4096-256 || is.RemainingMemory != 4096-512 || is.PendingTasks != 1 {
		t.Fatalf("pool host accounting: %+v (known %v)", is, ok)
	}

	task.Task.LastStatus, task.Task.DesiredStatus = "STOPPED", "STOPPED"
	if _, err := s.Update(ctx, record.TaskKey("a", "t-1"), task, rev); err != nil {
		t.Fatal(err)
	}
	st.Views.SyncNow(ctx)
	if _, ids, _ := st.Views.Assigned("pool/i-1", 0); len(ids) != 0 {
		t.Fatalf("stopped task still assigned: %v", ids)
	}
	if is, _ := st.Views.InstanceState("pool", instARN); is.RemainingCPU != 4096 || is.RemainingMemory != 4096 || is.PendingTasks != 0 {
		t.Fatalf("pool host accounting after the stop: %+v", is)
	}
}
