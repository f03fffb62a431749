package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Image pre-pull (a Gantry extension; ECS has none, containers-roadmap
// #696). The service controller writes a PrePullRequest per service under
// prepull/requests/<cluster>/<service>; polls of the instances it names
// answer its images in PrePullImages until it is Done or past Until (a
// Standing request: for as long as it is stored). Each
// agent reports its pulls in the ImagePulls of its polls, kept under
// prepull/status/<cluster>/<instance id> (written only when they change),
// which the controller reads to know when every instance has the images.

// PrePullRequest asks container instances to pull images before a
// deployment starts tasks of them.
type PrePullRequest struct {
	// Deployment is the deployment the images are for.
	Deployment string `json:"deployment"`
	// Images are the images to pull.
	Images []string `json:"images"`
	// Instances are the ARNs of the container instances asked to pull.
	Instances []string `json:"instances"`
	// Until is when instances stop being asked (unix milliseconds).
	Until int64 `json:"until"`
	// Done is set once the deployment no longer waits for the pulls;
	// instances are no longer asked, and the record keeps the controller
	// from asking again for the same deployment.
	Done bool `json:"done,omitempty"`
	// Standing marks the standing request of a service's PRIMARY
	// deployment, which holds nothing: its instances are asked with no
	// end (Done and Until do not apply), so a later scale-out finds the
	// images present.
	Standing bool `json:"standing,omitempty"`
}

// imagePullRecord is what an instance's agent last reported of its pulls.
type imagePullRecord struct {
	Pulls []ecsapi.GantryImagePull `json:"pulls"`
}

func prePullRequestKey(cluster, service string) string {
	return store.Key("prepull", "requests", cluster, service)
}

func imagePullKey(cluster, id string) string { return store.Key("prepull", "status", cluster, id) }

// prePullCacheTTL is how long a server answers polls from the pre-pull
// requests it read, unless it wrote one itself since.
const prePullCacheTTL = time.Second

// prePulls caches the pre-pull requests per cluster for the polls, and the
// last pull states written per instance.
type prePulls struct {
	mu      sync.Mutex
	byClust map[string]prePullCache
	// wake is closed (and replaced) when this server writes a request, so
	// waiting polls answer at once.
	wake chan struct{}
	// written is the last pull states this server wrote per instance key.
	written map[string][]ecsapi.GantryImagePull
}

type prePullCache struct {
	at   time.Time
	reqs []PrePullRequest
}

func (p *prePulls) init() {
	if p.byClust == nil {
		p.byClust = map[string]prePullCache{}
		p.written = map[string][]ecsapi.GantryImagePull{}
		p.wake = make(chan struct{})
	}
}

// prePullWake returns the channel closed at the next request this server
// writes.
func (s *API) prePullWake() <-chan struct{} {
	s.prepull.mu.Lock()
	defer s.prepull.mu.Unlock()
	s.prepull.init()
	return s.prepull.wake
}

// PrePullRequestOf returns the pre-pull request of a service and its
// revision, or store.ErrNotFound.
func (s *API) PrePullRequestOf(ctx context.Context, cluster, service string) (*PrePullRequest, int64, error) {
	var r PrePullRequest
	rev, err := s.Store.Get(ctx, prePullRequestKey(cluster, service), &r)
	if err != nil {
		return nil, 0, err
	}
	return &r, rev, nil
}

// PutPrePullRequest writes (nil: deletes) the pre-pull request of a
// service, and wakes this server's waiting polls.
func (s *API) PutPrePullRequest(ctx context.Context, cluster, service string, r *PrePullRequest) error {
	key := prePullRequestKey(cluster, service)
	var err error
	if r == nil {
		_, err = s.Store.Txn(ctx, nil, store.OpDelete(key))
	} else {
		_, err = store.Mutate(ctx, s.Store, key, func(cur *PrePullRequest, _ bool) error {
			*cur = *r
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("pre-pull request of %s: %w", service, err)
	}
	s.prepull.mu.Lock()
	s.prepull.init()
	delete(s.prepull.byClust, cluster)
	close(s.prepull.wake)
	s.prepull.wake = make(chan struct{})
	s.prepull.mu.Unlock()
	return nil
}

// ImagePulls returns what each container instance of cluster (by ARN)
// last reported of its image pre-pulls.
func (s *API) ImagePulls(ctx context.Context, cluster string) (map[string][]ecsapi.GantryImagePull, error) {
	p := prefixOf("prepull", "status", cluster)
	items, err := s.Store.List(ctx, p, "", 0)
	if err != nil {
		return nil, fmt.Errorf("image pulls of %s: %w", cluster, err)
	}
	out := make(map[string][]ecsapi.GantryImagePull, len(items))
	for _, it := range items {
		var rec imagePullRecord
		if err := it.Decode(&rec); err != nil {
			return nil, err
		}
		out[s.ContainerInstanceARN(cluster, it.Key[len(p):])] = rec.Pulls
	}
	return out, nil
}

// TaskDefinitionImages returns the images of a task definition's
// containers, in order, without repeats.
func (s *API) TaskDefinitionImages(ctx context.Context, arn string) ([]string, error) {
	td, err := s.lookupTaskDef(ctx, arn)
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, fmt.Errorf("task definition %s: %w", arn, store.ErrNotFound)
	}
	var out []string
	for _, c := range td.TaskDefinition.ContainerDefinitions {
		if c.Image != "" && !slices.Contains(out, c.Image) {
			out = append(out, c.Image)
		}
	}
	return out, nil
}

// prePullImages returns the images the live pre-pull requests of cluster
// ask instance arn to pull.
func (s *API) prePullImages(ctx context.Context, cluster, arn string) ([]string, error) {
	now := s.now()
	s.prepull.mu.Lock()
	s.prepull.init()
	c, ok := s.prepull.byClust[cluster]
	s.prepull.mu.Unlock()
	if !ok || now.Sub(c.at) > prePullCacheTTL || now.Before(c.at) {
		p := prefixOf("prepull", "requests", cluster)
		items, err := s.Store.List(ctx, p, "", 0)
		if err != nil {
			return nil, fmt.Errorf("pre-pull requests of %s: %w", cluster, err)
		}
		c = prePullCache{at: now}
		for _, it := range items {
			var r PrePullRequest
			if err := it.Decode(&r); err != nil {
				return nil, err
			}
			c.reqs = append(c.reqs, r)
		}
		s.prepull.mu.Lock()
		s.prepull.byClust[cluster] = c
		s.prepull.mu.Unlock()
	}
	var out []string
	for _, r := range c.reqs {
		if (!r.Standing && (r.Done || now.UnixMilli() > r.Until)) || !slices.Contains(r.Instances, arn) {
			continue
		}
		for _, img := range r.Images {
			if !slices.Contains(out, img) {
				out = append(out, img)
			}
		}
	}
	return out, nil
}

// putImagePulls records what the agent of instance id reported, when it
// differs from what this server last wrote for it.
func (s *API) putImagePulls(ctx context.Context, cluster, id string, pulls []ecsapi.GantryImagePull) error {
	key := imagePullKey(cluster, id)
	s.prepull.mu.Lock()
	s.prepull.init()
	last, seen := s.prepull.written[key]
	s.prepull.mu.Unlock()
	if seen && samePulls(last, pulls) {
		return nil
	}
	if len(pulls) == 0 {
		if _, err := s.Store.Txn(ctx, nil, store.OpDelete(key)); err != nil {
			return fmt.Errorf("image pulls of %s: %w", id, err)
		}
	} else {
		_, err := store.Mutate(ctx, s.Store, key, func(cur *imagePullRecord, _ bool) error {
			cur.Pulls = pulls
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("image pulls of %s: %w", id, err)
		}
	}
	s.prepull.mu.Lock()
	s.prepull.written[key] = slices.Clone(pulls)
	s.prepull.mu.Unlock()
	return nil
}

func samePulls(a, b []ecsapi.GantryImagePull) bool {
	return slices.EqualFunc(a, b, func(x, y ecsapi.GantryImagePull) bool {
		return x.Image == y.Image && x.Status == y.Status && x.Reason == y.Reason
	})
}
