// Package app wires Gantry's parts into the programs `gantry server`,
// `gantry agent` and `gantry dev`, and owns their lifecycles.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/net/netutil"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/autoscaling"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/cloudwatch"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/console"
	servicectl "github.com/gantry-dev/gantry/internal/controller/service"
	"github.com/gantry-dev/gantry/internal/ecr"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecs/usage"
	"github.com/gantry-dev/gantry/internal/elb"
	"github.com/gantry-dev/gantry/internal/etcdembed"
	"github.com/gantry-dev/gantry/internal/instancekey"
	"github.com/gantry-dev/gantry/internal/logs"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/sigv4"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/taskdefcheck"
)

// Server is a running control plane.
type Server struct {
	// URL is the base URL of the ECS API, e.g. http://127.0.0.1:8845
	// (https:// when TLS is configured).
	URL string
	// AdvertiseURL is the URL agents reach this server at
	// (--advertise-url, URL by default), published in the live set.
	AdvertiseURL string
	// DebugURL is the base URL of the profiling endpoints and /metrics
	// when --debug-listen is set.
	DebugURL string
	// ConsoleURL is the web console's URL (empty when it is off).
	ConsoleURL string
	// ECS is Amazon ECS's operations, for in-process callers such as tests.
	ECS *ecs.API
	// State is the server's live state, which ECS reads.
	State *state.State
	// Logs is the CloudWatch Logs API over the log store in
	// DataDir/logs (Logs.Store).
	Logs *logs.API
	// Usage computes the AWS/ECS metrics from the utilisation the agents
	// report and records them through the Recorder SetMetricsRecorder
	// sets (usage.go).
	Usage *usage.Publisher
	// CloudWatch is the CloudWatch API (metrics and alarms) over the
	// metric store in DataDir/metrics and the alarms in etcd.
	CloudWatch *cloudwatch.API
	// ELB is the Elastic Load Balancing v2 API; it is also the load
	// balancers' configuration source (lbconf.Source) and health sink.
	ELB *elb.API
	// lbHealth is the health sink of the data plane in this process.
	lbHealth *elb.HealthReporter

	cfg    config.Server
	logger *slog.Logger
	http   *http.Server
	ln     net.Listener
	etcd   *etcdembed.Server
	client *clientv3.Client
	cancel context.CancelFunc
	done   chan error

	closeOnce sync.Once
	closeErr  error
	debug     *http.Server

	// metrics are the server's Prometheus metrics (prom.go);
	// metricsRecorder is where Usage records (SetMetricsRecorder).
	metrics         *serverMetrics
	metricsRecorder switchRecorder
	usageDone       chan struct{}

	// disk is the disk guard's free-space verdict, which the stores beside
	// etcd (logs, metrics) consult before writing.
	disk *diskFull
	// publishDone closes when this server has left the live set
	// (servers.go).
	publishDone chan struct{}
	// guardDone closes when the disk guard (diskguard.go) has stopped.
	guardDone chan struct{}
	// health is the store probe's verdict (storehealth.go); healthDone
	// closes when the probe has stopped.
	health     *storeHealth
	healthDone chan struct{}
	// logsDone closes when the log store's retention loop has stopped.
	logsDone chan struct{}
	// logsTemp is the log store's temporary directory when there is no
	// data directory; removed at Close.
	logsTemp string

	// Services is the service controller (it reconciles while this server
	// leads); servicesDone closes when it has stopped.
	Services     *servicectl.Controller
	servicesDone chan struct{}
	// capacityDone closes when managed scaling has stopped.
	capacityDone chan struct{}
	// reaperDone closes when the task definition reaper has stopped.
	reaperDone chan struct{}

	// ECR is Amazon ECR's API over the registry; RegistryURL is the
	// registry's base URL (empty when its listener is off).
	ECR         *ecr.API
	RegistryURL string

	// AutoScaling is Application Auto Scaling (autoscaling.go); it is
	// the cwlink.Invoker of CloudWatch's alarm actions.
	AutoScaling *autoscaling.API

	// neighbours are the AWS services beside ECS and CloudWatch Logs
	// (neighbours.go); neighboursRunning counts their background work.
	neighbours        []neighbour
	neighboursRunning sync.WaitGroup
}

// StartServer starts the control plane of cfg and returns once it serves.
func StartServer(ctx context.Context, cfg config.Server, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pols, err := policies(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	tlsc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, done: make(chan error, 1), metrics: newServerMetrics()}
	if len(cfg.EtcdEndpoints) > 0 {
		ecfg := clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 10 * time.Second,
			Username: cfg.EtcdUsername, Password: cfg.EtcdPassword}
		if cfg.EtcdCACert != "" || cfg.EtcdCert != "" {
			tlsc, err := (transport.TLSInfo{CertFile: cfg.EtcdCert, KeyFile: cfg.EtcdKey, TrustedCAFile: cfg.EtcdCACert}).ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("etcd client TLS: %w", err)
			}
			ecfg.TLS = tlsc
		}
		c, err := clientv3.New(ecfg)
		if err != nil {
			return nil, fmt.Errorf("connect to etcd %v: %w", cfg.EtcdEndpoints, err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = c.Status(sctx, cfg.EtcdEndpoints[0])
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("etcd %v is not reachable: %w", cfg.EtcdEndpoints, err)
		}
		s.client = c
	} else {
		e, err := etcdembed.StartWithOptions(ctx, cfg.DataDir, etcdembed.Options{QuotaBytes: cfg.EtcdQuotaBytes, Cluster: etcdCluster(cfg.EtcdMember)}, logger)
		if err != nil {
			return nil, err
		}
		s.etcd = e
		s.client = e.Client()
	}
	maxTxnOps := 0 // an external cluster: etcd's default
	if s.etcd != nil {
		maxTxnOps = etcdembed.MaxTxnOps
	}
	s.ECS = &ecs.API{
		MaxTxnOps: maxTxnOps,
		Store:     store.NewOn(observedBackend{quorumBackend{store.NewEtcdBackend(s.client)}, s.metrics.store}),
		Region:    cfg.Region,
		Account:   cfg.AccountID,
		Logger:    logger,
		// Gantry's agents run Docker: refuse what its driver cannot honour.
		CheckTaskDefinition: taskdefcheck.TaskDefinition,
		CheckOverrides:      taskdefcheck.Overrides,
	}
	stateCfg := s.ECS.StateConfig()
	stateCfg.OnCommit = s.metrics.observeCommit
	s.State = state.New(stateCfg)
	s.ECS.State = s.State
	// The disk guard (below) tells the log store, on the same disk, when
	// that disk is full.
	disk := &diskFull{}
	s.disk = disk
	logsDir := filepath.Join(cfg.DataDir, "logs")
	if cfg.DataDir == "" {
		// An external etcd and no data directory: the logs live as
		// long as the process.
		tmp, err := os.MkdirTemp("", "gantry-logs-")
		if err != nil {
			s.closeStore()
			return nil, fmt.Errorf("log store directory: %w", err)
		}
		s.logsTemp, logsDir = tmp, tmp
		logger.Warn("no --data-dir: CloudWatch Logs events are kept in a temporary directory until the server stops", "dir", tmp)
	}
	ls, err := logstore.Open(logsDir, logstore.Options{MaxBytes: cfg.LogsMaxBytes, Logger: logger, Full: disk.Full})
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("open the log store: %w", err)
	}
	s.Logs = logs.New(ls, cfg.Region, cfg.AccountID, logger)
	s.ECS.Logs = agentLogs{s.Logs, s.metrics}
	others, err := s.startNeighbours()
	if err != nil {
		s.closeStore()
		return nil, err
	}
	s.startUsage()
	keys := instancekey.New(s.ECS.Store)
	s.health = newStoreHealth(etcdProbe(s.client), logger)
	services := append([]apiserver.Service{apiserver.ECS(ecsHandler{API: s.ECS, keys: keys, pollers: newPollers(logger), health: s.health}, func(ctx context.Context, c apiserver.Caller) context.Context {
		return caller.WithCaller(ctx, caller.Caller{AccessKeyID: c.AccessKeyID, Principal: c.Principal, RequestID: c.RequestID})
	}), apiserver.Logs(s.Logs)}, others...)
	verifier := sigv4.NewServicesVerifier(cfg.Region, apiserver.SigningNames(services), credentials(cfg.Credentials))
	api := apiserver.New(verifier, logger, services...)
	api.Observe(s.metrics.observeAPI)
	verifier.SetLookup(lookupInstanceKey(keys, s.health))
	var repoPolicies authz.ResourcePolicies
	if s.ECR != nil {
		repoPolicies = s.ECR
	}
	az := newAuthorizer(cfg, pols, instances{keys: keys, ecs: s.ECS}, repoPolicies, logger)
	api.SetAuthorizer(az)
	if s.ECR != nil {
		s.ECR.Registry.SetAuthorizer(registryAuthorizer(cfg, az))
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	s.URL = "http://" + ln.Addr().String()
	if tlsc != nil {
		ln = tls.NewListener(ln, tlsc)
		s.URL = "https://" + ln.Addr().String()
	}
	s.ln = ln
	// Agents reach this server at its advertised URL; the servers publish
	// theirs so that any of them can tell an agent the live set.
	s.AdvertiseURL = s.URL
	if cfg.AdvertiseURL != "" {
		s.AdvertiseURL = strings.TrimRight(cfg.AdvertiseURL, "/")
	}
	s.ECS.PollEndpoint = s.AdvertiseURL
	if cfg.DebugListen != "" {
		if err := s.startDebug(cfg.DebugListen); err != nil {
			s.closeStore()
			ln.Close()
			return nil, err
		}
	}
	api.SetTimeouts(cfg.BodyTimeout, cfg.WriteTimeout)
	var handler http.Handler = api
	peerSrv, err := s.startPeers()
	if err != nil {
		s.closeStore()
		ln.Close()
		return nil, err
	}
	if !cfg.NoConsole {
		con, err := console.New(console.Options{Backend: consoleBackend{api: api, verifier: verifier}, SessionTTL: cfg.ConsoleSessionTTL, Logger: logger,
			Sessions: consoleSessions{st: s.ECS.Store}})
		if err != nil {
			s.closeStore()
			ln.Close()
			return nil, fmt.Errorf("web console: %w", err)
		}
		handler = withConsole(api, con)
		s.ConsoleURL = s.URL + console.Prefix
	}
	handler = withPeers(handler, peerSrv)
	handler = withStoreHealth(handler, s.health)
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: cfg.HeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// The live state (watch-fed views, agent leases) runs until rctx
	// ends; Close waits for it. So does the log store's retention loop.
	s.State.Run(rctx)
	guard := &diskGuard{dir: cfg.DataDir, reserve: cfg.DiskReserveBytes, st: s.ECS.Store, quota: cfg.EtcdQuotaBytes, disk: disk,
		logger: logger, every: 500 * time.Millisecond}
	if s.etcd != nil {
		guard.etcd, guard.defrag, guard.cushion = s.client, s.etcd.Defragment, s.etcd.Cushion
	}
	s.guardDone = make(chan struct{})
	go func() {
		defer close(s.guardDone)
		guard.run(rctx)
	}()
	s.healthDone = make(chan struct{})
	go func() {
		defer close(s.healthDone)
		s.health.run(rctx)
	}()
	s.runNeighbours(rctx)
	s.publishDone = make(chan struct{})
	go func() {
		defer close(s.publishDone)
		publishServer(rctx, s.ECS.Store, s.AdvertiseURL, logger)
	}()
	s.usageDone = make(chan struct{})
	go func() {
		defer close(s.usageDone)
		s.Usage.Run(rctx)
	}()
	s.logsDone = make(chan struct{})
	go func() {
		defer close(s.logsDone)
		records := make(chan struct{})
		go func() {
			defer close(records)
			s.Logs.RunRecords(rctx)
		}()
		_ = ls.Run(rctx)
		<-records
	}()
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	// --- Service controller (issue 5): runs on the elected leader. ---
	svcOpts := servicectl.Options{}
	svcOpts.LostInstanceGrace = cfg.LostInstanceGrace
	svcOpts.OnReconcile = s.metrics.observeReconcile
	svcOpts.MinHealthyTime = cfg.MinHealthyTime
	svcOpts.PrePullTimeout = cfg.PrePullTimeout
	svcDeps := newServiceDeps(s.ECS, s.ECS.Store, cfg.LeaderTTL, logger)
	if s.CloudWatch != nil {
		// deploymentConfiguration.alarms roll deployments back.
		svcDeps.Alarms = s.CloudWatch
	}
	if s.ELB != nil {
		// Services behind load balancers: targets and draining.
		svcDeps.LoadBalancing = serviceTargets{elb: s.ELB, ecs: s.ECS}
		// Blue/green, linear and canary deployments: rule weights.
		svcDeps.Traffic = serviceTargets{elb: s.ELB, ecs: s.ECS}
		// UpdateService changing loadBalancers: old deployments' groups.
		svcDeps.Revisions = serviceRevisions{ecs: s.ECS}
	}
	s.Services = servicectl.New(svcDeps, svcOpts, logger)
	s.reaperDone = make(chan struct{})
	go func() {
		defer close(s.reaperDone)
		s.ECS.RunTaskDefinitionReaper(rctx, cfg.TaskDefinitionReapInterval)
	}()
	s.servicesDone = make(chan struct{})
	go func() {
		defer close(s.servicesDone)
		s.Services.Run(rctx)
	}()
	// --- end service controller ---
	if err := s.startCapacity(rctx, cfg); err != nil {
		cancel()
		return nil, err
	}
	logger.Info("gantry server listening", "url", s.URL, "region", cfg.Region, "account", cfg.AccountID, "operations", len(api.Operations()))
	return s, nil
}

// Wait blocks until the HTTP server stops and returns its error.
func (s *Server) Wait() error { return <-s.done }

// Close stops serving, waits for requests in flight (up to 10 seconds), and
// closes the store.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.servicesDone != nil {
			<-s.servicesDone
		}
		if s.capacityDone != nil {
			<-s.capacityDone
		}
		if s.reaperDone != nil {
			<-s.reaperDone
		}
		// Tailing FilterLogEvents requests stop waiting, so that
		// Shutdown need not wait for them.
		s.Logs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.closeErr = s.http.Shutdown(ctx)
		if s.debug != nil {
			s.debug.Close()
		}
		s.State.Wait()
		<-s.guardDone
		<-s.healthDone
		<-s.logsDone
		<-s.usageDone
		<-s.publishDone
		s.closeStore()
	})
	return s.closeErr
}

func (s *Server) closeStore() {
	s.closeNeighbours()
	if s.Logs != nil {
		if err := s.Logs.Store.Close(); err != nil {
			s.logger.Error("close the log store", "err", err)
		}
	}
	if s.logsTemp != "" {
		_ = os.RemoveAll(s.logsTemp)
	}
	if s.etcd != nil {
		s.etcd.Close()
	} else if s.client != nil {
		s.client.Close()
	}
}
