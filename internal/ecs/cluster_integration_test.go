package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// assertECSError fails t unless err is an API error with code.
func assertECSError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// The records other operations keep, written straight to the store as
// those operations will, so that these tests don't depend on them.

func putInstanceRecord(t *testing.T, env *apitest.Env, cluster, id, status string, attrs ...ecsapi.Attribute) string {
	t.Helper()
	arn := env.Server.ECS.ContainerInstanceARN(cluster, id)
	rec := struct {
		Instance ecsapi.ContainerInstance `json:"containerInstance"`
	}{ecsapi.ContainerInstance{ContainerInstanceArn: arn, Status: status, Attributes: attrs, AgentConnected: true}}
	if _, err := env.Server.ECS.Store.Create(context.Background(), store.Key("instances", cluster, id), &rec); err != nil {
		t.Fatal(err)
	}
	return arn
}

func putTaskRecord(t *testing.T, env *apitest.Env, cluster, id, lastStatus string, launch ecsapi.LaunchType) string {
	t.Helper()
	arn := env.Server.ECS.TaskARN(cluster, id)
	rec := struct {
		Task ecsapi.Task `json:"task"`
	}{ecsapi.Task{TaskArn: arn, ClusterArn: env.Server.ECS.ClusterARN(cluster), LastStatus: lastStatus, DesiredStatus: "RUNNING", LaunchType: launch}}
	if _, err := env.Server.ECS.Store.Create(context.Background(), store.Key("tasks", cluster, id), &rec); err != nil {
		t.Fatal(err)
	}
	return arn
}

func putServiceRecord(t *testing.T, env *apitest.Env, cluster, name, status string) string {
	t.Helper()
	arn := env.Server.ECS.ServiceARN(cluster, name)
	svc := ecsapi.Service{ServiceArn: arn, ServiceName: name, ClusterArn: env.Server.ECS.ClusterARN(cluster), Status: status, LaunchType: "EC2"}
	if _, err := env.Server.ECS.Store.Create(context.Background(), store.Key("services", cluster, name), &svc); err != nil {
		t.Fatal(err)
	}
	return arn
}

// deleteRecord removes the record at key.
func deleteRecord(t *testing.T, env *apitest.Env, key string) {
	t.Helper()
	if _, err := env.Server.ECS.Store.Txn(context.Background(), nil, store.OpDelete(key)); err != nil {
		t.Fatal(err)
	}
}

func createCluster(t *testing.T, c *ecs.Client, in *ecs.CreateClusterInput) *types.Cluster {
	t.Helper()
	out, err := c.CreateCluster(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	return out.Cluster
}

func describeCluster(t *testing.T, c *ecs.Client, name string, include ...types.ClusterField) types.Cluster {
	t.Helper()
	out, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{name}, Include: include})
	if err != nil {
		t.Fatalf("DescribeClusters: %v", err)
	}
	if len(out.Clusters) != 1 {
		t.Fatalf("DescribeClusters %s: clusters %+v failures %+v", name, out.Clusters, out.Failures)
	}
	return out.Clusters[0]
}

func settingValue(settings []types.ClusterSetting, name types.ClusterSettingName) string {
	for _, s := range settings {
		if s.Name == name {
			return aws.ToString(s.Value)
		}
	}
	return ""
}

func TestClusterLifecycle(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	arn := env.Server.ECS.ClusterARN("default")

	// No name creates "default"; containerInsights comes from the account
	// setting (disabled by default); tags and settings are returned.
	cl := createCluster(t, c, &ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}}})
	if aws.ToString(cl.ClusterName) != "default" || aws.ToString(cl.ClusterArn) != arn || aws.ToString(cl.Status) != "ACTIVE" {
		t.Fatalf("created %+v", cl)
	}
	if settingValue(cl.Settings, "containerInsights") != "disabled" || len(cl.Tags) != 1 {
		t.Fatalf("created settings %+v tags %+v", cl.Settings, cl.Tags)
	}

	// Creating it again returns it unchanged.
	again := createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("default")})
	if len(again.Tags) != 1 || aws.ToString(again.Tags[0].Value) != "infra" {
		t.Fatalf("idempotent create changed the cluster: %+v", again)
	}

	// Describe: optional members only when included; by ARN too.
	d := describeCluster(t, c, "default")
	if d.Settings != nil || d.Tags != nil || d.Statistics != nil || d.Configuration != nil {
		t.Fatalf("describe without include has optional members: %+v", d)
	}
	d = describeCluster(t, c, arn, types.ClusterFieldSettings, types.ClusterFieldTags, types.ClusterFieldStatistics)
	if len(d.Settings) != 1 || len(d.Tags) != 1 || len(d.Statistics) != 16 {
		t.Fatalf("describe with include: %+v", d)
	}
	out, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil || len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterName) != "default" {
		t.Fatalf("describe with no names should describe default: %+v %v", out, err)
	}

	// Unknown clusters are failures, not errors.
	out, err = c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"default", "nope"}})
	if err != nil || len(out.Clusters) != 1 || len(out.Failures) != 1 {
		t.Fatalf("describe unknown: %+v %v", out, err)
	}
	if f := out.Failures[0]; aws.ToString(f.Arn) != env.Server.ECS.ClusterARN("nope") || aws.ToString(f.Reason) != "MISSING" {
		t.Fatalf("failure %+v", f)
	}

	// UpdateClusterSettings and UpdateCluster.
	us, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("default"),
		Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("enhanced")}}})
	if err != nil || settingValue(us.Cluster.Settings, "containerInsights") != "enhanced" {
		t.Fatalf("UpdateClusterSettings: %+v %v", us, err)
	}
	uc, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String(arn),
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{
			Logging:          types.ExecuteCommandLoggingOverride,
			LogConfiguration: &types.ExecuteCommandLogConfiguration{CloudWatchLogGroupName: aws.String("exec")},
		}},
		ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("internal")},
	})
	if err != nil {
		t.Fatalf("UpdateCluster: %v", err)
	}
	if uc.Cluster.Configuration == nil || uc.Cluster.ServiceConnectDefaults == nil || aws.ToString(uc.Cluster.ServiceConnectDefaults.Namespace) != "internal" {
		t.Fatalf("UpdateCluster result %+v", uc.Cluster)
	}
	if settingValue(uc.Cluster.Settings, "containerInsights") != "enhanced" {
		t.Fatalf("UpdateCluster lost the settings: %+v", uc.Cluster.Settings)
	}
	d = describeCluster(t, c, "default", types.ClusterFieldConfigurations)
	if d.Configuration == nil || aws.ToString(d.Configuration.ExecuteCommandConfiguration.LogConfiguration.CloudWatchLogGroupName) != "exec" {
		t.Fatalf("configuration not kept: %+v", d.Configuration)
	}
	_, err = c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("nope")})
	assertECSError(t, err, "ClusterNotFoundException")
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("default"),
		Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("sometimes")}}})
	assertECSError(t, err, "InvalidParameterException")

	// Delete: INACTIVE, still describable, no longer listed, refused for
	// updates, deleted again idempotently; then created anew.
	del, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")})
	if err != nil || aws.ToString(del.Cluster.Status) != "INACTIVE" {
		t.Fatalf("DeleteCluster: %+v %v", del, err)
	}
	if d := describeCluster(t, c, "default"); aws.ToString(d.Status) != "INACTIVE" {
		t.Fatalf("deleted cluster described as %+v", d)
	}
	list, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(list.ClusterArns) != 0 {
		t.Fatalf("ListClusters after delete: %+v %v", list, err)
	}
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("default"),
		Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("enabled")}}})
	assertECSError(t, err, "InvalidParameterException")
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")}); err != nil {
		t.Fatalf("deleting an INACTIVE cluster: %v", err)
	}
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
	assertECSError(t, err, "ClusterNotFoundException")
	fresh := createCluster(t, c, &ecs.CreateClusterInput{})
	if aws.ToString(fresh.Status) != "ACTIVE" || len(fresh.Tags) != 0 || fresh.Configuration != nil {
		t.Fatalf("re-created cluster kept old state: %+v", fresh)
	}

	// The INACTIVE record was leased; the re-created one is not.
	resp, err := env.Server.ECS.Store.Range(ctx, store.Range{From: store.Key("clusters", "default")})
	if err != nil || len(resp.Items) != 1 || resp.Items[0].Lease != 0 {
		t.Fatalf("re-created cluster record: %+v %v", resp, err)
	}
}

func TestDeletedClusterExpires(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String("gone")})
	if _, err := env.Client.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	st := env.Server.ECS.Store
	resp, err := st.Range(ctx, store.Range{From: store.Key("clusters", "gone")})
	if err != nil || len(resp.Items) != 1 || resp.Items[0].Lease == 0 {
		t.Fatalf("INACTIVE record should be leased: %+v %v", resp, err)
	}
	ttl, err := st.TimeToLive(ctx, resp.Items[0].Lease)
	if err != nil || ttl <= 0 || ttl > gantryecs.InactiveClusterRetention {
		t.Fatalf("lease TTL %v %v", ttl, err)
	}
	// When the lease runs out the cluster is unknown.
	if err := st.Revoke(ctx, resp.Items[0].Lease); err != nil {
		t.Fatal(err)
	}
	out, err := env.Client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"gone"}})
	if err != nil || len(out.Failures) != 1 {
		t.Fatalf("expired cluster: %+v %v", out, err)
	}
}

func TestCreateClusterValidation(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	tags := func(n int) []types.Tag {
		var ts []types.Tag
		for i := range n {
			ts = append(ts, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
		}
		return ts
	}
	tests := []struct {
		name string
		in   ecs.CreateClusterInput
	}{
		{"bad name", ecs.CreateClusterInput{ClusterName: aws.String("no spaces")}},
		{"long name", ecs.CreateClusterInput{ClusterName: aws.String(strings.Repeat("a", 256))}},
		{"51 tags", ecs.CreateClusterInput{Tags: tags(51)}},
		{"long tag key", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String(strings.Repeat("k", 129))}}}},
		{"long tag value", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}}},
		{"aws: key", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("AWS:owner"), Value: aws.String("v")}}}},
		{"aws: value", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("aws:x")}}}},
		{"bad tag char", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("k*"), Value: aws.String("v")}}}},
		{"duplicate tag", ecs.CreateClusterInput{Tags: []types.Tag{{Key: aws.String("k")}, {Key: aws.String("k")}}}},
		{"bad setting name", ecs.CreateClusterInput{Settings: []types.ClusterSetting{{Name: "insights", Value: aws.String("enabled")}}}},
		{"bad setting value", ecs.CreateClusterInput{Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("on")}}}},
		{"override without log configuration", ecs.CreateClusterInput{Configuration: &types.ClusterConfiguration{
			ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingOverride}}}},
		{"weight out of range", ecs.CreateClusterInput{DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Weight: 1001}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.Client.CreateCluster(context.Background(), &tt.in)
			assertECSError(t, err, "InvalidParameterException")
		})
	}
	// 50 tags, capacity providers and a strategy are accepted and kept.
	cl := createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String("full"), Tags: tags(50),
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Weight: 1, Base: 2}},
		Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("enabled")}},
	})
	if len(cl.Tags) != 50 || len(cl.CapacityProviders) != 2 || len(cl.DefaultCapacityProviderStrategy) != 1 ||
		cl.DefaultCapacityProviderStrategy[0].Base != 2 || settingValue(cl.Settings, "containerInsights") != "enabled" {
		t.Fatalf("created %+v", cl)
	}
}

func TestDescribeClustersValidation(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	names := make([]string, 101)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	_, err := env.Client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: names})
	assertECSError(t, err, "InvalidParameterException")
	_, err = env.Client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Include: []types.ClusterField{"EVERYTHING"}})
	assertECSError(t, err, "InvalidParameterException")
	// Malformed names and ARNs of another region are missing, not errors.
	other := "arn:aws:ecs:eu-west-1:" + apitest.Account + ":cluster/default"
	out, err := env.Client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"bad name", other}})
	if err != nil || len(out.Failures) != 2 || aws.ToString(out.Failures[1].Arn) != other {
		t.Fatalf("describe malformed: %+v %v", out, err)
	}
}

func TestListClustersPagination(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 25 {
		name := fmt.Sprintf("page-%02d", i)
		createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
		want[env.Server.ECS.ClusterARN(name)] = true
	}
	// A deleted cluster is not listed.
	createCluster(t, env.Client, &ecs.CreateClusterInput{ClusterName: aws.String("page-gone")})
	if _, err := env.Client.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("page-gone")}); err != nil {
		t.Fatal(err)
	}

	var sizes []int
	got := map[string]bool{}
	in := &ecs.ListClustersInput{MaxResults: aws.Int32(10)}
	for {
		out, err := env.Client.ListClusters(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.ClusterArns))
		for _, arn := range out.ClusterArns {
			if got[arn] {
				t.Fatalf("%s listed twice", arn)
			}
			got[arn] = true
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if fmt.Sprint(sizes) != "[10 10 5]" || len(got) != len(want) {
		t.Fatalf("pages %v, got %d clusters", sizes, len(got))
	}
	for arn := range want {
		if !got[arn] {
			t.Fatalf("%s not listed", arn)
		}
	}

	// The SDK paginator sees the same 25.
	n := 0
	for p := ecs.NewListClustersPaginator(env.Client, &ecs.ListClustersInput{MaxResults: aws.Int32(7)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.ClusterArns)
	}
	if n != 25 {
		t.Fatalf("paginator saw %d clusters", n)
	}

	for _, bad := range []int32{0, 101} {
		_, err := env.Client.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(bad)})
		assertECSError(t, err, "InvalidParameterException")
	}
	_, err := env.Client.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("not-a-token")})
	assertECSError(t, err, "InvalidParameterException")
}

func TestDeleteClusterRefusalsAndCounts(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("busy")})
	del := func() error {
		_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("busy")})
		return err
	}

	putInstanceRecord(t, env, "busy", "i1", "ACTIVE")
	putInstanceRecord(t, env, "busy", "i2", "DRAINING")
	putInstanceRecord(t, env, "busy", "i3", "INACTIVE")
	putServiceRecord(t, env, "busy", "web", "ACTIVE")
	putServiceRecord(t, env, "busy", "old", "DRAINING")
	putServiceRecord(t, env, "busy", "gone", "INACTIVE")
	putTaskRecord(t, env, "busy", "t1", "RUNNING", "EC2")
	putTaskRecord(t, env, "busy", "t2", "RUNNING", "FARGATE")
	putTaskRecord(t, env, "busy", "t3", "PENDING", "EC2")
	putTaskRecord(t, env, "busy", "t4", "STOPPED", "EC2")

	d := describeCluster(t, c, "busy", types.ClusterFieldStatistics)
	if d.RegisteredContainerInstancesCount != 2 || d.RunningTasksCount != 2 || d.PendingTasksCount != 1 || d.ActiveServicesCount != 1 {
		t.Fatalf("counts %+v", d)
	}
	stats := map[string]string{}
	for _, kv := range d.Statistics {
		stats[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	for name, v := range map[string]string{"runningEC2TasksCount": "1", "runningFargateTasksCount": "1",
		"pendingEC2TasksCount": "1", "activeEC2ServiceCount": "1", "drainingEC2ServiceCount": "1", "activeFargateServiceCount": "0"} {
		if stats[name] != v {
			t.Fatalf("statistic %s = %q, want %s (all: %v)", name, stats[name], v, stats)
		}
	}
	if aws.ToString(d.Statistics[0].Name) != "runningEC2TasksCount" {
		t.Fatalf("statistics order %+v", d.Statistics)
	}

	assertECSError(t, del(), "ClusterContainsContainerInstancesException")
	deleteRecord(t, env, store.Key("instances", "busy", "i1"))
	assertECSError(t, del(), "ClusterContainsContainerInstancesException")
	deleteRecord(t, env, store.Key("instances", "busy", "i2"))

	assertECSError(t, del(), "ClusterContainsServicesException")
	deleteRecord(t, env, store.Key("services", "busy", "web"))
	assertECSError(t, del(), "ClusterContainsServicesException")
	deleteRecord(t, env, store.Key("services", "busy", "old"))

	assertECSError(t, del(), "ClusterContainsTasksException")
	for _, id := range []string{"t1", "t2"} {
		deleteRecord(t, env, store.Key("tasks", "busy", id))
	}
	assertECSError(t, del(), "ClusterContainsTasksException")
	deleteRecord(t, env, store.Key("tasks", "busy", "t3"))

	// Only a STOPPED task, an INACTIVE service and instance remain.
	if err := del(); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
}

// TestClusterStateSurvivesRestart stops the server and starts another on
// the same data directory. Each runs in its own subtest, which stops it
// once: apitest.Env.Restart closes the first server and Start's cleanup
// closes it again, which panics in etcd.
func TestClusterStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t.Run("before", func(t *testing.T) {
		env := apitest.Start(t, apitest.Options{DataDir: dir})
		c := env.Client
		createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("keep"),
			Tags:     []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
			Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("enabled")}}})
		createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("dropped")})
		if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("dropped")}); err != nil {
			t.Fatal(err)
		}
		arn := putInstanceRecord(t, env, "keep", "i1", "ACTIVE")
		if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("keep"),
			Attributes: []types.Attribute{{Name: aws.String("stack"), Value: aws.String("blue"), TargetId: aws.String(arn)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn),
			Tags: []types.Tag{{Key: aws.String("rack"), Value: aws.String("r1")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "awsvpcTrunking", Value: aws.String("enabled")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "containerInsights", Value: aws.String("enhanced")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after", func(t *testing.T) {
		env := apitest.Start(t, apitest.Options{DataDir: dir})
		c := env.Client
		d := describeCluster(t, c, "keep", types.ClusterFieldTags, types.ClusterFieldSettings)
		if aws.ToString(d.Status) != "ACTIVE" || len(d.Tags) != 1 || settingValue(d.Settings, "containerInsights") != "enabled" ||
			d.RegisteredContainerInstancesCount != 1 {
			t.Fatalf("cluster after restart: %+v", d)
		}
		if d := describeCluster(t, c, "dropped"); aws.ToString(d.Status) != "INACTIVE" {
			t.Fatalf("deleted cluster after restart: %+v", d)
		}
		attrs, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("keep"), TargetType: "container-instance"})
		if err != nil || len(attrs.Attributes) != 1 || aws.ToString(attrs.Attributes[0].Value) != "blue" {
			t.Fatalf("attributes after restart: %+v %v", attrs, err)
		}
		tags, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(env.Server.ECS.ContainerInstanceARN("keep", "i1"))})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "r1" {
			t.Fatalf("instance tags after restart: %+v %v", tags, err)
		}
		settings, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{})
		if err != nil || len(settings.Settings) != 1 || settings.Settings[0].Name != "awsvpcTrunking" {
			t.Fatalf("account settings after restart: %+v %v", settings, err)
		}
		eff, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Name: "containerInsights", EffectiveSettings: true})
		if err != nil || len(eff.Settings) != 1 || aws.ToString(eff.Settings[0].Value) != "enhanced" {
			t.Fatalf("account default after restart: %+v %v", eff, err)
		}
	})
}
