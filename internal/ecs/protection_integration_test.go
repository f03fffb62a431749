package ecs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestTaskProtectionOperations: GetTaskProtection and UpdateTaskProtection
// as ECS's API reference has them: defaults, bounds, failures for unknown
// and standalone tasks, errors for bad input.
func TestTaskProtectionOperations(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("p")}); err != nil {
		t.Fatal(err)
	}
	newSimAgent(t, env, "p", 4096, 4096)
	registerWeb(t, c, "web", 64, 0)
	// A standalone task and a task of a service (placed by the controller).
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("web")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run: %v", err)
	}
	standalone := aws.ToString(run.Tasks[0].TaskArn)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("p"), ServiceName: aws.String("s"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var svcTask string
	deadline := time.Now().Add(20 * time.Second)
	for svcTask == "" && time.Now().Before(deadline) {
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("p"), ServiceName: aws.String("s")})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.TaskArns) > 0 {
			svcTask = l.TaskArns[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svcTask == "" {
		t.Fatal("the service started no task")
	}
	missing := strings.Replace(standalone, standalone[strings.LastIndex(standalone, "/")+1:], "0123456789abcdef0123456789abcdef", 1)

	before := time.Now()
	out, err := c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String("p"), Tasks: []string{svcTask, standalone, missing},
		ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(2880)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ProtectedTasks) != 1 || aws.ToString(out.ProtectedTasks[0].TaskArn) != svcTask || !out.ProtectedTasks[0].ProtectionEnabled {
		t.Fatalf("protected %+v", out.ProtectedTasks)
	}
	if exp := *out.ProtectedTasks[0].ExpirationDate; exp.Before(before.Add(48*time.Hour-time.Second)) || exp.After(time.Now().Add(48*time.Hour)) {
		t.Fatalf("expiration %v, want 48h from now", exp)
	}
	reasons := map[string]string{}
	for _, f := range out.Failures {
		reasons[aws.ToString(f.Arn)] = aws.ToString(f.Reason)
	}
	if reasons[standalone] != "TASK_NOT_VALID" || reasons[missing] != "MISSING" || len(reasons) != 2 {
		t.Fatalf("failures %v", reasons)
	}
	got, err := c.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String("p"), Tasks: []string{svcTask}})
	if err != nil || len(got.ProtectedTasks) != 1 || !got.ProtectedTasks[0].ProtectionEnabled {
		t.Fatalf("get: %v %+v", err, got)
	}
	// Off: no expiration.
	out, err = c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String("p"), Tasks: []string{svcTask}, ProtectionEnabled: false})
	if err != nil || len(out.ProtectedTasks) != 1 || out.ProtectedTasks[0].ProtectionEnabled || out.ProtectedTasks[0].ExpirationDate != nil {
		t.Fatalf("off: %v %+v", err, out)
	}

	bad := []struct {
		name string
		in   ecs.UpdateTaskProtectionInput
		code string
	}{
		{"expires 0", ecs.UpdateTaskProtectionInput{Tasks: []string{svcTask}, ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(0)}, "InvalidParameterException"},
		{"expires 2881", ecs.UpdateTaskProtectionInput{Tasks: []string{svcTask}, ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(2881)}, "InvalidParameterException"},
		{"no tasks", ecs.UpdateTaskProtectionInput{Tasks: []string{}, ProtectionEnabled: true}, "InvalidParameterException"},
		{"11 tasks", ecs.UpdateTaskProtectionInput{Tasks: strings.Split(strings.Repeat(svcTask+",", 11)[:len(svcTask)*11+10], ","), ProtectionEnabled: true}, "InvalidParameterException"},
		{"bad task ID", ecs.UpdateTaskProtectionInput{Tasks: []string{"a/b/c"}, ProtectionEnabled: true}, "InvalidParameterException"},
	}
	for _, tt := range bad {
		in := tt.in
		in.Cluster = aws.String("p")
		if _, err := c.UpdateTaskProtection(ctx, &in); apiCode(err) != tt.code {
			t.Errorf("%s: want %s, got %v", tt.name, tt.code, err)
		}
	}
	if _, err := c.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String("nope"), Tasks: []string{svcTask}}); apiCode(err) != "ClusterNotFoundException" {
		t.Errorf("unknown cluster: %v", err)
	}
}
