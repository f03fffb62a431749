package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// serversPrefix holds one key per live server of the control plane, its
// advertised URL, on a lease of the server's: a server that dies drops out
// of the set when its lease expires (serverTTL).
var serversPrefix = store.Key("servers") + "/"

// serverTTL is the lease of a server's entry in the live set.
const serverTTL = 5 * time.Second

// serverKey is the key of the server advertised at url.
func serverKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return serversPrefix + hex.EncodeToString(sum[:8])
}

// publishServer keeps url in the live set while ctx lasts: a lease of
// serverTTL, kept alive, with the key on it; a new lease and key when the
// lease is lost (the store unreachable for longer than serverTTL). The key
// is removed (its lease revoked) when ctx ends.
func publishServer(ctx context.Context, st *store.Store, url string, logger *slog.Logger) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		lease, err := st.Grant(ctx, serverTTL)
		var kept <-chan struct{}
		if err == nil {
			kept, err = st.KeepAlive(ctx, lease)
		}
		if err == nil {
			_, err = st.Txn(ctx, nil, store.OpPutLeased(serverKey(url), []byte(url), lease))
		}
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("publish this server in the live set", "url", url, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			delay = min(2*delay, 2*time.Second)
			continue
		}
		delay = 100 * time.Millisecond
		<-kept
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = st.Revoke(rctx, lease)
			cancel()
		}
	}
}

// liveServers returns the advertised URLs of the live servers, sorted.
func liveServers(ctx context.Context, st *store.Store) ([]string, error) {
	r, err := st.Range(ctx, store.Range{From: serversPrefix, End: store.PrefixEnd(serversPrefix)})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.Items))
	for _, it := range r.Items {
		out = append(out, string(it.Value))
	}
	sort.Strings(out)
	return out, nil
}

// GantryDiscoverPollEndpoints answers, beside DiscoverPollEndpoint's one
// endpoint (this server's), the advertised URLs of every live server, so
// that an agent learns the servers that joined and drops those gone.
func (h ecsHandler) GantryDiscoverPollEndpoints(ctx context.Context, in *ecsapi.GantryDiscoverPollEndpointsRequest) (*ecsapi.GantryDiscoverPollEndpointsResponse, error) {
	one, err := h.DiscoverPollEndpoint(ctx, &ecsapi.DiscoverPollEndpointRequest{Cluster: in.Cluster, ContainerInstance: in.ContainerInstance})
	if err != nil {
		return nil, err
	}
	live, err := liveServers(ctx, h.Store)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.GantryDiscoverPollEndpointsResponse{Endpoint: one.Endpoint, Endpoints: []string{one.Endpoint}}
	for _, u := range live {
		if u != one.Endpoint {
			out.Endpoints = append(out.Endpoints, u)
		}
	}
	return out, nil
}
