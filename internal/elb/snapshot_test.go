package elb

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/store"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func memoryAPI(t *testing.T) (*API, *store.Memory, *clock) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b := store.NewMemoryBackend(clk.Now)
	st := store.NewOn(b)
	t.Cleanup(func() { st.Close() })
	a := New(st, "us-east-1", "123456789012", nil)
	a.Now = clk.Now
	return a, b, clk
}

func noErr[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// setup creates a load balancer with an HTTP listener on port forwarding
// to an ip target group with the targets.
func setup(t *testing.T, a *API, port int32, targets ...string) (lb elbv2api.LoadBalancer, tg elbv2api.TargetGroup) {
	t.Helper()
	ctx := context.Background()
	lb = noErr[*elbv2api.CreateLoadBalancerOutput](t)(a.CreateLoadBalancer(ctx, &elbv2api.CreateLoadBalancerInput{Name: "web"})).LoadBalancers[0]
	tg = noErr[*elbv2api.CreateTargetGroupOutput](t)(a.CreateTargetGroup(ctx, &elbv2api.CreateTargetGroupInput{Name: "tg", Protocol: "HTTP",
		Port: int32p(80), TargetType: "ip"})).TargetGroups[0]
	noErr[*elbv2api.CreateListenerOutput](t)(a.CreateListener(ctx, &elbv2api.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: "HTTP",
		Port: int32p(port), DefaultActions: []elbv2api.Action{{Type: "forward", TargetGroupArn: tg.TargetGroupArn}}}))
	var ts []elbv2api.TargetDescription
	for _, id := range targets {
		ts = append(ts, elbv2api.TargetDescription{Id: id})
	}
	if len(ts) > 0 {
		noErr[*elbv2api.RegisterTargetsOutput](t)(a.RegisterTargets(ctx, &elbv2api.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn, Targets: ts}))
	}
	return lb, tg
}

func next(t *testing.T, ch <-chan *lbconf.Snapshot) *lbconf.Snapshot {
	t.Helper()
	select {
	case s, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot within 5s")
	}
	return nil
}

func TestWatchSendsEveryChangeCoalesced(t *testing.T) {
	a, _, clk := memoryAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := a.Watch(ctx)
	if s := next(t, ch); len(s.LoadBalancers) != 0 || len(s.TargetGroups) != 0 {
		t.Fatalf("first snapshot: %+v", s)
	}
	_, tg := setup(t, a, 8080, "10.0.0.1")
	// The writes so far may come as one snapshot or several; the last
	// one has them all.
	var s *lbconf.Snapshot
	for s = next(t, ch); len(s.TargetGroups[tg.TargetGroupArn].Targets) == 0; s = next(t, ch) {
	}
	lb := s.LoadBalancers[0]
	l := lb.Listeners[0]
	g := s.TargetGroups[tg.TargetGroupArn]
	if lb.Type != lbconf.TypeApplication || lb.Address != "127.0.0.1" || lb.IdleTimeout != time.Minute || !lb.HTTP2 ||
		l.Port != 8080 || l.Protocol != "HTTP" || len(l.DefaultActions) != 1 || l.DefaultActions[0].Forward[0].TargetGroupArn != tg.TargetGroupArn ||
		l.DefaultActions[0].Forward[0].Weight != 1 {
		t.Fatalf("load balancer: %+v", lb)
	}
	if g.HealthCheck.Interval != 30*time.Second || g.HealthCheck.Timeout != 5*time.Second || g.HealthCheck.Path != "/" || g.HealthCheck.Matcher != "200" ||
		g.HealthCheck.HealthyThreshold != 5 || g.HealthCheck.UnhealthyThreshold != 2 || !g.HealthCheck.Enabled || g.DeregistrationDelay != 300*time.Second ||
		g.Algorithm != "round_robin" || len(g.Targets) != 1 || g.Targets[0].Host != "10.0.0.1" || g.Targets[0].Port != 80 || !g.Targets[0].RegisteredAt.Equal(clk.Now().Truncate(time.Millisecond)) {
		t.Fatalf("target group: %+v", g)
	}
	// Ten writes while nobody reads: fewer snapshots, the last with all.
	for i := range 10 {
		noErr[*elbv2api.RegisterTargetsOutput](t)(a.RegisterTargets(context.Background(), &elbv2api.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
			Targets: []elbv2api.TargetDescription{{Id: fmt.Sprintf("10.0.1.%d", i)}}}))
	}
	got := 0
	for s = next(t, ch); len(s.TargetGroups[tg.TargetGroupArn].Targets) != 11; s = next(t, ch) {
		got++
	}
	if got >= 9 {
		t.Fatalf("%d snapshots for 10 quick writes: not coalesced", got+1)
	}
	cancel()
	for range ch {
	}
}

func TestDrainingEndsInTheSnapshot(t *testing.T) {
	a, _, clk := memoryAPI(t)
	ctx := context.Background()
	_, tg := setup(t, a, 8080, "10.0.0.1", "10.0.0.2")
	noErr[*elbv2api.ModifyTargetGroupAttributesOutput](t)(a.ModifyTargetGroupAttributes(ctx, &elbv2api.ModifyTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn,
		Attributes: []elbv2api.TargetGroupAttribute{{Key: "deregistration_delay.timeout_seconds", Value: "30"}}}))
	noErr[*elbv2api.DeregisterTargetsOutput](t)(a.DeregisterTargets(ctx, &elbv2api.DeregisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []elbv2api.TargetDescription{{Id: "10.0.0.1"}}}))
	s := noErr[*lbconf.Snapshot](t)(a.Snapshot(ctx))
	ts := s.TargetGroups[tg.TargetGroupArn].Targets
	if len(ts) != 2 || ts[0].ID != "10.0.0.1" || !ts[0].Draining || ts[1].Draining {
		t.Fatalf("while draining: %+v", ts)
	}
	clk.Advance(29 * time.Second)
	if err := a.reap(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(noErr[*lbconf.Snapshot](t)(a.Snapshot(ctx)).TargetGroups[tg.TargetGroupArn].Targets); n != 2 {
		t.Fatalf("removed before the delay: %d targets", n)
	}
	clk.Advance(time.Second)
	if err := a.reap(ctx); err != nil {
		t.Fatal(err)
	}
	w := noErr[*world](t)(a.load(ctx))
	if ts := w.targets[tg.TargetGroupArn[len(tg.TargetGroupArn)-16:]]; len(ts) != 1 || ts[0].ID != "10.0.0.2" {
		t.Fatalf("after the delay: %+v", ts)
	}
	// A target group no listener uses drops a target at once.
	noErr[*elbv2api.DeleteLoadBalancerOutput](t)(a.DeleteLoadBalancer(ctx, &elbv2api.DeleteLoadBalancerInput{LoadBalancerArn: s.LoadBalancers[0].Arn}))
	noErr[*elbv2api.DeregisterTargetsOutput](t)(a.DeregisterTargets(ctx, &elbv2api.DeregisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []elbv2api.TargetDescription{{Id: "10.0.0.2"}}}))
	if ts := noErr[*lbconf.Snapshot](t)(a.Snapshot(ctx)).TargetGroups[tg.TargetGroupArn].Targets; len(ts) != 0 {
		t.Fatalf("unused group kept a target: %+v", ts)
	}
}

func TestHealthReportsVanishWithTheirDataPlane(t *testing.T) {
	a, b, clk := memoryAPI(t)
	ctx := context.Background()
	_, tg := setup(t, a, 8080, "10.0.0.1")
	sinkCtx, stop := context.WithCancel(ctx)
	sink := a.HealthSink(sinkCtx, "plane")
	if err := sink.Report(ctx, tg.TargetGroupArn, "10.0.0.1", 80, lbconf.Health{State: lbconf.StateHealthy}); err != nil {
		t.Fatal(err)
	}
	state := func() elbv2api.TargetHealthStateEnum {
		out := noErr[*elbv2api.DescribeTargetHealthOutput](t)(a.DescribeTargetHealth(ctx, &elbv2api.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn}))
		return out.TargetHealthDescriptions[0].TargetHealth.State
	}
	if s := state(); s != "healthy" {
		t.Fatalf("reported healthy, described %s", s)
	}
	// While the process lives its lease lasts.
	clk.Advance(time.Minute)
	b.ExpireLeases()
	if s := state(); s != "healthy" {
		t.Fatalf("live data plane: described %s", s)
	}
	// It dies: after the lease's TTL its reports are gone.
	stop()
	<-sink.lost // the keep-alive has ended
	clk.Advance(16 * time.Second)
	b.ExpireLeases()
	if s := state(); s != "initial" {
		t.Fatalf("dead data plane: described %s", s)
	}
	// A new sink of a new process reports again on a new lease.
	sink = a.HealthSink(ctx, "plane-2")
	if err := sink.Report(ctx, tg.TargetGroupArn, "10.0.0.1", 80, lbconf.Health{State: lbconf.StateUnhealthy, Reason: lbconf.ReasonTimeout}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "unhealthy" {
		t.Fatalf("new data plane: described %s", s)
	}
	// Closed (a graceful stop): its reports vanish at once.
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "initial" {
		t.Fatalf("closed data plane: described %s", s)
	}
	if err := sink.Report(ctx, tg.TargetGroupArn, "10.0.0.1", 80, lbconf.Health{State: lbconf.StateHealthy}); err == nil {
		t.Fatal("a closed reporter reported")
	}
	sink = a.HealthSink(ctx, "plane-3")
	if err := sink.Report(ctx, "arn:aws:s3:::bucket", "10.0.0.1", 80, lbconf.Health{State: lbconf.StateHealthy}); err == nil {
		t.Fatal("a report for a non-ELB ARN was accepted")
	}
}

func TestPage(t *testing.T) {
	items := []string{"1/a", "2/b", "3/c", "4/d", "5/e"}
	key := func(s string) string { return s }
	var all []string
	marker := ""
	for range 10 {
		pg, next, err := page(items, key, marker, int32p(2))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pg...)
		if next == "" {
			break
		}
		marker = next
	}
	if fmt.Sprint(all) != fmt.Sprint(items) {
		t.Fatalf("pages: %v", all)
	}
	// A deleted item does not lose the next ones.
	pg, next, _ := page(items, key, "", int32p(2))
	_, _, err := page(items[:1], key, next, nil)
	if err != nil || len(pg) != 2 {
		t.Fatal(err)
	}
	rest, _, _ := page([]string{"1/a", "3/c", "4/d"}, key, next, nil)
	if fmt.Sprint(rest) != "[3/c 4/d]" {
		t.Fatalf("after a deletion: %v", rest)
	}
	for _, bad := range []string{"%%", "bm90IGEgbWFya2Vy"} {
		if _, _, err := page(items, key, bad, nil); err == nil {
			t.Fatalf("marker %q accepted", bad)
		}
	}
	if _, _, err := page(items, key, "", int32p(0)); err == nil {
		t.Fatal("page size 0 accepted")
	}
}

func TestMatcherAndConditions(t *testing.T) {
	for code, ok := range map[string]bool{"200": true, "200-299": true, "200,202": true, "200-499": true, "500": false, "199": false, "2xx": false, "300-200": false, "": false} {
		if err := checkMatcher(code, "HTTP"); (err == nil) != ok {
			t.Errorf("matcher %q: %v", code, err)
		}
	}
	if err := checkMatcher("200-599", "TCP"); err != nil {
		t.Error(err)
	}
	conds, err := normalizeConditions([]elbv2api.RuleCondition{{Field: "host-header", HostHeaderConfig: &elbv2api.HostHeaderConditionConfig{Values: []string{"*.example.com"}}}})
	if err != nil || conds[0].Values[0] != "*.example.com" || conds[0].HostHeaderConfig.Values[0] != "*.example.com" {
		t.Fatalf("host header: %+v %v", conds, err)
	}
	if _, err := normalizeConditions([]elbv2api.RuleCondition{{Field: "path-pattern", Values: []string{"/a"}, PathPatternConfig: &elbv2api.PathPatternConditionConfig{Values: []string{"/b"}}}}); err == nil {
		t.Fatal("Values and PathPatternConfig accepted together")
	}
	if _, err := normalizeConditions([]elbv2api.RuleCondition{{Field: "query-string", QueryStringConfig: &elbv2api.QueryStringConditionConfig{Values: []elbv2api.QueryStringKeyValuePair{{Key: "a"}}}}}); err == nil {
		t.Fatal("a query string without a value accepted")
	}
}

func TestTargetGroupOfAServiceIsInUse(t *testing.T) {
	a, _, _ := memoryAPI(t)
	ctx := context.Background()
	tg := noErr[*elbv2api.CreateTargetGroupOutput](t)(a.CreateTargetGroup(ctx, &elbv2api.CreateTargetGroupInput{Name: "svc", Protocol: "HTTP",
		Port: int32p(80), TargetType: "ip"})).TargetGroups[0]
	svc := ecsapi.Service{ServiceArn: "arn:aws:ecs:us-east-1:123456789012:service/c/web", Status: "ACTIVE",
		LoadBalancers: []ecsapi.LoadBalancer{{TargetGroupArn: tg.TargetGroupArn, ContainerName: "web", ContainerPort: int32p(80)}}}
	if _, err := a.Store.Create(ctx, record.ServiceKey("c", "web"), &svc); err != nil {
		t.Fatal(err)
	}
	_, err := a.DeleteTargetGroup(ctx, &elbv2api.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn})
	if e, ok := apierror.As(err); !ok || e.Code != "ResourceInUse" {
		t.Fatalf("deleting a service's target group: %v", err)
	}
	svc.Status = "INACTIVE"
	if _, err := a.Store.Update(ctx, record.ServiceKey("c", "web"), &svc, noErr[int64](t)(a.Store.Get(ctx, record.ServiceKey("c", "web"), &ecsapi.Service{}))); err != nil {
		t.Fatal(err)
	}
	noErr[*elbv2api.DeleteTargetGroupOutput](t)(a.DeleteTargetGroup(ctx, &elbv2api.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}))
}

// TestReadsSeeEveryAcknowledgedWrite: with Run's view serving reads, a
// read after a write sees it, and reads between changes share one
// decoded world.
func TestReadsSeeEveryAcknowledgedWrite(t *testing.T) {
	a, _, _ := memoryAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for a.view.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	_, tg := setup(t, a, 8080)
	for i := range 50 {
		id := fmt.Sprintf("10.1.0.%d", i+1)
		noErr[*elbv2api.RegisterTargetsOutput](t)(a.RegisterTargets(ctx, &elbv2api.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
			Targets: []elbv2api.TargetDescription{{Id: id}}}))
		out := noErr[*elbv2api.DescribeTargetHealthOutput](t)(a.DescribeTargetHealth(ctx, &elbv2api.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn}))
		if len(out.TargetHealthDescriptions) != i+1 {
			t.Fatalf("after %d registrations a read saw %d targets", i+1, len(out.TargetHealthDescriptions))
		}
	}
	w1 := noErr[*world](t)(a.read(ctx))
	w2 := noErr[*world](t)(a.read(ctx))
	if w1 != w2 {
		t.Fatal("two reads without a change decoded the records twice")
	}
	noErr[*elbv2api.AddTagsOutput](t)(a.AddTags(ctx, &elbv2api.AddTagsInput{ResourceArns: []string{tg.TargetGroupArn}, Tags: []elbv2api.Tag{{Key: "k", Value: "v"}}}))
	if w3 := noErr[*world](t)(a.read(ctx)); w3 == w1 || len(w3.tgByARN(tg.TargetGroupArn).Tags) != 1 {
		t.Fatal("a read after a write did not see it")
	}
}
