package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Agent is the configuration of `gantry agent` and gantry-agent, and of the
// agent `gantry dev` runs beside its server.
type Agent struct {
	// Server is the control plane's URL, or several of its servers' URLs
	// separated by commas (the agent fails over between them and learns
	// the live set from the control plane).
	Server string
	// CACert, when set, is the PEM file of the CA the agent verifies an
	// https:// control plane against (instead of the system's roots).
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
	CPU               int
	MemoryMiB         int
	ReservedMemoryMiB int
	// AvailabilityZone and InstanceType are reported as the
	// ecs.availability-zone and ecs.instance-type attributes;
	// AvailabilityZone defaults to Region + "a" (Complete).
	AvailabilityZone string
	InstanceType     string
	// HostAddress is the address at which the host's published container
	// ports are reached from the load balancer's data plane (instance
	// targets), reported as the gantry.host-address attribute. It
	// defaults (Complete) to the host's address on the route to the
	// control plane: 127.0.0.1 when the control plane is on loopback.
	HostAddress string
	// Attributes are custom attributes.
	Attributes map[string]string
	// CapacityProvider names the Auto Scaling group capacity provider the
	// instance belongs to (the ecs.capacity-provider attribute); empty for
	// none.
	CapacityProvider string
	// External registers the instance as an external (ECS Anywhere) one.
	External bool
	// SpotWarning is how long a FARGATE_SPOT host's tasks have between
	// SIGTERM and SIGKILL when the host is reclaimed (their stop code is
	// SpotInterruption): Fargate Spot's two-minute warning.
	SpotWarning time.Duration
	// CleanupDelay is how long a stopped task's containers are kept
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION); CleanupJitter, when
	// positive, adds a random part of up to itself to each task's wait
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER).
	CleanupDelay  time.Duration
	CleanupJitter time.Duration
	// TaskMetadataListen is where the task metadata endpoint listens:
	// empty for the host's address on Docker's default bridge network at
	// a port kept in the data dir, "off" for no endpoint, else HOST or
	// HOST:PORT.
	TaskMetadataListen string
	// ContainerStopTimeout is how long a container whose definition has no
	// stopTimeout gets between SIGTERM and SIGKILL (the ECS agent's
	// ECS_CONTAINER_STOP_TIMEOUT, also read from that variable).
	ContainerStopTimeout time.Duration
	// DockerHost is the Docker Engine's address; empty for DOCKER_HOST or
	// the local socket.
	DockerHost string
	// MetricsInterval is how often the agent samples its containers'
	// usage and ships it to the control plane; 0 turns sampling off.
	MetricsInterval time.Duration
	// LogSpoolSize bounds the disk the awslogs spools take (events read
	// from containers while the server is unreachable), in bytes; 0 turns
	// the spool off.
	LogSpoolSize int64
	// DebugListen, when set, serves the agent's Prometheus metrics
	// (/metrics) on that loopback address.
	DebugListen string
	// ImagePullBehavior is the ECS agent's ECS_IMAGE_PULL_BEHAVIOR:
	// default, always, once or prefer-cached.
	ImagePullBehavior string
	// ImageCleanupInterval, ImageMinimumCleanupAge and ImagesPerCleanup
	// are ECS_IMAGE_CLEANUP_INTERVAL, ECS_IMAGE_MINIMUM_CLEANUP_AGE and
	// ECS_NUM_IMAGES_DELETE_PER_CYCLE; an interval of 0 turns the
	// clean-up off (ECS_DISABLE_IMAGE_CLEANUP).
	ImageCleanupInterval   time.Duration
	ImageMinimumCleanupAge time.Duration
	ImagesPerCleanup       int
}

// DefaultContainerStopTimeout is the ECS agent's default
// ECS_CONTAINER_STOP_TIMEOUT.
const DefaultContainerStopTimeout = 30 * time.Second

// EnvECSContainerStopTimeout is the ECS agent's variable for
// ContainerStopTimeout, honoured when neither the flag nor its GANTRY_
// variable is set.
const EnvECSContainerStopTimeout = "ECS_CONTAINER_STOP_TIMEOUT"

// FargatePoolCluster is the hidden cluster the Fargate pool's hosts
// register into: an agent started with --capacity-provider FARGATE or
// FARGATE_SPOT joins it, whatever --cluster says. The server's
// ecs.FargatePoolCluster is the same name.
const FargatePoolCluster = "gantry-fargate-pool"

// DefaultSpotWarning is Fargate Spot's two-minute interruption warning.
const DefaultSpotWarning = 2 * time.Minute

// FargatePool reports whether the agent is a host of the Fargate pool
// (--capacity-provider FARGATE or FARGATE_SPOT).
func (c *Agent) FargatePool() bool {
	return c.CapacityProvider == "FARGATE" || c.CapacityProvider == "FARGATE_SPOT"
}

// JoinCluster is the cluster the agent registers into: the Fargate pool's
// for a pool host, else --cluster.
func (c *Agent) JoinCluster() string {
	if c.FargatePool() {
		return FargatePoolCluster
	}
	return c.Cluster
}

// DefaultAgent returns the defaults.
func DefaultAgent() Agent {
	return Agent{
		Server:               "http://127.0.0.1:8845",
		Cluster:              "default",
		DataDir:              "gantry-agent",
		Region:               "us-east-1",
		ReservedMemoryMiB:    256,
		InstanceType:         "gantry.host",
		Attributes:           map[string]string{},
		CleanupDelay:         3 * time.Hour,
		ContainerStopTimeout: DefaultContainerStopTimeout,
		SpotWarning:          DefaultSpotWarning,
		MetricsInterval:      10 * time.Second,
		LogSpoolSize:         1 << 30,
		ImagePullBehavior:    "default",

		ImageCleanupInterval:   30 * time.Minute,
		ImageMinimumCleanupAge: time.Hour,
		ImagesPerCleanup:       5,
	}
}

// RegisterFlags defines the agent's flags on fs, bound to c's fields, with
// c's values as their defaults. withServer adds --server, --data-dir and
// --region, which `gantry dev` sets itself.
func (c *Agent) RegisterFlags(fs *flag.FlagSet, withServer bool) {
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	if withServer {
		fs.StringVar(&c.Server, "server", c.Server, "URL of the control plane, or URLs of several of its servers separated by commas; the agent moves to another on a failed call and learns the live servers from the control plane")
		fs.StringVar(&c.CACert, "ca-cert", c.CACert, "PEM file of the CA to verify an https:// control plane against (e.g. its DATA_DIR/tls/ca.pem); default: the system's")
		fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the agent's identity")
		fs.StringVar(&c.Region, "region", c.Region, "region the agent signs its requests for")
	}
	fs.StringVar(&c.Cluster, "cluster", c.Cluster, "cluster to join")
	fs.IntVar(&c.CPU, "cpu", c.CPU, "CPU units to register (default: cores x 1024)")
	fs.IntVar(&c.MemoryMiB, "memory", c.MemoryMiB, "memory in MiB to register (default: the host's, less --reserved-memory)")
	fs.IntVar(&c.ReservedMemoryMiB, "reserved-memory", c.ReservedMemoryMiB, "MiB of the host's memory kept for the system")
	fs.StringVar(&c.AvailabilityZone, "availability-zone", c.AvailabilityZone, "ecs.availability-zone attribute (default: REGION + \"a\")")
	fs.StringVar(&c.InstanceType, "instance-type", c.InstanceType, "ecs.instance-type attribute")
	fs.StringVar(&c.HostAddress, "host-address", c.HostAddress, "address at which load balancers reach this host's published container ports (instance targets), the gantry.host-address attribute (default: this host's address on the route to --server; 127.0.0.1 when the server is on loopback)")
	fs.Var(mapFlag(c.Attributes), "attribute", "custom attribute NAME=VALUE (repeatable)")
	fs.BoolVar(&c.External, "external", c.External, "register as an external (ECS Anywhere) instance: an mi- ID, tasks of launch type EXTERNAL only")
	fs.StringVar(&c.CapacityProvider, "capacity-provider", c.CapacityProvider, "Auto Scaling group capacity provider this instance belongs to: tasks run through the provider are placed only on its instances; FARGATE or FARGATE_SPOT makes the host one of the Fargate pool's, which runs the FARGATE tasks of every cluster and is no container instance of any (--cluster is then ignored)")
	fs.DurationVar(&c.SpotWarning, "spot-warning", c.SpotWarning, "on a FARGATE_SPOT host, time between SIGTERM and SIGKILL for the tasks stopped by a reclamation of the host (stop code SpotInterruption)")
	fs.DurationVar(&c.CleanupDelay, "task-cleanup-wait", c.CleanupDelay, "how long a stopped task's containers are kept before removal (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION is read too)")
	fs.DurationVar(&c.CleanupJitter, "task-cleanup-wait-jitter", c.CleanupJitter, "a random duration of up to this much added to each task's cleanup wait (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER is read too)")
	fs.StringVar(&c.TaskMetadataListen, "task-metadata-listen", c.TaskMetadataListen, "address of the task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4): empty for the host's address on Docker's bridge network at a port kept in the data dir, off for none, or HOST[:PORT]")
	fs.StringVar(&c.ImagePullBehavior, "image-pull-behavior", c.ImagePullBehavior, "when to pull task images, as ECS_IMAGE_PULL_BEHAVIOR: default (pull; use the cached image if the pull fails), always (pull; fail if it fails), once (pull the first time this agent needs it), prefer-cached (pull only when not cached)")
	fs.DurationVar(&c.ImageCleanupInterval, "image-cleanup-interval", c.ImageCleanupInterval, "how often images the agent pulled and no container uses are removed (ECS_IMAGE_CLEANUP_INTERVAL); 0 turns the clean-up off")
	fs.DurationVar(&c.ImageMinimumCleanupAge, "image-minimum-cleanup-age", c.ImageMinimumCleanupAge, "how long after its pull an image may be removed (ECS_IMAGE_MINIMUM_CLEANUP_AGE)")
	fs.IntVar(&c.ImagesPerCleanup, "images-per-cleanup", c.ImagesPerCleanup, "most images removed by one clean-up (ECS_NUM_IMAGES_DELETE_PER_CYCLE)")
	fs.DurationVar(&c.ContainerStopTimeout, "container-stop-timeout", c.ContainerStopTimeout, "time between SIGTERM and SIGKILL for containers whose definition has no stopTimeout (ECS_CONTAINER_STOP_TIMEOUT is read too)")
	fs.StringVar(&c.DockerHost, "docker-host", c.DockerHost, "Docker Engine address (default: DOCKER_HOST or the local socket)")
	fs.DurationVar(&c.MetricsInterval, "metrics-interval", c.MetricsInterval, "how often the containers' CPU, memory, network and block I/O are sampled and sent to the control plane (CloudWatch AWS/ECS metrics); 0 turns it off")
	fs.Int64Var(&c.LogSpoolSize, "log-spool-size", c.LogSpoolSize, "bytes of --data-dir the awslogs containers' output may take while the server is unreachable, all containers together (beyond it non-blocking containers drop events and blocking ones leave the rest in Docker's rotated files); 0 for no spool")
	if withServer {
		// gantry dev has the server's --debug-listen.
		fs.StringVar(&c.DebugListen, "debug-listen", c.DebugListen, "loopback address to serve the agent's Prometheus metrics (/metrics) on; off when empty")
	}
}

// LoadCredentials sets the agent's access key from GANTRY_ACCESS_KEY_ID and
// GANTRY_SECRET_ACCESS_KEY.
func (c *Agent) LoadCredentials(lookup LookupEnv) {
	c.AccessKeyID, _ = lookup(EnvAccessKeyID)
	c.SecretAccessKey, _ = lookup(EnvSecretAccessKey)
}

// Complete fills in the defaults that depend on other fields: the
// availability zone is Region + "a" unless given.
func (c *Agent) Complete() {
	if c.AvailabilityZone == "" {
		c.AvailabilityZone = c.Region + "a"
	}
	if c.HostAddress == "" {
		c.HostAddress = routeAddress(c.Server)
	}
}

// hostNameRE matches a DNS host name.
var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// routeAddress is this host's address on the route to the host of the URL
// server: 127.0.0.1 when that host is a loopback address or localhost, or
// when no route is found. It sends nothing (a UDP socket is connected,
// which only picks the route).
func routeAddress(server string) string {
	const loopback = "127.0.0.1"
	first, _, _ := strings.Cut(server, ",") // --server may list several
	u, err := url.Parse(strings.TrimSpace(first))
	if err != nil || u.Hostname() == "" || u.Hostname() == "localhost" {
		return loopback
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
		return loopback
	}
	conn, err := net.Dial("udp4", net.JoinHostPort(u.Hostname(), "9"))
	if err != nil {
		return loopback
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP != nil && !a.IP.IsUnspecified() {
		return a.IP.String()
	}
	return loopback
}

// capacityProviderRE is the form of a capacity provider name.
var capacityProviderRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// Validate reports every problem with c at once.
func (c *Agent) Validate() error {
	var errs []error
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		errs = append(errs, errors.New("set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY to credentials the server accepts"))
	}
	servers := strings.Split(c.Server, ",")
	for _, s := range servers {
		s = strings.TrimSpace(s)
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			if len(servers) == 1 {
				errs = append(errs, fmt.Errorf("--server %q is not a URL such as http://127.0.0.1:8845", c.Server))
			} else {
				errs = append(errs, fmt.Errorf("--server %q: %q is not a URL such as http://127.0.0.1:8845", c.Server, s))
			}
		}
	}
	if h := c.HostAddress; h != "" && net.ParseIP(h) == nil && !hostNameRE.MatchString(h) {
		errs = append(errs, fmt.Errorf("--host-address %q is not an IP address or host name (no port)", h))
	}
	for _, v := range []struct {
		flag string
		n    int
	}{{"--cpu", c.CPU}, {"--memory", c.MemoryMiB}, {"--reserved-memory", c.ReservedMemoryMiB}} {
		if v.n < 0 || v.n > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("%s %d must be between 0 and %d", v.flag, v.n, math.MaxInt32))
		}
	}
	if c.CapacityProvider != "" && !capacityProviderRE.MatchString(c.CapacityProvider) {
		errs = append(errs, fmt.Errorf("--capacity-provider %q must be 1 to 255 letters, numbers, underscores and hyphens", c.CapacityProvider))
	}
	if c.SpotWarning <= 0 {
		errs = append(errs, fmt.Errorf("--spot-warning %s must be positive", c.SpotWarning))
	}
	if c.External && c.CapacityProvider != "" {
		errs = append(errs, errors.New("--external and --capacity-provider are exclusive: external instances belong to no Auto Scaling group capacity provider"))
	}
	switch c.ImagePullBehavior {
	case "default", "always", "once", "prefer-cached":
	default:
		errs = append(errs, fmt.Errorf("--image-pull-behavior %q must be default, always, once or prefer-cached", c.ImagePullBehavior))
	}
	if c.ImageCleanupInterval != 0 && c.ImageCleanupInterval < time.Minute {
		errs = append(errs, fmt.Errorf("--image-cleanup-interval %v must be 0 (off) or at least 1m", c.ImageCleanupInterval))
	}
	if c.ImageMinimumCleanupAge < 0 || c.ImagesPerCleanup < 1 {
		errs = append(errs, errors.New("--image-minimum-cleanup-age must not be negative and --images-per-cleanup at least 1"))
	}
	if c.ContainerStopTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--container-stop-timeout %v must be positive", c.ContainerStopTimeout))
	}
	if c.CleanupDelay < 0 {
		errs = append(errs, fmt.Errorf("--task-cleanup-wait %v must not be negative", c.CleanupDelay))
	}
	if c.CleanupJitter < 0 {
		errs = append(errs, fmt.Errorf("--task-cleanup-wait-jitter %v must not be negative", c.CleanupJitter))
	}
	if err := validateMetadataListen(c.TaskMetadataListen); err != nil {
		errs = append(errs, err)
	}
	if c.LogSpoolSize < 0 {
		errs = append(errs, fmt.Errorf("--log-spool-size %d must not be negative", c.LogSpoolSize))
	}
	if c.MetricsInterval != 0 && c.MetricsInterval < time.Second {
		errs = append(errs, fmt.Errorf("--metrics-interval %v must be at least 1s (or 0: off)", c.MetricsInterval))
	}
	if c.DebugListen != "" {
		if h, _, err := net.SplitHostPort(c.DebugListen); err != nil || !IsLoopback(h) {
			errs = append(errs, fmt.Errorf("--debug-listen %q must be a loopback address", c.DebugListen))
		}
	}
	return errors.Join(errs...)
}

// validateMetadataListen checks --task-metadata-listen: empty, "off", an
// IP address, or an IP address and port.
func validateMetadataListen(v string) error {
	if v == "" || v == "off" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = v, "0"
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("--task-metadata-listen %q must be empty, off, or an IP address with an optional port", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--task-metadata-listen %q has an invalid port", v)
	}
	return nil
}
