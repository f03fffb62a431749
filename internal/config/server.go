package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Server is the configuration of the control plane.
type Server struct {
	// Listen is the HTTP address of the ECS API.
	Listen string
	// AdvertiseURL is the URL agents reach this server at, published in
	// the store (on a lease) so that DiscoverPollEndpoint answers the live
	// servers; empty means the URL of Listen as bound.
	AdvertiseURL string
	// DataDir holds the embedded etcd member's data (DataDir/etcd) and
	// the CloudWatch Logs store (DataDir/logs) and metric store
	// (DataDir/metrics). With an external etcd it
	// may be empty: the log store is then a temporary directory, removed
	// when the server stops.
	DataDir string
	// LogsMaxBytes bounds the CloudWatch Logs events the server keeps, in
	// stored bytes (message bytes plus 26 per event, as AWS counts them);
	// beyond it the oldest events of all groups are dropped. 0 means no
	// bound.
	LogsMaxBytes int64
	// Region and AccountID build ARNs and scope signatures.
	Region    string
	AccountID string
	// EtcdEndpoints, when set, replaces the embedded member by an external
	// etcd cluster.
	EtcdEndpoints []string
	// EtcdCACert, EtcdCert and EtcdKey are PEM files for an external
	// cluster's client TLS (https:// endpoints): the CA that signed its
	// certificates, and this server's client certificate and key.
	EtcdCACert, EtcdCert, EtcdKey string
	// EtcdUsername and EtcdPassword authenticate to an external cluster
	// with etcd's own authentication (the password also from
	// GANTRY_ETCD_PASSWORD).
	EtcdUsername, EtcdPassword string
	// EtcdMember makes the embedded etcd member one of a cluster the
	// servers form (etcdmember.go); its zero value is the single member.
	EtcdMember EtcdMember
	// Credentials are the access keys the API accepts.
	Credentials []AccessKey
	// CredentialsFile, when set, was read into Credentials.
	CredentialsFile string
	// LostInstanceGrace is how long a service's tasks stay on an instance
	// whose agent is disconnected before they are replaced elsewhere.
	LostInstanceGrace time.Duration
	// MinHealthyTime is how long a service's new task must stay RUNNING
	// (and healthy, where a health check says) before it counts as
	// healthy: deployments complete only then, and a task that stops by
	// itself sooner counts as failed for the deployment circuit breaker.
	MinHealthyTime time.Duration
	// PrePullTimeout is how long a rolling update waits at most for the
	// instances that may run its tasks to pull its images before it
	// starts them; 0 turns image pre-pull off.
	PrePullTimeout time.Duration
	// TaskDefinitionReapInterval is how often the server deletes the task
	// definition revisions in DELETE_IN_PROGRESS that nothing uses any
	// more.
	TaskDefinitionReapInterval time.Duration
	// LeaderTTL is the service controller leader's etcd session TTL: how
	// soon another server takes over when the leader dies.
	LeaderTTL time.Duration
	// Provisioner carries out managed scaling's actions: command:PATH or
	// http:URL; empty computes and publishes CapacityProviderReservation
	// without scaling.
	Provisioner string
	// ManagedScalingInterval is the period of managed scaling's passes
	// (15 s when zero); ManagedScalingScaleInAfter how long the
	// reservation stays below its target before a scale-in (15 min
	// when zero, ECS's low alarm).
	ManagedScalingInterval, ManagedScalingScaleInAfter time.Duration
	// ECSMetricsPeriod is the window of the AWS/ECS utilisation metrics
	// computed from the agents' reports: one datapoint per service and
	// cluster per window.
	ECSMetricsPeriod time.Duration
	// AlarmEvaluationInterval is how often the alarm evaluator (on the
	// elected server) evaluates every CloudWatch alarm; 0 is 5 s.
	AlarmEvaluationInterval time.Duration
	// DebugListen, when set, serves Go's profiling endpoints
	// (/debug/pprof/) on that loopback address.
	DebugListen string
	// NoConsole turns the web console at /console/ off.
	NoConsole bool
	// ConsoleSessionTTL is how long a console sign-in lasts.
	ConsoleSessionTTL time.Duration
	// GCPercent is the Go garbage collector's target (GOGC) for the
	// process, unless the GOGC environment variable is set: above Go's
	// default of 100 it spends memory to save CPU.
	GCPercent int
	// Dev marks the fixed development credentials: loopback only.
	Dev bool
	// HeaderTimeout, BodyTimeout, WriteTimeout and IdleTimeout bound the
	// phases of an API request: reading its headers, reading its body,
	// writing its answer (from the first byte, so that long polls may wait
	// as long as they ask), and a kept-alive connection's wait for the
	// next request. A connection that overruns one is closed.
	HeaderTimeout, BodyTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConnections caps the API's open connections; beyond it new ones
	// wait to be accepted.
	MaxConnections int
	// EtcdQuotaBytes is the embedded etcd's backend quota: past it writes
	// answer "store full" (etcd's NOSPACE alarm) until space is reclaimed.
	EtcdQuotaBytes int64
	// TLSCert and TLSKey, when set, are the PEM certificate (chain) and
	// key the API serves HTTPS with.
	TLSCert, TLSKey string
	// TLSGenerate serves HTTPS with a development CA and a server
	// certificate generated in DataDir/tls (kept and reused); agents and
	// clients verify the server against DataDir/tls/ca.pem.
	TLSGenerate bool
	// DiskReserveBytes is the free space kept on the data dir's file
	// system: below it the server refuses writes ("store full") before
	// the disk itself fills up, and takes them again once space returns.
	DiskReserveBytes int64

	// RegistryListen is the address of the OCI registry (ECR's image
	// endpoint); empty turns the registry's listener off (the ECR API
	// still serves the images it stores).
	RegistryListen string
	// RegistryHost is the host[:port] that docker and the agents name
	// the registry by (repositoryUri, proxyEndpoint); empty means the
	// address RegistryListen bound.
	RegistryHost string
	// RegistryTLSCert and RegistryTLSKey, when set, serve the registry
	// over TLS (needed beyond loopback: Docker trusts plain HTTP only
	// from loopback registries unless told otherwise).
	RegistryTLSCert, RegistryTLSKey string
	// RegistryStorage is the registry's storage driver: "filesystem"
	// (DataDir/registry) or another distribution driver linked into
	// Gantry, configured by RegistryStorageParams.
	RegistryStorage string
	// RegistryStorageParams are the driver's parameters (key=value).
	RegistryStorageParams map[string]string
	// RegistryLifecycleInterval is how often ECR lifecycle policies are
	// applied.
	RegistryLifecycleInterval time.Duration
	// RegistryGCInterval is how often the elected server deletes the
	// registry's blobs no manifest references; 0 turns it off.
	RegistryGCInterval time.Duration
	// RegistryGCGrace is how old an unreferenced blob must be before the
	// garbage collection deletes it: a push uploads its blobs before the
	// manifest that references them.
	RegistryGCGrace time.Duration
	// RegistryAuthChallenge is the authentication the registry's 401
	// advertises: "basic" (as ECR's registry) or "bearer" (Docker's token
	// flow, from the registry's /token endpoint). Both are accepted.
	RegistryAuthChallenge string

	// LBAddress is the address Elastic Load Balancing v2 load balancers
	// listen on and answer as their DNSName (127.0.0.1 when empty).
	LBAddress string
	// LBDataPlane runs the load balancers' data plane (their listeners) in
	// the server process; on by default.
	LBDataPlane bool
	// LBMetricsPeriod is how often the data plane publishes the load
	// balancers' CloudWatch metrics (AWS/ApplicationELB, AWS/NetworkELB).
	LBMetricsPeriod time.Duration
}

// DefaultGCPercent is the server's default garbage collector target. The
// control plane's allocations are short-lived request and watch garbage
// over a heap that holds its views; at Go's default of 100 the collector
// took about a sixth of the server's CPU while placing tasks at full
// speed, and 200 roughly halves that for about a quarter more memory
// (docs/performance.md).
const DefaultGCPercent = 200

// DefaultMinHealthyTime is the default of --min-healthy-time: Nomad's
// min_healthy_time default, long enough to catch a revision that crashes
// seconds after it starts.
const DefaultMinHealthyTime = 10 * time.Second

// DefaultLogsMaxBytes is the default bound of the log store: 10 GiB of
// stored bytes (the files on disk are smaller: blocks are compressed).
const DefaultLogsMaxBytes = 10 << 30

// DefaultRegistryListen is the registry's address in `gantry server`
// and `gantry dev` unless --registry-listen says otherwise. DefaultServer
// leaves the listener off, so that servers started in-process (tests)
// open no fixed port.
const DefaultRegistryListen = "127.0.0.1:8846"

// DefaultServer returns the defaults.
func DefaultServer() Server {
	return Server{
		Listen:                     "127.0.0.1:8845",
		DataDir:                    "gantry-data",
		Region:                     "us-east-1",
		AccountID:                  "000000000000",
		LostInstanceGrace:          20 * time.Second,
		LeaderTTL:                  5 * time.Second,
		ManagedScalingInterval:     15 * time.Second,
		ManagedScalingScaleInAfter: 15 * time.Minute,
		ConsoleSessionTTL:          8 * time.Hour,
		AlarmEvaluationInterval:    5 * time.Second,
		MinHealthyTime:             DefaultMinHealthyTime,
		TaskDefinitionReapInterval: 30 * time.Second,
		GCPercent:                  DefaultGCPercent,
		LogsMaxBytes:               DefaultLogsMaxBytes,
		ECSMetricsPeriod:           10 * time.Second,
		LBDataPlane:                true,
		LBMetricsPeriod:            2 * time.Second,
		HeaderTimeout:              10 * time.Second,
		BodyTimeout:                30 * time.Second,
		WriteTimeout:               30 * time.Second,
		IdleTimeout:                120 * time.Second,
		MaxConnections:             4096,
		EtcdQuotaBytes:             2 << 30,
		DiskReserveBytes:           64 << 20,
		EtcdMember:                 EtcdMember{InitialClusterState: "new", InitialClusterToken: "gantry"},

		RegistryStorage:           "filesystem",
		RegistryLifecycleInterval: 10 * time.Minute,
		RegistryGCInterval:        time.Hour,
		RegistryGCGrace:           time.Hour,
		RegistryAuthChallenge:     "basic",
		PrePullTimeout:            5 * time.Minute,
	}
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
var accountRE = regexp.MustCompile(`^\d{12}$`)

// RegisterFlags defines the server's flags on fs, bound to c's fields, with
// c's values as their defaults. `gantry server` and `gantry dev` use it.
func (c *Server) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP address of the ECS API (loopback unless you ask otherwise)")
	fs.StringVar(&c.AdvertiseURL, "advertise-url", c.AdvertiseURL, "URL agents reach this server at (e.g. https://10.0.0.5:8845), published to the other servers and answered by DiscoverPollEndpoint; default: the --listen address as bound")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded etcd member's data (etcd/), the CloudWatch Logs store (logs/) and the CloudWatch metric store (metrics/)")
	fs.Int64Var(&c.LogsMaxBytes, "logs-max-bytes", c.LogsMaxBytes, "bound of the CloudWatch Logs events kept, in bytes as AWS counts them (message plus 26 per event); the oldest are dropped beyond it; 0 for no bound")
	fs.StringVar(&c.Region, "region", c.Region, "region of ARNs and of SigV4 signatures")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID, "12-digit account ID of ARNs")
	fs.StringVar(&c.CredentialsFile, "credentials-file", c.CredentialsFile, "file of access keys the API accepts, one a line: ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME [POLICY_FILE]]; a key with a POLICY_FILE (an IAM policy document) may do only what it allows, one without is an administrator")
	fs.DurationVar(&c.LostInstanceGrace, "lost-instance-grace", c.LostInstanceGrace, "how long a service's tasks stay on an instance whose agent is disconnected before they are replaced elsewhere")
	fs.DurationVar(&c.PrePullTimeout, "prepull-timeout", c.PrePullTimeout, "how long a service's rolling update waits at most for the container instances that may run its tasks to pull its images before it starts them (image pre-pull); 0 turns pre-pull off")
	fs.DurationVar(&c.MinHealthyTime, "min-healthy-time", c.MinHealthyTime, "how long a service's new task must stay RUNNING (and healthy, where a health check says) before its deployment counts it healthy; a task that stops by itself sooner counts as failed for the deployment circuit breaker; 0 counts a task healthy once it runs, as ECS does")
	fs.DurationVar(&c.TaskDefinitionReapInterval, "task-definition-reap-interval", c.TaskDefinitionReapInterval, "how often task definition revisions in DELETE_IN_PROGRESS that no task or service uses any more are deleted")
	fs.DurationVar(&c.LeaderTTL, "leader-ttl", c.LeaderTTL, "etcd session TTL of the service controller's leader: how soon another server takes over when it dies")
	fs.StringVar(&c.Provisioner, "provisioner", c.Provisioner, "what carries out managed scaling of Auto Scaling group capacity providers: command:PATH (run with the desired instance count as argument, the action's JSON on stdin) or http:URL (the action's JSON POSTed: cluster, capacityProvider, desiredCount, instancesToRemove); gantry-provisioner serves such a hook with agents as Docker containers; empty: the reservation metric only, no scaling")
	fs.DurationVar(&c.ManagedScalingInterval, "managed-scaling-interval", c.ManagedScalingInterval, "how often the elected server places tasks waiting in PROVISIONING, computes CapacityProviderReservation and scales")
	fs.DurationVar(&c.ManagedScalingScaleInAfter, "managed-scaling-scale-in-after", c.ManagedScalingScaleInAfter, "how long CapacityProviderReservation stays below its target before managed scaling removes instances")
	fs.DurationVar(&c.ECSMetricsPeriod, "ecs-metrics-period", c.ECSMetricsPeriod, "window of the AWS/ECS CPUUtilization and MemoryUtilization metrics computed from the agents' reports (high-resolution below 1m)")
	fs.DurationVar(&c.AlarmEvaluationInterval, "alarm-evaluation-interval", c.AlarmEvaluationInterval, "how often every CloudWatch alarm is evaluated (by the elected server); at most 10s, the shortest alarm period")
	fs.StringVar(&c.DebugListen, "debug-listen", c.DebugListen, "loopback address to serve Go's profiling endpoints (/debug/pprof/) and the Prometheus metrics (/metrics) on; off when empty")
	fs.BoolVar(&c.NoConsole, "no-console", c.NoConsole, "do not serve the web console at /console/ on the API's address")
	fs.DurationVar(&c.ConsoleSessionTTL, "console-session-ttl", c.ConsoleSessionTTL, "how long a web console sign-in lasts before the user signs in again")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "garbage collector target of the process (GOGC; Go's default is 100): higher spends memory to save CPU; the GOGC environment variable wins when set")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", c.HeaderTimeout, "longest time to read an API request's headers")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", c.BodyTimeout, "longest time to read an API request's body once its headers are in; a slower body closes the connection")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "longest time to write an API answer, from its first byte (long polls wait before it)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long a kept-alive API connection may wait for its next request")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "cap on the API's open connections; beyond it new ones wait to be accepted")
	fs.Int64Var(&c.EtcdQuotaBytes, "etcd-quota-bytes", c.EtcdQuotaBytes, "backend quota of the embedded etcd; past it writes answer ServerException \"store full\" until space is reclaimed (reads go on)")
	fs.Int64Var(&c.DiskReserveBytes, "disk-reserve-bytes", c.DiskReserveBytes, "free space kept on --data-dir's file system: below it writes answer \"store full\" before the disk fills (reads go on), and resume once space returns")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate (chain) to serve the API over HTTPS with")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM key of --tls-cert")
	fs.BoolVar(&c.TLSGenerate, "tls-generate", c.TLSGenerate, "serve HTTPS with a development CA and server certificate generated in DATA_DIR/tls (agents and clients trust DATA_DIR/tls/ca.pem)")
	fs.StringVar(&c.EtcdCACert, "etcd-cacert", c.EtcdCACert, "PEM file of the CA that signed the external etcd's certificates (https endpoints)")
	fs.StringVar(&c.EtcdCert, "etcd-cert", c.EtcdCert, "PEM file of the client certificate to present to the external etcd")
	fs.StringVar(&c.EtcdKey, "etcd-key", c.EtcdKey, "PEM file of the key of --etcd-cert")
	fs.StringVar(&c.EtcdUsername, "etcd-username", c.EtcdUsername, "user of the external etcd's authentication; the password comes from GANTRY_ETCD_PASSWORD")
	fs.StringVar(&c.RegistryListen, "registry-listen", c.RegistryListen, "address of the OCI registry behind the ECR API (docker push/pull); empty turns it off")
	fs.StringVar(&c.RegistryHost, "registry-host", c.RegistryHost, "host[:port] clients name the registry by in image names (repositoryUri); default: the address --registry-listen bound")
	fs.StringVar(&c.RegistryTLSCert, "registry-tls-cert", c.RegistryTLSCert, "PEM certificate file: serve the registry over TLS (with --registry-tls-key)")
	fs.StringVar(&c.RegistryTLSKey, "registry-tls-key", c.RegistryTLSKey, "PEM private key file of --registry-tls-cert")
	fs.StringVar(&c.RegistryStorage, "registry-storage", c.RegistryStorage, "storage driver of the registry's images: filesystem (under --data-dir/registry, or the rootdirectory parameter) or s3 (parameters bucket, region, regionendpoint, accesskey, secretkey, ...)")
	fs.Var((*paramsFlag)(&c.RegistryStorageParams), "registry-storage-param", "a parameter of the registry's storage driver, key=value (repeatable), as distribution's configuration names them")
	fs.DurationVar(&c.RegistryLifecycleInterval, "registry-lifecycle-interval", c.RegistryLifecycleInterval, "how often ECR lifecycle policies expire images")
	fs.DurationVar(&c.RegistryGCInterval, "registry-gc-interval", c.RegistryGCInterval, "how often the elected server deletes the registry's blobs that no manifest references (after batch-delete-image or lifecycle expiry); 0 turns it off")
	fs.StringVar(&c.RegistryAuthChallenge, "registry-auth-challenge", c.RegistryAuthChallenge, "authentication the registry's 401 advertises: basic (as ECR's) or bearer (Docker's token flow from <registry>/token); both are accepted either way")
	fs.DurationVar(&c.RegistryGCGrace, "registry-gc-grace", c.RegistryGCGrace, "how old an unreferenced blob must be before the registry's garbage collection deletes it (a push's blobs arrive before its manifest)")
	fs.StringVar(&c.LBAddress, "lb-address", c.LBAddress, "IP address that ELBv2 load balancers' listeners bind and answer as their DNSName (default 127.0.0.1)")
	fs.BoolVar(&c.LBDataPlane, "lb-data-plane", c.LBDataPlane, "serve the ELBv2 load balancers' listeners in this process (--lb-data-plane=false: the API only)")
	fs.DurationVar(&c.LBMetricsPeriod, "lb-metrics-period", c.LBMetricsPeriod, "how often the load balancer data plane publishes its AWS/ApplicationELB and AWS/NetworkELB metrics (high-resolution; ELB publishes every 60s)")
	fs.Var((*listFlag)(&c.EtcdEndpoints), "etcd-endpoints", "comma-separated client URLs of an external etcd cluster (instead of the embedded member)")
	c.registerEtcdMemberFlags(fs)
}

// EnvEtcdPassword holds the password of --etcd-username.
const EnvEtcdPassword = "GANTRY_ETCD_PASSWORD"

// LoadCredentials reads GANTRY_ETCD_PASSWORD, and adds to c.Credentials the keys of c.CredentialsFile, when
// set, and the key of GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY,
// when either is set (Validate refuses half a key).
func (c *Server) LoadCredentials(lookup LookupEnv) error {
	if c.CredentialsFile != "" {
		creds, err := ReadCredentialsFile(c.CredentialsFile, c.AccountID)
		if err != nil {
			return fmt.Errorf("--credentials-file: %w", err)
		}
		c.Credentials = append(c.Credentials, creds...)
	}
	if pw, ok := lookup(EnvEtcdPassword); ok && c.EtcdPassword == "" {
		c.EtcdPassword = pw
	}
	akid, _ := lookup(EnvAccessKeyID)
	secret, _ := lookup(EnvSecretAccessKey)
	if akid != "" || secret != "" {
		c.Credentials = append(c.Credentials, Credential(akid, secret, "gantry", c.AccountID))
	}
	return nil
}

// Validate reports every problem with c at once.
func (c *Server) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %v", c.Listen, err))
	} else if c.Dev && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("--listen %q: the development credentials may only be used on a loopback address", c.Listen))
	}
	if c.AdvertiseURL != "" {
		if u, err := url.Parse(c.AdvertiseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("--advertise-url %q is not a URL such as https://10.0.0.5:8845", c.AdvertiseURL))
		}
	}
	if c.GCPercent < 0 && c.GCPercent != -1 {
		errs = append(errs, fmt.Errorf("--gc-percent %d: must be at least 0, or -1 to turn the collector off", c.GCPercent))
	}
	if c.LostInstanceGrace <= 0 || c.LeaderTTL < time.Second {
		errs = append(errs, errors.New("--lost-instance-grace must be positive and --leader-ttl at least 1s"))
	}
	if c.ECSMetricsPeriod != 0 && (c.ECSMetricsPeriod < time.Second || c.ECSMetricsPeriod > time.Hour) {
		errs = append(errs, fmt.Errorf("--ecs-metrics-period %v must be between 1s and 1h", c.ECSMetricsPeriod))
	}
	if c.AlarmEvaluationInterval != 0 && (c.AlarmEvaluationInterval < 100*time.Millisecond || c.AlarmEvaluationInterval > 10*time.Second) {
		errs = append(errs, fmt.Errorf("--alarm-evaluation-interval %s: must be between 100ms and 10s", c.AlarmEvaluationInterval))
	}
	if p := c.Provisioner; p != "" && !(strings.HasPrefix(p, "command:") && len(p) > len("command:")) &&
		!strings.HasPrefix(p, "http:") && !strings.HasPrefix(p, "https:") {
		errs = append(errs, fmt.Errorf("--provisioner %q: want command:PATH or http:URL", p))
	}
	if c.ManagedScalingInterval < 0 || c.ManagedScalingScaleInAfter < 0 {
		errs = append(errs, errors.New("--managed-scaling-interval and --managed-scaling-scale-in-after must not be negative"))
	}
	if c.TaskDefinitionReapInterval <= 0 {
		errs = append(errs, fmt.Errorf("--task-definition-reap-interval %v: must be positive", c.TaskDefinitionReapInterval))
	}
	if c.PrePullTimeout < 0 {
		errs = append(errs, fmt.Errorf("--prepull-timeout %v: must not be negative", c.PrePullTimeout))
	}
	if c.RegistryAuthChallenge != "basic" && c.RegistryAuthChallenge != "bearer" {
		errs = append(errs, fmt.Errorf("--registry-auth-challenge %q: must be basic or bearer", c.RegistryAuthChallenge))
	}
	if c.RegistryGCInterval < 0 || c.RegistryGCGrace < 0 {
		errs = append(errs, fmt.Errorf("--registry-gc-interval %v, --registry-gc-grace %v: must not be negative", c.RegistryGCInterval, c.RegistryGCGrace))
	}
	if c.MinHealthyTime < 0 {
		errs = append(errs, fmt.Errorf("--min-healthy-time %v: must not be negative", c.MinHealthyTime))
	}
	if c.DebugListen != "" {
		if h, _, err := net.SplitHostPort(c.DebugListen); err != nil || !IsLoopback(h) {
			errs = append(errs, fmt.Errorf("--debug-listen %q must be a loopback address", c.DebugListen))
		}
	}
	if !regionRE.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name such as us-east-1", c.Region))
	}
	if !accountRE.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.AccountID))
	}
	if len(c.EtcdEndpoints) == 0 && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required with the embedded etcd"))
	}
	if c.HeaderTimeout <= 0 || c.BodyTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--header-timeout, --body-timeout, --write-timeout and --idle-timeout must be positive"))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("--max-connections %d: must be at least 1", c.MaxConnections))
	}
	if c.EtcdQuotaBytes < 16<<20 || c.DiskReserveBytes < 0 {
		errs = append(errs, errors.New("--etcd-quota-bytes must be at least 16 MiB and --disk-reserve-bytes at least 0"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.TLSGenerate && (c.TLSCert != "" || c.DataDir == "") {
		errs = append(errs, errors.New("--tls-generate needs --data-dir and excludes --tls-cert"))
	}
	if (c.EtcdCert == "") != (c.EtcdKey == "") {
		errs = append(errs, errors.New("--etcd-cert and --etcd-key go together"))
	}
	if len(c.EtcdEndpoints) == 0 && (c.EtcdCACert != "" || c.EtcdCert != "" || c.EtcdUsername != "") {
		errs = append(errs, errors.New("--etcd-cacert, --etcd-cert, --etcd-key and --etcd-username are for an external etcd (--etcd-endpoints)"))
	}
	if c.EtcdUsername != "" && c.EtcdPassword == "" {
		errs = append(errs, errors.New("--etcd-username needs its password in GANTRY_ETCD_PASSWORD"))
	}
	errs = append(errs, c.EtcdMember.validate(len(c.EtcdEndpoints) > 0)...)
	if c.RegistryListen != "" {
		if _, _, err := net.SplitHostPort(c.RegistryListen); err != nil {
			errs = append(errs, fmt.Errorf("--registry-listen %q: %v", c.RegistryListen, err))
		}
	}
	if (c.RegistryTLSCert == "") != (c.RegistryTLSKey == "") {
		errs = append(errs, errors.New("--registry-tls-cert and --registry-tls-key go together"))
	}
	if c.RegistryLifecycleInterval < time.Second {
		errs = append(errs, errors.New("--registry-lifecycle-interval must be at least 1s"))
	}
	if c.LBMetricsPeriod != 0 && (c.LBMetricsPeriod < time.Second || c.LBMetricsPeriod > time.Minute) {
		errs = append(errs, fmt.Errorf("--lb-metrics-period %v must be between 1s and 1m", c.LBMetricsPeriod))
	}
	if c.LBAddress != "" && net.ParseIP(c.LBAddress) == nil {
		errs = append(errs, fmt.Errorf("--lb-address %q is not an IP address", c.LBAddress))
	}
	if c.LogsMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("--logs-max-bytes %d: must be at least 0 (0: no bound)", c.LogsMaxBytes))
	}
	if len(c.Credentials) == 0 {
		errs = append(errs, errors.New("no API credentials: set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY, or --credentials-file"))
	}
	for _, cr := range c.Credentials {
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			errs = append(errs, errors.New("a credential has an empty access key ID or secret"))
		}
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether host (a name or an address) is a loopback one.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// paramsFlag is a repeatable key=value flag.
type paramsFlag map[string]string

func (p *paramsFlag) String() string {
	if p == nil || *p == nil {
		return ""
	}
	parts := make([]string, 0, len(*p))
	for k, v := range *p {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (p *paramsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	if *p == nil {
		*p = map[string]string{}
	}
	(*p)[k] = v
	return nil
}
