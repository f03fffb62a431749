package controller

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Queue is a keyed work queue. The zero value is not usable; use NewQueue.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	failures   map[string]int
	delayed    delayHeap
	timer      *time.Timer
	shutdown   bool

	base, max time.Duration
	now       func() time.Time
}

// NewQueue returns a queue whose retries wait base, 2*base, 4*base, ... up
// to max.
func NewQueue(base, max time.Duration) *Queue {
	q := &Queue{
		queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{},
		failures: map[string]int{}, base: base, max: max, now: time.Now,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is queued already.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.shutdown {
		return
	}
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.order = append(q.order, key)
	q.cond.Signal()
}

// AddAfter queues key after d. An earlier AddAfter of the same key is kept
// too: the key is queued at the first of the times.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	heap.Push(&q.delayed, delayed{key: key, at: q.now().Add(d)})
	q.armLocked()
}

// AddRateLimited queues key after its backoff, which doubles with each call
// until Forget.
func (q *Queue) AddRateLimited(key string) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	q.AddAfter(key, Backoff(q.base, q.max, n))
}

// Backoff is base*2^n, at most max.
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// Forget resets key's backoff.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	delete(q.failures, key)
	q.mu.Unlock()
}

// Get blocks until a key is ready and hands it to the caller, who must call
// Done with it. ok is false once the queue is shut down.
func (q *Queue) Get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	key = q.order[0]
	q.order = q.order[1:]
	delete(q.queued, key)
	q.processing[key] = true
	return key, true
}

// Done ends the processing of key; a key added meanwhile is queued again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		q.addLocked(key)
	}
}

// Len is the number of keys ready to be processed.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// ShutDown makes Get return ok=false and drops every key.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.cond.Broadcast()
}

// armLocked moves due delayed keys to the queue and sets the timer for the
// next one.
func (q *Queue) armLocked() {
	now := q.now()
	for len(q.delayed) > 0 && !q.delayed[0].at.After(now) {
		d := heap.Pop(&q.delayed).(delayed)
		q.addLocked(d.key)
	}
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	if len(q.delayed) > 0 && !q.shutdown {
		q.timer = time.AfterFunc(q.delayed[0].at.Sub(now), func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.armLocked()
		})
	}
}

type delayed struct {
	key string
	at  time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ReconcileFunc reconciles the object of key. nil forgets the key's
// backoff; an error queues it again after its backoff.
type ReconcileFunc func(ctx context.Context, key string) error

// Run processes q with n workers until ctx ends, then shuts q down and waits
// for the workers. onError, if not nil, sees every error.
func Run(ctx context.Context, q *Queue, n int, reconcile ReconcileFunc, onError func(key string, err error)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, ok := q.Get()
				if !ok {
					return
				}
				err := reconcile(ctx, key)
				if err != nil && ctx.Err() == nil {
					if onError != nil {
						onError(key, err)
					}
					q.AddRateLimited(key)
				} else {
					q.Forget(key)
				}
				q.Done(key)
			}
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}
