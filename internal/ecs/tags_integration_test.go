package ecs_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

func putTaskDefRecord(t *testing.T, env *apitest.Env, family string, rev int32) string {
	t.Helper()
	arn := env.Server.ECS.TaskDefinitionARN(family, rev)
	rec := struct {
		TaskDefinition ecsapi.TaskDefinition `json:"taskDefinition"`
	}{ecsapi.TaskDefinition{TaskDefinitionArn: arn, Family: family, Revision: rev, Status: "ACTIVE"}}
	key := store.Key("taskdefs", family, fmt.Sprintf("%010d", rev))
	if _, err := env.Server.ECS.Store.Create(context.Background(), key, &rec); err != nil {
		t.Fatal(err)
	}
	return arn
}

// tagMap lists the tags of arn as key=value strings, sorted.
func tagMap(t *testing.T, c *ecs.Client, arn string) string {
	t.Helper()
	out, err := c.ListTagsForResource(context.Background(), &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource %s: %v", arn, err)
	}
	var kv []string
	for _, tag := range out.Tags {
		kv = append(kv, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func tagsOf(kv ...string) []types.Tag {
	var tags []types.Tag
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return tags
}

func TestTagsOnEveryResourceType(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	cluster := createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("tagged"), Tags: tagsOf("a=1")})
	resources := map[string]string{
		"cluster":            aws.ToString(cluster.ClusterArn),
		"task-definition":    putTaskDefRecord(t, env, "web", 3),
		"task":               putTaskRecord(t, env, "tagged", "0123abcd", "RUNNING", "EC2"),
		"service":            putServiceRecord(t, env, "tagged", "api", "ACTIVE"),
		"container-instance": putInstanceRecord(t, env, "tagged", "inst1", "ACTIVE"),
	}
	for typ, arn := range resources {
		t.Run(typ, func(t *testing.T) {
			if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tagsOf("a=2", "b=x", "empty=")}); err != nil {
				t.Fatalf("TagResource: %v", err)
			}
			if got := tagMap(t, c, arn); got != "a=2,b=x,empty=" {
				t.Fatalf("after tagging: %s", got)
			}
			if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"a", "never-there"}}); err != nil {
				t.Fatalf("UntagResource: %v", err)
			}
			if got := tagMap(t, c, arn); got != "b=x,empty=" {
				t.Fatalf("after untagging: %s", got)
			}
		})
	}
	// The cluster's tags are the ones DescribeClusters shows.
	d := describeCluster(t, c, "tagged", types.ClusterFieldTags)
	if len(d.Tags) != 2 {
		t.Fatalf("described tags %+v", d.Tags)
	}
}

func TestTagLimits(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	arn := aws.ToString(createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("limits")}).ClusterArn)
	var forty []string
	for i := range 40 {
		forty = append(forty, fmt.Sprintf("k%02d=v", i))
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tagsOf(forty...)}); err != nil {
		t.Fatal(err)
	}
	var next []string
	for i := 30; i < 41; i++ { // ten existing keys, one new: 41 tags
		next = append(next, fmt.Sprintf("k%02d=w", i))
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tagsOf(next...)}); err != nil {
		t.Fatalf("replacing values counts only new keys: %v", err)
	}
	var more []string
	for i := range 10 {
		more = append(more, fmt.Sprintf("n%02d=v", i))
	}
	// SDKs retry LimitExceededException as throttling: ask once.
	_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tagsOf(more...)},
		func(o *ecs.Options) { o.RetryMaxAttempts = 1 })
	assertECSError(t, err, "LimitExceededException")
	if got := strings.Count(tagMap(t, c, arn), "="); got != 41 {
		t.Fatalf("a refused TagResource changed the tags: %d", got)
	}

	tests := []struct {
		name string
		tags []types.Tag
	}{
		{"aws: prefix", tagsOf("aws:created=x")},
		{"Aws: prefix value", tagsOf("k=Aws:x")},
		{"empty key", tagsOf("=v")},
		{"long key", tagsOf(strings.Repeat("k", 129) + "=v")},
		{"long value", tagsOf("k=" + strings.Repeat("v", 257))},
		{"bad character", tagsOf("k=v!")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tt.tags})
			assertECSError(t, err, "InvalidParameterException")
		})
	}
	// Unicode letters and spaces are allowed; 128 and 256 characters too.
	ok := tagsOf("équipe=données client", strings.Repeat("é", 128)+"="+strings.Repeat("ü", 256))
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"k00", "k01"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: ok}); err != nil {
		t.Fatalf("valid unicode tags refused: %v", err)
	}
	_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"aws:cloudformation:stack-name"}})
	assertECSError(t, err, "InvalidParameterException")
}

func TestTagErrors(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	api := env.Server.ECS
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("live")})
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("dead")})
	deadTask := putTaskRecord(t, env, "dead", "t1", "STOPPED", "EC2")
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("dead")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, arn, tagCode, listCode string
	}{
		{"unknown cluster", api.ClusterARN("nope"), "ClusterNotFoundException", "ClusterNotFoundException"},
		{"inactive cluster", api.ClusterARN("dead"), "InvalidParameterException", "InvalidParameterException"},
		{"task in inactive cluster", deadTask, "InvalidParameterException", "InvalidParameterException"},
		{"task in unknown cluster", api.TaskARN("nope", "t1"), "ClusterNotFoundException", "ClusterNotFoundException"},
		{"unknown task", api.TaskARN("live", "missing"), "ResourceNotFoundException", "InvalidParameterException"},
		{"unknown service", api.ServiceARN("live", "missing"), "ResourceNotFoundException", "InvalidParameterException"},
		{"unknown instance", api.ContainerInstanceARN("live", "missing"), "ResourceNotFoundException", "InvalidParameterException"},
		{"unknown task definition", api.TaskDefinitionARN("missing", 1), "ResourceNotFoundException", "InvalidParameterException"},
		{"short service ARN", "arn:aws:ecs:us-east-1:" + apitest.Account + ":service/api", "InvalidParameterException", "InvalidParameterException"},
		{"other region", "arn:aws:ecs:eu-west-1:" + apitest.Account + ":task-definition/web:1", "ResourceNotFoundException", "InvalidParameterException"},
		{"not an ARN", "web:1", "InvalidParameterException", "InvalidParameterException"},
		{"unsupported type", "arn:aws:ecs:us-east-1:" + apitest.Account + ":container/live/t1/c1", "InvalidParameterException", "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(tt.arn), Tags: tagsOf("k=v")})
			assertECSError(t, err, tt.tagCode)
			_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(tt.arn), TagKeys: []string{"k"}})
			assertECSError(t, err, tt.tagCode)
			_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(tt.arn)})
			assertECSError(t, err, tt.listCode)
		})
	}
}

// TestConcurrentTagging tags one cluster from many clients at once: every
// write is guarded by the revision it read, so none is lost.
func TestConcurrentTagging(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	arn := aws.ToString(createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String("busy")}).ClusterArn)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := env.Client.TagResource(context.Background(), &ecs.TagResourceInput{ResourceArn: aws.String(arn),
				Tags: tagsOf(fmt.Sprintf("k%02d=v", i))})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(tagMap(t, env.Client, arn), "="); got != n {
		t.Fatalf("%d tags after %d concurrent TagResource calls", got, n)
	}
}
