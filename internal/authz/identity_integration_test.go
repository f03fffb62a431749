package authz_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

const joinPolicy = `{"Version":"2012-10-17","Statement":[
  {"Sid":"Join","Effect":"Allow","Action":"ecs:RegisterContainerInstance","Resource":"arn:aws:ecs:us-east-1:123456789012:cluster/prod"}]}`

// identityEnv starts a server whose credentials file has a join key (may
// register instances into prod) and a read-only key.
func identityEnv(t *testing.T) *apitest.Env {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range map[string]string{"join.json": joinPolicy, "ro.json": readOnlyPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds := "AKIDJOIN000000000000 join-secret joiner join.json\nAKIDREADONLY00000000 ro-secret reader ro.json\n"
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	return apitest.Start(t, apitest.Options{CredentialsFile: filepath.Join(dir, "credentials")})
}

func register(t *testing.T, c *ecsclient.Client, cluster string) (string, error) {
	t.Helper()
	var out ecsapi.RegisterContainerInstanceResponse
	err := c.Call(context.Background(), "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: cluster,
		TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}}}, &out)
	if err != nil {
		return "", err
	}
	return out.ContainerInstance.ContainerInstanceArn, nil
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	var ae *ecsclient.Error
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" {
		t.Fatalf("%s: want AccessDeniedException, got %v", what, err)
	}
}

func TestAgentIdentity(t *testing.T) {
	t.Parallel()
	env := identityEnv(t)
	ctx := context.Background()
	for _, c := range []string{"prod", "other"} {
		if _, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c)}); err != nil {
			t.Fatal(err)
		}
	}
	client := func(akid, secret string) *ecsclient.Client {
		return ecsclient.New(env.URL, apitest.Region, akid, secret)
	}
	join := client("AKIDJOIN000000000000", "join-secret")
	ro := client("AKIDREADONLY00000000", "ro-secret")

	// Registration: the join key in its cluster only; a user key not at all.
	arnA, err := register(t, join, "prod")
	if err != nil {
		t.Fatalf("join key registers: %v", err)
	}
	arnB, err := register(t, join, "prod")
	if err != nil {
		t.Fatal(err)
	}
	_, err = register(t, join, "other")
	wantDenied(t, "join key in another cluster", err)
	_, err = register(t, ro, "prod")
	wantDenied(t, "read-only key registers", err)

	// Each instance gets its own key.
	issue := func(c *ecsclient.Client, instance string) (*ecsclient.Client, error) {
		var out ecsapi.GantryIssueInstanceCredentialsResponse
		if err := c.Call(ctx, "GantryIssueInstanceCredentials", &ecsapi.GantryIssueInstanceCredentialsRequest{Cluster: "prod", ContainerInstance: instance}, &out); err != nil {
			return nil, err
		}
		if out.Principal != instance || !strings.HasPrefix(out.AccessKeyId, "AKGI") || out.RotateAfterSeconds <= 0 {
			t.Fatalf("issued %+v", out)
		}
		return client(out.AccessKeyId, out.SecretAccessKey), nil
	}
	keyA, err := issue(join, arnA)
	if err != nil {
		t.Fatalf("issue A: %v", err)
	}
	keyB, err := issue(join, arnB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = issue(ro, arnA)
	wantDenied(t, "read-only key issues instance keys", err)

	// A task on A.
	if _, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(32)}}}); err != nil {
		t.Fatal(err)
	}
	st, err := env.Client.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web"), ContainerInstances: []string{arnA}})
	if err != nil || len(st.Tasks) != 1 {
		t.Fatalf("StartTask: %v %v", st, err)
	}
	taskA := aws.ToString(st.Tasks[0].TaskArn)

	poll := func(c *ecsclient.Client, instance string) (ecsapi.GantryPollTasksResponse, error) {
		var out ecsapi.GantryPollTasksResponse
		err := c.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "prod", ContainerInstance: instance}, &out)
		return out, err
	}
	submit := func(c *ecsclient.Client, task, status string) error {
		return c.Call(ctx, "SubmitTaskStateChange", &ecsapi.SubmitTaskStateChangeRequest{Cluster: "prod", Task: task, Status: status}, nil)
	}
	t.Run("own instance and tasks", func(t *testing.T) {
		out, err := poll(keyA, arnA)
		if err != nil || len(out.TaskArns) != 1 || out.TaskArns[0] != taskA {
			t.Fatalf("A polls its tasks: %+v %v", out, err)
		}
		if err := keyA.Call(ctx, "GantrySubmitTaskState", &ecsapi.GantrySubmitTaskStateRequest{Cluster: "prod", Task: taskA, Status: "RUNNING"}, nil); err != nil {
			t.Fatalf("A reports its task: %v", err)
		}
		if _, err := register(t, keyA, "prod"); err == nil {
			t.Fatal("an instance key registered a new instance")
		}
	})
	t.Run("another instance's tasks", func(t *testing.T) {
		_, err := poll(keyB, arnA)
		wantDenied(t, "B polls A's tasks", err)
		wantDenied(t, "B stops A's task", submit(keyB, taskA, "STOPPED"))
		wantDenied(t, "B reports A's task", keyB.Call(ctx, "GantrySubmitTaskState", &ecsapi.GantrySubmitTaskStateRequest{Cluster: "prod", Task: taskA, Status: "STOPPED"}, nil))
		wantDenied(t, "B reports A's container", keyB.Call(ctx, "SubmitContainerStateChange", &ecsapi.SubmitContainerStateChangeRequest{Cluster: "prod", Task: taskA, ContainerName: "web", Status: "STOPPED"}, nil))
		_, err = issue(keyB, arnA)
		wantDenied(t, "B takes A's identity", err)
		d, err := env.Client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{taskA}})
		if err != nil || aws.ToString(d.Tasks[0].LastStatus) != "RUNNING" || aws.ToString(d.Tasks[0].DesiredStatus) != "RUNNING" {
			t.Fatalf("A's task changed: %+v %v", d, err)
		}
		if out, err := poll(keyB, arnB); err != nil || len(out.TaskArns) != 0 {
			t.Fatalf("B polls its own: %+v %v", out, err)
		}
	})
	t.Run("task protection of its own tasks only", func(t *testing.T) {
		// The task metadata endpoint's ECS_AGENT_URI calls (package tmds).
		// The calls about A's own task are allowed (the standalone task is
		// then refused by ECS's rule, TASK_NOT_VALID, not by the
		// authoriser); B's are denied.
		var upd ecsapi.UpdateTaskProtectionResponse
		if err := keyA.Call(ctx, "UpdateTaskProtection", &ecsapi.UpdateTaskProtectionRequest{Cluster: "prod", Tasks: []string{taskA}, ProtectionEnabled: true}, &upd); err != nil ||
			len(upd.Failures) != 1 || upd.Failures[0].Reason != "TASK_NOT_VALID" {
			t.Fatalf("A protects its task: %+v %v", upd, err)
		}
		var got ecsapi.GetTaskProtectionResponse
		if err := keyA.Call(ctx, "GetTaskProtection", &ecsapi.GetTaskProtectionRequest{Cluster: "prod", Tasks: []string{taskA}}, &got); err != nil || len(got.Failures) != 1 {
			t.Fatalf("A reads its task's protection: %+v %v", got, err)
		}
		wantDenied(t, "B reads A's task's protection", keyB.Call(ctx, "GetTaskProtection", &ecsapi.GetTaskProtectionRequest{Cluster: "prod", Tasks: []string{taskA}}, nil))
		wantDenied(t, "B unprotects A's task", keyB.Call(ctx, "UpdateTaskProtection", &ecsapi.UpdateTaskProtectionRequest{Cluster: "prod", Tasks: []string{taskA}, ProtectionEnabled: false}, nil))
		wantDenied(t, "A names no task", keyA.Call(ctx, "GetTaskProtection", &ecsapi.GetTaskProtectionRequest{Cluster: "prod"}, nil))
	})
	t.Run("instance keys make only the agent's calls", func(t *testing.T) {
		wantDenied(t, "DescribeClusters", keyA.Call(ctx, "DescribeClusters", &ecsapi.DescribeClustersRequest{}, nil))
		wantDenied(t, "RunTask", keyA.Call(ctx, "RunTask", &ecsapi.RunTaskRequest{Cluster: "prod", TaskDefinition: "web"}, nil))
		wantDenied(t, "poll in another cluster", keyA.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "other", ContainerInstance: arnA}, nil))
		// Pulling task images from ECR, as ECS's instance role may; nothing else there.
		if err := keyA.CallService(ctx, ecrapi.SigningName, ecrapi.TargetPrefix, "GetAuthorizationToken", &ecrapi.GetAuthorizationTokenRequest{}, nil); err != nil {
			t.Fatalf("ecr:GetAuthorizationToken: %v", err)
		}
		wantDenied(t, "ecr:CreateRepository", keyA.CallService(ctx, ecrapi.SigningName, ecrapi.TargetPrefix, "CreateRepository", &ecrapi.CreateRepositoryRequest{RepositoryName: "x"}, nil))
	})
	t.Run("user keys make no agent calls", func(t *testing.T) {
		_, err := poll(ro, arnA)
		wantDenied(t, "read-only key polls", err)
		wantDenied(t, "read-only key reports", submit(ro, taskA, "STOPPED"))
		_, err = poll(join, arnA)
		wantDenied(t, "join key polls", err)
		// An administrator may, as on ECS.
		if _, err := poll(ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey), arnA); err != nil {
			t.Fatalf("administrator polls: %v", err)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		keyA2, err := issue(keyA, arnA)
		if err != nil {
			t.Fatalf("A rotates its key: %v", err)
		}
		if _, err := poll(keyA2, arnA); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, err := poll(keyA, arnA); err != nil {
			t.Fatalf("the replaced key within its grace period: %v", err)
		}
	})
	t.Run("one live poller per instance", func(t *testing.T) {
		pollAs := func(session string) error {
			return keyB.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "prod", ContainerInstance: arnB, Session: session}, nil)
		}
		if err := pollAs("first"); err != nil {
			t.Fatal(err)
		}
		err := pollAs("second")
		var ae *ecsclient.Error
		if !errors.As(err, &ae) || ae.Code != "ClientException" || !strings.Contains(ae.Message, "already has a live agent polling it") {
			t.Fatalf("second poller: %v", err)
		}
		if err := pollAs("first"); err != nil {
			t.Fatalf("the first poller lost its instance: %v", err)
		}
	})
	t.Run("log shipping only where its own task's container logs", func(t *testing.T) {
		if _, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("logger"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(32),
				LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
					"awslogs-group": "/app/logs", "awslogs-region": apitest.Region, "awslogs-stream-prefix": "svc"}}}}}); err != nil {
			t.Fatal(err)
		}
		// An instance whose agent can do awslogs.
		var reg ecsapi.RegisterContainerInstanceResponse
		if err := join.Call(ctx, "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "prod",
			TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}},
			Attributes: []ecsapi.Attribute{{Name: "com.amazonaws.ecs.capability.logging-driver.awslogs"},
				{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"}, {Name: "com.amazonaws.ecs.capability.docker-remote-api.1.19"}}}, &reg); err != nil {
			t.Fatal(err)
		}
		arnC := reg.ContainerInstance.ContainerInstanceArn
		keyC, err := issue(join, arnC)
		if err != nil {
			t.Fatal(err)
		}
		lt, err := env.Client.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("logger"), ContainerInstances: []string{arnC}})
		if err != nil || len(lt.Tasks) != 1 {
			t.Fatalf("StartTask: %s %v", aws.ToString(lt.Failures[0].Reason), err)
		}
		logTask := aws.ToString(lt.Tasks[0].TaskArn)
		taskID := logTask[strings.LastIndex(logTask, "/")+1:]
		seq := int64(0)
		put := func(c *ecsclient.Client, task, container, group, stream string) error {
			seq++
			return c.Call(ctx, "GantryPutLogEvents", &ecsapi.GantryPutLogEventsRequest{Cluster: "prod", ContainerInstance: arnC, Task: task,
				ContainerName: container, LogGroupName: group, LogStreamName: stream, CreateGroup: true, Producer: "p-" + task + container,
				BatchSeq: seq, Events: []ecsapi.GantryLogEvent{{Timestamp: 1700000000000, Message: "hello"}}}, nil)
		}
		if err := put(keyC, logTask, "app", "/app/logs", "svc/app/"+taskID); err != nil {
			t.Fatalf("own container's group and stream: %v", err)
		}
		wantDenied(t, "another group", put(keyC, logTask, "app", "/other/group", "svc/app/"+taskID))
		wantDenied(t, "another stream in its group", put(keyC, logTask, "app", "/app/logs", "svc/app/someone-else"))
		wantDenied(t, "an unknown container", put(keyC, logTask, "nope", "/app/logs", "svc/nope/"+taskID))
		// A's task, whose container has no awslogs, through A's key.
		err = keyA.Call(ctx, "GantryPutLogEvents", &ecsapi.GantryPutLogEventsRequest{Cluster: "prod", ContainerInstance: arnA, Task: taskA,
			ContainerName: "web", LogGroupName: "/app/logs", LogStreamName: "svc/web/x", CreateGroup: true, Producer: "pa", BatchSeq: 1,
			Events: []ecsapi.GantryLogEvent{{Timestamp: 1700000000000, Message: "hello"}}}, nil)
		wantDenied(t, "a container without awslogs", err)
		// An administrator is not bound to the task's configuration, as before.
		if err := put(ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey), logTask, "app", "/admin/group", "s"); err != nil {
			t.Fatalf("administrator ships logs: %v", err)
		}
	})
	t.Run("deregistration revokes the instance's keys", func(t *testing.T) {
		keyB2, err := issue(keyB, arnB) // keyB is now a replaced key within its grace period
		if err != nil {
			t.Fatal(err)
		}
		if _, err := poll(keyB2, arnB); err != nil {
			t.Fatalf("before deregistration: %v", err)
		}
		if _, err := env.Client.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arnB)}); err != nil {
			t.Fatal(err)
		}
		_, unknown := poll(client("AKGIUNKNOWNKEY000000", "nope"), arnB)
		var want *ecsclient.Error
		if !errors.As(unknown, &want) {
			t.Fatalf("unknown key: %v", unknown)
		}
		for name, c := range map[string]*ecsclient.Client{"current key": keyB2, "replaced key": keyB} {
			_, err := poll(c, arnB)
			var got *ecsclient.Error
			if !errors.As(err, &got) || got.Code != want.Code || got.Status != want.Status {
				t.Fatalf("%s after deregistration: got %v, want the unknown key's %v", name, err, unknown)
			}
		}
		if _, err := issue(join, arnB); err == nil {
			t.Fatal("a deregistered instance got a new key")
		}
		// A's key is untouched.
		if _, err := poll(keyA, arnA); err != nil {
			t.Fatalf("A after B's deregistration: %v", err)
		}
	})
}
