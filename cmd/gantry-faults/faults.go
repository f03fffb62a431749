package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const (
	clusterName = "faults"
	serviceName = "web"
	// desired is the service's usual desiredCount; maxPercent its
	// deploymentConfiguration.maximumPercent.
	desired    = 2
	maxPercent = 150
)

// faultResult is what one fault did and what the checks found after it.
type faultResult struct {
	Name        string
	Took        string
	Calls       int
	FailedCalls int
	P99         string
	// NewLeader is, for a killed leader, the time from the kill to the
	// new leader's log line "leads the service controller";
	// ControllerFailover to the placement of a task asked for right after
	// the kill; TaskRunning to that task RUNNING on an agent.
	NewLeader          string `json:",omitempty"`
	ControllerFailover string `json:",omitempty"`
	TaskRunning        string `json:",omitempty"`
	// AgentFailover is, for a fault of a server an agent was calling,
	// each such agent's time from the fault to its next answered poll
	// through another server (its log line "poll tasks answered again").
	AgentFailover string `json:",omitempty"`
	// EtcdLeader is, for an etcd leader change, the old and new leader.
	EtcdLeader string `json:",omitempty"`
	// Checks maps each check to "ok" or what it found.
	Checks map[string]string
}

// report is the harness's outcome.
type report struct {
	Passed     bool
	Servers    int
	Agents     int
	Operations int
	Faults     []faultResult
	// Placements are tasks placed a second through three servers and
	// through one (-placements), after the faults.
	Placements []placeResult `json:",omitempty"`
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "gantry-faults: %d servers (embedded etcd members), %d agents, %d register operations checked\n", r.Servers, r.Agents, r.Operations)
	fmt.Fprintf(w, "%-44s %8s %6s %6s %8s %8s %10s %10s %14s  %s\n", "fault", "took", "calls", "failed", "p99", "leader", "ctl-fail", "task-run", "agent-fail", "checks")
	for _, f := range r.Faults {
		var names []string
		for k := range f.Checks {
			names = append(names, k)
		}
		sort.Strings(names)
		var bad []string
		for _, k := range names {
			if f.Checks[k] != "ok" {
				bad = append(bad, k+": "+f.Checks[k])
			}
		}
		verdict := fmt.Sprintf("all %d ok", len(names))
		if len(bad) > 0 {
			verdict = "FAILED " + strings.Join(bad, "; ")
		}
		fmt.Fprintf(w, "%-44s %8s %6d %6d %8s %8s %10s %10s %14s  %s\n", f.Name, f.Took, f.Calls, f.FailedCalls, f.P99, f.NewLeader, f.ControllerFailover, f.TaskRunning, f.AgentFailover, verdict)
		if f.EtcdLeader != "" {
			fmt.Fprintf(w, "%-44s %s\n", "", "etcd leader "+f.EtcdLeader)
		}
	}
	printPlacements(w, r.Placements)
	fmt.Fprintf(w, "passed: %v\n", r.Passed)
}

// harness is one run.
type harness struct {
	env     *env
	load    *load
	o       options
	logger  *slog.Logger
	markers []string
	// maxSeen is the most tasks the service ran at once (runningCount)
	// while its desired count was at most desiredMax.
	mu        sync.Mutex
	overMax   []string
	desiredAt int32
	// cut holds the tasks of an agent partitioned beyond the grace: the
	// control plane replaces them and their containers run on, out of its
	// reach, until the agent is back; maximumPercent is not theirs to keep.
	cut map[string]bool
}

func run(ctx context.Context, o options, logger *slog.Logger) (*report, error) {
	e, err := newEnv(ctx, o, logger)
	if e != nil && !o.keep {
		defer e.close(clusterName)
	}
	if err != nil {
		return nil, err
	}
	logger.Info("images and networks ready", "run", e.run)
	if err := e.startServers(ctx, 3, o.grace); err != nil {
		return nil, err
	}
	logger.Info("servers serve", "servers", len(e.servers))
	cl := ecsClient(e.servers[0].url)
	c, err := cl.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(clusterName)})
	if err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	if err := e.startAgents(ctx, o.agents, clusterName); err != nil {
		return nil, err
	}
	td, err := cl.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(taskImage), Memory: aws.Int32(16), Essential: aws.Bool(true)}}})
	if err != nil {
		return nil, fmt.Errorf("register task definition: %w", err)
	}
	if _, err := cl.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(clusterName), ServiceName: aws.String(serviceName),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(desired),
		DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(maxPercent), MinimumHealthyPercent: aws.Int32(50)}}); err != nil {
		return nil, fmt.Errorf("create service: %w", err)
	}
	h := &harness{env: e, o: o, logger: logger, desiredAt: desired,
		load: &load{env: e, clusterArn: aws.ToString(c.Cluster.ClusterArn), t0: time.Now()}}
	if err := h.settle(ctx, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("the service does not start: %w", err)
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.load.run(lctx, 4, []string{"a", "b", "c"}) }()
	go func() { defer wg.Done(); h.watchMaxPercent(lctx) }()
	defer func() { stopLoad(); wg.Wait() }()
	time.Sleep(3 * time.Second)

	rep := &report{Servers: len(e.servers), Agents: len(e.agents), Passed: true}
	for _, f := range h.schedule() {
		if o.only != "" && !strings.Contains(f.name, o.only) {
			continue
		}
		h.logger.Info("fault", "name", f.name)
		res := h.inject(ctx, f)
		rep.Faults = append(rep.Faults, res)
		for _, v := range res.Checks {
			if v != "ok" {
				rep.Passed = false
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	stopLoad()
	wg.Wait()
	res, n := h.load.check(60 * time.Second)
	rep.Operations = n
	if res != porcupine.Ok {
		rep.Passed = false
		rep.Faults = append(rep.Faults, faultResult{Name: "whole history", Checks: map[string]string{"linearizable": fmt.Sprint(res)}})
	}
	if o.placements > 0 && ctx.Err() == nil {
		ps, err := h.placements(ctx, o.placements, 16)
		rep.Placements = ps
		if err != nil {
			logger.Warn("placements", "err", err)
		}
	}
	return rep, ctx.Err()
}

// fault is one fault of the schedule: inject returns once it is healed.
type fault struct {
	name string
	// replaces says the fault may rightly replace tasks (an agent cut off
	// beyond the lost-instance grace): the containers check is off.
	replaces bool
	// servers says the fault takes servers away (killed, partitioned,
	// restarted): the agents' failover time is measured.
	servers bool
	do      func(ctx context.Context, r *faultResult) error
}

func (h *harness) schedule() []fault {
	e := h.env
	f := []fault{
		{name: "kill the leading server", servers: true, do: h.killLeader},
		{name: "partition a server from etcd and heal", servers: true, do: func(ctx context.Context, _ *faultResult) error {
			s := e.leader(ctx)
			if s == nil {
				s = e.servers[1]
			}
			return h.partitionServer(ctx, s, 8*time.Second)
		}},
		{name: "partition an agent for less than the grace", do: func(ctx context.Context, _ *faultResult) error {
			return h.partitionAgent(ctx, e.agents[0], h.o.grace/2)
		}},
		{name: "etcd leader change (move-leader)", do: h.moveEtcdLeader},
		{name: "rolling restart of every server", servers: true, do: h.rollingRestart},
	}
	if h.o.quick {
		return f
	}
	return append(f,
		fault{name: "kill a non-leading server (its etcd member)", servers: true, do: h.killOther},
		fault{name: "partition the server an agent calls from etcd", servers: true, do: func(ctx context.Context, _ *faultResult) error {
			return h.partitionServer(ctx, e.agentServer(ctx, e.agents[0]), 8*time.Second)
		}},
		fault{name: "kill the leader while an agent is partitioned", servers: true, do: func(ctx context.Context, r *faultResult) error {
			a := e.agents[len(e.agents)-1]
			if err := e.disconnect(ctx, a, e.apiNet); err != nil {
				return err
			}
			healed := make(chan error, 1)
			go func() {
				time.Sleep(h.o.grace / 2)
				healed <- e.connect(context.WithoutCancel(ctx), a, e.apiNet, a.apiIP)
			}()
			err := h.killLeader(ctx, r)
			if cerr := <-healed; err == nil {
				err = cerr
			}
			return err
		}},
		fault{name: "partition an agent for more than the grace", replaces: true, do: h.partitionAgentBeyondGrace},
	)
}

// killOther SIGKILLs a server that does not lead the service controller
// (with it its embedded etcd member: they are one process), preferring the
// one the first agent calls, and starts it again 5 s later.
func (h *harness) killOther(ctx context.Context, _ *faultResult) error {
	e := h.env
	lead := e.leader(ctx)
	s := e.agentServer(ctx, e.agents[0])
	if s == lead || s.down {
		for _, x := range e.servers {
			if x != lead && !x.down {
				s = x
				break
			}
		}
	}
	h.logger.Info("kill a non-leading server", "server", s.name)
	if err := e.kill(ctx, s); err != nil {
		return err
	}
	h.mark(ctx, "kill-other")
	time.Sleep(5 * time.Second)
	return e.start(ctx, s)
}

// moveEtcdLeader hands the etcd cluster's leadership from its leader to
// another member (etcdctl move-leader, through the leader member's client
// API) and waits until a member reports the new leader.
func (h *harness) moveEtcdLeader(ctx context.Context, r *faultResult) error {
	e := h.env
	from, ids, err := e.etcdStatus(ctx)
	if err != nil {
		return err
	}
	lead := e.serverOfMember(from)
	if lead == nil {
		return fmt.Errorf("etcd leader %q is not a server's member", from)
	}
	to := ""
	for i := range e.servers {
		if name := fmt.Sprintf("s%d", i); name != from && !e.servers[i].down {
			to = name
			break
		}
	}
	t0 := time.Now()
	if _, err := e.etcdTool(ctx, lead, "move", ids[to]); err != nil {
		return err
	}
	h.mark(ctx, "etcd-move-leader")
	for time.Since(t0) < 30*time.Second {
		now, _, err := e.etcdStatus(ctx)
		if err == nil && now != from {
			r.EtcdLeader = fmt.Sprintf("%s -> %s in %v", from, now, time.Since(t0).Round(10*time.Millisecond))
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("etcd leader still %s 30s after move-leader", from)
}

// agentTTL is how long a server counts an agent connected after its last
// call (the control plane's 10 s).
const agentTTL = 10 * time.Second

// partitionAgentBeyondGrace cuts the first agent off from every server for
// the agent TTL and twice the lost-instance grace: the control plane replaces its tasks on
// the other agents; once healed, the agent must stop the old containers
// (their tasks are STOPPED), so that no task runs in two copies.
func (h *harness) partitionAgentBeyondGrace(ctx context.Context, r *faultResult) error {
	e := h.env
	a := e.agents[0]
	arn := e.agentInstance(ctx, a)
	if arn == "" {
		return errors.New("the agent's log names no container instance")
	}
	cut := map[string]bool{}
	err := h.load.doLive(ctx, 0, func(ctx context.Context, cl *ecs.Client) error {
		l, err := cl.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(clusterName), ContainerInstance: aws.String(arn)})
		if err != nil {
			return err
		}
		for _, t := range l.TaskArns {
			cut[t] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.cut = cut
	h.mu.Unlock()
	// The grace counts from when the control plane sees the agent
	// disconnected: up to the server's agent TTL after its last call.
	if err := h.partitionAgent(ctx, a, agentTTL+h.o.grace*2); err != nil {
		return err
	}
	if len(cut) == 0 {
		r.Checks["old containers stopped"] = "the agent ran no task when cut off (nothing to replace)"
		return nil
	}
	// The old containers must stop once the agent is back.
	deadline := time.Now().Add(60 * time.Second)
	var left []string
	for time.Now().Before(deadline) {
		left = nil
		cs, err := e.taskContainers(ctx, clusterName)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.State == "running" && cut[c.Labels["com.amazonaws.ecs.task-arn"]] {
				left = append(left, c.ID[:12])
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var states []string
	_ = h.load.doLive(ctx, 0, func(ctx context.Context, cl *ecs.Client) error {
		var arns []string
		for t := range cut {
			arns = append(arns, t)
		}
		d, err := cl.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: arns})
		if err != nil {
			return err
		}
		states = nil
		for _, t := range d.Tasks {
			states = append(states, aws.ToString(t.LastStatus)+"/"+aws.ToString(t.DesiredStatus))
		}
		return nil
	})
	r.Checks["old containers stopped"] = okIf(len(left) == 0, fmt.Sprintf("%d tasks cut off (now %s); still running 60s after the heal: %s",
		len(cut), strings.Join(states, ","), strings.Join(left, ",")))
	h.mu.Lock()
	h.cut = nil
	h.mu.Unlock()
	return nil
}

// agentFailover reads, for each agent that called a server the fault took
// away, the time from t0 to its next answered poll (through another
// server, or the same one back).
func (h *harness) agentFailover(ctx context.Context, t0 time.Time) string {
	var parts []string
	for i, a := range h.env.agents {
		failed := false
		for _, l := range h.env.logLines(ctx, a, t0) {
			if strings.Contains(l.text, "poll tasks") && strings.Contains(l.text, "level=WARN") {
				failed = true
			}
			if failed && strings.Contains(l.text, "poll tasks answered again") {
				parts = append(parts, fmt.Sprintf("a%d %v", i, l.at.Sub(t0).Round(10*time.Millisecond)))
				break
			}
		}
	}
	return strings.Join(parts, ", ")
}

// inject runs f, then waits for the service to settle and runs the checks.
func (h *harness) inject(ctx context.Context, f fault) faultResult {
	r := faultResult{Name: f.name, Checks: map[string]string{}}
	before, _ := h.running(ctx)
	start := time.Now()
	err := f.do(ctx, &r)
	if err != nil {
		r.Checks["injected"] = err.Error()
	} else {
		r.Checks["injected"] = "ok"
	}
	if err := h.settle(ctx, 2*time.Minute+h.o.grace); err != nil {
		r.Checks["settled"] = err.Error()
	} else {
		r.Checks["settled"] = "ok"
	}
	end := time.Now()
	if f.servers {
		r.AgentFailover = h.agentFailover(ctx, start)
	}
	r.Took = end.Sub(start).Round(100 * time.Millisecond).String()
	var p99 time.Duration
	r.Calls, r.FailedCalls, p99 = h.load.window(start, end)
	r.P99 = p99.Round(time.Millisecond).String()
	r.Checks["sdk calls succeed"] = okIf(r.FailedCalls == 0, fmt.Sprintf("%d of %d calls failed after retries", r.FailedCalls, r.Calls))
	res, n := h.load.check(30 * time.Second)
	r.Checks["linearizable"] = okIf(res == porcupine.Ok, fmt.Sprintf("%v over %d operations", res, n))
	r.Checks["no task started twice"] = h.checkTwice(ctx)
	h.mu.Lock()
	r.Checks["never above maximumPercent"] = okIf(len(h.overMax) == 0, strings.Join(h.overMax, "; "))
	h.mu.Unlock()
	r.Checks["no acknowledged write lost"] = h.checkMarkers(ctx)
	if !f.replaces {
		after, _ := h.running(ctx)
		var gone []string
		for id := range before {
			if !after[id] {
				gone = append(gone, id[:12])
			}
		}
		r.Checks["no container restarted"] = okIf(len(gone) == 0, "containers no longer running: "+strings.Join(gone, ","))
	}
	r.Checks["agents connected"] = h.checkAgents(ctx)
	r.Checks["no credential refused"] = h.checkRefusals(ctx, start)
	return r
}

func okIf(ok bool, msg string) string {
	if ok {
		return "ok"
	}
	return msg
}

// service describes the service through a live server.
func (h *harness) service(ctx context.Context) (types.Service, error) {
	var out types.Service
	err := h.load.doLive(ctx, 0, func(ctx context.Context, cl *ecs.Client) error {
		d, err := cl.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(clusterName), Services: []string{serviceName}})
		if err != nil {
			return err
		}
		if len(d.Services) != 1 {
			return errors.New("service missing")
		}
		out = d.Services[0]
		return nil
	})
	return out, err
}

// settle waits until every up server serves and the service runs its
// desired count on the engine.
func (h *harness) settle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		last = func() error {
			for _, s := range h.env.servers {
				if !s.down {
					if err := h.env.waitServes(ctx, s, 10*time.Second); err != nil {
						return err
					}
				}
			}
			svc, err := h.service(ctx)
			if err != nil {
				return err
			}
			run, err := h.running(ctx)
			if err != nil {
				return err
			}
			if svc.RunningCount != svc.DesiredCount || len(run) != int(svc.DesiredCount) || svc.PendingCount != 0 {
				return fmt.Errorf("service runs %d (pending %d) of %d, %d containers run", svc.RunningCount, svc.PendingCount, svc.DesiredCount, len(run))
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return last
}

// running returns the IDs of the service's running containers.
func (h *harness) running(ctx context.Context) (map[string]bool, error) {
	cs, err := h.env.taskContainers(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range cs {
		if c.State == "running" {
			out[c.ID] = true
		}
	}
	return out, nil
}

// checkTwice: no task ARN has two containers of one name on the engine.
func (h *harness) checkTwice(ctx context.Context) string {
	cs, err := h.env.taskContainers(ctx, clusterName)
	if err != nil {
		return err.Error()
	}
	seen := map[string]int{}
	var twice []string
	for _, c := range cs {
		k := c.Labels["com.amazonaws.ecs.task-arn"] + "/" + c.Labels["com.amazonaws.ecs.container-name"]
		seen[k]++
		if seen[k] == 2 {
			twice = append(twice, k)
		}
	}
	return okIf(len(twice) == 0, "started twice: "+strings.Join(twice, ", "))
}

// watchMaxPercent samples the service's running count against its
// maximumPercent.
func (h *harness) watchMaxPercent(ctx context.Context) {
	for ctx.Err() == nil {
		run, err := h.running(ctx)
		h.mu.Lock()
		limit := int(h.desiredAt) * maxPercent / 100
		if err == nil && len(h.cut) > 0 {
			run = h.withoutCut(ctx, run)
		}
		if err == nil && len(run) > limit {
			h.overMax = append(h.overMax, fmt.Sprintf("%d containers running at %s, limit %d", len(run), time.Now().Format(time.TimeOnly), limit))
		}
		h.mu.Unlock()
		time.Sleep(250 * time.Millisecond)
	}
}

// checkRefusals: no agent was told since t0 that its key is not accepted
// (UnrecognizedClientException, InvalidSignatureException,
// AccessDeniedException): a server that cannot reach etcd must answer that
// it is unavailable, so that the agent moves on, not that the agent's
// credential is bad.
func (h *harness) checkRefusals(ctx context.Context, t0 time.Time) string {
	var bad []string
	for i, a := range h.env.agents {
		for _, l := range h.env.logLines(ctx, a, t0) {
			for _, code := range []string{"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException"} {
				if strings.Contains(l.text, code) {
					bad = append(bad, fmt.Sprintf("a%d at %s: %s", i, l.at.Format("15:04:05.000"), code))
				}
			}
		}
	}
	if len(bad) > 3 {
		bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
	}
	return okIf(len(bad) == 0, strings.Join(bad, "; "))
}

// withoutCut drops from run the containers of the cut-off tasks; h.mu is
// held.
func (h *harness) withoutCut(ctx context.Context, run map[string]bool) map[string]bool {
	cs, err := h.env.taskContainers(ctx, clusterName)
	if err != nil {
		return run
	}
	out := map[string]bool{}
	for _, c := range cs {
		if run[c.ID] && !h.cut[c.Labels["com.amazonaws.ecs.task-arn"]] {
			out[c.ID] = true
		}
	}
	return out
}

// mark creates a cluster (an acknowledged write) during a fault; every
// server must show it afterwards.
func (h *harness) mark(ctx context.Context, name string) {
	name = fmt.Sprintf("ack-%d-%s", len(h.markers), name)
	err := h.load.doLive(ctx, len(h.markers), func(ctx context.Context, cl *ecs.Client) error {
		_, err := cl.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
		return err
	})
	if err == nil {
		h.markers = append(h.markers, name)
	} else {
		h.logger.Warn("marker write failed (not acknowledged)", "name", name, "err", err)
	}
}

func (h *harness) checkMarkers(ctx context.Context) string {
	var missing []string
	for _, s := range h.env.servers {
		if s.down {
			continue
		}
		for _, m := range h.markers {
			var err error
			for try := 0; try < 20; try++ {
				var d *ecs.DescribeClustersOutput
				d, err = ecsClient(s.url).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{m}})
				if err == nil && len(d.Clusters) != 1 {
					err = errors.New("missing")
				}
				if err == nil {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if err != nil {
				missing = append(missing, m+"@"+s.name)
			}
		}
	}
	return okIf(len(missing) == 0, "not found: "+strings.Join(missing, ", "))
}

func (h *harness) checkAgents(ctx context.Context) string {
	var bad []string
	err := h.load.doLive(ctx, 0, func(ctx context.Context, cl *ecs.Client) error {
		bad = nil
		l, err := cl.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(clusterName)})
		if err != nil {
			return err
		}
		d, err := cl.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(clusterName), ContainerInstances: l.ContainerInstanceArns})
		if err != nil {
			return err
		}
		if len(d.ContainerInstances) != len(h.env.agents) {
			bad = append(bad, fmt.Sprintf("%d instances, %d agents", len(d.ContainerInstances), len(h.env.agents)))
		}
		for _, ci := range d.ContainerInstances {
			if !ci.AgentConnected || aws.ToString(ci.Status) != "ACTIVE" {
				bad = append(bad, aws.ToString(ci.Ec2InstanceId)+" disconnected")
			}
		}
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return okIf(len(bad) == 0, strings.Join(bad, ", "))
}

// setDesired updates the service's desired count.
func (h *harness) setDesired(ctx context.Context, n int32) error {
	h.mu.Lock()
	if n > h.desiredAt {
		h.desiredAt = n
	}
	h.mu.Unlock()
	err := h.load.doLive(ctx, 1, func(ctx context.Context, cl *ecs.Client) error {
		_, err := cl.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(clusterName), Service: aws.String(serviceName), DesiredCount: aws.Int32(n)})
		return err
	})
	return err
}

// failoverBound is the longest controller failover (kill → placement) the
// harness accepts. The goal is 5 s; the bound leaves room for a
// shared, loaded machine (load average 20-50), where etcd's own leader
// election after the kill of its leader's member takes 1-3 s.
const failoverBound = 10 * time.Second

// killLeader SIGKILLs the leading server and asks for one more task at
// once: the time to its placement is the controller's failover, the time
// to its RUNNING includes the agents' move to another server.
func (h *harness) killLeader(ctx context.Context, r *faultResult) error {
	e := h.env
	s := e.leader(ctx)
	if s == nil {
		return errors.New("no server logged that it leads")
	}
	svc, err := h.service(ctx)
	if err != nil {
		return err
	}
	// One more task, kept afterwards: scaling back in would stop a task
	// that ran before the fault, which the containers check forbids.
	want := svc.DesiredCount + 1
	t0 := time.Now()
	if err := e.kill(ctx, s); err != nil {
		return err
	}
	if err := h.setDesired(ctx, want); err != nil {
		return fmt.Errorf("update service after the kill: %w", err)
	}
	h.mark(ctx, "kill-leader")
	placed, runningAt := time.Duration(0), time.Duration(0)
	for time.Since(t0) < 60*time.Second && runningAt == 0 {
		_ = h.load.doLive(ctx, 2, func(ctx context.Context, cl *ecs.Client) error {
			l, err := cl.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(clusterName), ServiceName: aws.String(serviceName)})
			if err != nil {
				return err
			}
			if len(l.TaskArns) >= int(want) && placed == 0 {
				placed = time.Since(t0)
			}
			return nil
		})
		if svc, err := h.service(ctx); err == nil && svc.RunningCount >= want {
			runningAt = time.Since(t0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.ControllerFailover = placed.Round(10 * time.Millisecond).String()
	r.TaskRunning = runningAt.Round(10 * time.Millisecond).String()
	if nd, at := e.leaderSince(ctx); nd != nil && nd != s && at.After(t0) {
		r.NewLeader = at.Sub(t0).Round(10 * time.Millisecond).String()
	}
	r.Checks["controller failover"] = okIf(placed > 0 && placed < failoverBound,
		fmt.Sprintf("the task asked for after the kill was placed after %v (bound %v)", placed, failoverBound))
	if runningAt == 0 {
		return fmt.Errorf("the task asked for after the kill did not run within 60s (placed after %v)", placed)
	}
	return e.start(ctx, s)
}

// partitionServer cuts s off from the etcd peers for d, then heals it.
func (h *harness) partitionServer(ctx context.Context, s *node, d time.Duration) error {
	e := h.env
	if err := e.disconnect(ctx, s, e.peerNet); err != nil {
		return err
	}
	h.mark(ctx, "partition-server")
	time.Sleep(d)
	i := 0
	for k, x := range e.servers {
		if x == s {
			i = k
		}
	}
	return e.connect(ctx, s, e.peerNet, fmt.Sprintf("%s.%d", e.subnet[0], 10+i))
}

// partitionAgent cuts agent a off from every server for d, then heals it.
func (h *harness) partitionAgent(ctx context.Context, a *node, d time.Duration) error {
	e := h.env
	if err := e.disconnect(ctx, a, e.apiNet); err != nil {
		return err
	}
	h.mark(ctx, "partition-agent")
	time.Sleep(d)
	return e.connect(ctx, a, e.apiNet, a.apiIP)
}

// rollingRestart stops (SIGTERM) and starts every server in turn.
func (h *harness) rollingRestart(ctx context.Context, _ *faultResult) error {
	e := h.env
	for _, s := range e.servers {
		s.down = true
		timeout := 10
		if err := e.docker.ContainerRestart(ctx, s.id, containerStop(timeout)); err != nil {
			return err
		}
		s.down = false
		if err := e.waitServes(ctx, s, 90*time.Second); err != nil {
			return err
		}
		h.mark(ctx, "rolling-"+s.name)
	}
	return nil
}
