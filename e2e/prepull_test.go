package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// bigImage builds FROM base with a layer of size random bytes (which no
// compression shrinks), tagged tag, and returns its ID.
func (c *cluster) bigImage(base, tag string, size int) string {
	c.t.Helper()
	big := make([]byte, size)
	_, _ = rand.Read(big)
	df := fmt.Sprintf("FROM %s\nCOPY big /big\nLABEL dev.gantry.test-image=true dev.gantry.test-variant=%s\n", base, strings.ReplaceAll(tag, ":", "-"))
	return c.buildImage(tag, df, map[string][]byte{"big": big})
}

var prePulledIn = regexp.MustCompile(`pre-pulled image\(s\) \S+ on 1 of 1 container instances in ([0-9hms.]+) for \(deployment (\S+)\)`)

// TestRolloutPrePullsImage rolls a service out to an image of the
// registry with a large layer the agent lacks: the agent pulls it before
// the deployment starts its task (the old task runs meanwhile), and the
// new task's own pull is then short, off the rollout's critical path.
func TestRolloutPrePullsImage(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	ecl := ecrClient(c.env.URL)
	repo := strings.ToLower(testutil.UniqueID("e2e/prepull"))
	cr, err := ecl.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	uri := aws.ToString(cr.Repository.RepositoryUri)
	auth := registryAuth(t, ecl)
	bigTag := strings.ToLower(testutil.UniqueID("gantry-test/prepull")) + ":big"
	big := c.bigImage(c.image, bigTag, 32<<20)
	t.Cleanup(func() {
		ctx := context.Background()
		if id, err := agent.LoadInstanceID(c.dataDir); err == nil {
			_ = testutil.RemoveLabelled(ctx, c.docker, "dev.gantry.instance="+id)
		}
		_, _ = c.docker.ImageRemove(ctx, big, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	c.push(bigTag, uri+":v2", auth)
	// The agent shares this Docker Engine: without the built image its
	// large layer is gone, and the pull must fetch it.
	if _, err := c.docker.ImageRemove(ctx, big, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		t.Fatal(err)
	}

	td1 := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("prepull"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	td2 := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("prepull"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", uri+":v2")}})
	c.createService(&ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("pp"), TaskDefinition: aws.String(td1),
		DesiredCount: aws.Int32(1)})
	c.waitStable("pp", 90*time.Second)
	old := c.serviceTasks("pp")
	if len(old) != 1 {
		t.Fatalf("tasks before the rollout: %d", len(old))
	}

	start := time.Now()
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("pp"),
		TaskDefinition: aws.String(td2)}); err != nil {
		t.Fatal(err)
	}
	c.waitCompleted("pp", 150*time.Second)
	rollout := time.Since(start)
	svc := c.svc("pp")
	var took time.Duration
	var dep string
	for _, ev := range svc.Events {
		if m := prePulledIn.FindStringSubmatch(aws.ToString(ev.Message)); m != nil {
			took, _ = time.ParseDuration(m[1])
			dep = m[2]
		}
	}
	if dep == "" || !hasEvent(svc, "is pre-pulling image(s) "+uri+":v2 on 1 container instances") {
		t.Fatalf("no pre-pull events: %v", eventMessages(svc, 10))
	}
	var created time.Time
	for _, d := range svc.Deployments {
		if aws.ToString(d.Id) == dep {
			created = aws.ToTime(d.CreatedAt)
		}
	}
	var fresh *types.Task
	for _, tk := range c.serviceTasks("pp") {
		if aws.ToString(tk.StartedBy) == dep {
			tk := tk
			fresh = &tk
		}
	}
	if fresh == nil || created.IsZero() {
		t.Fatalf("no task of deployment %s (created %v)", dep, created)
	}
	// The new task was created only once the pre-pull had finished, and
	// the old one ran until then.
	if wait := aws.ToTime(fresh.CreatedAt).Sub(created); wait < took-time.Second {
		t.Errorf("the new task was created %v after its deployment, before the pre-pull ended (%v)", wait, took)
	}
	stoppedOld := c.describe(aws.ToString(old[0].TaskArn))
	if at := aws.ToTime(stoppedOld.StoppingAt); !at.IsZero() && at.Sub(created) < took-time.Second {
		t.Errorf("the old task was stopped %v after the deployment, before the pre-pull ended (%v)", at.Sub(created), took)
	}
	taskPull := aws.ToTime(fresh.PullStoppedAt).Sub(aws.ToTime(fresh.PullStartedAt))
	t.Logf("rollout %v: pre-pull %v, the new task's own pull %v", rollout.Round(time.Millisecond), took, taskPull.Round(time.Millisecond))
	if taskPull >= took {
		t.Errorf("the new task's pull took %v, no less than the pre-pull (%v): the pull was on the critical path", taskPull, took)
	}
	if got := c.runningImage(aws.ToString(fresh.TaskArn)); got != big {
		t.Errorf("the new task runs %s, want %s", got, big)
	}
}
