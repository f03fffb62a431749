// Package agent turns a host into a container instance of a Gantry cluster:
// it registers the host's resources and attributes with the control plane
// (RegisterContainerInstance, as the ECS agent does), keeps its identity in
// its data directory so a restart re-attaches to the same instance, polls
// for the tasks assigned to it, and runs them through its task engine.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/logship"
	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/agent/stats"
	"github.com/gantry-dev/gantry/internal/agent/taskengine"
	"github.com/gantry-dev/gantry/internal/agent/tmds"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Version is the agent version reported in versionInfo.
const Version = "1.0.0-gantry"

// Config configures an agent.
type Config struct {
	// Server is the control plane's URL, or the URLs of several of its
	// servers separated by commas: the agent calls one at a time, moves to
	// another when a call fails, and learns the live set from the control
	// plane (GantryDiscoverPollEndpoints) every DiscoverInterval.
	Server string
	// DiscoverInterval is how often the agent asks for the control plane's
	// live servers; zero means DefaultDiscoverInterval.
	DiscoverInterval time.Duration
	// CACert, when set, is the PEM file of the CA an https:// Server is
	// verified against.
	CACert string
	// Cluster is the cluster to join ("default" when empty).
	Cluster string
	// DataDir keeps the agent's identity.
	DataDir string
	// Region and the access key sign the agent's requests.
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// CPU (units) and MemoryMiB override the registered resources; zero
	// means what the host has (less ReservedMemoryMiB).
	CPU               int32
	MemoryMiB         int32
	ReservedMemoryMiB int32
	// ReservedPorts are TCP host ports no task may take.
	ReservedPorts []string
	// AvailabilityZone and InstanceType are reported as the
	// ecs.availability-zone and ecs.instance-type attributes.
	AvailabilityZone string
	InstanceType     string
	// HostAddress, when set, is reported as the gantry.host-address
	// attribute: the address load balancers dial for the instance's
	// targets.
	HostAddress string
	// Attributes are custom attributes.
	Attributes map[string]string
	// External registers the host as an external (ECS Anywhere) instance:
	// its ID has the mi- form of a managed instance, and it takes the
	// tasks of launch type EXTERNAL, never those of EC2.
	External bool
	// CapacityProvider, when set, is the capacity provider the instance
	// belongs to, registered as the ecs.capacity-provider attribute (the
	// server's ecs.CapacityProviderAttribute).
	CapacityProvider string
	// SpotWarning is the time between SIGTERM and SIGKILL of the tasks of
	// a reclaimed FARGATE_SPOT host (taskengine.Config.SpotWarning).
	SpotWarning time.Duration
	// CleanupDelay is how long a stopped task's containers are kept;
	// CleanupJitter, when positive, adds a random part of up to itself to
	// each task's wait.
	CleanupDelay  time.Duration
	CleanupJitter time.Duration
	// TaskMetadataListener, when set, is where the agent serves the task
	// metadata endpoint (package tmds); every container gets its URIs in
	// its environment. The agent closes it when Run returns.
	TaskMetadataListener net.Listener
	// DockerVersion is reported in versionInfo.
	DockerVersion string
	// DockerAPIVersion, e.g. "1.41", gives the docker-remote-api attributes.
	DockerAPIVersion string
	// MetricsInterval is how often the agent samples its containers' usage
	// and ships it (GantryPutTaskMetrics); zero means
	// stats.DefaultInterval, negative turns sampling off.
	MetricsInterval time.Duration
	// LogSpoolSize bounds the awslogs spools (logship.Config.SpoolSize):
	// zero for logship.DefaultSpoolSize, negative for none.
	LogSpoolSize int64
	// OnStatsRound, if set, is called after each sampling round (the
	// agent's Prometheus metrics).
	OnStatsRound func(d time.Duration, containers int, err error)
	// Logger receives the agent's logs.
	Logger *slog.Logger
}

// identity is what the agent keeps in its data directory.
type identity struct {
	Cluster              string `json:"cluster"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
	InstanceID           string `json:"instanceId"`
	// InstanceKey is the instance's own access key (identity.go).
	InstanceKey *instanceKey `json:"instanceKey,omitempty"`
}

// Agent is a running agent.
type Agent struct {
	cfg Config
	// instanceArn is the registered instance's ARN, for readers on other
	// goroutines (the task metadata endpoint's taskWithTags).
	instanceArn atomic.Pointer[string]
	client      *ecsclient.Client
	rt          runtime.Runtime
	engine      *taskengine.Engine
	logs        *logship.Manager // nil when the runtime cannot read logs back
	stats       *stats.Sampler   // nil when the runtime reports no usage
	tmds        *tmds.Server     // nil without a task metadata endpoint
	id          identity
	log         *slog.Logger
	// counters are the agent's own metrics (WriteMetrics).
	counters counters
	// session identifies this agent process to the control plane, which
	// accepts one live poller per instance.
	session string
	// lastPoll is the latest poll the control plane answered.
	lastPoll atomic.Pointer[pollMark]
	// prepull pulls the images the control plane asks for before a
	// rollout starts tasks of them.
	prepull *prePuller
}

// pollMark is a poll the control plane answered: by which server, when.
type pollMark struct {
	server string
	at     time.Time
}

// LastPoll returns the server that answered the agent's latest poll and
// when (empty and zero before the first).
func (a *Agent) LastPoll() (server string, at time.Time) {
	if m := a.lastPoll.Load(); m != nil {
		return m.server, m.at
	}
	return "", time.Time{}
}

// LoadInstanceID returns the agent's host ID kept in dataDir, creating one
// if there is none. The runtime labels containers with it.
func LoadInstanceID(dataDir string) (string, error) {
	id, err := loadIdentity(dataDir)
	if err != nil {
		return "", err
	}
	if id.InstanceID == "" {
		id.InstanceID = "i-" + randomHex(17)
		if err := saveIdentity(dataDir, id); err != nil {
			return "", err
		}
	}
	return id.InstanceID, nil
}

func identityPath(dir string) string { return filepath.Join(dir, "agent-identity.json") }

func loadIdentity(dir string) (identity, error) {
	var id identity
	b, err := os.ReadFile(identityPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return id, err
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("agent identity %s: %w", identityPath(dir), err)
	}
	return id, nil
}

func saveIdentity(dir string, id identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(id, "", "  ")
	tmp := identityPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, identityPath(dir))
}

// New returns an agent running tasks through rt.
func New(cfg Config, rt runtime.Runtime) (*Agent, error) {
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Server == "" || cfg.DataDir == "" {
		return nil, errors.New("agent: server URL and data dir are required")
	}
	if cfg.DiscoverInterval <= 0 {
		cfg.DiscoverInterval = DefaultDiscoverInterval
	}
	a := &Agent{cfg: cfg, rt: rt, log: cfg.Logger.With("component", "agent"), session: sessionID(cfg.DataDir),
		client: ecsclient.New(cfg.Server, cfg.Region, cfg.AccessKeyID, cfg.SecretAccessKey)}
	a.client.OnFailover(func(from, to string, err error) {
		a.counters.failovers.Add(1)
		a.log.Warn("control plane server failed: moving to another", "from", from, "to", to, "err", err)
	})
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("agent: --ca-cert: %w", err)
		}
		if err := a.client.TrustPEM(pem); err != nil {
			return nil, fmt.Errorf("agent: --ca-cert %s: %w", cfg.CACert, err)
		}
	}
	ecfg := taskengine.Config{Cluster: cfg.Cluster, CleanupDelay: cfg.CleanupDelay, CleanupJitter: cfg.CleanupJitter, SpotWarning: cfg.SpotWarning,
		AvailabilityZone: cfg.AvailabilityZone, Logger: cfg.Logger.With("component", "taskengine")}
	if ln := cfg.TaskMetadataListener; ln != nil {
		secret, err := tmds.LoadSecret(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		ecfg.Metadata = tmds.NewEndpoints("http://"+ln.Addr().String(), secret)
	}
	if src, ok := rt.(logship.Source); ok {
		logs, err := logship.New(logship.Config{
			Dir:         filepath.Join(cfg.DataDir, "logship"),
			Cluster:     cfg.Cluster,
			InstanceArn: func() string { return a.id.ContainerInstanceArn },
			Sink:        logSink{a.client, &a.counters},
			Source:      src,
			OnChange:    func(taskArn string) { a.engine.LogsChanged(taskArn) },
			SpoolSize:   cfg.LogSpoolSize,
			Logger:      cfg.Logger.With("component", "logship"),
		})
		if err != nil {
			return nil, err
		}
		a.logs = logs
		ecfg.Logs = logs
	}
	if src, ok := rt.(stats.Source); ok && cfg.MetricsInterval >= 0 {
		sampler, err := stats.New(stats.Config{
			Cluster:     cfg.Cluster,
			InstanceArn: func() string { return a.id.ContainerInstanceArn },
			Interval:    cfg.MetricsInterval,
			Source:      src,
			Sink:        statsSink{a.client, &a.counters},
			OnRound: func(d time.Duration, n int, err error) {
				a.counters.observeRound(d, n, err)
				if cfg.OnStatsRound != nil {
					cfg.OnStatsRound(d, n, err)
				}
			},
			Logger: cfg.Logger.With("component", "stats"),
		})
		if err != nil {
			return nil, err
		}
		a.stats = sampler
	}
	a.engine = taskengine.New(ecfg, rt, reporter{a.client})
	if ecfg.Metadata != nil {
		statsRT, _ := rt.(runtime.StatsJSONReader)
		a.tmds = tmds.New(tmds.Config{State: a.engine, Stats: statsRT, Protection: protection{a.client},
			InstanceTags: instanceTags{c: a.client, arn: func() string {
				if p := a.instanceArn.Load(); p != nil {
					return *p
				}
				return ""
			}},
			Cluster: cfg.Cluster, Logger: cfg.Logger.With("component", "tmds")})
	}
	a.prepull = newPrePuller(rt, cfg.Logger.With("component", "prepull"))
	return a, nil
}

// Stats is the agent's utilisation sampler; nil when its runtime reports
// no usage or sampling is off.
func (a *Agent) Stats() *stats.Sampler { return a.stats }

// statsSink sends utilisation with the GantryPutTaskMetrics extension
// operation.
type statsSink struct {
	c        *ecsclient.Client
	counters *counters
}

// PutTaskMetrics sends req once.
func (s statsSink) PutTaskMetrics(ctx context.Context, req *ecsapi.GantryPutTaskMetricsRequest) error {
	var out ecsapi.GantryPutTaskMetricsResponse
	err := s.c.Call(ctx, "GantryPutTaskMetrics", req, &out)
	if err != nil {
		s.counters.usageFailed.Add(1)
		return err
	}
	s.counters.usageOK.Add(1)
	s.counters.usageTasks.Add(int64(out.Accepted))
	return nil
}

// logSink sends log batches with the GantryPutLogEvents extension
// operation.
type logSink struct {
	c        *ecsclient.Client
	counters *counters
}

// PutLogBatch sends req. Client errors of the control plane (an unknown
// log group, an invalid name or batch) wrap logship.ErrRejected, except
// throttling, which is retried like server errors and network failures.
// A control plane that does not know the operation rejects batches, but
// lets containers start (Prepare, a request without events).
func (s logSink) PutLogBatch(ctx context.Context, req *ecsapi.GantryPutLogEventsRequest) error {
	err := s.c.Call(ctx, "GantryPutLogEvents", req, nil)
	if len(req.Events) > 0 {
		if err == nil {
			s.counters.logBatchesOK.Add(1)
			s.counters.logEvents.Add(int64(len(req.Events)))
		} else {
			s.counters.logBatchesFailed.Add(1)
		}
	}
	var ae *ecsclient.Error
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Code == "DataAlreadyAcceptedException":
		return nil
	case ae.Code == "UnknownOperationException" && len(req.Events) == 0:
		return err
	case ae.Status >= 400 && ae.Status < 500 && ae.Status != 403 && ae.Status != 429 &&
		!strings.Contains(ae.Code, "Throttl") && ae.Code != "RequestLimitExceeded":
		return fmt.Errorf("%w: %w", logship.ErrRejected, err)
	}
	return err
}

type reporter struct{ c *ecsclient.Client }

func (r reporter) SubmitTaskState(ctx context.Context, req *ecsapi.GantrySubmitTaskStateRequest) error {
	return r.c.Call(ctx, "GantrySubmitTaskState", req, nil)
}

// ContainerInstanceArn is the instance the agent registered as.
func (a *Agent) ContainerInstanceArn() string { return a.id.ContainerInstanceArn }

// ErrClusterNotFound is Register's error (errors.Is) when the agent's
// cluster does not exist (yet): hosts often boot before their cluster is
// created, and Run keeps trying.
var ErrClusterNotFound = errors.New("the agent's cluster does not exist")

// defaultCluster is the cluster the ECS agent creates when it is its own.
const defaultCluster = "default"

// Register registers the instance (or re-registers the one in the data
// directory). An agent whose credentials the server refuses fails here;
// one whose cluster does not exist fails with ErrClusterNotFound, except
// that, as the ECS agent does, it creates the cluster named default when
// that is its cluster.
func (a *Agent) Register(ctx context.Context) error {
	id, err := loadIdentity(a.cfg.DataDir)
	if err != nil {
		return err
	}
	if id.InstanceID == "" {
		if id.InstanceID, err = LoadInstanceID(a.cfg.DataDir); err != nil {
			return err
		}
	}
	if id.Cluster != "" && id.Cluster != a.cfg.Cluster {
		// A data dir of another cluster: register anew there.
		id.ContainerInstanceArn = ""
	}
	res, err := a.resources()
	if err != nil {
		return err
	}
	instanceID := id.InstanceID
	if a.cfg.External {
		// i-<17 hex> becomes mi-<17 hex>, the form of an SSM managed
		// instance ID that ECS gives external instances.
		instanceID = "m" + strings.TrimPrefix(instanceID, "m")
	}
	doc, _ := json.Marshal(map[string]string{"instanceId": instanceID, "instanceType": a.cfg.InstanceType,
		"availabilityZone": a.cfg.AvailabilityZone, "region": a.cfg.Region})
	req := &ecsapi.RegisterContainerInstanceRequest{
		Cluster:                  a.cfg.Cluster,
		InstanceIdentityDocument: string(doc),
		TotalResources:           res,
		VersionInfo:              &ecsapi.VersionInfo{AgentVersion: Version, AgentHash: "gantry", DockerVersion: "DockerVersion: " + a.cfg.DockerVersion},
		ContainerInstanceArn:     id.ContainerInstanceArn,
		Attributes:               a.attributes(),
	}
	var out ecsapi.RegisterContainerInstanceResponse
	if a.useInstanceKey(&id) {
		// Re-register with the instance's own key; a key the control plane
		// no longer knows falls back to the join key.
		err = a.client.Call(ctx, "RegisterContainerInstance", req, &out)
		if authFailure(err) {
			a.log.Warn("the instance key was refused: registering with the join key", "err", err)
			a.useJoinKey()
			id.InstanceKey = nil
			err = a.client.Call(ctx, "RegisterContainerInstance", req, &out)
		}
	} else {
		a.useJoinKey()
		err = a.client.Call(ctx, "RegisterContainerInstance", req, &out)
	}
	var ae *ecsclient.Error
	if err != nil && req.ContainerInstanceArn != "" && errors.As(err, &ae) && (ae.Code == "InvalidParameterException" || ae.Code == "ClientException") {
		a.log.Warn("registered instance is gone, registering a new one", "arn", req.ContainerInstanceArn, "err", err)
		req.ContainerInstanceArn = ""
		err = a.client.Call(ctx, "RegisterContainerInstance", req, &out)
	}
	if err != nil && errors.As(err, &ae) && ae.Code == "ClusterNotFoundException" && a.cfg.Cluster == defaultCluster {
		a.log.Info("creating the default cluster", "cluster", a.cfg.Cluster)
		var created ecsapi.CreateClusterResponse
		if cerr := a.client.Call(ctx, "CreateCluster", &ecsapi.CreateClusterRequest{ClusterName: defaultCluster}, &created); cerr != nil {
			return fmt.Errorf("create the default cluster: %w", cerr)
		}
		err = a.client.Call(ctx, "RegisterContainerInstance", req, &out)
	}
	if err != nil && errors.As(err, &ae) && ae.Code == "ClusterNotFoundException" {
		return fmt.Errorf("register container instance in %s: %w: %w", a.cfg.Cluster, ErrClusterNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("register container instance: %w", err)
	}
	id.Cluster = a.cfg.Cluster
	id.ContainerInstanceArn = out.ContainerInstance.ContainerInstanceArn
	if err := saveIdentity(a.cfg.DataDir, id); err != nil {
		return err
	}
	if err := a.ensureInstanceKey(ctx, &id, false); err != nil {
		return err
	}
	a.id = id
	a.instanceArn.Store(&id.ContainerInstanceArn)
	a.log.Info("registered container instance", "arn", id.ContainerInstanceArn, "cluster", a.cfg.Cluster)
	return nil
}

// Run registers, then polls for tasks and runs them until ctx ends. The
// tasks' containers are left running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	if a.tmds != nil {
		tctx, stopServing := context.WithCancel(ctx)
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := a.tmds.Serve(tctx, a.cfg.TaskMetadataListener); err != nil {
				a.log.Error("task metadata endpoint", "err", err)
			}
		}()
		defer func() { stopServing(); <-served }()
		a.log.Info("task metadata endpoint", "url", "http://"+a.cfg.TaskMetadataListener.Addr().String())
	}
	if a.id.ContainerInstanceArn == "" {
		if err := a.registerUntilCluster(ctx); err != nil {
			return err
		}
	}
	if a.logs != nil {
		a.logs.Start(ctx)
		defer a.logs.Wait()
	}
	if err := a.engine.Start(ctx); err != nil {
		return fmt.Errorf("start task engine: %w", err)
	}
	defer a.engine.Wait()
	if a.stats != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.stats.Run(ctx)
		}()
		defer func() { <-done }()
	}
	rotated := make(chan struct{})
	rctx, stopRotating := context.WithCancel(ctx)
	go func() {
		defer close(rotated)
		a.rotateKeys(rctx)
	}()
	defer func() { stopRotating(); <-rotated }()
	discovered := make(chan struct{})
	go func() {
		defer close(discovered)
		a.discoverServers(rctx)
	}()
	defer func() { stopRotating(); <-discovered }()
	var rev int64
	backoff := 200 * time.Millisecond
	var failedSince time.Time // the first failed poll since the last success
	defer a.prepull.Wait()
	for ctx.Err() == nil {
		var out ecsapi.GantryPollTasksResponse
		ep := a.client.Endpoint()
		interrupted, err := a.poll(ctx, &ecsapi.GantryPollTasksRequest{
			Cluster: a.cfg.Cluster, ContainerInstance: a.id.ContainerInstanceArn, Revision: rev, WaitSeconds: int32(pollWait / time.Second), Session: a.session,
			ImagePulls: a.prepull.States()}, &out)
		if interrupted {
			// A pre-pull ended: tell the control plane at once.
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			a.log.Warn("poll tasks", "err", err, "server", ep)
			if failedSince.IsZero() {
				failedSince = time.Now()
			}
			rev = 0
			if a.client.Endpoint() != ep {
				// Another server: try it at once.
				backoff = 50 * time.Millisecond
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 200 * time.Millisecond
		if !failedSince.IsZero() {
			// The fault harness reads the agent's failover time from this line.
			a.log.Info("poll tasks answered again", "server", ep, "afterFailures", time.Since(failedSince).Round(time.Millisecond))
			failedSince = time.Time{}
		}
		a.lastPoll.Store(&pollMark{server: ep, at: time.Now()})
		rev = out.Revision
		a.engine.Sync(out.Tasks, out.TaskArns)
		a.prepull.Sync(ctx, out.PrePullImages)
	}
	return nil
}

// Poll timing: a poll waits up to pollWait for a change; a server that has
// not answered pollMargin after that counts as failed.
const (
	pollWait   = 5 * time.Second
	pollMargin = 5 * time.Second
)

// DefaultDiscoverInterval is how often an agent asks for the control
// plane's live servers.
const DefaultDiscoverInterval = 10 * time.Second

// Endpoints returns the control plane servers the agent may call, the one
// it calls now first.
func (a *Agent) Endpoints() []string {
	cur := a.client.Endpoint()
	out := []string{cur}
	for _, e := range a.client.Endpoints() {
		if e != cur {
			out = append(out, e)
		}
	}
	return out
}

// discoverServers asks the control plane for its live servers now and
// every DiscoverInterval until ctx ends, and makes the agent's client call
// them (the configured ones stay as a last resort). A control plane
// without the extension answers DiscoverPollEndpoint's one endpoint.
func (a *Agent) discoverServers(ctx context.Context) {
	for {
		live, err := a.discover(ctx)
		if err == nil && len(live) > 0 {
			before := a.client.Endpoints()
			a.client.SetEndpoints(live)
			if after := a.client.Endpoints(); !slices.Equal(before, after) {
				a.log.Info("control plane servers", "live", live, "endpoints", after)
			}
		} else if err != nil && ctx.Err() == nil {
			a.log.Warn("discover the control plane's servers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.DiscoverInterval):
		}
	}
}

func (a *Agent) discover(ctx context.Context) ([]string, error) {
	var out ecsapi.GantryDiscoverPollEndpointsResponse
	err := a.client.Call(ctx, "GantryDiscoverPollEndpoints", &ecsapi.GantryDiscoverPollEndpointsRequest{
		Cluster: a.cfg.Cluster, ContainerInstance: a.id.ContainerInstanceArn}, &out)
	var ae *ecsclient.Error
	if errors.As(err, &ae) && ae.Code == "UnknownOperationException" {
		var one ecsapi.DiscoverPollEndpointResponse
		if err := a.client.Call(ctx, "DiscoverPollEndpoint", &ecsapi.DiscoverPollEndpointRequest{
			Cluster: a.cfg.Cluster, ContainerInstance: a.id.ContainerInstanceArn}, &one); err != nil {
			return nil, err
		}
		return []string{one.Endpoint}, nil
	}
	if err != nil {
		return nil, err
	}
	return out.Endpoints, nil
}

// poll calls GantryPollTasks, cut short (interrupted true, the answer
// dropped) when an image pre-pull ends meanwhile, so that its state goes
// up in the next poll without waiting for this one's answer.
func (a *Agent) poll(ctx context.Context, in *ecsapi.GantryPollTasksRequest, out *ecsapi.GantryPollTasksResponse) (bool, error) {
	// A server that stops answering (partitioned, not dead) must not hold
	// the agent longer than the poll's wait and a margin.
	pctx, cancel := context.WithTimeout(ctx, pollWait+pollMargin)
	defer cancel()
	stop := make(chan struct{})
	cut := make(chan bool, 1)
	go func() {
		select {
		case <-a.prepull.changed:
			cancel()
			cut <- true
		case <-stop:
			cut <- false
		}
	}()
	err := a.client.Call(pctx, "GantryPollTasks", in, out)
	close(stop)
	interrupted := <-cut
	if interrupted && err == nil {
		// The answer came anyway; the next poll, at once, sends the
		// state.
		return false, nil
	}
	return interrupted && ctx.Err() == nil, err
}

// resources are the host's registered resources.
func (a *Agent) resources() ([]ecsapi.Resource, error) {
	cpu := a.cfg.CPU
	if cpu == 0 {
		cpu = int32(hostCPUs() * 1024)
	}
	mem := a.cfg.MemoryMiB
	if mem == 0 {
		total, err := hostMemoryMiB()
		if err != nil {
			return nil, err
		}
		mem = int32(total) - a.cfg.ReservedMemoryMiB
	}
	ports := a.cfg.ReservedPorts
	if ports == nil {
		ports = []string{"22", "2375", "2376", "51678", "51679"}
	}
	return []ecsapi.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: cpu},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: ports},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}},
	}, nil
}

// attributes are the attributes ECS instances carry, plus custom ones.
func (a *Agent) attributes() []ecsapi.Attribute {
	attrs := map[string]string{
		"ecs.os-type":                                             "linux",
		"ecs.os-family":                                           "LINUX",
		"ecs.cpu-architecture":                                    cpuArchitecture(),
		"ecs.availability-zone":                                   a.cfg.AvailabilityZone,
		"ecs.instance-type":                                       a.cfg.InstanceType,
		"ecs.capability.task-eni":                                 "",
		"ecs.capability.container-health-check":                   "",
		"ecs.capability.container-ordering":                       "",
		"ecs.capability.docker-plugin.local":                      "",
		"ecs.capability.full-sync":                                "",
		"com.amazonaws.ecs.capability.privileged-container":       "",
		"com.amazonaws.ecs.capability.logging-driver.json-file":   "",
		"com.amazonaws.ecs.capability.logging-driver.none":        "",
		"com.amazonaws.ecs.capability.logging-driver.syslog":      "",
		"com.amazonaws.ecs.capability.logging-driver.journald":    "",
		"com.amazonaws.ecs.capability.logging-driver.local":       "",
		"com.amazonaws.ecs.capability.docker-remote-api.1.17":     "",
		"com.amazonaws.ecs.capability.network-mode.bridge":        "",
		"com.amazonaws.ecs.capability.network-mode.host":          "",
		"com.amazonaws.ecs.capability.network-mode.none":          "",
		"com.amazonaws.ecs.capability.network-mode.awsvpc":        "",
		"com.amazonaws.ecs.capability.task-iam-role-network-host": "",
		// ECR images are pulled from the control plane's registry with a
		// login the agent gets with its own credentials (ecrauth).
		"com.amazonaws.ecs.capability.ecr-auth":  "",
		"ecs.capability.execution-role-ecr-pull": "",
		// The agent pulls the images of a rollout before its tasks start
		// when the control plane asks (PrePullImages).
		ecsapi.ImagePrePullAttribute: "",
	}
	if a.logs != nil {
		// The agent ships awslogs output itself (package logship), with
		// the control plane's credentials: the execution role needs none.
		attrs["com.amazonaws.ecs.capability.logging-driver.awslogs"] = ""
		attrs["ecs.capability.execution-role-awslogs"] = ""
	}
	for _, v := range dockerAPIVersions(a.cfg.DockerAPIVersion) {
		attrs["com.amazonaws.ecs.capability.docker-remote-api."+v] = ""
	}
	if a.cfg.HostAddress != "" {
		attrs["gantry.host-address"] = a.cfg.HostAddress
	}
	for k, v := range a.cfg.Attributes {
		attrs[k] = v
	}
	if a.cfg.CapacityProvider != "" {
		attrs["ecs.capacity-provider"] = a.cfg.CapacityProvider
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]ecsapi.Attribute, 0, len(names))
	for _, n := range names {
		out = append(out, ecsapi.Attribute{Name: n, Value: attrs[n]})
	}
	return out
}

// dockerAPIVersions lists the Docker remote API versions 1.17 up to max.
func dockerAPIVersions(max string) []string {
	maj, min := 1, 17
	var mm int
	if _, err := fmt.Sscanf(strings.TrimSpace(max), "1.%d", &mm); err != nil {
		return nil
	}
	var out []string
	for ; min <= mm; min++ {
		out = append(out, fmt.Sprintf("%d.%d", maj, min))
	}
	return out
}

// Registration backoff while the agent's cluster does not exist.
const (
	registerBackoffBase = 500 * time.Millisecond
	registerBackoffMax  = 30 * time.Second
)

// registerUntilCluster registers, trying again with backoff (500ms
// doubling to 30s) while the agent's cluster does not exist. Other errors
// and the end of ctx end it.
func (a *Agent) registerUntilCluster(ctx context.Context) error {
	wait := registerBackoffBase
	for {
		err := a.Register(ctx)
		if err == nil || !errors.Is(err, ErrClusterNotFound) {
			return err
		}
		a.log.Warn("cluster not found: waiting for it to be created before registering", "cluster", a.cfg.Cluster, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, registerBackoffMax)
	}
}

// protection makes the task metadata endpoint's task protection calls with
// the agent's own credentials.
type protection struct{ c *ecsclient.Client }

// GetTaskProtection calls GetTaskProtection.
func (p protection) GetTaskProtection(ctx context.Context, in *ecsapi.GetTaskProtectionRequest) (*ecsapi.GetTaskProtectionResponse, error) {
	var out ecsapi.GetTaskProtectionResponse
	if err := p.c.Call(ctx, "GetTaskProtection", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateTaskProtection calls UpdateTaskProtection.
func (p protection) UpdateTaskProtection(ctx context.Context, in *ecsapi.UpdateTaskProtectionRequest) (*ecsapi.UpdateTaskProtectionResponse, error) {
	var out ecsapi.UpdateTaskProtectionResponse
	if err := p.c.Call(ctx, "UpdateTaskProtection", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// instanceTags reads the agent's container instance's tags
// (ListTagsForResource) for the task metadata endpoint's taskWithTags.
type instanceTags struct {
	c   *ecsclient.Client
	arn func() string
}

// ContainerInstanceTags calls ListTagsForResource on the instance's ARN.
func (t instanceTags) ContainerInstanceTags(ctx context.Context) (map[string]string, string, error) {
	arn := t.arn()
	if arn == "" {
		return nil, "", errors.New("the agent has not registered its container instance yet")
	}
	var out ecsapi.ListTagsForResourceResponse
	if err := t.c.Call(ctx, "ListTagsForResource", &ecsapi.ListTagsForResourceRequest{ResourceArn: arn}, &out); err != nil {
		return nil, arn, err
	}
	tags := make(map[string]string, len(out.Tags))
	for _, tag := range out.Tags {
		tags[tag.Key] = tag.Value
	}
	return tags, arn, nil
}
