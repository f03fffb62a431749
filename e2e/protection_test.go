package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestProtectedTasksSurviveScaleIn: tasks protected with
// UpdateTaskProtection (through the SDK and the aws CLI) survive a scale-in
// that stops their unprotected siblings; once protection is turned off the
// service scales in to its desired count.
func TestProtectedTasksSurviveScaleIn(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("prot"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("prot"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(4)})
	c.waitStable("prot", 60*time.Second)
	var arns []string
	for _, tk := range c.serviceTasks("prot") {
		arns = append(arns, aws.ToString(tk.TaskArn))
	}
	sort.Strings(arns)
	// Protect two of the four: a scale-in to 1 must keep both.
	protected := arns[:2]
	out, err := c.ecs.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(c.name), Tasks: protected[:1], ProtectionEnabled: true})
	if err != nil || len(out.ProtectedTasks) != 1 || !out.ProtectedTasks[0].ProtectionEnabled || out.ProtectedTasks[0].ExpirationDate == nil {
		t.Fatalf("update task protection: %v %+v", err, out)
	}
	if d := time.Until(*out.ProtectedTasks[0].ExpirationDate); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("default protection ends in %v, want 2h", d)
	}
	cli := newAWSCLI(t, c.env.URL)
	var upd struct {
		ProtectedTasks []struct {
			TaskArn           string `json:"taskArn"`
			ProtectionEnabled bool   `json:"protectionEnabled"`
		} `json:"protectedTasks"`
	}
	cli.run(&upd, "update-task-protection", "--cluster", c.name, "--tasks", protected[1], "--protection-enabled", "--expires-in-minutes", "60")
	if len(upd.ProtectedTasks) != 1 || !upd.ProtectedTasks[0].ProtectionEnabled {
		t.Fatalf("aws ecs update-task-protection: %+v", upd)
	}
	var got struct {
		ProtectedTasks []struct {
			TaskArn           string `json:"taskArn"`
			ProtectionEnabled bool   `json:"protectionEnabled"`
		} `json:"protectedTasks"`
		Failures []struct{ Reason string } `json:"failures"`
	}
	cli.run(&got, "get-task-protection", "--cluster", c.name, "--tasks", protected[0], protected[1], arns[2])
	if len(got.ProtectedTasks) != 3 || !got.ProtectedTasks[0].ProtectionEnabled || !got.ProtectedTasks[1].ProtectionEnabled || got.ProtectedTasks[2].ProtectionEnabled {
		t.Fatalf("aws ecs get-task-protection: %+v", got)
	}
	// Bad input: AWS's errors.
	if _, stderr, err := cli.try("update-task-protection", "--cluster", c.name, "--tasks", protected[0], "--protection-enabled", "--expires-in-minutes", "2881"); err == nil || !strings.Contains(stderr, "InvalidParameterException") {
		t.Fatalf("expiresInMinutes 2881: %v %s", err, stderr)
	}

	// Scale in to 1: the two protected tasks stay, the others stop.
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("prot"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "unprotected tasks stopped", func() error {
		var left []string
		for _, tk := range c.serviceTasks("prot") {
			left = append(left, aws.ToString(tk.TaskArn))
		}
		sort.Strings(left)
		if strings.Join(left, ",") != strings.Join(protected, ",") {
			return fmt.Errorf("tasks %v, want the protected %v", left, protected)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if n := len(c.serviceTasks("prot")); n != 2 {
		t.Fatalf("%d tasks: a protected task was stopped", n)
	}
	if s := c.svc("prot"); !hasEvent(s, "was unable to scale in due to (reason: 1 tasks under protection).") {
		t.Fatalf("events %v", eventMessages(s, 5))
	}
	// Protection off: the service reaches its desired count.
	if _, err := c.ecs.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(c.name), Tasks: protected[1:], ProtectionEnabled: false}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "scaled in to 1", func() error {
		left := c.serviceTasks("prot")
		if len(left) != 1 || aws.ToString(left[0].TaskArn) != protected[0] {
			return fmt.Errorf("%d tasks", len(left))
		}
		return nil
	})
}
