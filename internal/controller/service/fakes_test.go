package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeWorld is an in-memory implementation of every dependency of the
// controller that records what the controller asked for.
type fakeWorld struct {
	mu sync.Mutex
	// services are the records by cluster/name; revs their revisions.
	services map[string]*ecsapi.Service
	revs     map[string]int64
	rev      int64
	tasks    map[string][]ecsapi.Task // by cluster/service
	insts    map[string][]ecsapi.ContainerInstance
	// protected are the tasks' protection expiries by ARN.
	protected map[string]time.Time

	// afterRead, when set, runs after each read of a service record
	// (to make another writer win the race).
	afterRead func(key string)
	// place is how many tasks a RunTasks call places at most (all when
	// negative); failures are its failures when it places fewer; runErr is
	// what it returns instead.
	place    int
	failures []ecsapi.Failure
	runErr   error

	// Recorded calls.
	writes []ecsapi.Service
	runs   []runCall
	starts []startCall
	stops  []Stop
	events []string
	seq    int
}

type runCall struct {
	Spec  TaskSpec
	Count int
}

type startCall struct {
	Spec     TaskSpec
	Instance string
}

func newFakeWorld() *fakeWorld {
	return &fakeWorld{services: map[string]*ecsapi.Service{}, revs: map[string]int64{}, tasks: map[string][]ecsapi.Task{},
		insts: map[string][]ecsapi.ContainerInstance{}, place: -1}
}

func (w *fakeWorld) deps(e Elector) Deps {
	return Deps{Records: w, Observer: w, Runner: w, Changes: w, Elector: e}
}

// clone copies a record so that neither side shares its slices.
func clone(s *ecsapi.Service) *ecsapi.Service {
	var out ecsapi.Service
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	return &out
}

// put stores svc in cluster c as a new revision.
func (w *fakeWorld) put(c string, svc *ecsapi.Service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.putLocked(c, svc)
}

func (w *fakeWorld) putLocked(c string, svc *ecsapi.Service) int64 {
	k := c + "/" + svc.ServiceName
	w.rev++
	w.services[k] = clone(svc)
	w.revs[k] = w.rev
	return w.rev
}

func (w *fakeWorld) ServiceRefs(ctx context.Context) ([]ServiceRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ServiceRef
	for k, s := range w.services {
		if s.Status != statusInactive {
			c := k[:len(k)-len(s.ServiceName)-1]
			out = append(out, ServiceRef{Cluster: c, Name: s.ServiceName})
		}
	}
	return out, nil
}

func (w *fakeWorld) Service(ctx context.Context, cluster, name string) (*ecsapi.Service, int64, error) {
	w.mu.Lock()
	k := cluster + "/" + name
	s, ok := w.services[k]
	rev := w.revs[k]
	after := w.afterRead
	w.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("service %s: %w", k, ErrNotFound)
	}
	if after != nil {
		after(k)
	}
	return clone(s), rev, nil
}

func (w *fakeWorld) WriteService(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, lead Leadership) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := cluster + "/" + svc.ServiceName
	if w.revs[k] != rev {
		return 0, fmt.Errorf("service %s at %d, not %d: %w", k, w.revs[k], rev, ErrConflict)
	}
	if l, ok := lead.(*fakeLeadership); lead != nil && (!ok || l.isLost()) {
		return 0, fmt.Errorf("not leading: %w", ErrConflict)
	}
	w.writes = append(w.writes, *clone(svc))
	return w.putLocked(cluster, svc), nil
}

func (w *fakeWorld) MutateService(ctx context.Context, cluster, name string, fn func(*ecsapi.Service) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := cluster + "/" + name
	s, ok := w.services[k]
	if !ok {
		return ErrNotFound
	}
	s = clone(s)
	before := len(s.Events)
	if err := fn(s); err != nil {
		return err
	}
	// New events are prepended.
	for i := len(s.Events) - before - 1; i >= 0; i-- {
		w.events = append(w.events, s.Events[i].Message)
	}
	w.putLocked(cluster, s)
	return nil
}

func (w *fakeWorld) ServiceTasks(ctx context.Context, cluster, name string) ([]ecsapi.Task, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ecsapi.Task(nil), w.tasks[cluster+"/"+name]...), nil
}

func (w *fakeWorld) Protections(ctx context.Context, cluster, name string) (map[string]time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range w.protected {
		out[k] = v
	}
	return out, nil
}

func (w *fakeWorld) Instances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ecsapi.ContainerInstance(nil), w.insts[cluster]...), nil
}

func (w *fakeWorld) newArn(cluster string) string {
	w.seq++
	return fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/%s/new%03d", cluster, w.seq)
}

func (w *fakeWorld) RunTasks(ctx context.Context, spec TaskSpec, count int) (Placement, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs = append(w.runs, runCall{Spec: spec, Count: count})
	if w.runErr != nil {
		return Placement{}, w.runErr
	}
	n := count
	if w.place >= 0 && w.place < n {
		n = w.place
	}
	var pl Placement
	for range n {
		pl.TaskArns = append(pl.TaskArns, w.newArn(spec.Cluster))
	}
	if n < count {
		pl.Failures = w.failures
	}
	return pl, nil
}

func (w *fakeWorld) StartTask(ctx context.Context, spec TaskSpec, instance string) (Placement, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.starts = append(w.starts, startCall{Spec: spec, Instance: instance})
	return Placement{TaskArns: []string{w.newArn(spec.Cluster)}}, nil
}

func (w *fakeWorld) StopTask(ctx context.Context, cluster, taskArn, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stops = append(w.stops, Stop{TaskArn: taskArn, Reason: reason})
	return nil
}

func (w *fakeWorld) WatchServiceChanges(ctx context.Context, fn func(ServiceRef)) error {
	<-ctx.Done()
	return ctx.Err()
}

// fakeElector grants leadership at once; each term is recorded.
type fakeElector struct {
	mu    sync.Mutex
	terms []*fakeLeadership
	won   chan *fakeLeadership
}

func (e *fakeElector) Campaign(ctx context.Context, id string) (Leadership, error) {
	l := &fakeLeadership{lost: make(chan struct{})}
	e.mu.Lock()
	e.terms = append(e.terms, l)
	e.mu.Unlock()
	if e.won != nil {
		e.won <- l
	}
	return l, nil
}

// fakeLeadership is a term that the test may end (lose).
type fakeLeadership struct {
	mu       sync.Mutex
	lost     chan struct{}
	gone     bool
	resigned bool
}

func (l *fakeLeadership) Lost() <-chan struct{} { return l.lost }

func (l *fakeLeadership) lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.gone {
		l.gone = true
		close(l.lost)
	}
}

func (l *fakeLeadership) isLost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gone || l.resigned
}

func (l *fakeLeadership) Resign(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resigned = true
	return nil
}
