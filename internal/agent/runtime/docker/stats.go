package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

var (
	_ runtime.StatsReader     = (*Runtime)(nil)
	_ runtime.StatsJSONReader = (*Runtime)(nil)
)

// ContainerStatsJSON reads one non-streamed stats answer of the container
// (stream=0 without one-shot: the Engine waits for its next reading so
// that precpu_stats holds the previous one, as the ECS agent's stats
// engine relays it) and returns it unchanged.
func (r *Runtime) ContainerStatsJSON(ctx context.Context, id string) (json.RawMessage, error) {
	resp, err := r.cli.ContainerStats(ctx, id, false)
	if err != nil {
		return nil, wrap(runtime.CannotGetContainerStatsError, err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&raw); err != nil {
		return nil, wrap(runtime.CannotGetContainerStatsError, fmt.Errorf("decode stats of %s: %w", id, err))
	}
	return raw, nil
}

// ContainerStats reads the container's counters with one one-shot stats
// request (stream=0, one-shot=1): the Engine answers at once, without the
// second reading it otherwise waits a second for; the caller computes
// rates from its own previous reading. Measured against one stream per
// container in docs/performance.md ("Utilisation sampling").
func (r *Runtime) ContainerStats(ctx context.Context, id string) (runtime.ContainerStats, error) {
	resp, err := r.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return runtime.ContainerStats{}, wrap(runtime.CannotGetContainerStatsError, err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return runtime.ContainerStats{}, wrap(runtime.CannotGetContainerStatsError, fmt.Errorf("decode stats of %s: %w", id, err))
	}
	return statsOf(&s), nil
}

// StreamStats calls fn with every reading of the container's stats stream
// (one a second, as the Engine sends them) until ctx ends or the stream
// does. It is the alternative ContainerStats was measured against.
func (r *Runtime) StreamStats(ctx context.Context, id string, fn func(runtime.ContainerStats)) error {
	resp, err := r.cli.ContainerStats(ctx, id, true)
	if err != nil {
		return wrap(runtime.CannotGetContainerStatsError, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return wrap(runtime.CannotGetContainerStatsError, err)
		}
		fn(statsOf(&s))
	}
}

// statsOf maps the Engine's stats answer (cgroup v1 or v2).
func statsOf(s *container.StatsResponse) runtime.ContainerStats {
	out := runtime.ContainerStats{
		Time:             s.Read,
		CPUNanos:         s.CPUStats.CPUUsage.TotalUsage,
		MemoryBytes:      s.MemoryStats.Usage,
		MemoryLimitBytes: s.MemoryStats.Limit,
	}
	// What `docker stats` subtracts: inactive_file (cgroup v2) or
	// total_inactive_file (v1), the page cache the kernel may reclaim.
	cache, ok := s.MemoryStats.Stats["inactive_file"]
	if !ok {
		cache = s.MemoryStats.Stats["total_inactive_file"]
	}
	if cache < out.MemoryBytes {
		out.MemoryBytes -= cache
	}
	for _, n := range s.Networks {
		out.NetworkRxBytes += n.RxBytes
		out.NetworkTxBytes += n.TxBytes
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			out.BlockReadBytes += e.Value
		case "write":
			out.BlockWriteBytes += e.Value
		}
	}
	return out
}
