package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestEmptyListsAndStrings checks what ECS writes that a careless encoder
// drops: an empty list is [] (not an absent member) and a tag value of ""
// is "" (not absent). SDK code that indexes the list, and the CLI's --query,
// trip on an absent member.
func TestEmptyListsAndStrings(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	cc, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("empty"),
		Tags: []types.Tag{{Key: aws.String("blank"), Value: aws.String("")}}})
	if err != nil {
		t.Fatal(err)
	}

	lt, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if lt.TaskArns == nil {
		t.Error("ListTasks on an empty cluster: taskArns is absent, want []")
	}
	lci, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if lci.ContainerInstanceArns == nil {
		t.Error("ListContainerInstances on an empty cluster: containerInstanceArns is absent, want []")
	}
	la, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("empty"), TargetType: types.TargetTypeContainerInstance})
	if err != nil {
		t.Fatal(err)
	}
	if la.Attributes == nil {
		t.Error("ListAttributes on an empty cluster: attributes is absent, want []")
	}
	las, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Name: types.SettingNameTagResourceAuthorization, Value: aws.String("no-such-value")})
	if err != nil {
		t.Fatal(err)
	}
	if las.Settings == nil {
		t.Error("ListAccountSettings with no match: settings is absent, want []")
	}
	tags, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: cc.Cluster.ClusterArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || tags.Tags[0].Value == nil || *tags.Tags[0].Value != "" {
		t.Errorf("a tag whose value is \"\": got %+v, want value \"\"", tags.Tags)
	}

	// The CLI's --query evaluates JMESPath over the answer: length() of an
	// absent member is an error, of [] is 0.
	cli := newAWSCLI(t, env.URL)
	for _, q := range []struct{ args []string }{
		{[]string{"list-tasks", "--cluster", "empty", "--query", "length(taskArns)"}},
		{[]string{"list-container-instances", "--cluster", "empty", "--query", "length(containerInstanceArns)"}},
		{[]string{"list-attributes", "--cluster", "empty", "--target-type", "container-instance", "--query", "length(attributes)"}},
		{[]string{"list-account-settings", "--name", "tagResourceAuthorization", "--value", "no-such-value", "--query", "length(settings)"}},
		{[]string{"list-tags-for-resource", "--resource-arn", *cc.Cluster.ClusterArn, "--query", "length(tags[?value==''])"}},
	} {
		out, stderr, err := cli.try(q.args...)
		if got := strings.TrimSpace(out); err != nil || (got != "0" && got != "1") {
			t.Errorf("aws ecs %s: %q, %v %s", strings.Join(q.args, " "), got, err, stderr)
			continue
		}
		want := "0"
		if q.args[0] == "list-tags-for-resource" {
			want = "1"
		}
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("aws ecs %s = %s, want %s", strings.Join(q.args, " "), got, want)
		}
	}
}
