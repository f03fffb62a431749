package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentapp"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// svc reads a service.
func (c *cluster) svc(name string) types.Service {
	c.t.Helper()
	out, err := c.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(c.name), Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		c.t.Fatalf("describe service %s: %v %+v", name, err, out)
	}
	return out.Services[0]
}

// waitCompleted waits until the service's only deployment is COMPLETED:
// all its tasks are healthy.
func (c *cluster) waitCompleted(name string, timeout time.Duration) {
	c.t.Helper()
	testutil.WaitFor(c.t, timeout, "deployment COMPLETED", func() error {
		s := c.svc(name)
		if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("%d deployments, events %v", len(s.Deployments), eventMessages(s, 3))
		}
		return nil
	})
}

// waitStable waits with the SDK's services-stable waiter (what `aws ecs
// wait services-stable` runs).
func (c *cluster) waitStable(name string, timeout time.Duration) {
	c.t.Helper()
	w := ecs.NewServicesStableWaiter(c.ecs, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	if err := w.Wait(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(c.name), Services: []string{name}}, timeout); err != nil {
		s := c.svc(name)
		c.t.Fatalf("service %s not stable: %v (running %d desired %d, %d deployments, events %v)", name, err, s.RunningCount, s.DesiredCount, len(s.Deployments), eventMessages(s, 8))
	}
}

func eventMessages(s types.Service, n int) []string {
	var out []string
	for i, e := range s.Events {
		if i == n {
			break
		}
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

// serviceTasks returns the service's tasks with desired status RUNNING.
func (c *cluster) serviceTasks(name string) []types.Task {
	c.t.Helper()
	tasks, err := c.listServiceTasks(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return tasks
}

// listServiceTasks is serviceTasks for goroutines other than the test's.
func (c *cluster) listServiceTasks(name string) ([]types.Task, error) {
	ctx := context.Background()
	l, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String(name)})
	if err != nil || len(l.TaskArns) == 0 {
		return nil, err
	}
	d, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(c.name), Tasks: l.TaskArns})
	if err != nil {
		return nil, err
	}
	return d.Tasks, nil
}

func (c *cluster) createService(in *ecs.CreateServiceInput) types.Service {
	c.t.Helper()
	in.Cluster = aws.String(c.name)
	out, err := c.ecs.CreateService(context.Background(), in)
	if err != nil {
		c.t.Fatalf("create service: %v", err)
	}
	return *out.Service
}

// addAgent starts another agent (another container instance) on the same
// Docker Engine.
func (c *cluster) addAgent(az string) *cluster {
	c.t.Helper()
	other := &cluster{t: c.t, env: c.env, ecs: c.ecs, docker: c.docker, name: c.name, dataDir: c.t.TempDir(), image: c.image}
	id, _ := agent.LoadInstanceID(other.dataDir)
	testutil.CleanupLabelled(c.t, c.docker, "dev.gantry.instance="+id)
	cfg := other.agentConfig(clusterOptions{cleanupDelay: time.Second})
	if az != "" {
		cfg.AvailabilityZone = az
	}
	a, err := agentapp.StartAgent(context.Background(), cfg, agentapp.AgentOptions{}, apitest.Logger())
	if err != nil {
		c.t.Fatalf("start agent: %v", err)
	}
	other.agent = a
	c.t.Cleanup(func() { a.Close() })
	return other
}

// hostPort is the host port of a task's first binding.
func hostPort(t types.Task) int32 {
	if len(t.Containers) == 0 || len(t.Containers[0].NetworkBindings) == 0 {
		return 0
	}
	return aws.ToInt32(t.Containers[0].NetworkBindings[0].HostPort)
}

func hasEvent(s types.Service, substr string) bool {
	for _, e := range s.Events {
		if strings.Contains(aws.ToString(e.Message), substr) {
			return true
		}
	}
	return false
}

// TestServiceKeepsThreeTasksRunning: a service of 3 web-server tasks
// reaches a steady state (the services-stable waiter returns); a container
// killed with the Docker API gets its task replaced.
func TestServiceKeepsThreeTasksRunning(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("svc-web"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	created := c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(3),
		EnableECSManagedTags: true, PropagateTags: types.PropagateTagsService, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if created.Status == nil || aws.ToString(created.Status) != "ACTIVE" || len(created.Deployments) != 1 || created.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Fatalf("created %+v", created)
	}
	start := time.Now()
	c.waitStable("web", 60*time.Second)
	t.Logf("steady after %v", time.Since(start))
	// The deployment completes once its tasks have run for the minimum
	// healthy time.
	c.waitCompleted("web", 30*time.Second)
	// The steady-state event may be written by a later reconcile than the
	// one that completed the deployment.
	var s types.Service
	testutil.WaitFor(t, 10*time.Second, "the steady-state event", func() error {
		s = c.svc("web")
		if !hasEvent(s, "(service web) has reached a steady state.") {
			return fmt.Errorf("events %v", eventMessages(s, 10))
		}
		return nil
	})
	if s.RunningCount != 3 || s.PendingCount != 0 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Fatalf("service %+v", s)
	}
	if !hasEvent(s, "(service web) has started 3 tasks:") {
		t.Fatalf("events %v", eventMessages(s, 10))
	}
	tasks := c.serviceTasks("web")
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}
	for _, tk := range tasks {
		if !strings.HasPrefix(aws.ToString(tk.StartedBy), "ecs-svc/") || aws.ToString(tk.Group) != "service:web" {
			t.Fatalf("task startedBy %q group %q", aws.ToString(tk.StartedBy), aws.ToString(tk.Group))
		}
		code, err := get(fmt.Sprintf("http://127.0.0.1:%d/", hostPort(tk)))
		if err != nil || code != 200 {
			t.Fatalf("task does not serve: %v %d", err, code)
		}
	}
	d, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(c.name), Tasks: []string{aws.ToString(tasks[0].TaskArn)}, Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range d.Tasks[0].Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["team"] != "a" || tags["aws:ecs:serviceName"] != "web" || tags["aws:ecs:clusterName"] != c.name {
		t.Fatalf("task tags %v", tags)
	}
	// Kill one container: the task stops and a new one replaces it.
	victim := tasks[0]
	killed := time.Now()
	if err := c.docker.ContainerKill(ctx, aws.ToString(victim.Containers[0].RuntimeId), "KILL"); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(aws.ToString(victim.TaskArn), "STOPPED", 30*time.Second)
	testutil.WaitFor(t, 30*time.Second, "replacement running", func() error {
		n := 0
		for _, tk := range c.serviceTasks("web") {
			if aws.ToString(tk.LastStatus) == "RUNNING" && aws.ToString(tk.TaskArn) != aws.ToString(victim.TaskArn) {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
	t.Logf("replacement RUNNING %v after the kill", time.Since(killed))
	c.waitStable("web", 30*time.Second)
	// Scale to zero and delete: DRAINING, then INACTIVE; the name is free.
	if _, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(c.name), Service: aws.String("web")}); err == nil {
		t.Fatal("delete without force of a scaled-up service succeeded")
	}
	del, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(c.name), Service: aws.String("web"), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.Service.Status) != "DRAINING" {
		t.Fatalf("delete: %v %+v", err, del)
	}
	testutil.WaitFor(t, 30*time.Second, "service INACTIVE", func() error {
		if st := aws.ToString(c.svc("web").Status); st != "INACTIVE" {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	testutil.WaitFor(t, 30*time.Second, "tasks stopped", func() error {
		if n := len(c.serviceTasks("web")); n != 0 {
			return fmt.Errorf("%d tasks left", n)
		}
		return nil
	})
	list, err := c.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String(c.name)})
	if err != nil || len(list.ServiceArns) != 0 {
		t.Fatalf("list after delete: %v %v", err, list.ServiceArns)
	}
}

// healthyWeb is a web container whose health check passes (every 5s, the
// shortest interval ECS allows). Three failures in a row make it
// unhealthy, so one check slowed past its timeout on a loaded machine
// does not (with one, a CI run saw two of three tasks unhealthy at once).
func healthyWeb(image, who string) types.ContainerDefinition {
	web := webContainer("web", image)
	web.Environment = []types.KeyValuePair{{Name: aws.String("WHO"), Value: aws.String(who)}}
	web.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "/app", "check", "http://127.0.0.1:8080/health"},
		Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(3), StartPeriod: aws.Int32(0)}
	return web
}

// TestRollingUpdateKeepsMinimumHealthy: a rolling update to a new task
// definition never has fewer than minimumHealthyPercent of the desired
// count healthy (per the API) and serving (per HTTP probes), nor more than
// maximumPercent live; it ends with one COMPLETED deployment of the new
// revision.
func TestRollingUpdateKeepsMinimumHealthy(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	v1 := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("roll"), ContainerDefinitions: []types.ContainerDefinition{healthyWeb(c.image, "v1")}})
	v2 := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("roll"), ContainerDefinitions: []types.ContainerDefinition{healthyWeb(c.image, "v2")}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("roll"), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(3),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(100), MaximumPercent: aws.Int32(200)}})
	c.waitCompleted("roll", 60*time.Second)
	// Probe while the update runs.
	var mu sync.Mutex
	ports := map[int32]bool{}
	minServing, minHealthy, maxLive, rounds := 1<<30, 1<<30, 0, 0
	stop := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			healthy, live := 0, 0
			tasks, err := c.listServiceTasks("roll")
			if err != nil {
				t.Errorf("list tasks: %v", err)
				return
			}
			for _, tk := range tasks {
				live++
				if aws.ToString(tk.LastStatus) == "RUNNING" && tk.HealthStatus == types.HealthStatusHealthy {
					healthy++
				}
				if p := hostPort(tk); p != 0 && aws.ToString(tk.LastStatus) == "RUNNING" {
					ports[p] = true
				}
			}
			serving := 0
			for p := range ports {
				if code, err := get(fmt.Sprintf("http://127.0.0.1:%d/health", p)); err == nil && code == 200 {
					serving++
				}
			}
			mu.Lock()
			minServing, minHealthy, maxLive = min(minServing, serving), min(minHealthy, healthy), max(maxLive, live)
			rounds++
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("roll"), TaskDefinition: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	s := c.svc("roll")
	if len(s.Deployments) != 2 || aws.ToString(s.Deployments[0].Status) != "PRIMARY" || aws.ToString(s.Deployments[1].Status) != "ACTIVE" {
		t.Fatalf("deployments after update: %+v", s.Deployments)
	}
	c.waitStable("roll", 60*time.Second)
	c.waitCompleted("roll", 30*time.Second)
	close(stop)
	<-probed
	t.Logf("update stable after %v; %d probe rounds: min serving %d, min healthy %d, max live %d", time.Since(start), rounds, minServing, minHealthy, maxLive)
	if minServing < 3 || minHealthy < 3 || maxLive > 6 {
		t.Fatalf("min serving %d, min healthy %d (want >= 3), max live %d (want <= 6)", minServing, minHealthy, maxLive)
	}
	s = c.svc("roll")
	if aws.ToString(s.TaskDefinition) != v2 || len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Fatalf("service after update %+v", s)
	}
	for _, tk := range c.serviceTasks("roll") {
		if aws.ToString(tk.TaskDefinitionArn) != v2 {
			t.Fatalf("task of %s left", aws.ToString(tk.TaskDefinitionArn))
		}
	}
	if !hasEvent(s, "deployment completed.") {
		t.Fatalf("events %v", eventMessages(s, 10))
	}
}

// TestCircuitBreakerRollsBack: a deployment whose image cannot be pulled
// fails after the breaker's threshold of tasks failed to start, and the
// service returns to the last COMPLETED deployment, whose tasks kept
// running throughout. Then a revision whose container exits 4 seconds
// after it starts (within the server's minimum healthy time) fails and
// rolls back the same way, where ECS's breaker would complete it.
func TestCircuitBreakerRollsBack(t *testing.T) {
	t.Parallel()
	// Image pre-pull is off: with it on, the unpullable image fails the
	// deployment before any task starts (TestPlanPrePull and
	// TestRolloutPrePullsImage cover that); this test is about the
	// breaker counting tasks that fail to start or crash.
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, minHealthy: 7 * time.Second,
		server: func(o *apitest.Options) { o.Configure = func(c *config.Server) { c.PrePullTimeout = 0 } }})
	ctx := context.Background()
	good := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cb"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	bad := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cb"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", "gantry-test/does-not-exist:1")}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("cb"), TaskDefinition: aws.String(good), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	c.waitStable("cb", 60*time.Second)
	// Only a COMPLETED deployment is a rollback target: its tasks must
	// have run for the minimum healthy time.
	c.waitCompleted("cb", 30*time.Second)
	before := map[string]bool{}
	for _, tk := range c.serviceTasks("cb") {
		before[aws.ToString(tk.TaskArn)] = true
	}
	first := c.svc("cb").Deployments[0]
	start := time.Now()
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("cb"), TaskDefinition: aws.String(bad)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "rollback", func() error {
		s := c.svc("cb")
		if aws.ToString(s.TaskDefinition) != good || !hasEvent(s, "deployment failed: tasks failed to start.") {
			return fmt.Errorf("task definition %s, events %v", aws.ToString(s.TaskDefinition), eventMessages(s, 5))
		}
		return nil
	})
	t.Logf("rolled back after %v", time.Since(start))
	for _, m := range eventMessages(c.svc("cb"), 12) {
		t.Log(m)
	}
	c.waitStable("cb", 30*time.Second)
	s := c.svc("cb")
	if len(s.Deployments) != 1 || aws.ToString(s.Deployments[0].Id) != aws.ToString(first.Id) || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Fatalf("deployments after rollback %+v", s.Deployments)
	}
	if !hasEvent(s, "rolling back to deployment "+aws.ToString(first.Id)) {
		t.Fatalf("events %v", eventMessages(s, 10))
	}
	for _, tk := range c.serviceTasks("cb") {
		if !before[aws.ToString(tk.TaskArn)] {
			t.Fatalf("task %s is new: the good tasks did not keep running", aws.ToString(tk.TaskArn))
		}
	}

	// A revision that crashes 4 seconds after its container starts.
	crashing := webContainer("web", c.image)
	crashing.Environment = []types.KeyValuePair{{Name: aws.String("EXIT_AFTER"), Value: aws.String("4s")}, {Name: aws.String("EXIT_CODE"), Value: aws.String("1")}}
	crash := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cb"), ContainerDefinitions: []types.ContainerDefinition{crashing}})
	start = time.Now()
	upd, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("cb"), TaskDefinition: aws.String(crash)})
	if err != nil {
		t.Fatal(err)
	}
	crashID := aws.ToString(upd.Service.Deployments[0].Id)
	sawRunning := false
	testutil.WaitFor(t, 90*time.Second, "rollback from the crashing revision", func() error {
		s := c.svc("cb")
		for _, d := range s.Deployments {
			if aws.ToString(d.Id) == crashID && d.RolloutState == types.DeploymentRolloutStateCompleted {
				t.Fatalf("the crashing deployment completed: %+v", d)
			}
			if aws.ToString(d.Id) == crashID && d.RunningCount > 0 {
				sawRunning = true
			}
		}
		if aws.ToString(s.TaskDefinition) != good || !hasEvent(s, "(deployment "+crashID+") deployment failed: tasks stopped before the minimum healthy time.") {
			return fmt.Errorf("task definition %s, events %v", aws.ToString(s.TaskDefinition), eventMessages(s, 5))
		}
		return nil
	})
	t.Logf("rolled back from the crashing revision after %v (its tasks seen RUNNING: %v)", time.Since(start), sawRunning)
	c.waitCompleted("cb", 30*time.Second)
	s = c.svc("cb")
	if aws.ToString(s.Deployments[0].Id) != aws.ToString(first.Id) || !hasEvent(s, "(deployment "+crashID+") rolling back to deployment "+aws.ToString(first.Id)) {
		t.Fatalf("deployments %+v, events %v", s.Deployments, eventMessages(s, 10))
	}
	for _, tk := range c.serviceTasks("cb") {
		if !before[aws.ToString(tk.TaskArn)] {
			t.Fatalf("task %s is new: the good tasks did not keep running through the crashing deployment", aws.ToString(tk.TaskArn))
		}
	}

	// The service deployments show both rollbacks with their reasons.
	// (Debian's aws CLI 2.9 predates these operations: the SDK asks.)
	list, err := c.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(c.name), Service: aws.String("cb"),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusRollbackSuccessful}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ServiceDeployments) != 2 || !strings.Contains(aws.ToString(list.ServiceDeployments[0].StatusReason), "tasks stopped before the minimum healthy time") ||
		!strings.Contains(aws.ToString(list.ServiceDeployments[1].StatusReason), "tasks failed to start") {
		t.Fatalf("rolled-back deployments %+v", list.ServiceDeployments)
	}
	sd, err := c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)}})
	if err != nil || len(sd.ServiceDeployments) != 1 {
		t.Fatalf("describe service deployments: %v %+v", err, sd)
	}
	got := sd.ServiceDeployments[0]
	if got.Rollback == nil || got.DeploymentCircuitBreaker == nil || got.DeploymentCircuitBreaker.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered ||
		got.DeploymentCircuitBreaker.FailureCount < got.DeploymentCircuitBreaker.Threshold || len(got.SourceServiceRevisions) != 1 || got.TargetServiceRevision == nil {
		t.Fatalf("service deployment %+v", got)
	}
	revs, err := c.ecs.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{aws.ToString(got.TargetServiceRevision.Arn), aws.ToString(got.Rollback.ServiceRevisionArn)}})
	if err != nil || len(revs.ServiceRevisions) != 2 || aws.ToString(revs.ServiceRevisions[0].TaskDefinition) != crash || aws.ToString(revs.ServiceRevisions[1].TaskDefinition) != good {
		t.Fatalf("service revisions: %v %+v", err, revs)
	}

	// A deployment stopped by request rolls back the same way.
	_, err = c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(c.name), Service: aws.String("cb"), TaskDefinition: aws.String(crash)})
	if err != nil {
		t.Fatal(err)
	}
	list, err = c.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(c.name), Service: aws.String("cb"), MaxResults: aws.Int32(1)})
	if err != nil || len(list.ServiceDeployments) != 1 || list.ServiceDeployments[0].Status != types.ServiceDeploymentStatusInProgress || list.NextToken == nil {
		t.Fatalf("newest deployment: %v %+v", err, list)
	}
	stopArn := aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)
	if _, err := c.ecs.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(stopArn), StopType: types.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	c.waitCompleted("cb", 30*time.Second)
	sd, err = c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{stopArn}})
	if err != nil || len(sd.ServiceDeployments) != 1 || sd.ServiceDeployments[0].Status != types.ServiceDeploymentStatusRollbackSuccessful {
		t.Fatalf("stopped deployment: %v %+v", err, sd)
	}
	if s := c.svc("cb"); aws.ToString(s.TaskDefinition) != good {
		t.Fatalf("task definition %s after the stop", aws.ToString(s.TaskDefinition))
	}
}

// TestDaemonFollowsInstances: a DAEMON service runs one task on each ACTIVE
// instance: a joining instance gets one, a DRAINING one and one whose agent
// is gone past the grace lose theirs.
func TestDaemonFollowsInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lostGrace: 3 * time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("daemon"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("d"), TaskDefinition: aws.String(td), SchedulingStrategy: types.SchedulingStrategyDaemon})
	c.waitStable("d", 30*time.Second)
	if s := c.svc("d"); s.DesiredCount != 1 || s.RunningCount != 1 {
		t.Fatalf("one instance: desired %d running %d", s.DesiredCount, s.RunningCount)
	}
	second := c.addAgent("us-east-1b")
	secondArn := second.agent.Agent.ContainerInstanceArn()
	testutil.WaitFor(t, 30*time.Second, "a task on the new instance", func() error {
		s := c.svc("d")
		if s.DesiredCount != 2 || s.RunningCount != 2 {
			return fmt.Errorf("desired %d running %d", s.DesiredCount, s.RunningCount)
		}
		return nil
	})
	on := map[string]int{}
	for _, tk := range c.serviceTasks("d") {
		on[aws.ToString(tk.ContainerInstanceArn)]++
	}
	if len(on) != 2 {
		t.Fatalf("tasks per instance %v", on)
	}
	// Drain the first instance: its task goes.
	firstArn := c.agent.Agent.ContainerInstanceArn()
	if _, err := c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(c.name),
		ContainerInstances: []string{firstArn}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the DRAINING instance's task gone", func() error {
		for _, tk := range c.serviceTasks("d") {
			if aws.ToString(tk.ContainerInstanceArn) == firstArn {
				return fmt.Errorf("task still on the draining instance")
			}
		}
		if s := c.svc("d"); s.DesiredCount != 1 {
			return fmt.Errorf("desired %d", s.DesiredCount)
		}
		return nil
	})
	// The second agent goes away: after the grace its task is stopped.
	if err := second.agent.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 40*time.Second, "the lost instance's task gone", func() error {
		for _, tk := range c.serviceTasks("d") {
			if aws.ToString(tk.ContainerInstanceArn) == secondArn {
				return fmt.Errorf("task still on the lost instance")
			}
		}
		if s := c.svc("d"); s.DesiredCount != 0 {
			return fmt.Errorf("desired %d", s.DesiredCount)
		}
		return nil
	})
	// The first instance back to ACTIVE: it gets a task again.
	if _, err := c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(c.name),
		ContainerInstances: []string{firstArn}, Status: types.ContainerInstanceStatusActive}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "a task on the reactivated instance", func() error {
		s := c.svc("d")
		if s.DesiredCount != 1 || s.RunningCount != 1 {
			ci, _ := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(c.name), ContainerInstances: []string{firstArn}})
			return fmt.Errorf("desired %d running %d; instance %s connected %v; events %v", s.DesiredCount, s.RunningCount,
				aws.ToString(ci.ContainerInstances[0].Status), ci.ContainerInstances[0].AgentConnected, eventMessages(s, 4))
		}
		return nil
	})
}

// TestLostAgentTasksReplaced: when an agent stops, its service tasks are
// started on another instance once the grace has passed.
func TestLostAgentTasksReplaced(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, lostGrace: 3 * time.Second})
	second := c.addAgent("us-east-1b")
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("lost"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("lost"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2)})
	c.waitStable("lost", 30*time.Second)
	secondArn := second.agent.Agent.ContainerInstanceArn()
	var onSecond []string
	for _, tk := range c.serviceTasks("lost") {
		if aws.ToString(tk.ContainerInstanceArn) == secondArn {
			onSecond = append(onSecond, aws.ToString(tk.TaskArn))
		}
	}
	if len(onSecond) != 1 {
		t.Fatalf("want one task on each of the two instances (spread), got %d on the second", len(onSecond))
	}
	gone := time.Now()
	if err := second.agent.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "replacement on the first instance", func() error {
		n := 0
		for _, tk := range c.serviceTasks("lost") {
			if aws.ToString(tk.ContainerInstanceArn) == secondArn {
				return fmt.Errorf("a task is still on the lost instance")
			}
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
	t.Logf("replaced %v after the agent stopped (disconnection is seen after the agent TTL, then the grace)", time.Since(gone))
	old := c.describe(onSecond[0])
	if aws.ToString(old.DesiredStatus) != "STOPPED" {
		t.Fatalf("the lost task's desired status is %s", aws.ToString(old.DesiredStatus))
	}
	c.waitStable("lost", 30*time.Second)
	// The agent comes back: it stops the replaced task's container.
	a, err := agentapp.StartAgent(context.Background(), second.agentConfig(clusterOptions{cleanupDelay: time.Second}), agentapp.AgentOptions{}, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	c.waitStatus(onSecond[0], "STOPPED", 30*time.Second)
	if n := len(c.serviceTasks("lost")); n != 2 {
		t.Fatalf("%d tasks after the agent came back", n)
	}
}

// TestSecondServerTakesOver: two servers share an etcd; the one leading
// the service controller is closed, the other takes over and keeps the
// service's count, without starting anything twice.
func TestSecondServerTakesOver(t *testing.T) {
	docker := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	ctx := context.Background()
	etcd, err := etcdembed.Start(ctx, t.TempDir(), apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	var servers []*app.Server
	for i := 0; i < 2; i++ {
		cfg := config.DefaultServer()
		cfg.Listen, cfg.DataDir, cfg.Region, cfg.AccountID = "127.0.0.1:0", "", apitest.Region, apitest.Account
		cfg.EtcdEndpoints = []string{etcd.ClientURL}
		cfg.LeaderTTL = 2 * time.Second
		cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "t", cfg.AccountID))
		srv, err := app.StartServer(ctx, cfg, apitest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		servers = append(servers, srv)
		if i == 0 {
			testutil.WaitFor(t, 10*time.Second, "first server leads", func() error {
				if !srv.Services.Leading() {
					return fmt.Errorf("not leading")
				}
				return nil
			})
		}
	}
	if servers[1].Services.Leading() {
		t.Fatal("both servers lead")
	}
	// The agent and the client use the second server.
	env := &apitest.Env{Server: servers[1], URL: servers[1].URL, Client: apitest.NewClient(servers[1].URL)}
	c := &cluster{t: t, env: env, ecs: env.Client, docker: docker, name: "takeover", dataDir: t.TempDir(), image: image}
	if _, err := c.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c.name)}); err != nil {
		t.Fatal(err)
	}
	id, _ := agent.LoadInstanceID(c.dataDir)
	testutil.CleanupLabelled(t, docker, "dev.gantry.instance="+id)
	c.startAgent(clusterOptions{cleanupDelay: time.Second})
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ha"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("ha"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2)})
	c.waitStable("ha", 30*time.Second)
	killed := time.Now()
	if err := servers[0].Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "second server leads", func() error {
		if !servers[1].Services.Leading() {
			return fmt.Errorf("not leading")
		}
		return nil
	})
	t.Logf("takeover after %v", time.Since(killed))
	// The new leader replaces a killed container.
	tasks := c.serviceTasks("ha")
	if len(tasks) != 2 {
		t.Fatalf("%d tasks after takeover", len(tasks))
	}
	if err := docker.ContainerKill(ctx, aws.ToString(tasks[0].Containers[0].RuntimeId), "KILL"); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(aws.ToString(tasks[0].TaskArn), "STOPPED", 30*time.Second)
	c.waitStable("ha", 30*time.Second)
	all, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("ha"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.serviceTasks("ha")); n != 2 || len(all.TaskArns) != 1 {
		t.Fatalf("%d running and %d stopped tasks: something was started twice", n, len(all.TaskArns))
	}
	var cl []container.Summary
	if cl, err = docker.ContainerList(ctx, container.ListOptions{}); err == nil {
		n := 0
		for _, ct := range cl {
			if ct.Labels["dev.gantry.instance"] == id {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d containers running for the service's instance, want 2", n)
		}
	}
}

// TestAWSCLIWaitServicesStable: `aws ecs create-service` then `aws ecs wait
// services-stable` returns once the service runs its desired count.
func TestAWSCLIWaitServicesStable(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	cli := newAWSCLI(t, c.env.URL)
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cli-web"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	var created struct {
		Service struct {
			ServiceArn string `json:"serviceArn"`
			Status     string `json:"status"`
		} `json:"service"`
	}
	cli.run(&created, "create-service", "--cluster", c.name, "--service-name", "cli", "--task-definition", td, "--desired-count", "2")
	if created.Service.Status != "ACTIVE" {
		t.Fatalf("created %+v", created)
	}
	start := time.Now()
	cli.run(nil, "wait", "services-stable", "--cluster", c.name, "--services", "cli")
	t.Logf("aws ecs wait services-stable returned after %v", time.Since(start))
	if s := c.svc("cli"); s.RunningCount != 2 || len(s.Deployments) != 1 {
		t.Fatalf("the waiter returned early: running %d, %d deployments", s.RunningCount, len(s.Deployments))
	}
	var listed struct {
		ServiceArns []string `json:"serviceArns"`
	}
	cli.run(&listed, "list-services", "--cluster", c.name)
	if len(listed.ServiceArns) != 1 || listed.ServiceArns[0] != created.Service.ServiceArn {
		t.Fatalf("list-services %+v", listed)
	}
}

// TestFailingTasksAreThrottled: a service whose tasks keep failing to start
// retries with a growing delay and says so in its events.
func TestFailingTasksAreThrottled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("broken"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", "gantry-test/does-not-exist:1")}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("broken"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	time.Sleep(9 * time.Second)
	l, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("broken"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil || len(l.TaskArns) < 3 {
		t.Fatalf("%v: %d stopped tasks", err, len(l.TaskArns))
	}
	d, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(c.name), Tasks: l.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	for _, tk := range d.Tasks {
		starts = append(starts, aws.ToTime(tk.CreatedAt))
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	var gaps []time.Duration
	for i := 1; i < len(starts); i++ {
		gaps = append(gaps, starts[i].Sub(starts[i-1]).Round(10*time.Millisecond))
	}
	t.Logf("%d attempts in 9s, gaps %v", len(starts), gaps)
	if len(starts) > 6 || gaps[len(gaps)-1] < 2*time.Second || gaps[len(gaps)-1] < gaps[0] {
		t.Fatalf("starts not throttled: gaps %v", gaps)
	}
	if s := c.svc("broken"); !hasEvent(s, "(service broken) is unable to consistently start tasks successfully.") {
		t.Fatalf("events %v", eventMessages(s, 8))
	}
}

// TestDrainingInstanceTasksReplacedFirst: the tasks of a DRAINING instance
// are replaced elsewhere before they stop, so the service never runs fewer
// than its desired count (minimumHealthyPercent 100).
func TestDrainingInstanceTasksReplacedFirst(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second})
	ctx := context.Background()
	second := c.addAgent("us-east-1b")
	secondArn := second.agent.Agent.ContainerInstanceArn()
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("drain"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("drain"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(2)})
	c.waitStable("drain", 30*time.Second)
	if _, err := c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(c.name),
		ContainerInstances: []string{secondArn}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	minRunning := 1 << 30
	testutil.WaitFor(t, 30*time.Second, "no task left on the DRAINING instance", func() error {
		running, onDraining := 0, 0
		l, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("drain"), DesiredStatus: types.DesiredStatusRunning})
		if err != nil {
			return err
		}
		s, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("drain"), DesiredStatus: types.DesiredStatusStopped})
		if err != nil {
			return err
		}
		arns := append(l.TaskArns, s.TaskArns...)
		d, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(c.name), Tasks: arns})
		if err != nil {
			return err
		}
		for _, tk := range d.Tasks {
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				running++
				if aws.ToString(tk.ContainerInstanceArn) == secondArn {
					onDraining++
				}
			}
		}
		minRunning = min(minRunning, running)
		if onDraining > 0 || running != 2 {
			return fmt.Errorf("%d running, %d on the draining instance", running, onDraining)
		}
		return nil
	})
	if minRunning < 2 {
		t.Fatalf("only %d tasks running at one point", minRunning)
	}
	s := c.svc("drain")
	if !hasEvent(s, "has stopped 1 running tasks") {
		t.Fatalf("events %v", eventMessages(s, 6))
	}
}
