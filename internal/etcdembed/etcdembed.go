// Package etcdembed runs the single etcd member that `gantry server` embeds by
// default, with its data in a directory of the caller's and its client and
// peer listeners on loopback.
package etcdembed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// MaxTxnOps is the embedded member's limit on operations per transaction.
const MaxTxnOps = 4096

// Server is a running embedded etcd member.
type Server struct {
	etcd   *embed.Etcd
	client *clientv3.Client
	// ClientURL is where other processes may reach the member.
	ClientURL string
}

// Start starts a member with its data in dir (created if missing) and waits
// until it is ready or ctx is done. Its listeners bind to free loopback ports.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "gantry"
	cfg.Dir = filepath.Join(dir, "etcd")
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cport)}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pport)}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "fatal"
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{"stderr"}
	// Keep the store small: compact history older than an hour.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"
	cfg.QuotaBackendBytes = 8 << 30
	cfg.MaxRequestBytes = 8 << 20
	// Placements are committed in batches of many operations.
	cfg.MaxTxnOps = MaxTxnOps
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready after 60s")
	}
	logger.Info("embedded etcd ready", "dir", cfg.Dir, "client_url", cu.String())
	return &Server{etcd: e, client: v3client.New(e.Server), ClientURL: cu.String()}, nil
}

// Client returns an in-process client of the member (no network hop).
func (s *Server) Client() *clientv3.Client { return s.client }

// Close stops the member and waits for it to finish.
func (s *Server) Close() {
	s.client.Close()
	s.etcd.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
