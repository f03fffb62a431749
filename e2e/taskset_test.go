package e2e

import (
	"context"
	"fmt"
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
