package authz_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

const (
	readOnlyPolicy = `{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Action":["ecs:Describe*","ecs:List*","logs:Describe*"],"Resource":"*"}]}`
	denyProdPolicy = `{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"ecs:*","Resource":"*"},
  {"Sid":"KeepProd","Effect":"Deny","Action":["ecs:DeleteCluster","ecs:UpdateService"],"Resource":["arn:aws:ecs:*:*:cluster/prod*","arn:aws:ecs:*:*:service/prod*/*"]}]}`
	teamPolicy = `{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["ecs:UpdateService","ecs:DescribeServices"],"Resource":"arn:aws:ecs:us-east-1:123456789012:service/team-a/*"},
  {"Effect":"Allow","Action":"ecs:RunTask","Resource":"*","Condition":{"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/team-a"}}}]}`
)

// writeCredentials writes a credentials file with a read-only, a
// deny-prod and a team key, each with its policy file beside it.
func writeCredentials(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range map[string]string{"ro.json": readOnlyPolicy, "deny.json": denyProdPolicy, "team.json": teamPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds := "# keys with policies\n" +
		"AKIDREADONLY00000000 ro-secret reader ro.json\n" +
		"AKIDDENYPROD00000000 deny-secret operator deny.json\n" +
		"AKIDTEAMA00000000000 team-secret team-a " + filepath.Join(dir, "team.json") + "\n"
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func accessDenied(t *testing.T, err error, wantMsg string) {
	t.Helper()
	var ad *types.AccessDeniedException
	if !errors.As(err, &ad) {
		t.Fatalf("want AccessDeniedException, got %T %v", err, err)
	}
	if ad.ErrorMessage() != wantMsg {
		t.Fatalf("message\n got %q\nwant %q", ad.ErrorMessage(), wantMsg)
	}
}

func TestPoliciesThroughTheSDK(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{CredentialsFile: writeCredentials(t)})
	ctx := context.Background()
	admin := env.Client
	for _, c := range []string{"default", "prod", "team-a", "team-b"} {
		if _, err := admin.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(32)}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"prod", "team-a", "team-b"} {
		if _, err := admin.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c), ServiceName: aws.String("web"),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
	}
	const arn = "arn:aws:ecs:us-east-1:123456789012:"

	t.Run("read-only key reads", func(t *testing.T) {
		ro := apitest.NewClientWith(env.URL, "AKIDREADONLY00000000", "ro-secret")
		if out, err := ro.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil || len(out.ClusterArns) != 4 {
			t.Fatalf("ListClusters: %v %v", out, err)
		}
		if out, err := ro.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}); err != nil || len(out.Services) != 1 {
			t.Fatalf("DescribeServices: %v %v", out, err)
		}
		if _, err := ro.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")}); err != nil {
			t.Fatalf("DescribeTaskDefinition: %v", err)
		}
	})
	t.Run("read-only key writes nothing", func(t *testing.T) {
		ro := apitest.NewClientWith(env.URL, "AKIDREADONLY00000000", "ro-secret")
		user := "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
		_, err := ro.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("team-a"), TaskDefinition: aws.String("web:1")})
		accessDenied(t, err, user+"ecs:RunTask on resource: "+arn+"task-definition/web:1 because no identity-based policy allows the ecs:RunTask action")
		_, err = ro.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(3)})
		accessDenied(t, err, user+"ecs:UpdateService on resource: "+arn+"service/prod/web because no identity-based policy allows the ecs:UpdateService action")
		_, err = ro.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("prod"), Task: aws.String("0123456789abcdef0123456789abcdef"), Status: aws.String("STOPPED")})
		accessDenied(t, err, user+"ecs:SubmitTaskStateChange on resource: "+arn+"cluster/prod because no identity-based policy allows the ecs:SubmitTaskStateChange action")
		_, err = ro.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("new")})
		accessDenied(t, err, user+"ecs:CreateCluster on resource: "+arn+"cluster/new because no identity-based policy allows the ecs:CreateCluster action")
		// Nothing changed.
		out, err := admin.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
		if err != nil || out.Services[0].DesiredCount != 0 {
			t.Fatalf("service changed: %+v %v", out, err)
		}
		tasks, err := admin.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("team-a")})
		if err != nil || len(tasks.TaskArns) != 0 {
			t.Fatalf("tasks %v %v", tasks, err)
		}
		if cl, err := admin.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"new"}}); err != nil || len(cl.Clusters) != 0 {
			t.Fatalf("cluster created: %+v %v", cl, err)
		}
	})
	t.Run("explicit deny beats allow", func(t *testing.T) {
		op := apitest.NewClientWith(env.URL, "AKIDDENYPROD00000000", "deny-secret")
		_, err := op.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(2)})
		accessDenied(t, err, "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: ecs:UpdateService on resource: "+arn+"service/prod/web with an explicit deny in an identity-based policy")
		_, err = op.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(arn + "cluster/prod")})
		accessDenied(t, err, "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: ecs:DeleteCluster on resource: "+arn+"cluster/prod with an explicit deny in an identity-based policy")
		// The Allow still allows everything else.
		if _, err := op.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("team-b"), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
			t.Fatalf("UpdateService team-b: %v", err)
		}
		if _, err := op.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")}); err != nil {
			t.Fatalf("DeleteCluster default: %v", err)
		}
	})
	t.Run("resources and conditions", func(t *testing.T) {
		team := apitest.NewClientWith(env.URL, "AKIDTEAMA00000000000", "team-secret")
		if _, err := team.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("team-a"), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
			t.Fatalf("own service: %v", err)
		}
		_, err := team.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("team-b"), Service: aws.String("web"), DesiredCount: aws.Int32(1)})
		accessDenied(t, err, "User: arn:aws:iam::123456789012:user/team-a is not authorized to perform: ecs:UpdateService on resource: "+arn+"service/team-b/web because no identity-based policy allows the ecs:UpdateService action")
		// Every service named must be allowed.
		_, err = team.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("team-a"), Services: []string{"web", arn + "service/team-b/web"}})
		accessDenied(t, err, "User: arn:aws:iam::123456789012:user/team-a is not authorized to perform: ecs:DescribeServices on resource: "+arn+"service/team-b/web because no identity-based policy allows the ecs:DescribeServices action")
		// ecs:cluster: RunTask only in team-a.
		_, err = team.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("team-b"), TaskDefinition: aws.String("web")})
		accessDenied(t, err, "User: arn:aws:iam::123456789012:user/team-a is not authorized to perform: ecs:RunTask on resource: "+arn+"task-definition/web:* because no identity-based policy allows the ecs:RunTask action")
		// Allowed, it reaches RunTask, which finds no instance to run on.
		_, err = team.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("team-a"), TaskDefinition: aws.String("web")})
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) || !strings.Contains(ip.ErrorMessage(), "No Container Instances") {
			t.Fatalf("RunTask in team-a: %v", err)
		}
	})
	t.Run("other services", func(t *testing.T) {
		c := cwl.New(cwl.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDREADONLY00000000", "ro-secret", "")})
		if _, err := c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{}); err != nil {
			t.Fatalf("DescribeLogGroups: %v", err)
		}
		_, err := c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("/ecs/web")})
		var ad *cwltypes.AccessDeniedException
		if !errors.As(err, &ad) || !strings.Contains(ad.ErrorMessage(), "logs:CreateLogGroup on resource: arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web because") {
			t.Fatalf("want AccessDeniedException, got %T %v", err, err)
		}
	})
	t.Run("aws CLI", func(t *testing.T) {
		bin := testutil.AWSCLI(t)
		cmd := exec.Command(bin, "ecs", "run-task", "--cluster", "team-a", "--task-definition", "web",
			"--endpoint-url", env.URL, "--region", apitest.Region, "--output", "json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDREADONLY00000000", "AWS_SECRET_ACCESS_KEY=ro-secret",
			"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		out, err := cmd.CombinedOutput()
		// With AWS_MAX_ATTEMPTS=1 the CLI may add "(reached max retries: 0)".
		if err == nil || !strings.Contains(string(out), "An error occurred (AccessDeniedException) when calling the RunTask operation") ||
			!strings.Contains(string(out), "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: ecs:RunTask on resource: ") {
			t.Fatalf("aws ecs run-task: %v\n%s", err, out)
		}
		cmd = exec.Command(bin, "ecs", "list-clusters", "--endpoint-url", env.URL, "--region", apitest.Region, "--output", "json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDREADONLY00000000", "AWS_SECRET_ACCESS_KEY=ro-secret",
			"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "cluster/prod") {
			t.Fatalf("aws ecs list-clusters: %v\n%s", err, out)
		}
	})
}

// A policy that does not parse stops the server at start, naming the
// credentials file's line, the policy file and IAM's reason with its line.
func TestMalformedPolicyRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := "{\"Version\":\"2012-10-17\",\n \"Statement\":[\n  {\"Effect\":\"Alow\",\"Action\":\"ecs:*\",\"Resource\":\"*\"}]}"
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte("AKIDGOOD000000000000 s good\n\nAKIDBAD0000000000000 s bad bad.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.CredentialsFile = path
	if err := cfg.LoadCredentials(func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	srv, err := app.StartServer(context.Background(), cfg, apitest.Logger())
	if err == nil {
		srv.Close()
		t.Fatal("the server started with a malformed policy")
	}
	for _, want := range []string{path + ":3", "bad.json", "MalformedPolicyDocument", "Alow", "line 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
