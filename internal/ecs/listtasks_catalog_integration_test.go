package ecs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/taskstatus"
)

// TestListTasksFiltersMatchTheRecords writes random task records straight
// to the store (as agents' reports and other servers' writes reach it),
// changes and deletes some, and checks that every ListTasks filter (the
// selective ones are answered from the placement views' task catalogue),
// paged three at a time, and DescribeClusters' counts give exactly what the
// records hold.
func TestListTasksFiltersMatchTheRecords(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("cat")})
	rng := rand.New(rand.NewPCG(7, 11))
	instances := []string{"i1", "i2", "i3"}
	for _, id := range instances {
		putInstanceRecord(t, env, "cat", id, "ACTIVE")
	}
	putServiceRecord(t, env, "cat", "api", "ACTIVE")
	putServiceRecord(t, env, "cat", "jobs", "ACTIVE")
	familyOf := func(arn string) string {
		_, rest, _ := strings.Cut(arn, "task-definition/")
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	statuses := []string{"PROVISIONING", "PENDING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"}
	families := []string{"web", "worker"}
	starters := []string{"", "deployer", "ecs-svc/123"}
	groups := []string{"family:web", "service:api", "service:jobs"}
	launches := []ecsapi.LaunchType{"EC2", "EXTERNAL", ""}
	tasks := map[string]*ecsapi.Task{}
	write := func(id string) {
		last := statuses[rng.IntN(len(statuses))]
		desired := "RUNNING"
		if last == "STOPPED" || last == "STOPPING" || rng.IntN(4) == 0 {
			desired = "STOPPED"
		}
		task := &ecsapi.Task{TaskArn: env.Server.ECS.TaskARN("cat", id), ClusterArn: env.Server.ECS.ClusterARN("cat"),
			LastStatus: last, DesiredStatus: desired, LaunchType: launches[rng.IntN(len(launches))],
			ContainerInstanceArn: env.Server.ECS.ContainerInstanceARN("cat", instances[rng.IntN(len(instances))]),
			TaskDefinitionArn:    fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task-definition/%s:%d", families[rng.IntN(len(families))], 1+rng.IntN(3)),
			StartedBy:            starters[rng.IntN(len(starters))], Group: groups[rng.IntN(len(groups))]}
		if task.LaunchType == "" && rng.IntN(2) == 0 {
			task.CapacityProviderName = "FARGATE_SPOT"
		}
		b, err := json.Marshal(struct {
			Task *ecsapi.Task `json:"task"`
		}{task})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Server.ECS.Store.Txn(ctx, nil, store.OpPut(store.Key("tasks", "cat", id), b)); err != nil {
			t.Fatal(err)
		}
		tasks[id] = task
	}
	for i := range 60 {
		write(fmt.Sprintf("%032x", i))
	}

	check := func(round string) {
		t.Helper()
		type filter struct {
			in   ecs.ListTasksInput
			keep func(*ecsapi.Task) bool
		}
		desiredIs := func(want string, task *ecsapi.Task) bool {
			if want == "PENDING" {
				return task.DesiredStatus == "RUNNING" && task.LastStatus != "RUNNING" && taskstatus.Rank(task.LastStatus) <= taskstatus.Rank("RUNNING")
			}
			return task.DesiredStatus == want
		}
		var filters []filter
		for _, want := range []types.DesiredStatus{"", "RUNNING", "PENDING", "STOPPED"} {
			w := string(want)
			if w == "" {
				w = "RUNNING"
			}
			filters = append(filters,
				filter{ecs.ListTasksInput{DesiredStatus: want}, func(x *ecsapi.Task) bool { return desiredIs(w, x) }},
				filter{ecs.ListTasksInput{DesiredStatus: want, ServiceName: aws.String("api")},
					func(x *ecsapi.Task) bool { return desiredIs(w, x) && x.Group == "service:api" }},
				filter{ecs.ListTasksInput{DesiredStatus: want, StartedBy: aws.String("deployer"), LaunchType: "EC2"},
					func(x *ecsapi.Task) bool {
						return desiredIs(w, x) && x.StartedBy == "deployer" && x.LaunchType == "EC2"
					}},
				filter{ecs.ListTasksInput{DesiredStatus: want, Family: aws.String("web")},
					func(x *ecsapi.Task) bool {
						return desiredIs(w, x) && familyOf(x.TaskDefinitionArn) == "web"
					}},
				filter{ecs.ListTasksInput{DesiredStatus: want, ContainerInstance: aws.String("i2"), Family: aws.String("worker")},
					func(x *ecsapi.Task) bool {
						return desiredIs(w, x) && x.ContainerInstanceArn == env.Server.ECS.ContainerInstanceARN("cat", "i2") &&
							familyOf(x.TaskDefinitionArn) == "worker"
					}},
			)
		}
		for _, f := range filters {
			var want []string
			for _, task := range tasks {
				if f.keep(task) {
					want = append(want, task.TaskArn)
				}
			}
			slices.Sort(want)
			var got []string
			in := f.in
			in.Cluster, in.MaxResults = aws.String("cat"), aws.Int32(3)
			for page := 0; ; page++ {
				out, err := c.ListTasks(ctx, &in)
				if err != nil {
					t.Fatalf("%s: ListTasks %+v: %v", round, f.in, err)
				}
				got = append(got, out.TaskArns...)
				if out.NextToken == nil {
					break
				}
				if page > 100 {
					t.Fatalf("%s: ListTasks %+v does not end", round, f.in)
				}
				in.NextToken = out.NextToken
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: ListTasks %+v:\n got %d %v\nwant %d %v", round, f.in, len(got), got, len(want), want)
			}
		}
		// The counts DescribeClusters gives.
		var running, pending int32
		stats := map[string]int{}
		for _, task := range tasks {
			lt := string(task.LaunchType)
			if lt == "" {
				lt = "EC2"
				if task.CapacityProviderName != "" {
					lt = "FARGATE"
				}
			}
			switch task.LastStatus {
			case "RUNNING":
				running++
				stats["running"+lt]++
			case "PENDING":
				pending++
				stats["pending"+lt]++
			}
		}
		d := describeCluster(t, c, "cat", types.ClusterFieldStatistics)
		if d.RunningTasksCount != running || d.PendingTasksCount != pending || d.RegisteredContainerInstancesCount != 3 {
			t.Fatalf("%s: counts running %d pending %d instances %d, want %d %d 3", round, d.RunningTasksCount, d.PendingTasksCount, d.RegisteredContainerInstancesCount, running, pending)
		}
		got := map[string]string{}
		for _, kv := range d.Statistics {
			got[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
		}
		for name, key := range map[string]string{"runningEC2TasksCount": "runningEC2", "pendingEC2TasksCount": "pendingEC2",
			"runningFargateTasksCount": "runningFARGATE", "pendingFargateTasksCount": "pendingFARGATE",
			"runningExternalTasksCount": "runningEXTERNAL", "pendingExternalTasksCount": "pendingEXTERNAL"} {
			if got[name] != fmt.Sprint(stats[key]) {
				t.Fatalf("%s: statistic %s = %s, want %d", round, name, got[name], stats[key])
			}
		}
	}
	check("written")

	// Change half of them and delete a quarter: the catalogue follows.
	ids := make([]string, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		switch i % 4 {
		case 0:
			deleteRecord(t, env, store.Key("tasks", "cat", id))
			delete(tasks, id)
		case 1, 2:
			write(id)
		}
	}
	check("changed")

	// A token of one listing is refused by another.
	out, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("cat"), ServiceName: aws.String("api"), DesiredStatus: "STOPPED", MaxResults: aws.Int32(1)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("ListTasks: %v %+v", err, out)
	}
	_, err = c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("cat"), ServiceName: aws.String("jobs"), DesiredStatus: "STOPPED", NextToken: out.NextToken})
	assertECSError(t, err, "InvalidParameterException")
}
