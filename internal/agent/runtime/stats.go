package runtime

import (
	"context"
	"encoding/json"
	"time"
)

// ContainerStats is one reading of a container's resource counters. The
// counters are cumulative since the container started, except MemoryBytes,
// which is the memory in use when read.
type ContainerStats struct {
	// Time is when the runtime read the counters.
	Time time.Time
	// CPUNanos is the CPU time the container's processes used, in
	// nanoseconds.
	CPUNanos uint64
	// MemoryBytes is the memory in use without the page cache the kernel
	// may reclaim (usage less inactive file pages, as `docker stats`
	// shows it); MemoryLimitBytes the container's limit (the host's memory
	// when it has none).
	MemoryBytes      uint64
	MemoryLimitBytes uint64
	// NetworkRxBytes and NetworkTxBytes are the bytes received and sent
	// over every interface of the container's network namespace; zero for
	// a container that shares another's namespace (an awsvpc task's
	// containers: the pause container carries the task's network).
	NetworkRxBytes uint64
	NetworkTxBytes uint64
	// BlockReadBytes and BlockWriteBytes are the bytes read from and
	// written to block devices.
	BlockReadBytes  uint64
	BlockWriteBytes uint64
}

// StatsReader is a runtime that reports its containers' resource usage:
// the agent samples it for the AWS/ECS utilisation metrics.
type StatsReader interface {
	// ContainerStats reads container id's counters once, without waiting
	// for a second reading. An unknown container is an error wrapping
	// ErrNotFound.
	ContainerStats(ctx context.Context, id string) (ContainerStats, error)
}

// StatsJSONReader is a runtime that reports a container's resource usage
// in the Docker Engine's own stats JSON, which the task metadata endpoint
// relays as the ECS agent does.
type StatsJSONReader interface {
	// ContainerStatsJSON returns one reading of container id's stats, with
	// the previous reading's CPU counters (precpu_stats) filled in, as the
	// Engine writes it. An unknown container is an error wrapping
	// ErrNotFound.
	ContainerStatsJSON(ctx context.Context, id string) (json.RawMessage, error)
}
