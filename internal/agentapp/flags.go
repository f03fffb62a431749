package agentapp

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent"
)

// attrFlag collects --attribute NAME=VALUE.
type attrFlag map[string]string

func (a attrFlag) String() string { return fmt.Sprint(map[string]string(a)) }

func (a attrFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	a[k] = val
	return nil
}

// Flags are the agent's command-line flags.
type Flags struct {
	// Config is filled in by the flags; call Finish after parsing.
	Config     agent.Config
	DockerHost string
	attrs      attrFlag
	cpu, mem   int
	reserve    int
}

// AddFlags defines the agent's flags on fs. withServer adds --server,
// --data-dir and --region, which `gantry dev` sets itself.
func AddFlags(fs *flag.FlagSet, withServer bool) *Flags {
	f := &Flags{attrs: attrFlag{}}
	if withServer {
		fs.StringVar(&f.Config.Server, "server", "http://127.0.0.1:8845", "URL of the control plane")
		fs.StringVar(&f.Config.DataDir, "data-dir", "gantry-agent", "directory of the agent's identity")
		fs.StringVar(&f.Config.Region, "region", "us-east-1", "region the agent signs its requests for")
	}
	fs.StringVar(&f.Config.Cluster, "cluster", "default", "cluster to join")
	fs.IntVar(&f.cpu, "cpu", 0, "CPU units to register (default: cores x 1024)")
	fs.IntVar(&f.mem, "memory", 0, "memory in MiB to register (default: the host's, less --reserved-memory)")
	fs.IntVar(&f.reserve, "reserved-memory", 256, "MiB of the host's memory kept for the system")
	fs.StringVar(&f.Config.AvailabilityZone, "availability-zone", "", "ecs.availability-zone attribute (default: REGION + \"a\")")
	fs.StringVar(&f.Config.InstanceType, "instance-type", "gantry.host", "ecs.instance-type attribute")
	fs.Var(f.attrs, "attribute", "custom attribute NAME=VALUE (repeatable)")
	fs.DurationVar(&f.Config.CleanupDelay, "task-cleanup-wait", 3*time.Hour, "how long a stopped task's containers are kept before removal")
	fs.StringVar(&f.DockerHost, "docker-host", "", "Docker Engine address (default: DOCKER_HOST or the local socket)")
	return f
}

// Finish completes Config from the parsed flags.
func (f *Flags) Finish() {
	f.Config.CPU = int32(f.cpu)
	f.Config.MemoryMiB = int32(f.mem)
	f.Config.ReservedMemoryMiB = int32(f.reserve)
	f.Config.Attributes = f.attrs
	if f.Config.AvailabilityZone == "" {
		f.Config.AvailabilityZone = f.Config.Region + "a"
	}
}
