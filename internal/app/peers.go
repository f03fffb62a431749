package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/peers"
)

// startPeers makes this server's reads of log events and of CloudWatch
// datapoints answer from every live server: it gives the logs and
// CloudWatch APIs a peers.Client over the live set (servers.go) and
// returns the peers.Server that answers the other servers, both keyed
// with the cluster's peer key in etcd.
func (s *Server) startPeers() (*peers.Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := peers.Key(ctx, s.ECS.Store)
	if err != nil {
		return nil, fmt.Errorf("peer key: %w", err)
	}
	logger := s.logger.With("service", "peers")
	srv := peers.NewServer(key, logger)
	s.Logs.RegisterPeerOps(srv)
	// Dedicated data planes (`gantry lb`) send their metrics here.
	srv.Handle(peerOpLBMetrics, s.handleLBMetrics)
	st := s.ECS.Store
	s.Logs.Self = s.AdvertiseURL
	client := &peers.Client{Self: s.AdvertiseURL, Key: key, Logger: logger,
		Live: func(ctx context.Context) ([]string, error) { return liveServers(ctx, st) }}
	s.Logs.Peers = client
	// Deletions and retention changes made while this server was down
	// (recorded in etcd) apply to its log store before it answers.
	s.Logs.Records = st
	if err := s.Logs.Reconcile(ctx); err != nil {
		logger.Warn("reconcile the log store with the records in etcd", "err", err)
	}
	// CloudWatch's reads of datapoints and metrics likewise, and the
	// arrival of datapoints for the leading alarm evaluator.
	if s.CloudWatch != nil {
		s.CloudWatch.RegisterPeerOps(srv)
		s.CloudWatch.Peers = client
	}
	return srv, nil
}

// withPeers sends the requests under peers.Prefix to p, the rest to next.
func withPeers(next http.Handler, p *peers.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, peers.Prefix) {
			p.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
