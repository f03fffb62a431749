package ecs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func attr(name, value, target string) types.Attribute {
	a := types.Attribute{Name: aws.String(name), TargetId: aws.String(target)}
	if value != "" {
		a.Value = aws.String(value)
	}
	return a
}

// listAttrs lists every attribute of cluster matching name and value as
// "instanceID name=value" strings, paging maxResults at a time.
func listAttrs(t *testing.T, c *ecs.Client, cluster, name, value string, maxResults int32) []string {
	t.Helper()
	in := &ecs.ListAttributesInput{Cluster: aws.String(cluster), TargetType: "container-instance"}
	if name != "" {
		in.AttributeName = aws.String(name)
	}
	if value != "" {
		in.AttributeValue = aws.String(value)
	}
	if maxResults > 0 {
		in.MaxResults = aws.Int32(maxResults)
	}
	var out []string
	for {
		page, err := c.ListAttributes(context.Background(), in)
		if err != nil {
			t.Fatalf("ListAttributes: %v", err)
		}
		if maxResults > 0 && len(page.Attributes) > int(maxResults) {
			t.Fatalf("page of %d > %d", len(page.Attributes), maxResults)
		}
		for _, a := range page.Attributes {
			if a.TargetType != "container-instance" {
				t.Fatalf("target type %q", a.TargetType)
			}
			id := aws.ToString(a.TargetId)
			out = append(out, id[strings.LastIndex(id, "/")+1:]+" "+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
		}
		if page.NextToken == nil {
			return out
		}
		in.NextToken = page.NextToken
	}
}

func TestAttributes(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("attrs")})
	builtin := ecsapi.Attribute{Name: "ecs.os-type", Value: "linux"}
	a1 := putInstanceRecord(t, env, "attrs", "a1", "ACTIVE", builtin)
	putInstanceRecord(t, env, "attrs", "b2", "ACTIVE", builtin)

	// By ARN, and by ID with targetType; a value is optional.
	out, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		attr("stack", "prod", a1),
		{Name: aws.String("gpu"), TargetId: aws.String("b2"), TargetType: "container-instance"},
		{Name: aws.String("stack"), Value: aws.String("dev"), TargetId: aws.String("b2"), TargetType: "container-instance"},
	}})
	if err != nil || len(out.Attributes) != 3 || aws.ToString(out.Attributes[0].TargetId) != a1 {
		t.Fatalf("PutAttributes: %+v %v", out, err)
	}
	// Replacing a value keeps one attribute of the name.
	if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"),
		Attributes: []types.Attribute{attr("stack", "staging", a1)}}); err != nil {
		t.Fatal(err)
	}
	want := "a1 ecs.os-type=linux,a1 stack=staging,b2 ecs.os-type=linux,b2 gpu=,b2 stack=dev"
	if got := strings.Join(listAttrs(t, c, "attrs", "", "", 0), ","); got != want {
		t.Fatalf("ListAttributes:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(listAttrs(t, c, "attrs", "stack", "", 0), ","); got != "a1 stack=staging,b2 stack=dev" {
		t.Fatalf("by name: %s", got)
	}
	if got := strings.Join(listAttrs(t, c, "attrs", "ecs.os-type", "linux", 0), ","); got != "a1 ecs.os-type=linux,b2 ecs.os-type=linux" {
		t.Fatalf("by name and value: %s", got)
	}
	if got := strings.Join(listAttrs(t, c, "attrs", "", "", 2), ","); got != want {
		t.Fatalf("paged by 2:\n got %s\nwant %s", got, want)
	}

	// The instance itself carries them.
	var rec struct {
		Instance ecsapi.ContainerInstance `json:"containerInstance"`
	}
	if _, err := env.Server.ECS.Store.Get(ctx, "/gantry/v1/instances/attrs/a1", &rec); err != nil || len(rec.Instance.Attributes) != 2 {
		t.Fatalf("instance record %+v %v", rec, err)
	}

	// DeleteAttributes by name; an absent name is ignored.
	if _, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		attr("stack", "", a1), attr("never", "", a1)}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listAttrs(t, c, "attrs", "stack", "", 0), ","); got != "b2 stack=dev" {
		t.Fatalf("after delete: %s", got)
	}
}

func TestAttributeLimitsAndErrors(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("lim")})
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("other")})
	builtins := []ecsapi.Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "com.amazonaws.ecs.capability.docker-remote-api.1.44"}}
	inst := putInstanceRecord(t, env, "lim", "i1", "ACTIVE", builtins...)
	putInstanceRecord(t, env, "other", "o1", "ACTIVE")
	put := func(cluster string, attrs ...types.Attribute) error {
		_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String(cluster), Attributes: attrs})
		return err
	}

	var ten []types.Attribute
	for i := range 10 {
		ten = append(ten, attr(fmt.Sprintf("custom%d", i), "v", inst))
	}
	if err := put("lim", ten...); err != nil {
		t.Fatalf("ten custom attributes (built-ins aside) refused: %v", err)
	}
	assertECSError(t, put("lim", attr("custom10", "v", inst)), "AttributeLimitExceededException")
	if err := put("lim", attr("custom3", "new", inst)); err != nil {
		t.Fatalf("replacing a value is within the limit: %v", err)
	}
	assertECSError(t, put("lim", append(ten, attr("x", "v", inst))...), "AttributeLimitExceededException")

	tests := []struct {
		name    string
		cluster string
		attr    types.Attribute
		code    string
	}{
		{"unknown cluster", "nope", attr("k", "v", inst), "ClusterNotFoundException"},
		{"unknown instance", "lim", attr("k", "v", env.Server.ECS.ContainerInstanceARN("lim", "zz")), "TargetNotFoundException"},
		{"instance of another cluster", "lim", attr("k", "v", env.Server.ECS.ContainerInstanceARN("other", "o1")), "TargetNotFoundException"},
		{"short ID without targetType", "lim", attr("k", "v", "i1"), "InvalidParameterException"},
		{"no targetId", "lim", types.Attribute{Name: aws.String("k")}, "InvalidParameterException"},
		{"bad name", "lim", attr("bad name", "v", inst), "InvalidParameterException"},
		{"long name", "lim", attr(strings.Repeat("n", 129), "v", inst), "InvalidParameterException"},
		{"bad value", "lim", attr("k", "v#1", inst), "InvalidParameterException"},
		{"value with leading space", "lim", attr("k", " v", inst), "InvalidParameterException"},
		{"not an instance ARN", "lim", attr("k", "v", env.Server.ECS.TaskARN("lim", "t1")), "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertECSError(t, put(tt.cluster, tt.attr), tt.code)
		})
	}
	// Values may hold colons, slashes, at signs and inner spaces.
	if err := put("other", types.Attribute{Name: aws.String("path/to.x_y-z\\w"), Value: aws.String("a:b/c@d e\\f"),
		TargetId: aws.String("o1"), TargetType: "container-instance"}); err != nil {
		t.Fatalf("valid attribute refused: %v", err)
	}

	_, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("lim"),
		Attributes: []types.Attribute{attr("k", "", env.Server.ECS.ContainerInstanceARN("lim", "zz"))}})
	assertECSError(t, err, "TargetNotFoundException")
	_, err = c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("nope"), TargetType: "container-instance"})
	assertECSError(t, err, "ClusterNotFoundException")
	_, err = c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("lim"), TargetType: "task"})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("lim"), TargetType: "container-instance", AttributeValue: aws.String("v")})
	assertECSError(t, err, "InvalidParameterException")
	_, err = c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("lim"), TargetType: "container-instance", MaxResults: aws.Int32(101)})
	assertECSError(t, err, "InvalidParameterException")
	// A token only resumes the listing that issued it.
	page, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("lim"), TargetType: "container-instance", MaxResults: aws.Int32(1)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page %+v %v", page, err)
	}
	_, err = c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("other"), TargetType: "container-instance", NextToken: page.NextToken})
	assertECSError(t, err, "InvalidParameterException")
}

// TestConcurrentPutAttributes puts attributes on two instances from many
// clients at once; none is lost.
func TestConcurrentPutAttributes(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String("race")})
	a := putInstanceRecord(t, env, "race", "a", "ACTIVE")
	b := putInstanceRecord(t, env, "race", "b", "ACTIVE")
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			name := fmt.Sprintf("k%d", i)
			_, err := env.Client.PutAttributes(context.Background(), &ecs.PutAttributesInput{Cluster: aws.String("race"),
				Attributes: []types.Attribute{attr(name, "v", a), attr(name, "v", b)}})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := listAttrs(t, env.Client, "race", "", "", 0); len(got) != 2*n {
		t.Fatalf("%d attributes after %d concurrent calls: %v", len(got), n, got)
	}
}
