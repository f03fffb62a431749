package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Image pre-pull, which ECS does not do (containers-roadmap #696): before a
// rolling update starts its first task, the instances that may run its
// tasks pull its images, so neither the new tasks nor the old ones they
// replace wait on a pull. The controller asks (a PrePullRequest the polls
// of those instances' agents answer), waits until every instance reports
// every image PULLED or FAILED, or PrePullTimeout after the deployment was
// created, and then lets the rollout go. A pull that failed on every
// instance fails the deployment through the circuit breaker (when it is
// enabled) instead of cycling tasks that cannot start.
//
// Scale-out is not held: once a deployment no longer waits (and on every
// service that is not rolling out), a standing request (Standing) asks
// every eligible pre-pulling instance of the cluster for the PRIMARY
// deployment's images. It holds nothing; an instance that has the images
// answers PULLED at once, one that lacks them (a new instance, one that
// missed the rollout's wait) pulls them, so a later scale-out or
// replacement placed there finds the image present.

// DefaultPrePullTimeout is how long a deployment waits at most for its
// images to be pulled before it starts tasks anyway.
const DefaultPrePullTimeout = 5 * time.Minute

// PrePullAttribute is the attribute of the container instances whose
// agent pre-pulls images when asked; the controller asks only them.
const PrePullAttribute = ecsapi.ImagePrePullAttribute

// prePullPoll is how often a waiting deployment looks at the pulls.
const prePullPoll = 500 * time.Millisecond

// The states of an ImagePull.
const (
	PullPulling = "PULLING"
	PullPulled  = "PULLED"
	PullFailed  = "FAILED"
)

// ImagePull is an instance's report of one image pre-pull.
type ImagePull struct {
	Image  string
	Status string
	// Reason is why it failed (Docker's message).
	Reason string
}

// PrePullRequest asks container instances to pull images for a
// deployment, until Until; Done once the deployment no longer waits.
// Standing requests (always Done) ask with no end and hold nothing.
type PrePullRequest struct {
	Deployment string
	Images     []string
	Instances  []string
	Until      time.Time
	Done       bool
	Standing   bool
}

// PrePuller is what pre-pulling needs from the server; Deps.PrePull is
// optional (nil: no pre-pull).
type PrePuller interface {
	// TaskDefinitionImages returns the container images of a task
	// definition.
	TaskDefinitionImages(ctx context.Context, arn string) ([]string, error)
	// ImagePulls returns what each container instance (by ARN) of cluster
	// last reported of its pre-pulls.
	ImagePulls(ctx context.Context, cluster string) (map[string][]ImagePull, error)
	// PrePullRequest returns the stored request of a service, nil when
	// there is none.
	PrePullRequest(ctx context.Context, cluster, service string) (*PrePullRequest, error)
	// PutPrePullRequest stores (nil: deletes) the request of a service.
	PutPrePullRequest(ctx context.Context, cluster, service string, r *PrePullRequest) error
}

// PrePullObserved is what plan sees of a service's pre-pull.
type PrePullObserved struct {
	// Request is the stored request, nil when there is none.
	Request *PrePullRequest
	// Images are the images of the PRIMARY deployment's task definition
	// (read while it rolls out, or while no standing request of it holds
	// them).
	Images []string
	// Pulls are the instances' reports, by instance ARN.
	Pulls map[string][]ImagePull
}

// observePrePull reads what the plan needs to pre-pull for svc: its
// request, and while it rolls out its images and the instances' pulls.
func (c *Controller) observePrePull(ctx context.Context, cluster string, svc *ecsapi.Service) (*PrePullObserved, error) {
	name := svc.ServiceName
	rolling := rollingOut(svc)
	pp := c.deps.PrePull
	req, err := pp.PrePullRequest(ctx, cluster, name)
	if err != nil {
		return nil, fmt.Errorf("pre-pull request of %s: %w", name, err)
	}
	obs := &PrePullObserved{Request: req}
	standing := req != nil && req.Standing && req.Deployment == svc.Deployments[0].Id
	if !rolling && (standing || svc.Status != "ACTIVE") {
		return obs, nil
	}
	if obs.Images, err = pp.TaskDefinitionImages(ctx, svc.Deployments[0].TaskDefinition); err != nil {
		return nil, fmt.Errorf("images of %s: %w", svc.Deployments[0].TaskDefinition, err)
	}
	if !rolling {
		return obs, nil
	}
	if obs.Pulls, err = pp.ImagePulls(ctx, cluster); err != nil {
		return nil, fmt.Errorf("image pulls of %s: %w", cluster, err)
	}
	return obs, nil
}

// putPrePull asks for (or ends) a pre-pull: the request replaces the
// stored one.
func (pl *planner) putPrePull(r *PrePullRequest) {
	pl.p.PrePull = r
	pl.p.WritePrePull = true
}

// prePull decides whether the PRIMARY deployment must wait for its images
// to be pulled before it starts (or stops) tasks, asks for the pulls, and
// ends the wait when every asked instance has answered, the timeout has
// passed, or the pulls failed everywhere (which fails the deployment when
// the circuit breaker is on). It returns true while the rollout waits.
func (pl *planner) prePull(pp *PrePullObserved, tasks int) bool {
	if pp == nil {
		return false
	}
	svc := pl.svc
	primary := &svc.Deployments[0]
	req := pp.Request
	rolling := pl.cfg.PrePullTimeout > 0 && rollingOut(svc)
	if req != nil && (req.Deployment != primary.Id || (!rolling && !req.Standing)) {
		// A request of a deployment that is no longer the rolling one
		// (standingPrePull puts the standing one back).
		pl.putPrePull(nil)
		req = nil
	}
	if !rolling || (req != nil && (req.Done || req.Standing)) {
		return false
	}
	done := func() {
		if req == nil {
			return
		}
		r := *req
		r.Done = true
		pl.putPrePull(&r)
	}
	if tasks > 0 || len(pp.Images) == 0 {
		// Tasks of the deployment were started already (pre-pull was
		// off, or the controller restarted after the wait): nothing to
		// wait for.
		done()
		return false
	}
	var targets []string
	for _, arn := range sortedKeys(pl.insts) {
		in := pl.insts[arn]
		if in.Status == "ACTIVE" && in.Connected && in.Eligible && in.PrePull {
			targets = append(targets, arn)
		}
	}
	if len(targets) == 0 {
		done()
		return false
	}
	created := pl.now
	if primary.CreatedAt != nil {
		created = primary.CreatedAt.Time
	}
	until := created.Add(pl.cfg.PrePullTimeout)
	images := strings.Join(pp.Images, ", ")
	pending, failed, reason := 0, 0, ""
	for _, arn := range targets {
		st := map[string]ImagePull{}
		for _, p := range pp.Pulls[arn] {
			st[p.Image] = p
		}
		all, fail := true, false
		for _, img := range pp.Images {
			p := st[img]
			switch p.Status {
			case PullPulled:
			case PullFailed:
				fail = true
				if reason == "" {
					reason = p.Reason
				}
			default:
				all = false
			}
		}
		switch {
		case !all:
			pending++
		case fail:
			failed++
		}
	}
	took := pl.now.Sub(created).Round(100 * time.Millisecond)
	if pending > 0 && pl.now.Before(until) {
		want := &PrePullRequest{Deployment: primary.Id, Images: pp.Images, Instances: targets, Until: until}
		if req == nil || !slices.Equal(req.Images, want.Images) || !slices.Equal(req.Instances, want.Instances) || !req.Until.Equal(want.Until) {
			pl.putPrePull(want)
		}
		pl.event("is pre-pulling image(s) %s on %d container instances before (deployment %s) starts tasks.", images, len(targets), primary.Id)
		pl.requeue(pl.now.Add(prePullPoll))
		return true
	}
	if req == nil {
		req = &PrePullRequest{Deployment: primary.Id, Images: pp.Images, Instances: targets, Until: until}
	}
	done()
	switch {
	case pending > 0:
		pl.event("stopped waiting for the pre-pull of image(s) %s after %s: %d of %d container instances have not finished pulling.",
			images, pl.cfg.PrePullTimeout, pending, len(targets))
	case failed == len(targets):
		pl.event("could not pre-pull image(s) %s on any of %d container instances: %s", images, len(targets), reason)
		cb := svc.DeploymentConfiguration
		if cb != nil && cb.DeploymentCircuitBreaker != nil && cb.DeploymentCircuitBreaker.Enable {
			pl.failDeployment("ECS deployment circuit breaker", "image pull failed on every container instance")
		}
	default:
		pl.event("pre-pulled image(s) %s on %d of %d container instances in %s for (deployment %s).",
			images, len(targets)-failed, len(targets), took, primary.Id)
	}
	return false
}

// standingPrePull keeps the standing request of an ACTIVE service that
// does not wait for a pre-pull: the PRIMARY deployment's images, to every
// ACTIVE eligible instance whose agent pre-pulls (connected or not, so
// that an agent's list does not change, and a pull start again, with a
// short disconnection). It replaces a Done request of the same
// deployment, and is rewritten only when its images or instances change.
func (pl *planner) standingPrePull(pp *PrePullObserved) {
	svc := pl.svc
	if pp == nil || pl.cfg.PrePullTimeout <= 0 || svc.Status != "ACTIVE" || len(svc.Deployments) == 0 {
		return
	}
	primary := svc.Deployments[0]
	cur := pp.Request
	if pl.p.WritePrePull {
		cur = pl.p.PrePull
	}
	if cur != nil && cur.Deployment == primary.Id && !cur.Done && !cur.Standing {
		// The rollout waits for this request.
		return
	}
	images := pp.Images
	if len(images) == 0 && cur != nil && cur.Standing && cur.Deployment == primary.Id {
		images = cur.Images
	}
	if len(images) == 0 {
		return
	}
	var targets []string
	for _, arn := range sortedKeys(pl.insts) {
		in := pl.insts[arn]
		if in.Status == "ACTIVE" && in.Eligible && in.PrePull {
			targets = append(targets, arn)
		}
	}
	if cur != nil && cur.Standing && cur.Deployment == primary.Id && slices.Equal(cur.Images, images) && slices.Equal(cur.Instances, targets) {
		return
	}
	if len(targets) == 0 && (cur == nil || cur.Deployment != primary.Id) {
		return
	}
	pl.putPrePull(&PrePullRequest{Deployment: primary.Id, Images: images, Instances: targets, Done: true, Standing: true})
}

// rollingOut reports whether the PRIMARY deployment of a service (REPLICA
// or DAEMON) replaces another one and is in progress: the case pre-pull is
// for. A DAEMON rollout replaces the task of every instance in place, so
// without pre-pull each instance would wait on its pull with its daemon
// stopped.
func rollingOut(svc *ecsapi.Service) bool {
	return len(svc.Deployments) > 1 && svc.Deployments[0].RolloutState == "IN_PROGRESS" && svc.Status != "DRAINING"
}

// failDeployment fails the PRIMARY deployment (by the circuit breaker or
// the alarms, for stage) and rolls back when the configuration says so.
func (pl *planner) failDeployment(by, stage string) {
	d := &pl.svc.Deployments[0]
	d.RolloutState = "FAILED"
	d.RolloutStateReason = by + ": " + stage + "."
	d.UpdatedAt = ecsapi.NewTimestamp(pl.now)
	pl.event("(deployment %s) deployment failed: %s.", d.Id, stage)
	if cb := pl.svc.DeploymentConfiguration; cb != nil && cb.DeploymentCircuitBreaker != nil && cb.DeploymentCircuitBreaker.Rollback {
		pl.rollBack(by)
	}
}
