package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestTaskSetsRunRealTasks: a service with the EXTERNAL deployment
// controller runs its task sets as real containers: a task set at 25% and
// one at 50% (created with `aws ecs create-task-set`) of a service of 4 run
// 1 and 2 containers and report STEADY_STATE; when the service grows to 6
// they follow to 2 (1.5 rounded up) and 3, as the issue asks; the primary
// task set switches; deleting the old one with force stops its containers
// and removes it.
func TestTaskSetsRunRealTasks(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	blueTD := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ts-blue"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ts-green"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("ext"), DesiredCount: aws.Int32(4),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}})
	blue, err := c.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskDefinition: aws.String(blueTD),
		Scale: &types.Scale{Value: 25, Unit: types.ScaleUnitPercent}})
	if err != nil {
		t.Fatal(err)
	}
	blueID := aws.ToString(blue.TaskSet.Id)
	if _, err := c.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), PrimaryTaskSet: aws.String(blueID)}); err != nil {
		t.Fatal(err)
	}
	cli := newAWSCLI(t, c.env.URL)
	var green struct {
		TaskSet struct {
			ID                   string `json:"id"`
			Status               string `json:"status"`
			ComputedDesiredCount int    `json:"computedDesiredCount"`
			Scale                struct {
				Value float64 `json:"value"`
				Unit  string  `json:"unit"`
			} `json:"scale"`
		} `json:"taskSet"`
	}
	cli.run(&green, "create-task-set", "--cluster", c.name, "--service", "ext", "--task-definition", "ts-green", "--scale", "value=50,unit=PERCENT", "--external-id", "green")
	greenID := green.TaskSet.ID
	if green.TaskSet.Status != "ACTIVE" || green.TaskSet.ComputedDesiredCount != 2 || green.TaskSet.Scale.Value != 50 || green.TaskSet.Scale.Unit != "PERCENT" {
		t.Fatalf("aws ecs create-task-set: %+v", green.TaskSet)
	}

	// waitSets waits until each task set runs its count as real containers
	// and says STEADY_STATE, and the service sums them.
	waitSets := func(want map[string]int) {
		t.Helper()
		testutil.WaitFor(t, 90*time.Second, "task sets steady", func() error {
			out, err := c.ecs.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String(c.name), Service: aws.String("ext")})
			if err != nil {
				return err
			}
			total := 0
			for _, ts := range out.TaskSets {
				n, ok := want[aws.ToString(ts.Id)]
				if !ok {
					return fmt.Errorf("task set %s (%s) still there", aws.ToString(ts.Id), aws.ToString(ts.Status))
				}
				if int(ts.RunningCount) != n || int(ts.ComputedDesiredCount) != n || ts.PendingCount != 0 || ts.StabilityStatus != types.StabilityStatusSteadyState {
					return fmt.Errorf("task set %s: running %d pending %d computed %d %s, want %d", aws.ToString(ts.Id), ts.RunningCount, ts.PendingCount,
						ts.ComputedDesiredCount, ts.StabilityStatus, n)
				}
				total += n
			}
			if len(out.TaskSets) != len(want) {
				return fmt.Errorf("%d task sets, want %d", len(out.TaskSets), len(want))
			}
			for id, n := range want {
				l, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), StartedBy: aws.String(id), DesiredStatus: types.DesiredStatusRunning})
				if err != nil {
					return err
				}
				if len(l.TaskArns) != n {
					return fmt.Errorf("task set %s: %d tasks started by it, want %d", id, len(l.TaskArns), n)
				}
				running := 0
				for _, arn := range l.TaskArns {
					list, err := c.docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+arn))})
					if err != nil {
						return err
					}
					running += len(list)
				}
				if running != n {
					return fmt.Errorf("task set %s: %d running containers, want %d", id, running, n)
				}
			}
			s := c.svc("ext")
			if int(s.RunningCount) != total || len(s.TaskSets) != len(want) {
				return fmt.Errorf("service running %d, want %d", s.RunningCount, total)
			}
			return nil
		})
	}
	waitSets(map[string]int{blueID: 1, greenID: 2})

	// The desired count grows: each task set follows at its scale.
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("ext"), DesiredCount: aws.Int32(6)}); err != nil {
		t.Fatal(err)
	}
	waitSets(map[string]int{blueID: 2, greenID: 3})

	// Green becomes primary; the service shows its task definition.
	if _, err := c.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), PrimaryTaskSet: aws.String(greenID)}); err != nil {
		t.Fatal(err)
	}
	s := c.svc("ext")
	for _, ts := range s.TaskSets {
		want := "ACTIVE"
		if aws.ToString(ts.Id) == greenID {
			want = "PRIMARY"
		}
		if aws.ToString(ts.Status) != want {
			t.Fatalf("task set %s is %s, want %s", aws.ToString(ts.Id), aws.ToString(ts.Status), want)
		}
	}
	if td := aws.ToString(s.TaskDefinition); td == "" || td == blueTD {
		t.Fatalf("service task definition %q, want green's", td)
	}

	// Blue is deleted with force: its containers stop and it goes.
	del, err := c.ecs.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskSet: aws.String(blueID), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.TaskSet.Status) != "DRAINING" {
		t.Fatalf("delete task set: %v %+v", err, del)
	}
	waitSets(map[string]int{greenID: 3})
	if _, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(c.name), Service: aws.String("ext"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// TestTaskSetBehindLoadBalancer: task sets with loadBalancers, with real
// containers behind the server's load balancer data plane, as an external
// deployment controller arranges them: blue (primary) in the production
// target group, green in the test target group. Each task set's tasks are
// registered in its own group only and turn healthy there (read with
// DescribeTargetHealth), each task set reports STEADY_STATE
// only then, and both listeners answer. Green deleted with force: its task
// goes DEACTIVATING while its target drains, then stops, and green leaves
// the service; blue's targets are untouched.
func TestTaskSetBehindLoadBalancer(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lbDataPlane: true, minHealthy: -1})
	ctx := context.Background()
	prod := c.newLB("ts-prod", 3)
	test := c.newLB("ts-test", 3)
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ts-lbweb"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("ext"), DesiredCount: aws.Int32(2),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}})
	lbOn := func(tg string) []types.LoadBalancer {
		return []types.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}
	}
	// A port the container does not map is refused, as ECS.
	if _, err := c.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskDefinition: aws.String(td),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(prod.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(9999)}}}); err == nil ||
		!strings.Contains(err.Error(), "did not have a container port 9999") {
		t.Fatalf("create task set with a port the container lacks: %v", err)
	}
	blue, err := c.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskDefinition: aws.String(td),
		Scale: &types.Scale{Value: 100, Unit: types.ScaleUnitPercent}, LoadBalancers: lbOn(prod.tg)})
	if err != nil {
		t.Fatal(err)
	}
	blueID := aws.ToString(blue.TaskSet.Id)
	if _, err := c.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), PrimaryTaskSet: aws.String(blueID)}); err != nil {
		t.Fatal(err)
	}
	green, err := c.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskDefinition: aws.String(td),
		Scale: &types.Scale{Value: 50, Unit: types.ScaleUnitPercent}, LoadBalancers: lbOn(test.tg)})
	if err != nil {
		t.Fatal(err)
	}
	greenID := aws.ToString(green.TaskSet.Id)

	healthy := func(l lbSetup) (int, int) {
		n, all := 0, 0
		for st, k := range l.targetStates(t) {
			all += k
			if st == "healthy" {
				n += k
			}
		}
		return n, all
	}
	sawStabilizing := false
	testutil.WaitFor(t, 120*time.Second, "each task set's targets healthy and the task sets steady", func() error {
		out, err := c.ecs.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String(c.name), Service: aws.String("ext")})
		if err != nil {
			return err
		}
		for _, l := range []lbSetup{prod, test} {
			n, all := healthy(l)
			want := map[string]int{prod.tg: 2, test.tg: 1}[l.tg]
			if n != want || all != want {
				for _, ts := range out.TaskSets {
					if ts.RunningCount > 0 && ts.StabilityStatus == types.StabilityStatusStabilizing {
						sawStabilizing = true
					}
				}
				return fmt.Errorf("target group %s: %d healthy of %d, want %d", l.tg, n, all, want)
			}
		}
		for _, ts := range out.TaskSets {
			if ts.StabilityStatus != types.StabilityStatusSteadyState {
				return fmt.Errorf("task set %s is %s", aws.ToString(ts.Id), ts.StabilityStatus)
			}
		}
		return nil
	})
	if !sawStabilizing {
		t.Log("the task sets were never seen RUNNING and STABILIZING before their targets were healthy (the poll may have missed it)")
	}
	for _, l := range []lbSetup{prod, test} {
		if code, err := get(l.url); err != nil || code != 200 {
			t.Fatalf("GET through %s: %d %v", l.url, code, err)
		}
	}
	if s := c.svc("ext"); !hasEvent(s, "registered") {
		t.Errorf("no registration event: %v", eventMessages(s, 10))
	}

	// Green is deleted with force: its target drains (3s) before its
	// task stops; blue keeps its two healthy targets.
	greenTasks, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), StartedBy: aws.String(greenID)})
	if err != nil || len(greenTasks.TaskArns) != 1 {
		t.Fatalf("green's tasks: %v %+v", err, greenTasks)
	}
	greenTask := greenTasks.TaskArns[0]
	if _, err := c.ecs.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String(c.name), Service: aws.String("ext"), TaskSet: aws.String(greenID), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	sawDeactivating, sawDraining := false, false
	testutil.WaitFor(t, 60*time.Second, "green's task stopped and green gone", func() error {
		d := c.describe(greenTask)
		if aws.ToString(d.LastStatus) == "DEACTIVATING" {
			sawDeactivating = true
		}
		if test.targetStates(t)["draining"] > 0 {
			sawDraining = true
		}
		if aws.ToString(d.LastStatus) != "STOPPED" {
			return fmt.Errorf("green's task is %s", aws.ToString(d.LastStatus))
		}
		out, err := c.ecs.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String(c.name), Service: aws.String("ext")})
		if err != nil {
			return err
		}
		if len(out.TaskSets) != 1 || aws.ToString(out.TaskSets[0].Id) != blueID {
			return fmt.Errorf("%d task sets", len(out.TaskSets))
		}
		if st := test.targetStates(t); len(st) != 0 {
			return fmt.Errorf("green's targets left: %v", st)
		}
		return nil
	})
	if !sawDeactivating || !sawDraining {
		t.Errorf("green's task was seen DEACTIVATING %v, its target draining %v", sawDeactivating, sawDraining)
	}
	if st := prod.targetStates(t); st["healthy"] != 2 || len(st) != 1 {
		t.Fatalf("blue's targets after green went: %v", st)
	}
	if _, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(c.name), Service: aws.String("ext"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}
