package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// awsCLI is Debian's aws command (the awscli package), pointed at a server.
type awsCLI struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
	dir      string
}

func newAWSCLI(t *testing.T, endpoint string) *awsCLI {
	t.Helper()
	bin := "/usr/bin/aws"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Debian's awscli package is not installed (%s missing); scripts/ensure-deps installs it", bin)
		}
		t.Skipf("Debian's awscli package is not installed (%s missing)", bin)
	}
	dir := t.TempDir()
	env := []string{
		"HOME=" + dir, "PATH=/usr/bin:/bin",
		"AWS_ACCESS_KEY_ID=" + apitest.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + apitest.SecretAccessKey,
		"AWS_DEFAULT_REGION=" + apitest.Region, "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
	}
	return &awsCLI{t: t, bin: bin, endpoint: endpoint, env: env, dir: dir}
}

// run runs `aws ecs ARGS... --endpoint-url URL --output json` and decodes
// its output into out (if not nil). It fails the test if the command fails.
func (a *awsCLI) run(out any, args ...string) {
	a.t.Helper()
	stdout, stderr, err := a.try(args...)
	if err != nil {
		a.t.Fatalf("aws ecs %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			a.t.Fatalf("aws ecs %s: output %q: %v", strings.Join(args, " "), stdout, err)
		}
	}
}

// try runs the command and returns its output and error.
func (a *awsCLI) try(args ...string) (string, string, error) {
	return a.tryService("ecs", args...)
}

// tryService runs `aws SERVICE ARGS...` and returns its output and error.
func (a *awsCLI) tryService(service string, args ...string) (string, string, error) {
	full := append([]string{service}, args...)
	full = append(full, "--endpoint-url", a.endpoint, "--output", "json")
	cmd := exec.Command(a.bin, full...)
	cmd.Env = a.env
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return so.String(), se.String(), err
}

func (a *awsCLI) file(name, content string) string {
	p := filepath.Join(a.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		a.t.Fatal(err)
	}
	return "file://" + p
}

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	cli := newAWSCLI(t, env.URL)

	var cc struct {
		Cluster struct{ ClusterArn, ClusterName, Status string }
	}
	cli.run(&cc, "create-cluster", "--cluster-name", "cli", "--tags", "key=team,value=core")
	if cc.Cluster.ClusterArn != "arn:aws:ecs:us-east-1:123456789012:cluster/cli" || cc.Cluster.Status != "ACTIVE" {
		t.Fatalf("create-cluster: %+v", cc)
	}
	var dc struct {
		Clusters []struct{ ClusterName string }
		Failures []struct{ Arn, Reason string }
	}
	cli.run(&dc, "describe-clusters", "--clusters", "cli", "missing")
	if len(dc.Clusters) != 1 || len(dc.Failures) != 1 || dc.Failures[0].Reason != "MISSING" {
		t.Fatalf("describe-clusters: %+v", dc)
	}

	td := cli.file("td.json", `{
  "family": "cli-web",
  "networkMode": "bridge",
  "containerDefinitions": [{
    "name": "web", "image": "gantry-test/server:latest", "memory": 64, "cpu": 128, "essential": true,
    "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
    "environment": [{"name": "GREETING", "value": "hello"}],
    "healthCheck": {"command": ["CMD", "/app", "check", "http://127.0.0.1:8080/health"], "interval": 10, "timeout": 5, "retries": 3}
  }]
}`)
	var reg struct {
		TaskDefinition struct {
			TaskDefinitionArn string
			Revision          int
			Status            string
		}
	}
	for i := 1; i <= 5; i++ {
		cli.run(&reg, "register-task-definition", "--cli-input-json", td)
		if reg.TaskDefinition.Revision != i || reg.TaskDefinition.Status != "ACTIVE" {
			t.Fatalf("register %d: %+v", i, reg)
		}
	}
	var desc struct {
		TaskDefinition struct {
			Revision             int
			ContainerDefinitions []struct {
				Name        string
				Environment []struct{ Name, Value string }
				HealthCheck struct{ Retries int }
			}
		}
	}
	cli.run(&desc, "describe-task-definition", "--task-definition", "cli-web")
	if desc.TaskDefinition.Revision != 5 || desc.TaskDefinition.ContainerDefinitions[0].Environment[0].Value != "hello" ||
		desc.TaskDefinition.ContainerDefinitions[0].HealthCheck.Retries != 3 {
		t.Fatalf("describe-task-definition: %+v", desc)
	}
	// The CLI pages through ListTaskDefinitions itself: page size 2 means
	// three calls, all five ARNs.
	var list struct{ TaskDefinitionArns []string }
	cli.run(&list, "list-task-definitions", "--family-prefix", "cli-web", "--page-size", "2")
	if len(list.TaskDefinitionArns) != 5 {
		t.Fatalf("list-task-definitions paged: %v", list.TaskDefinitionArns)
	}
	var first struct {
		TaskDefinitionArns []string
		NextToken          string
	}
	cli.run(&first, "list-task-definitions", "--max-items", "2")
	if len(first.TaskDefinitionArns) != 2 || first.NextToken == "" {
		t.Fatalf("list-task-definitions --max-items: %+v", first)
	}
	var rest struct{ TaskDefinitionArns []string }
	cli.run(&rest, "list-task-definitions", "--starting-token", first.NextToken)
	if len(rest.TaskDefinitionArns) != 3 {
		t.Fatalf("list-task-definitions --starting-token: %+v", rest)
	}

	var dereg struct{ TaskDefinition struct{ Status string } }
	cli.run(&dereg, "deregister-task-definition", "--task-definition", "cli-web:1")
	if dereg.TaskDefinition.Status != "INACTIVE" {
		t.Fatalf("deregister: %+v", dereg)
	}
	cli.run(&list, "list-task-definitions", "--status", "INACTIVE")
	if len(list.TaskDefinitionArns) != 1 || !strings.HasSuffix(list.TaskDefinitionArns[0], "cli-web:1") {
		t.Fatalf("inactive: %v", list.TaskDefinitionArns)
	}

	arn := reg.TaskDefinition.TaskDefinitionArn
	cli.run(nil, "tag-resource", "--resource-arn", arn, "--tags", "key=env,value=test", "key=owner,value=me")
	var tags struct{ Tags []struct{ Key, Value string } }
	cli.run(&tags, "list-tags-for-resource", "--resource-arn", arn)
	if len(tags.Tags) != 2 {
		t.Fatalf("tags: %+v", tags)
	}
	cli.run(nil, "untag-resource", "--resource-arn", arn, "--tag-keys", "owner")
	cli.run(&tags, "list-tags-for-resource", "--resource-arn", arn)
	if len(tags.Tags) != 1 || tags.Tags[0].Key != "env" {
		t.Fatalf("after untag: %+v", tags)
	}
	cli.run(&tags, "list-tags-for-resource", "--resource-arn", cc.Cluster.ClusterArn)
	if len(tags.Tags) != 1 || tags.Tags[0].Value != "core" {
		t.Fatalf("cluster tags: %+v", tags)
	}

	// Errors come back as the exceptions the CLI names.
	_, stderr, err := cli.try("describe-task-definition", "--task-definition", "nope:1")
	if err == nil || !strings.Contains(stderr, "ClientException") {
		t.Fatalf("describe of a missing task definition: %v %s", err, stderr)
	}
	_, stderr, err = cli.try("delete-cluster", "--cluster", "missing")
	if err == nil || !strings.Contains(stderr, "ClusterNotFoundException") {
		t.Fatalf("delete of a missing cluster: %v %s", err, stderr)
	}
}

// TestAWSCLIRunTask is the README's walk-through: run-task starts a
// container the reader can reach, stop-task stops it.
func TestAWSCLIRunTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	cli := newAWSCLI(t, c.env.URL)
	td := cli.file("web.json", fmt.Sprintf(`{"family": "walk", "containerDefinitions": [{"name": "web", "image": %q, "memory": 64, "essential": true, "portMappings": [{"containerPort": 8080}]}]}`, c.image))
	cli.run(nil, "register-task-definition", "--cli-input-json", td)
	var run struct {
		Tasks    []struct{ TaskArn string }
		Failures []any
	}
	cli.run(&run, "run-task", "--cluster", c.name, "--task-definition", "walk")
	if len(run.Tasks) != 1 {
		t.Fatalf("run-task: %+v", run)
	}
	arn := run.Tasks[0].TaskArn
	var port int
	testutil.WaitFor(t, 30*time.Second, "task RUNNING", func() error {
		var d struct {
			Tasks []struct {
				LastStatus string
				Containers []struct{ NetworkBindings []struct{ HostPort int } }
			}
		}
		cli.run(&d, "describe-tasks", "--cluster", c.name, "--tasks", arn)
		if d.Tasks[0].LastStatus != "RUNNING" {
			return fmt.Errorf("task %s", d.Tasks[0].LastStatus)
		}
		port = d.Tasks[0].Containers[0].NetworkBindings[0].HostPort
		return nil
	})
	testutil.WaitFor(t, 10*time.Second, "container answers", func() error {
		_, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err
	})
	cli.run(nil, "stop-task", "--cluster", c.name, "--task", arn, "--reason", "walk-through over")
	// The CLI's own waiter works too.
	cli.run(nil, "wait", "tasks-stopped", "--cluster", c.name, "--tasks", arn)
}
