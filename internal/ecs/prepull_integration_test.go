package ecs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestPollAnswersStandingPrePulls: a poll answers the images of the
// pre-pull requests naming its instance that are live (not Done, not past
// Until) or Standing (whatever their Done and Until), and no others.
func TestPollAnswersStandingPrePulls(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("standing")}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "standing", 1024, 1024)
	other := newSimAgent(t, env, "standing", 1024, 1024)
	past, future := time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(time.Hour).UnixMilli()
	for svc, r := range map[string]*gantryecs.PrePullRequest{
		"standing":       {Deployment: "d1", Images: []string{"reg/standing:v1"}, Instances: []string{a.arn}, Until: past, Done: true, Standing: true},
		"waiting":        {Deployment: "d2", Images: []string{"reg/waiting:v2"}, Instances: []string{a.arn, other.arn}, Until: future},
		"done":           {Deployment: "d3", Images: []string{"reg/done:v1"}, Instances: []string{a.arn}, Until: future, Done: true},
		"expired":        {Deployment: "d4", Images: []string{"reg/expired:v1"}, Instances: []string{a.arn}, Until: past},
		"standing-other": {Deployment: "d5", Images: []string{"reg/other:v1"}, Instances: []string{other.arn}, Done: true, Standing: true},
	} {
		if err := env.Server.ECS.PutPrePullRequest(ctx, "standing", svc, r); err != nil {
			t.Fatal(err)
		}
	}
	var out ecsapi.GantryPollTasksResponse
	if err := a.c.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "standing", ContainerInstance: a.arn}, &out); err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(out.PrePullImages)
	slices.Sort(got)
	if want := []string{"reg/standing:v1", "reg/waiting:v2"}; !slices.Equal(got, want) {
		t.Fatalf("pre-pull images %v, want %v", got, want)
	}
}
