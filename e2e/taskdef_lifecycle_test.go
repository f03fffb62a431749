package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestServiceOnDeletedRevision: a service keeps running and scaling on a
// revision that was deregistered and then deleted (DeleteTaskDefinitions,
// reports DELETE_IN_PROGRESS while the service's
// tasks run it); once the service is gone the revision is deleted.
func TestServiceOnDeletedRevision(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("gone"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("gone"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	c.waitStable("gone", 60*time.Second)
	if _, err := c.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(td)}); err != nil {
		t.Fatal(err)
	}
	scale := func(n int32) {
		t.Helper()
		if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("gone"), DesiredCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 40*time.Second, fmt.Sprintf("%d tasks running", n), func() error {
			s := c.svc("gone")
			if s.RunningCount != n {
				return fmt.Errorf("%d running, events %v", s.RunningCount, eventMessages(s, 3))
			}
			return nil
		})
	}
	scale(2) // on the INACTIVE revision

	del, err := c.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{td}})
	if err != nil || len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || len(del.Failures) != 0 {
		t.Fatalf("delete task definitions: %v %+v", err, del)
	}
	// Still there while the service uses it, and it still scales on it.
	time.Sleep(2 * time.Second) // the reaper runs every second in tests
	// (aws CLI 2.9 has no delete-task-definitions yet; it describes.)
	var d struct {
		TaskDefinition struct {
			Status            string `json:"status"`
			DeleteRequestedAt any    `json:"deleteRequestedAt"`
		} `json:"taskDefinition"`
	}
	newAWSCLI(t, c.env.URL).run(&d, "describe-task-definition", "--task-definition", td)
	if d.TaskDefinition.Status != "DELETE_IN_PROGRESS" {
		t.Fatalf("aws ecs describe-task-definition while in use: %+v", d)
	}
	// (Nor does its model know deleteRequestedAt; the SDK's does.)
	sd, err := c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
	if err != nil || sd.TaskDefinition.DeleteRequestedAt == nil {
		t.Fatalf("describe while in use: %v %+v", err, sd)
	}
	scale(3)
	for _, tk := range c.serviceTasks("gone") {
		if aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(tk.TaskDefinitionArn) != td {
			t.Fatalf("task %s is %s on %s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus), aws.ToString(tk.TaskDefinitionArn))
		}
	}

	// The service goes; so does the revision, once its tasks have stopped.
	if _, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(c.name), Service: aws.String("gone"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "revision deleted", func() error {
		_, err := c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
		var ce *types.ClientException
		if err == nil || !errors.As(err, &ce) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
}
