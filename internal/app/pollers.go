package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// pollerLiveness is how long after its last poll an agent session still
// holds its instance: agents poll at most ecs.MaxPollWait apart.
const pollerLiveness = 3 * ecs.MaxPollWait

// pollers keeps, per container instance, the agent session that polls it,
// so that a second agent for the same instance (a copied data dir, a
// cloned host) is refused while the first is alive; the first keeps it.
// It is this server's view: agents poll the server they are configured
// with.
type pollers struct {
	logger *slog.Logger
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*poller // by cluster/instance id
}

type poller struct {
	session  string
	last     time.Time
	inFlight int
}

func newPollers(logger *slog.Logger) *pollers {
	return &pollers{logger: logger, now: time.Now, m: map[string]*poller{}}
}

func pollerKey(cluster, instance string) string {
	if i := strings.LastIndex(cluster, "cluster/"); i >= 0 {
		cluster = cluster[i+len("cluster/"):]
	}
	if cluster == "" {
		cluster = "default"
	}
	if i := strings.LastIndex(instance, "/"); i >= 0 {
		instance = instance[i+1:]
	}
	return cluster + "/" + instance
}

// begin admits a poll of session for the instance, or refuses it when
// another session's poller is alive. done must be called when the poll
// ends.
func (p *pollers) begin(cluster, instance, session string) (done func(), err error) {
	if session == "" {
		return func() {}, nil // a tool, not an agent: not tracked
	}
	k := pollerKey(cluster, instance)
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.m[k]
	if cur != nil && cur.session != session && (cur.inFlight > 0 || now.Sub(cur.last) < pollerLiveness) {
		p.logger.Warn("refused a second agent polling a container instance", "instance", instance, "cluster", cluster,
			"session", session, "live_session", cur.session)
		return nil, apierror.Client("Container instance %s already has a live agent polling it (another session); "+
			"this agent's poll is refused. Only one agent may run per container instance: stop the other one "+
			"(it is released %s after its last poll).", instance, pollerLiveness)
	}
	if cur == nil || cur.session != session {
		if cur != nil {
			p.logger.Info("a new agent session polls the container instance", "instance", instance, "session", session, "previous", cur.session)
		}
		cur = &poller{session: session}
		p.m[k] = cur
	}
	cur.inFlight++
	cur.last = now
	return func() {
		p.mu.Lock()
		cur.inFlight--
		cur.last = p.now()
		p.mu.Unlock()
	}, nil
}

// GantryPollTasks admits one live agent session per instance, then polls.
func (h ecsHandler) GantryPollTasks(ctx context.Context, in *ecsapi.GantryPollTasksRequest) (*ecsapi.GantryPollTasksResponse, error) {
	done, err := h.pollers.begin(in.Cluster, in.ContainerInstance, in.Session)
	if err != nil {
		return nil, err
	}
	defer done()
	if h.health == nil {
		return h.API.GantryPollTasks(ctx, in)
	}
	// A poll held while the store is lost ends at once with 503, so that
	// the agent moves to another server.
	down, lost := h.health.state()
	if down {
		return nil, storeUnavailable()
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer h.health.cancelOnLoss(pctx, cancel)()
	out, err := h.API.GantryPollTasks(pctx, in)
	if err != nil {
		// Cut short by the loss (here or by withStoreHealth): 503.
		select {
		case <-lost:
			return nil, storeUnavailable()
		default:
		}
	}
	return out, err
}
