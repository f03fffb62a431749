package etcdembed

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// Cluster makes the embedded member one of several: the servers' members
// form one etcd cluster, so that a highly available install runs no etcd
// of its own. The fields are etcd's flags of the same names.
type Cluster struct {
	// Name is this member's name in InitialCluster.
	Name string
	// InitialCluster is name=peerURL,... of the members.
	InitialCluster string
	// State is "new" or "existing" (joining after `etcdctl member add`).
	State string
	// Token is the initial cluster token: members of a new cluster share
	// it, and it is part of the cluster's ID.
	Token string
	// ListenPeerURLs default to AdvertisePeerURLs; AdvertisePeerURLs to
	// this member's URL in InitialCluster.
	ListenPeerURLs, AdvertisePeerURLs []string
	// ListenClientURLs are extra client listeners (etcdctl on the host).
	ListenClientURLs []string
	// PeerTLS is the peer listener's and peer client's TLS (https peer
	// URLs); zero for plain http.
	PeerTLS transport.TLSInfo
}

// peers returns the members of InitialCluster by name.
func (c *Cluster) peers() (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(c.InitialCluster, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("--etcd-initial-cluster: %q is not name=peerURL", part)
		}
		out[name] = u
	}
	return out, nil
}

func parseURLs(raw []string) ([]url.URL, error) {
	out := make([]url.URL, 0, len(raw))
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}

// apply sets cfg up as this member.
func (c *Cluster) apply(cfg *embed.Config) error {
	peers, err := c.peers()
	if err != nil {
		return err
	}
	mine, ok := peers[c.Name]
	if !ok {
		return fmt.Errorf("--etcd-initial-cluster does not list this member (%s)", c.Name)
	}
	adv := c.AdvertisePeerURLs
	if len(adv) == 0 {
		adv = []string{mine}
	}
	lis := c.ListenPeerURLs
	if len(lis) == 0 {
		lis = adv
	}
	if cfg.AdvertisePeerUrls, err = parseURLs(adv); err != nil {
		return fmt.Errorf("--etcd-advertise-peer-urls: %w", err)
	}
	if cfg.ListenPeerUrls, err = parseURLs(lis); err != nil {
		return fmt.Errorf("--etcd-listen-peer-urls: %w", err)
	}
	extra, err := parseURLs(c.ListenClientURLs)
	if err != nil {
		return fmt.Errorf("--etcd-listen-client-urls: %w", err)
	}
	cfg.ListenClientUrls = append(cfg.ListenClientUrls, extra...)
	cfg.AdvertiseClientUrls = append(cfg.AdvertiseClientUrls, extra...)
	cfg.Name = c.Name
	cfg.InitialCluster = c.InitialCluster
	cfg.ClusterState = c.State
	cfg.InitialClusterToken = c.Token
	cfg.PeerTLSInfo = c.PeerTLS
	// Pre-vote keeps a partitioned member that comes back from deposing
	// a healthy leader; strict reconfiguration refuses a member change
	// that would lose the quorum (both etcd's defaults, said here).
	cfg.PreVote = true
	cfg.StrictReconfigCheck = true
	// Errors only: a member waiting for its peers logs much at warning.
	cfg.LogLevel = "error"
	return nil
}

// waitReady waits until the member has joined a cluster with a quorum.
// It probes the other members' peer URLs meanwhile: a member that answers
// with another cluster ID (another token or member list, or a data
// directory of another cluster) stops the start with an error, rather
// than leaving two clusters that never merge.
func (c *Cluster) waitReady(ctx context.Context, e *embed.Etcd, logger *slog.Logger) error {
	peers, err := c.peers()
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if !c.PeerTLS.Empty() {
		tc, err := c.PeerTLS.ClientConfig()
		if err != nil {
			return fmt.Errorf("etcd peer TLS: %w", err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	lastLog := start
	for {
		select {
		case <-e.Server.ReadyNotify():
			logger.Info("embedded etcd member joined its cluster", "name", c.Name, "cluster_id", e.Server.Cluster().ID().String(),
				"members", len(e.Server.Cluster().Members()), "after", time.Since(start).Round(time.Millisecond))
			return nil
		case err := <-e.Err():
			return fmt.Errorf("embedded etcd member %s: %w", c.Name, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ours := e.Server.Cluster().ID().String()
		reached := 0
		for name, u := range peers {
			if name == c.Name {
				continue
			}
			theirs, err := clusterIDOf(ctx, hc, u)
			if err != nil {
				continue
			}
			reached++
			if theirs != ours {
				return fmt.Errorf("embedded etcd member %s: member %s at %s belongs to cluster %s, this one to cluster %s: "+
					"the members disagree on --etcd-initial-cluster or --etcd-initial-cluster-token, or one has a data directory of another cluster; "+
					"refusing to start rather than split", c.Name, name, u, theirs, ours)
			}
		}
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			logger.Warn("embedded etcd member waits for a quorum of its cluster", "name", c.Name, "peers_reached", reached,
				"members", len(peers), "waited", time.Since(start).Round(time.Second))
		}
	}
}

// clusterIDOf asks a member's peer listener for its cluster ID (the
// X-Etcd-Cluster-ID header of its /members answer).
func clusterIDOf(ctx context.Context, hc *http.Client, peerURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(peerURL, "/")+"/members", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Etcd-Cluster-ID")
	if id == "" {
		return "", fmt.Errorf("%s answered no cluster ID", peerURL)
	}
	return id, nil
}
