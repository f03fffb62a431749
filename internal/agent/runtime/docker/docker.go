package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// Labels the runtime puts on what it creates. The com.amazonaws.ecs ones are
// the ECS agent's own, so tools written for ECS hosts keep working.
const (
	// LabelTaskARN holds the task's ARN (containers and task volumes).
	LabelTaskARN = "com.amazonaws.ecs.task-arn"
	// LabelContainerName holds the container's name in the task definition
	// (runtime.PauseContainerName for pause containers).
	LabelContainerName = "com.amazonaws.ecs.container-name"
	// LabelFamily holds the task definition's family.
	LabelFamily = "com.amazonaws.ecs.task-definition-family"
	// LabelRevision holds the task definition's revision, in decimal.
	LabelRevision = "com.amazonaws.ecs.task-definition-version"
	// LabelCluster holds the task's cluster.
	LabelCluster = "com.amazonaws.ecs.cluster"
	// LabelInstance holds Config.InstanceID: which agent owns the object.
	LabelInstance = "dev.gantry.instance"
	// LabelVolume holds the task definition's name of a task volume.
	LabelVolume = "dev.gantry.volume"
	// LabelManaged marks the objects the runtime shares between tasks and
	// agents: the awsvpc network and the pause image.
	LabelManaged = "dev.gantry.managed"
)

// Defaults of Config.
const (
	// DefaultStopTimeout is the ECS agent's default ECS_CONTAINER_STOP_TIMEOUT.
	DefaultStopTimeout = 30 * time.Second
	// DefaultAWSVPCNetwork is the bridge network awsvpc tasks are attached to.
	DefaultAWSVPCNetwork = "gantry-awsvpc"
	// DefaultPauseImage is the image of awsvpc pause containers, built
	// locally by the runtime (see PrepareTask) when it is missing.
	DefaultPauseImage = "gantry/pause:v1"
)

// Config configures a Runtime.
type Config struct {
	// InstanceID identifies the agent (its container instance ARN or ID).
	// Every container and task volume the runtime creates is labelled with
	// it, and the runtime only lists, watches and cleans up objects with
	// its own InstanceID. Required.
	InstanceID string
	// Host is the Docker Engine's address ("unix:///var/run/docker.sock");
	// empty means DOCKER_HOST or the platform default.
	Host string
	// StopTimeout is the time between the stop signal and SIGKILL for
	// containers whose definition has no stopTimeout. Zero means
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// AWSVPCNetwork is the Docker bridge network that gives each awsvpc task
	// its own address; created if missing. Empty means DefaultAWSVPCNetwork.
	AWSVPCNetwork string
	// AWSVPCSubnet is the IPv4 prefix of AWSVPCNetwork when the runtime
	// creates it (for example "172.31.240.0/20"); empty lets Docker choose.
	AWSVPCSubnet string
	// PauseImage is the image of awsvpc pause containers. Empty means
	// DefaultPauseImage, built locally when missing; any other image is
	// pulled when missing and must keep running until killed.
	PauseImage string
	// NoLocalLogFiles makes ReadLogs always read through the Engine API,
	// never the local log driver's files directly.
	NoLocalLogFiles bool
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
	// PullBehavior is the ECS agent's ECS_IMAGE_PULL_BEHAVIOR: PullDefault
	// (the default when empty), PullAlways, PullOnce or PullPreferCached.
	PullBehavior string
	// WarmPause is how many awsvpc pause containers the runtime keeps
	// started ahead of any task (RunWarmPause) for PrepareTask to claim;
	// 0 for none. A Fargate pool host keeps a few.
	WarmPause int
	// TaskCgroups gives each Fargate task a cgroup of its own holding the
	// task's cpu and memory as hard limits, its containers in it, when the
	// Docker Engine uses the cgroupfs driver on this host (see
	// taskcgroup.go); else each container has its share of them.
	TaskCgroups bool
	// CgroupRoot is where the cgroup file systems are mounted on this host;
	// empty means /sys/fs/cgroup.
	CgroupRoot string
	// Images, when set, maps image names to what Docker pulls and gives
	// the registry login to pull them with (ecrauth.Resolver).
	Images ImageResolver
}

// Runtime is the runtime.Runtime of the Docker Engine, through its Go SDK
// with API version negotiation (Docker Engine 20.10, API 1.41, and later).
type Runtime struct {
	cli *client.Client
	cfg Config
	log *slog.Logger

	// setupMu serialises the creation of the shared awsvpc network and of
	// the pause image within this process.
	setupMu sync.Mutex

	// pulledMu guards pulled: the references this runtime pulled and
	// when (for PullOnce and the image clean-up).
	pulledMu sync.Mutex
	pulled   map[string]time.Time

	// warmMu guards warm, the started unclaimed warm pause containers;
	// warmKick asks RunWarmPause for another.
	warmMu   sync.Mutex
	warm     []string
	warmKick chan struct{}

	// cgroups manages the Fargate tasks' cgroups.
	cgroups *taskCgroups
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime for cfg. It does not contact the Docker Engine; the
// API version is negotiated on the first call.
func New(cfg Config) (*Runtime, error) {
	if cfg.InstanceID == "" {
		return nil, errors.New("docker runtime: InstanceID is required")
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.AWSVPCNetwork == "" {
		cfg.AWSVPCNetwork = DefaultAWSVPCNetwork
	}
	if cfg.PauseImage == "" {
		cfg.PauseImage = DefaultPauseImage
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PullBehavior == "" {
		cfg.PullBehavior = PullDefault
	}
	if !ValidPullBehavior(cfg.PullBehavior) {
		return nil, fmt.Errorf("docker runtime: unknown image pull behaviour %q", cfg.PullBehavior)
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	r := &Runtime{cli: cli, cfg: cfg, log: cfg.Logger.With("instance", cfg.InstanceID), pulled: map[string]time.Time{},
		warmKick: make(chan struct{}, 1)}
	r.cgroups = newTaskCgroups(r)
	return r, nil
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Client returns the Docker client the runtime uses, for callers that need
// calls outside runtime.Runtime (stats, logs).
func (r *Runtime) Client() *client.Client { return r.cli }

// ServerVersion returns the Docker Engine's version ("20.10.24"), which the
// agent reports as its dockerVersion.
func (r *Runtime) ServerVersion(ctx context.Context) (string, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker version: %w", err)
	}
	return v.Version, nil
}

// taskLabels are the labels of every container of task.
func (r *Runtime) taskLabels(task *runtime.Task, container string) map[string]string {
	return map[string]string{
		LabelTaskARN:       task.Arn,
		LabelContainerName: container,
		LabelFamily:        task.Definition.Family,
		LabelRevision:      strconv.Itoa(int(task.Definition.Revision)),
		LabelCluster:       task.Cluster,
		LabelInstance:      r.cfg.InstanceID,
	}
}

// invalidName matches what the ECS agent strips from container names;
// invalidFamily what Docker does not allow in a name.
var (
	invalidName   = regexp.MustCompile(`[^A-Za-z0-9-]+`)
	invalidFamily = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
)

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runtimeName returns a Docker name for the container (or volume) called
// name of task, ecs-<family>-<revision>-<name>-<20 hex digits> as the ECS
// agent names them.
func runtimeName(task *runtime.Task, name string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	family := invalidFamily.ReplaceAllString(task.Definition.Family, "")
	return fmt.Sprintf("ecs-%s-%d-%s-%s", family, task.Definition.Revision,
		invalidName.ReplaceAllString(name, ""), hex.EncodeToString(b[:]))
}
