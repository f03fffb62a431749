package tmds

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// Entry is what the server knows of the container an endpoint ID names.
type Entry struct {
	// Task is the task's metadata (version 4's shape), every container
	// included.
	Task Task
	// Container is the container's name in the task definition.
	Container string
	// TaskTags are the task's tags (taskWithTags).
	TaskTags map[string]string
	// NetworkMode is the task's network mode ("bridge", "host", "awsvpc",
	// "none").
	NetworkMode string
	// Addresses are the task's own addresses: its containers' on their
	// networks (bridge), its network interface's (awsvpc). Requests of a
	// bridge or awsvpc task must come from one of them.
	Addresses []netip.Addr
}

// State finds the container an endpoint ID names.
type State interface {
	// Lookup returns the entry of endpoint ID id; false when no container
	// of a task the agent runs has that ID.
	Lookup(id string) (Entry, bool)
}

// InstanceTags reads the tags of the agent's container instance.
type InstanceTags interface {
	// ContainerInstanceTags returns the instance's tags and its ARN (the
	// ARN also on error, when known).
	ContainerInstanceTags(ctx context.Context) (map[string]string, string, error)
}

// Config configures a Server.
type Config struct {
	// State finds containers by endpoint ID. Required.
	State State
	// Stats reads containers' Docker stats; nil answers the stats paths
	// with an error.
	Stats runtime.StatsJSONReader
	// Protection calls the control plane's task protection operations;
	// nil answers the task protection paths with an error.
	Protection Protection
	// Cluster is the agent's cluster (task protection calls).
	Cluster string
	// InstanceTags reads the tags of the agent's container instance for
	// taskWithTags' ContainerInstanceTags; nil leaves them out.
	InstanceTags InstanceTags
	// HostAddrs returns the host's own addresses, from which host-mode
	// tasks' requests come; nil reads the host's interfaces.
	HostAddrs func() []netip.Addr
	// StatsTimeout bounds one stats answer; zero means 10 seconds.
	StatsTimeout time.Duration
	// Logger receives the server's logs.
	Logger *slog.Logger
}

// Server serves the task metadata endpoint.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
	// rates makes version 4's network_rate_stats.
	rates netRates
}

// New returns the task metadata server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HostAddrs == nil {
		cfg.HostAddrs = interfaceAddrs
	}
	if cfg.StatsTimeout <= 0 {
		cfg.StatsTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	for _, v := range []string{"v3", "v4"} {
		v4 := v == "v4"
		s.mux.HandleFunc("GET /"+v+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.container(w, r, v4) })
		s.mux.HandleFunc("GET /"+v+"/{id}/task", func(w http.ResponseWriter, r *http.Request) { s.task(w, r, v4, false) })
		s.mux.HandleFunc("GET /"+v+"/{id}/stats", func(w http.ResponseWriter, r *http.Request) { s.containerStats(w, r, v4) })
		s.mux.HandleFunc("GET /"+v+"/{id}/task/stats", func(w http.ResponseWriter, r *http.Request) { s.taskStats(w, r, v4) })
	}
	s.mux.HandleFunc("GET /v4/{id}/taskWithTags", func(w http.ResponseWriter, r *http.Request) { s.task(w, r, true, true) })
	s.mux.HandleFunc("GET /api/{id}/task-protection/v1/state", s.getProtection)
	s.mux.HandleFunc("PUT /api/{id}/task-protection/v1/state", s.updateProtection)
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves the endpoint on ln until ctx ends, then closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	wg.Wait()
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// writeJSON writes v as the ECS agent does: JSON, application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `"failed to marshal response"`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// lookup finds the request's entry and checks that it comes from the
// task. A request that fails either check gets false.
func (s *Server) lookup(r *http.Request) (Entry, bool) {
	id := r.PathValue("id")
	e, ok := s.cfg.State.Lookup(id)
	if !ok {
		return Entry{}, false
	}
	if !allowed(r, e, s.cfg.HostAddrs) {
		s.log.Warn("task metadata request from outside the task", "task", e.Task.TaskARN, "container", e.Container, "remote", r.RemoteAddr)
		return Entry{}, false
	}
	return e, true
}

// allowed reports whether r comes from e's task: from one of the task's
// addresses, or, for a host-mode task, from the host (loopback, the
// address it connected to, or another of the host's own addresses, which
// the kernel may pick as the source; a container on a bridge network has
// an address of its own, which is not the host's).
func allowed(r *http.Request, e Entry, hostAddrs func() []netip.Addr) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	remote := ap.Addr().Unmap()
	if e.NetworkMode == "host" {
		if remote.IsLoopback() {
			return true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if lap, err := netip.ParseAddrPort(la.String()); err == nil && lap.Addr().Unmap() == remote {
				return true
			}
		}
		for _, a := range hostAddrs() {
			if a == remote {
				return true
			}
		}
		return false
	}
	for _, a := range e.Addresses {
		if a == remote {
			return true
		}
	}
	return false
}

func (s *Server) container(w http.ResponseWriter, r *http.Request, v4 bool) {
	e, ok := s.lookup(r)
	if !ok {
		prefix := "V4 container metadata handler"
		if !v4 {
			prefix = "V3 container metadata handler"
		}
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: %s", prefix, r.PathValue("id")))
		return
	}
	for _, c := range e.Task.Containers {
		if c.Name == e.Container {
			if !v4 {
				c = c.V3()
			}
			writeJSON(w, http.StatusOK, c)
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, fmt.Sprintf("unable to generate metadata for container '%s'", e.Container))
}

func (s *Server) task(w http.ResponseWriter, r *http.Request, v4, tags bool) {
	e, ok := s.lookup(r)
	if !ok {
		prefix := "V4 task metadata handler"
		if !v4 {
			prefix = "V3 task metadata handler"
		}
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: %s", prefix, r.PathValue("id")))
		return
	}
	t := e.Task
	if tags {
		t.TaskTags = e.TaskTags
		t.ContainerInstanceTags, t.Errors = s.instanceTags(r.Context())
	}
	if !v4 {
		t = t.V3()
	}
	writeJSON(w, http.StatusOK, t)
}

// instanceTags reads the container instance's tags for taskWithTags; on
// failure the answer says so in Errors, as the ECS agent's does, and
// still answers the rest.
func (s *Server) instanceTags(ctx context.Context) (map[string]string, []ErrorResponse) {
	if s.cfg.InstanceTags == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, protectionTimeout)
	defer cancel()
	tags, arn, err := s.cfg.InstanceTags.ContainerInstanceTags(ctx)
	if err != nil {
		s.log.Warn("container instance tags", "err", err)
		return nil, []ErrorResponse{{ErrorField: "ContainerInstanceTags", ErrorCode: "ServerException",
			ErrorMessage: err.Error(), StatusCode: http.StatusInternalServerError, ResourceARN: arn}}
	}
	return tags, nil
}

// statsOf reads one container's stats; nil when it has none (not
// started, or gone).
func (s *Server) statsOf(ctx context.Context, id string) (json.RawMessage, error) {
	if s.cfg.Stats == nil || id == "" {
		return nil, fmt.Errorf("no stats for container %q", id)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatsTimeout)
	defer cancel()
	return s.cfg.Stats.ContainerStatsJSON(ctx, id)
}

func (s *Server) containerStats(w http.ResponseWriter, r *http.Request, v4 bool) {
	prefix := "V4 container stats handler"
	if !v4 {
		prefix = "V3 container stats handler"
	}
	e, ok := s.lookup(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: %s", prefix, r.PathValue("id")))
		return
	}
	var dockerID string
	for _, c := range e.Task.Containers {
		if c.Name == e.Container {
			dockerID = c.DockerID
		}
	}
	raw, err := s.statsOf(r.Context(), dockerID)
	if err != nil {
		s.log.Warn("container stats", "task", e.Task.TaskARN, "container", e.Container, "err", err)
		writeJSON(w, http.StatusInternalServerError, fmt.Sprintf("Unable to get container stats for: %s", dockerID))
		return
	}
	if v4 {
		raw = s.rates.add(dockerID, raw)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

func (s *Server) taskStats(w http.ResponseWriter, r *http.Request, v4 bool) {
	prefix := "V4 task stats handler"
	if !v4 {
		prefix = "V3 task stats handler"
	}
	e, ok := s.lookup(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: %s", prefix, r.PathValue("id")))
		return
	}
	// Every container of the task by Docker ID, read in parallel; one
	// without stats is an empty object, as the ECS agent answers.
	out := make(map[string]json.RawMessage, len(e.Task.Containers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range e.Task.Containers {
		if c.DockerID == "" {
			continue
		}
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			raw, err := s.statsOf(r.Context(), id)
			if err != nil {
				raw = json.RawMessage("{}")
			} else if v4 {
				raw = s.rates.add(id, raw)
			}
			mu.Lock()
			out[id] = raw
			mu.Unlock()
		}(c.DockerID)
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, out)
}

// interfaceAddrs returns the addresses of the host's network interfaces.
func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
