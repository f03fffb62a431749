package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// prePullConcurrency is how many images an agent pre-pulls at once.
const prePullConcurrency = 2

// imagePuller pulls an image (runtime.Runtime's PullImage).
type imagePuller interface {
	PullImage(ctx context.Context, image string) error
}

// prePuller pulls the images the control plane lists in a poll answer's
// PrePullImages, in the background, and keeps their states for the
// ImagePulls of the next polls. An image that leaves the list is
// forgotten (its pull, if still going, is cancelled), so a later rollout
// to the same tag pulls it again.
type prePuller struct {
	rt  imagePuller
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	pulls map[string]*pull
	order []string
	wg    sync.WaitGroup
	sem   chan struct{}
	// changed receives (without blocking) when a pull ends.
	changed chan struct{}
}

type pull struct {
	state  ecsapi.GantryImagePull
	cancel context.CancelFunc
}

func newPrePuller(rt imagePuller, log *slog.Logger) *prePuller {
	return &prePuller{rt: rt, log: log, now: time.Now, pulls: map[string]*pull{},
		sem: make(chan struct{}, prePullConcurrency), changed: make(chan struct{}, 1)}
}

// Sync starts pulling the images of the list not yet pulled or pulling,
// under ctx, and forgets those no longer in it.
func (p *prePuller) Sync(ctx context.Context, images []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := make(map[string]bool, len(images))
	for _, img := range images {
		want[img] = true
		if _, ok := p.pulls[img]; ok {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		pl := &pull{state: ecsapi.GantryImagePull{Image: img, Status: ecsapi.ImagePullPulling,
			StartedAt: ecsapi.NewTimestamp(p.now())}, cancel: cancel}
		p.pulls[img] = pl
		p.order = append(p.order, img)
		p.wg.Add(1)
		go p.run(pctx, pl)
	}
	kept := p.order[:0]
	for _, img := range p.order {
		if want[img] {
			kept = append(kept, img)
			continue
		}
		p.pulls[img].cancel()
		delete(p.pulls, img)
	}
	p.order = kept
}

// run pulls one image and records how it went.
func (p *prePuller) run(ctx context.Context, pl *pull) {
	defer p.wg.Done()
	defer pl.cancel()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	img := pl.state.Image
	p.log.Info("pre-pulling image", "image", img)
	err := p.rt.PullImage(ctx, img)
	<-p.sem
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	pl.state.StoppedAt = ecsapi.NewTimestamp(p.now())
	if err != nil {
		pl.state.Status, pl.state.Reason = ecsapi.ImagePullFailed, err.Error()
		if len(pl.state.Reason) > 1024 {
			pl.state.Reason = pl.state.Reason[:1024]
		}
		p.log.Warn("image pre-pull failed", "image", img, "err", err)
	} else {
		pl.state.Status = ecsapi.ImagePullPulled
		p.log.Info("pre-pulled image", "image", img, "took", pl.state.StoppedAt.Sub(pl.state.StartedAt.Time))
	}
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// States returns the states of the images of the last list.
func (p *prePuller) States() []ecsapi.GantryImagePull {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return nil
	}
	out := make([]ecsapi.GantryImagePull, len(p.order))
	for i, img := range p.order {
		out[i] = p.pulls[img].state
	}
	return out
}

// Wait cancels nothing; it waits for the pulls going on to end (their
// context ended).
func (p *prePuller) Wait() { p.wg.Wait() }
