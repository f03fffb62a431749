// Package etcdembed runs the etcd member that `gantry server` embeds: by
// default a single member, with its data in a directory of the caller's and
// its client and peer listeners on loopback; with Options.Cluster one of
// several members the servers form a cluster from.
package etcdembed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.etcd.io/etcd/server/v3/storage/wal"
)

// MaxTxnOps is the embedded member's limit on operations per transaction.
const MaxTxnOps = 4096

// DefaultQuotaBytes is the default backend quota (Options.QuotaBytes).
const DefaultQuotaBytes = 2 << 30

// WALSegmentBytes is the size of the member's WAL segment files, which
// etcd preallocates in full: 16 MiB instead of etcd's 64 MB, so that small
// volumes are usable. etcd keeps up to five segments.
const WALSegmentBytes = 16 << 20

// setWALSegment sets etcd's WAL segment size (a variable of its wal
// package) once, before any member starts.
var setWALSegment sync.Once

// Options adjust Start.
type Options struct {
	// QuotaBytes is the backend quota: past it etcd raises its NOSPACE
	// alarm and refuses writes that put keys (reads and deletes go on).
	// 0 means DefaultQuotaBytes.
	QuotaBytes int64
	// Cluster, when set, makes the member one of several (cluster.go);
	// nil is the single member with its peer listener on loopback.
	Cluster *Cluster
}

// Server is a running embedded etcd member.
type Server struct {
	etcd   *embed.Etcd
	client *clientv3.Client
	// ClientURL is where other processes of the same user may reach the
	// member: a Unix socket (unix:///PATH) in a directory only that user
	// may enter.
	ClientURL string
	sockDir   string
}

// Start starts a member with its data in dir (created if missing) and waits
// until it is ready or ctx is done. Its listeners bind to free loopback ports.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Server, error) {
	return StartWithOptions(ctx, dir, Options{}, logger)
}

// StartWithOptions is Start with options.
func StartWithOptions(ctx context.Context, dir string, opts Options, logger *slog.Logger) (*Server, error) {
	setWALSegment.Do(func() { wal.SegmentSizeBytes = WALSegmentBytes })
	if opts.QuotaBytes == 0 {
		opts.QuotaBytes = DefaultQuotaBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	// The member's data API is reachable only by this process's user: its
	// client listener is a Unix socket in a private directory (mode 0700,
	// socket 0600), not a loopback port any local user could reach. The
	// server itself talks to it in-process (Client).
	sockDir, err := os.MkdirTemp("", "gantry-etcd-")
	if err != nil {
		return nil, fmt.Errorf("etcd socket directory: %w", err)
	}
	if err := os.Chmod(sockDir, 0o700); err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "gantry"
	cfg.Dir = filepath.Join(dir, "etcd")
	// etcd wants host:port even of a socket: the ":0" is part of the
	// socket's file name.
	csock := filepath.Join(sockDir, "client.sock") + ":0"
	cu := url.URL{Scheme: "unix", Host: csock}
	// The peer listener stays on a loopback port: etcd's peer URLs must be
	// host:port and are compared as written across its configuration,
	// which a socket path does not survive. A single member sends no peer
	// traffic; the port is not the data API.
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.LogLevel = "fatal"
	if opts.Cluster != nil {
		if err := opts.Cluster.apply(cfg); err != nil {
			return nil, err
		}
	} else {
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pport)}
		cfg.ListenPeerUrls = []url.URL{pu}
		cfg.AdvertisePeerUrls = []url.URL{pu}
		cfg.InitialCluster = cfg.Name + "=" + pu.String()
	}
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{"stderr"}
	// Keep the store small: compact history older than an hour.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"
	cfg.QuotaBackendBytes = opts.QuotaBytes
	cfg.MaxRequestBytes = 8 << 20
	// Placements are committed in batches of many operations.
	cfg.MaxTxnOps = MaxTxnOps
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	if opts.Cluster != nil {
		// A member of several is ready once a quorum has formed, which
		// waits for the other servers: no deadline, but a member that
		// reaches another cluster's peers stops at once.
		if err := opts.Cluster.waitReady(ctx, e, logger); err != nil {
			// etcd's Close waits for client servers that start only
			// once the member is ready: stop the member and let Close
			// finish (or not) on its own.
			e.Server.HardStop()
			go e.Close()
			_ = os.RemoveAll(sockDir)
			return nil, err
		}
	} else {
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
	}
	// Sockets are made under the process umask: make them private too.
	for _, sock := range []string{csock} {
		if err := os.Chmod(sock, 0o600); err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded etcd socket: %w", err)
		}
	}
	clientURL := "unix://" + csock
	logger.Info("embedded etcd ready", "dir", cfg.Dir, "client_url", clientURL)
	return &Server{etcd: e, client: v3client.New(e.Server), ClientURL: clientURL, sockDir: sockDir}, nil
}

// Defragment gives the backend's free pages back to the file system (the
// maintenance API's Defragment, whose in-process form needs a health
// notifier the in-process client does not set up).
func (s *Server) Defragment() error { return s.etcd.Server.Backend().Defrag() }

// Cushion allocates disk blocks for the next n bytes of the backend's
// database file beyond its current size (fallocate with KEEP_SIZE; the
// file's size is unchanged), so that the database can grow that much
// even when something else fills the disk: etcd treats a failed backend
// write as fatal. Ranges already allocated cost nothing.
func (s *Server) Cushion(n int64) error {
	f, err := os.OpenFile(filepath.Join(s.etcd.Config().Dir, "member", "snap", "db"), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const keepSize = 0x1 // FALLOC_FL_KEEP_SIZE
	// From 0: the file grows by truncation, which leaves holes inside it.
	return syscall.Fallocate(int(f.Fd()), keepSize, 0, fi.Size()+n)
}

// QuotaBytes returns the member's backend quota.
func (s *Server) QuotaBytes() int64 { return s.etcd.Config().QuotaBackendBytes }

// Client returns an in-process client of the member (no network hop).
func (s *Server) Client() *clientv3.Client { return s.client }

// Close stops the member and waits for it to finish.
func (s *Server) Close() {
	s.client.Close()
	s.etcd.Close()
	_ = os.RemoveAll(s.sockDir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
