package tmds

import (
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Version 4's stats add network_rate_stats to Docker's stats of a
// container (the ECS agent's state.StatsResponse): its received and sent
// bytes per second over all its networks. The ECS agent takes them from
// its stats engine's samples; this server keeps, per container, the
// counters of the previous stats it relayed and divides the difference by
// the time between the two Docker "read" stamps. The first stats of a
// container (nothing to compare with) and stats without networks (host
// mode) have no network_rate_stats, as the ECS agent omits them when it
// has none.

// NetworkRateStats is version 4's network_rate_stats.
type NetworkRateStats struct {
	RxBytesPerSecond float64 `json:"rx_bytes_per_sec"`
	TxBytesPerSecond float64 `json:"tx_bytes_per_sec"`
}

// netSample is a container's network counters at a Docker read time.
type netSample struct {
	read   time.Time
	rx, tx uint64
}

// netRates keeps the last sample of each container.
type netRates struct {
	mu   sync.Mutex
	last map[string]netSample
}

// maxNetSamples bounds the samples kept; past it the oldest half goes.
const maxNetSamples = 4096

// dockerNetStats is the part of Docker's stats JSON rates are made from.
type dockerNetStats struct {
	Read     time.Time `json:"read"`
	Networks map[string]struct {
		RxBytes uint64 `json:"rx_bytes"`
		TxBytes uint64 `json:"tx_bytes"`
	} `json:"networks"`
}

// add returns raw, Docker's stats of container id, with
// network_rate_stats added when an earlier sample of id allows it, and
// keeps this sample for the next call.
func (n *netRates) add(id string, raw json.RawMessage) json.RawMessage {
	var st dockerNetStats
	if err := json.Unmarshal(raw, &st); err != nil || len(st.Networks) == 0 || st.Read.IsZero() {
		return raw
	}
	cur := netSample{read: st.Read}
	for _, nw := range st.Networks {
		cur.rx += nw.RxBytes
		cur.tx += nw.TxBytes
	}
	n.mu.Lock()
	prev, ok := n.last[id]
	if !ok || cur.read.After(prev.read) {
		if n.last == nil {
			n.last = map[string]netSample{}
		}
		if len(n.last) >= maxNetSamples {
			n.evictOldest()
		}
		n.last[id] = cur
	}
	n.mu.Unlock()
	if !ok || !cur.read.After(prev.read) {
		return raw
	}
	secs := cur.read.Sub(prev.read).Seconds()
	rate := NetworkRateStats{RxBytesPerSecond: perSecond(prev.rx, cur.rx, secs), TxBytesPerSecond: perSecond(prev.tx, cur.tx, secs)}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return raw
	}
	b, err := json.Marshal(rate)
	if err != nil {
		return raw
	}
	doc["network_rate_stats"] = b
	out, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return out
}

// perSecond is the rate of a counter from a to b over secs; a counter
// that went back (the container restarted) counts from 0.
func perSecond(a, b uint64, secs float64) float64 {
	if b < a {
		a = 0
	}
	return float64(b-a) / secs
}

// evictOldest drops the older half of the samples. Called with mu held.
func (n *netRates) evictOldest() {
	var times []time.Time
	for _, s := range n.last {
		times = append(times, s.read)
	}
	// The median read time splits them; ties may drop a few more.
	cut := quickMedian(times)
	for id, s := range n.last {
		if !s.read.After(cut) {
			delete(n.last, id)
		}
	}
}

func quickMedian(ts []time.Time) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	c := slices.Clone(ts)
	slices.SortFunc(c, time.Time.Compare)
	return c[len(c)/2]
}
