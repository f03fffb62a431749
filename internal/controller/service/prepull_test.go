package service

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// prePullInstances are two connected instances whose agents pre-pull, and
// a third whose agent does not (never asked).
func prePullInstances() []Instance {
	in := instances(inst1, inst2, inst3)
	in[0].PrePull, in[1].PrePull = true, true
	return in
}

func pulls(status string, images ...string) []ImagePull {
	var out []ImagePull
	for _, img := range images {
		out = append(out, ImagePull{Image: img, Status: status, Reason: map[bool]string{true: "manifest unknown"}[status == PullFailed]})
	}
	return out
}

// TestPlanPrePull drives the pure pre-pull decision: a rolling update
// waits (neither starting new tasks nor stopping old ones) until every
// pre-pulling instance reports its images, then goes; a timeout or a
// failure everywhere ends the wait (the latter fails the deployment with
// the circuit breaker on); stale requests are deleted.
func TestPlanPrePull(t *testing.T) {
	cfg := testCfg
	cfg.PrePullTimeout = time.Minute
	rolling := func(mods ...func(*ecsapi.Service)) *ecsapi.Service {
		s := svcFixture(2, append(mods, deploy)...)
		s.Deployments[0].CreatedAt = ecsapi.NewTimestamp(t0.Add(-10 * time.Second))
		return s
	}
	old := []ecsapi.Task{tk("d1", inst1, "RUNNING"), tk("d1", inst2, "RUNNING")}
	images := []string{"reg/app:v2", "reg/side:v1"}
	asked := &PrePullRequest{Deployment: "d2", Images: images, Instances: []string{inst1, inst2}, Until: t0.Add(50 * time.Second)}

	t.Run("asks and waits", func(t *testing.T) {
		p := plan(cfg, rolling(), Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
		if len(p.Start) != 0 || len(p.Stop) != 0 {
			t.Fatalf("a waiting rollout started %v / stopped %v", p.Start, p.Stop)
		}
		if !p.WritePrePull || p.PrePull == nil || p.PrePull.Deployment != "d2" || !slices.Equal(p.PrePull.Instances, []string{inst1, inst2}) ||
			!slices.Equal(p.PrePull.Images, images) || !p.PrePull.Until.Equal(t0.Add(50*time.Second)) || p.PrePull.Done {
			t.Fatalf("request: %v %+v", p.WritePrePull, p.PrePull)
		}
		if !hasPlanEvent(p, "is pre-pulling image(s) reg/app:v2, reg/side:v1 on 2 container instances before (deployment d2)") || p.RequeueAfter == 0 {
			t.Fatalf("events %v requeue %v", p.Events, p.RequeueAfter)
		}
	})
	t.Run("one instance still pulling", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullPulled, images...), inst2: append(pulls(PullPulled, images[0]), pulls(PullPulling, images[1])...)}}}
		p := plan(cfg, rolling(), obs, t0)
		if len(p.Start) != 0 || len(p.Stop) != 0 || p.WritePrePull {
			t.Fatalf("start %v stop %v write %v", p.Start, p.Stop, p.WritePrePull)
		}
	})
	t.Run("all pulled: the rollout goes", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullPulled, images...), inst2: pulls(PullPulled, images...)}}}
		p := plan(cfg, rolling(), obs, t0)
		if startCount(p, "d2") != 2 || !p.WritePrePull || p.PrePull == nil || !p.PrePull.Done {
			t.Fatalf("start %v request %v %+v", p.Start, p.WritePrePull, p.PrePull)
		}
		if !hasPlanEvent(p, "pre-pulled image(s) reg/app:v2, reg/side:v1 on 2 of 2 container instances in 10s for (deployment d2)") {
			t.Fatalf("events %v", p.Events)
		}
	})
	t.Run("done requests are not asked again", func(t *testing.T) {
		done := *asked
		done.Done = true
		p := plan(cfg, rolling(), Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: &done, Images: images}}, t0)
		// The rollout goes; the request becomes the standing one, which
		// holds nothing.
		if startCount(p, "d2") != 2 || !isStanding(p.PrePull, "d2", images, inst1, inst2) {
			t.Fatalf("start %v request %+v", p.Start, p.PrePull)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullPulled, images...)}}}
		p := plan(cfg, rolling(), obs, t0.Add(time.Minute))
		if startCount(p, "d2") != 2 || p.PrePull == nil || !p.PrePull.Done ||
			!hasPlanEvent(p, "stopped waiting for the pre-pull of image(s) reg/app:v2, reg/side:v1 after 1m0s: 1 of 2") {
			t.Fatalf("start %v request %+v events %v", p.Start, p.PrePull, p.Events)
		}
	})
	t.Run("failed everywhere with the breaker: deployment FAILED and rolled back", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullFailed, images...), inst2: pulls(PullFailed, images...)}}}
		s := rolling(breakerOn(true))
		s.Deployments[1].RolloutState = "COMPLETED"
		p := plan(cfg, s, obs, t0)
		if startCount(p, "d2") != 0 || len(p.Stop) != 0 {
			t.Fatalf("start %v stop %v", p.Start, p.Stop)
		}
		// Rolled back: d1, whose tasks all run, is PRIMARY again (and at
		// once COMPLETED); the failed d2, without tasks, is gone.
		if len(p.Service.Deployments) != 1 || p.Service.Deployments[0].Id != "d1" || p.Service.Deployments[0].Status != "PRIMARY" ||
			!hasPlanEvent(p, "(deployment d2) rolling back to deployment d1.") {
			t.Fatalf("deployments %+v", p.Service.Deployments)
		}
		if !hasPlanEvent(p, "(deployment d2) deployment failed: image pull failed on every container instance.") {
			t.Fatalf("events %v", p.Events)
		}
		if !hasPlanEvent(p, "could not pre-pull image(s) reg/app:v2, reg/side:v1 on any of 2 container instances: manifest unknown") {
			t.Fatalf("events %v", p.Events)
		}
	})
	t.Run("failed everywhere, breaker on without rollback", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullFailed, images...), inst2: pulls(PullFailed, images...)}}}
		p := plan(cfg, rolling(breakerOn(false)), obs, t0)
		d := p.Service.Deployments[0]
		if startCount(p, "d2") != 0 || len(p.Stop) != 0 || d.Id != "d2" || d.RolloutState != "FAILED" ||
			d.RolloutStateReason != "ECS deployment circuit breaker: image pull failed on every container instance." {
			t.Fatalf("start %v stop %v deployment %+v", p.Start, p.Stop, d)
		}
	})
	t.Run("failed on one instance: the rollout goes", func(t *testing.T) {
		obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
			Pulls: map[string][]ImagePull{inst1: pulls(PullFailed, images...), inst2: pulls(PullPulled, images...)}}}
		p := plan(cfg, rolling(breakerOn(true)), obs, t0)
		if startCount(p, "d2") != 2 || !hasPlanEvent(p, "on 1 of 2 container instances") {
			t.Fatalf("start %v events %v", p.Start, p.Events)
		}
	})
	t.Run("tasks already started: no wait", func(t *testing.T) {
		tasks := append(slices.Clone(old), tk("d2", inst1, "PENDING"))
		p := plan(cfg, rolling(), Observed{Tasks: tasks, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
		if startCount(p, "d2") != 1 || !isStanding(p.PrePull, "d2", images, inst1, inst2) {
			t.Fatalf("start %v request %+v", p.Start, p.PrePull)
		}
	})
	t.Run("no agent pre-pulls: no wait", func(t *testing.T) {
		p := plan(cfg, rolling(), Observed{Tasks: old, Instances: instances(inst1, inst2), PrePull: &PrePullObserved{Images: images}}, t0)
		if startCount(p, "d2") != 2 || p.WritePrePull {
			t.Fatalf("start %v write %v", p.Start, p.WritePrePull)
		}
	})
	t.Run("off", func(t *testing.T) {
		p := plan(testCfg, rolling(), Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
		if startCount(p, "d2") != 2 || p.WritePrePull {
			t.Fatalf("start %v write %v", p.Start, p.WritePrePull)
		}
	})
	t.Run("a completed rollout deletes its request", func(t *testing.T) {
		done := *asked
		done.Done = true
		s := svcFixture(2)
		p := plan(cfg, s, Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: &done}}, t0)
		if !p.WritePrePull || p.PrePull != nil {
			t.Fatalf("write %v %+v", p.WritePrePull, p.PrePull)
		}
	})
}

func isStanding(r *PrePullRequest, dep string, images []string, insts ...string) bool {
	return r != nil && r.Standing && r.Done && r.Deployment == dep && slices.Equal(r.Images, images) && slices.Equal(r.Instances, insts)
}

// TestPlanStandingPrePull: a service that does not wait for a pre-pull
// keeps a standing request of its PRIMARY deployment's images to every
// ACTIVE eligible pre-pulling instance (so a scale-out there finds them),
// which holds neither a scale-out nor a rollout after its wait, follows
// instances that join or leave, is written only when it changes, gives
// way to the next rollout's wait, and goes with a DRAINING service or
// pre-pull off.
func TestPlanStandingPrePull(t *testing.T) {
	cfg := testCfg
	cfg.PrePullTimeout = time.Minute
	images := []string{"reg/app:v1"}
	running := []ecsapi.Task{tk("d1", inst1, "RUNNING"), tk("d1", inst2, "RUNNING")}

	t.Run("steady service: asked, not held", func(t *testing.T) {
		p := plan(cfg, svcFixture(2), Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
		if !p.WritePrePull || !isStanding(p.PrePull, "d1", images, inst1, inst2) {
			t.Fatalf("request %v %+v", p.WritePrePull, p.PrePull)
		}
	})
	standing := &PrePullRequest{Deployment: "d1", Images: images, Instances: []string{inst1, inst2}, Done: true, Standing: true}
	t.Run("unchanged: not rewritten, images from the request", func(t *testing.T) {
		p := plan(cfg, svcFixture(2), Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: standing}}, t0)
		if p.WritePrePull {
			t.Fatalf("rewrote %+v", p.PrePull)
		}
	})
	t.Run("scale-out is not held", func(t *testing.T) {
		p := plan(cfg, svcFixture(4), Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: standing}}, t0)
		if startCount(p, "d1") != 2 || p.WritePrePull {
			t.Fatalf("start %v write %v %+v", p.Start, p.WritePrePull, p.PrePull)
		}
	})
	t.Run("an instance joins, one leaves", func(t *testing.T) {
		in := instances(inst1, inst2, inst3)
		in[0].PrePull, in[2].PrePull = true, true
		in[0].Status = "DRAINING"
		p := plan(cfg, svcFixture(2), Observed{Tasks: running, Instances: in, PrePull: &PrePullObserved{Request: standing}}, t0)
		if !p.WritePrePull || !isStanding(p.PrePull, "d1", images, inst3) {
			t.Fatalf("request %v %+v", p.WritePrePull, p.PrePull)
		}
	})
	t.Run("the next rollout waits on its own request", func(t *testing.T) {
		s := svcFixture(2, deploy)
		s.Deployments[0].CreatedAt = ecsapi.NewTimestamp(t0.Add(-time.Second))
		v2 := []string{"reg/app:v2"}
		p := plan(cfg, s, Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: standing, Images: v2}}, t0)
		if len(p.Start) != 0 || len(p.Stop) != 0 || p.PrePull == nil || p.PrePull.Standing || p.PrePull.Done || p.PrePull.Deployment != "d2" ||
			!slices.Equal(p.PrePull.Images, v2) {
			t.Fatalf("start %v stop %v request %+v", p.Start, p.Stop, p.PrePull)
		}
	})
	t.Run("draining: deleted", func(t *testing.T) {
		s := svcFixture(2)
		s.Status = "DRAINING"
		p := plan(cfg, s, Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: standing}}, t0)
		if !p.WritePrePull || p.PrePull != nil {
			t.Fatalf("request %v %+v", p.WritePrePull, p.PrePull)
		}
	})
	t.Run("pre-pull off: none", func(t *testing.T) {
		p := plan(testCfg, svcFixture(2), Observed{Tasks: running, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
		if p.WritePrePull {
			t.Fatalf("request %+v", p.PrePull)
		}
	})
}

// TestPlanPrePullDaemon: a DAEMON service's rollout, which replaces the
// task of every instance in place, waits for its images on every eligible
// instance too, and then replaces its tasks.
func TestPlanPrePullDaemon(t *testing.T) {
	cfg := testCfg
	cfg.PrePullTimeout = time.Minute
	daemon := func() *ecsapi.Service {
		s := svcFixture(2, func(s *ecsapi.Service) { s.SchedulingStrategy = "DAEMON" }, deploy)
		s.Deployments[0].CreatedAt = ecsapi.NewTimestamp(t0.Add(-10 * time.Second))
		return s
	}
	old := []ecsapi.Task{tk("d1", inst1, "RUNNING"), tk("d1", inst2, "RUNNING")}
	images := []string{"reg/agent:v2"}

	p := plan(cfg, daemon(), Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Images: images}}, t0)
	if len(p.Start) != 0 || len(p.Stop) != 0 {
		t.Fatalf("a waiting DAEMON rollout started %v / stopped %v", p.Start, p.Stop)
	}
	if !p.WritePrePull || p.PrePull == nil || p.PrePull.Deployment != "d2" || !slices.Equal(p.PrePull.Instances, []string{inst1, inst2}) ||
		!slices.Equal(p.PrePull.Images, images) {
		t.Fatalf("request: %v %+v", p.WritePrePull, p.PrePull)
	}
	asked := p.PrePull
	obs := Observed{Tasks: old, Instances: prePullInstances(), PrePull: &PrePullObserved{Request: asked, Images: images,
		Pulls: map[string][]ImagePull{inst1: pulls(PullPulled, images...), inst2: pulls(PullPulled, images...)}}}
	p = plan(cfg, daemon(), obs, t0.Add(time.Second))
	if len(p.Start)+len(p.Stop) == 0 || p.PrePull == nil || !p.PrePull.Done {
		t.Fatalf("after the pulls: start %v stop %v request %+v", p.Start, p.Stop, p.PrePull)
	}
	if !hasPlanEvent(p, "pre-pulled image(s) reg/agent:v2 on 2 of 2 container instances") {
		t.Fatalf("events %v", p.Events)
	}
}
