package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// A STOPPED forged with an administrator key (the control plane believes
// the task stopped) stops the real container within 10 seconds while the
// agent runs, so it does not run beside its replacement.
func TestForgedStoppedStopsTheContainer(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("forged"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	arn := aws.ToString(c.run(td).TaskArn)
	running := c.waitStatus(arn, "RUNNING", 30*time.Second)
	id := aws.ToString(running.Containers[0].RuntimeId)
	if _, err := c.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String(c.name), Task: aws.String(arn),
		Status: aws.String("STOPPED"), Reason: aws.String("forged")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.WaitFor(t, 10*time.Second, "the container stopped", func() error {
		info, err := c.docker.ContainerInspect(ctx, id)
		if err == nil && info.State.Running {
			return errors.New("still running")
		}
		return nil
	})
	t.Logf("stopped %v after the forged STOPPED", time.Since(start))
}

// A second agent on a data dir in use exits at once with a message that
// says so; the first keeps running its instance.
func TestSecondAgentOnOneDataDirExits(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	second, err := agentapp.StartAgent(context.Background(), c.agentConfig(clusterOptions{}), agentapp.AgentOptions{}, apitest.Logger())
	if err == nil {
		second.Close()
		t.Fatal("a second agent started on the same data dir")
	}
	if !errors.Is(err, agent.ErrDataDirInUse) || !strings.Contains(err.Error(), "only one agent may use a data dir") {
		t.Fatalf("second agent: %v", err)
	}
	select {
	case <-c.agent.Done():
		t.Fatalf("the first agent stopped: %v", c.agent.Err())
	default:
	}
	list, err := c.ecs.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(c.name)})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("instances %v %v", list, err)
	}
}

// An agent joins over TLS with a join key that may only register into its
// cluster: it verifies the server against the development CA, gets its
// instance's own key, keeps it in its data dir (0600), and runs tasks with
// it, while the join key itself cannot poll.
func TestAgentJoinsWithAJoinKeyOverTLS(t *testing.T) {
	t.Parallel()
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	dir := t.TempDir()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:RegisterContainerInstance","Resource":"arn:aws:ecs:us-east-1:123456789012:cluster/joined"}]}`
	if err := os.WriteFile(filepath.Join(dir, "join.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("AKIDJOIN000000000000 join-secret joiner join.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apitest.Start(t, apitest.Options{CredentialsFile: filepath.Join(dir, "credentials"), Configure: func(c *config.Server) { c.TLSGenerate = true }})
	caFile := filepath.Join(env.DataDir, "tls", "ca.pem")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	admin := ecs.New(ecs.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
		HTTPClient:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	ctx := context.Background()
	if _, err := admin.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("joined")}); err != nil {
		t.Fatal(err)
	}
	agentDir := t.TempDir()
	id, err := agent.LoadInstanceID(agentDir)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
	a, err := agentapp.StartAgent(ctx, agent.Config{Server: env.URL, CACert: caFile, Cluster: "joined", DataDir: agentDir, Region: apitest.Region,
		AccessKeyID: "AKIDJOIN000000000000", SecretAccessKey: "join-secret", CPU: 1024, MemoryMiB: 1024}, agentapp.AgentOptions{}, apitest.Logger())
	if err != nil {
		t.Fatalf("agent with a join key over TLS: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	// The identity file holds the instance key, readable by its owner only.
	path := filepath.Join(agentDir, "agent-identity.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"accessKeyId": "AKGI`) {
		t.Fatalf("no instance key in the identity file: %s", b)
	}
	td, err := admin.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("joined"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", image)}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := admin.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("joined"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	arn := run.Tasks[0].TaskArn
	testutil.WaitFor(t, 30*time.Second, "task RUNNING through the instance key", func() error {
		out, err := admin.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("joined"), Tasks: []string{aws.ToString(arn)}})
		if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "RUNNING" {
			return fmt.Errorf("not running: %v", err)
		}
		return nil
	})
	if _, err := admin.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("joined"), Task: arn}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 40*time.Second, "task STOPPED", func() error {
		out, err := admin.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("joined"), Tasks: []string{aws.ToString(arn)}})
		if err != nil || aws.ToString(out.Tasks[0].LastStatus) != "STOPPED" {
			return fmt.Errorf("not stopped: %v", err)
		}
		return nil
	})
}
