package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// A STOPPED forged with an administrator key (the control plane believes
// the task stopped) stops the real container within 10 seconds while the
// agent runs, so it does not run beside its replacement.
func TestForgedStoppedStopsTheContainer(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("forged"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	arn := aws.ToString(c.run(td).TaskArn)
	running := c.waitStatus(arn, "RUNNING", 30*time.Second)
	id := aws.ToString(running.Containers[0].RuntimeId)
	if _, err := c.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String(c.name), Task: aws.String(arn),
		Status: aws.String("STOPPED"), Reason: aws.String("forged")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.WaitFor(t, 10*time.Second, "the container stopped", func() error {
		info, err := c.docker.ContainerInspect(ctx, id)
		if err == nil && info.State.Running {
			return errors.New("still running")
		}
		return nil
	})
	t.Logf("stopped %v after the forged STOPPED", time.Since(start))
}

// A second agent on a data dir in use exits at once with a message that
// says so; the first keeps running its instance.
func TestSecondAgentOnOneDataDirExits(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	second, err := agentapp.StartAgent(context.Background(), c.agentConfig(clusterOptions{}), agentapp.AgentOptions{}, apitest.Logger())
	if err == nil {
		second.Close()
		t.Fatal("a second agent started on the same data dir")
	}
	if !errors.Is(err, agent.ErrDataDirInUse) || !strings.Contains(err.Error(), "only one agent may use a data dir") {
		t.Fatalf("second agent: %v", err)
	}
	select {
	case <-c.agent.Done():
		t.Fatalf("the first agent stopped: %v", c.agent.Err())
	default:
	}
	list, err := c.ecs.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(c.name)})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("instances %v %v", list, err)
	}
}
