package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// How the server finds out it has lost etcd (a partition: it is up and its
// agents still reach it, but its store does not answer). A probe is a
// linearizable read, which needs the etcd cluster's quorum; probes run
// storeProbeEvery apart, each given storeProbeTimeout.
// storeProbeFailures failures in a row make the store unavailable, one
// success makes it available again. A linearizable read of one key
// answers in milliseconds on a healthy cluster, even a loaded one: a
// second's timeout, twice over, is no false alarm.
const (
	storeProbeEvery    = 500 * time.Millisecond
	storeProbeTimeout  = time.Second
	storeProbeFailures = 2
	// storeProbeKey is read, never written: its absence is an answer.
	storeProbeKey = "gantry/probe/store-health"
)

// agentOps are the ECS operations agents call. While the store is
// unavailable they are answered 503 ServerException at once, without
// waiting on the store: an agent takes a 5xx as its cue to move to
// another server. Other callers are served as before (their SDKs retry a
// failure that the store's timeouts produce).
var agentOps = map[string]bool{
	"GantryPollTasks":                true,
	"GantrySubmitTaskState":          true,
	"GantryPutLogEvents":             true,
	"GantryPutTaskMetrics":           true,
	"GantryDiscoverPollEndpoints":    true,
	"GantryIssueInstanceCredentials": true,
	"DiscoverPollEndpoint":           true,
	"SubmitTaskStateChange":          true,
	"SubmitContainerStateChange":     true,
	"SubmitAttachmentStateChanges":   true,
}

// storeHealth is this server's verdict on whether its etcd answers.
type storeHealth struct {
	logger *slog.Logger
	// probe reads the store once; an error is a failed probe.
	probe func(ctx context.Context) error

	mu   sync.Mutex
	down bool
	// lost is closed when the store becomes unavailable; a new one is
	// made when it is available again.
	lost chan struct{}
}

func newStoreHealth(probe func(ctx context.Context) error, logger *slog.Logger) *storeHealth {
	return &storeHealth{logger: logger, probe: probe, lost: make(chan struct{})}
}

// etcdProbe is a linearizable read of storeProbeKey through c.
func etcdProbe(c *clientv3.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Get(ctx, storeProbeKey, clientv3.WithCountOnly())
		return err
	}
}

// state reports whether the store is unavailable now, and the
// channel closed when it becomes unavailable (already closed if it is).
func (h *storeHealth) state() (down bool, lost <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down, h.lost
}

func (h *storeHealth) set(down bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == down {
		return
	}
	h.down = down
	if down {
		h.logger.Error("the store (etcd) does not answer: agents' calls are refused with 503 until it does", "err", err)
		close(h.lost)
	} else {
		h.logger.Info("the store (etcd) answers again: agents' calls are served")
		h.lost = make(chan struct{})
	}
}

// cancelOnLoss calls cancel if the store becomes unavailable before ctx
// ends (at once if it is unavailable now); the returned stop must be
// called when ctx's work is done.
func (h *storeHealth) cancelOnLoss(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	_, lost := h.state()
	done := make(chan struct{})
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		case <-done:
		}
	}()
	return func() { close(done) }
}

// run probes the store until ctx ends.
func (h *storeHealth) run(ctx context.Context) {
	failures := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
		err := h.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		wait := storeProbeEvery
		if err != nil {
			failures++
			if failures >= storeProbeFailures {
				h.set(true, err)
			}
			// The probe took its timeout: probe again at once, so
			// that the verdict comes within two timeouts.
			wait = 0
		} else {
			failures = 0
			h.set(false, nil)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// storeUnavailable is the answer to an agent's call while the store is
// unavailable.
func storeUnavailable() *apierror.Error {
	e := apierror.New(apierror.CodeServer, "This server has lost its store (etcd) and cannot serve agents. Retry with another server.")
	e.Status = http.StatusServiceUnavailable
	return e
}

// withStoreHealth answers agents' calls 503 at once while the store is
// unavailable, before they are read or their keys looked up.
func withStoreHealth(next http.Handler, h *storeHealth) http.Handler {
	prefix := ecsapi.TargetPrefix + "."
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down, _ := h.state(); down && r.Method == http.MethodPost {
			if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix); ok && agentOps[op] {
				req, _ := awsproto.Detect(r, nil)
				awsproto.WriteError(w, req.Protocol, nil, storeRequestID(), storeUnavailable())
				return
			}
		}
		if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix); ok && agentOps[op] {
			// An agent's call under way when the store is lost ends
			// (its store reads are cancelled): a 5xx, at once.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer h.cancelOnLoss(ctx, cancel)()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// storeRequestID is a request id in AWS's form for an answer given before
// the API server sees the request.
func storeRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
