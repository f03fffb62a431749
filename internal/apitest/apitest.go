// Package apitest starts a real control plane for integration tests: an
// embedded etcd member in a temporary directory, the ECS API on a random
// loopback port, and an AWS SDK for Go v2 ECS client signed with SigV4.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

// Test credentials accepted by servers that Start starts.
const (
	AccessKeyID     = "AKIDGANTRYTEST000000"
	SecretAccessKey = "gantry-test-secret"
	Region          = "us-east-1"
	Account         = "123456789012"
)

// Env is a running server and a client of it.
type Env struct {
	Server  *app.Server
	Client  *ecs.Client
	URL     string
	DataDir string
	Config  config.Server
}

// Options change what Start starts.
type Options struct {
	// DataDir reuses a data directory (for restart tests); a new temporary
	// one when empty.
	DataDir string
	// Listen is the address; a random loopback port when empty.
	Listen string
	// LostInstanceGrace, when set, replaces the server's default.
	LostInstanceGrace time.Duration
	// AlarmEvaluationInterval, when set, replaces the server's default.
	AlarmEvaluationInterval time.Duration
	// CredentialsFile, when set, is read as --credentials-file is (keys
	// with policies), beside the test credentials (an administrator).
	CredentialsFile string
	// Configure, when set, adjusts the configuration before the server
	// starts.
	Configure func(*config.Server)
	// MinHealthyTime, when set, replaces the server's minimum healthy
	// time of service tasks; when zero, tests use TestMinHealthyTime (the
	// server's default of 10s would make every deployment of a test that
	// much slower). A negative value turns it off.
	MinHealthyTime time.Duration
	// LBDataPlane runs the ELBv2 data plane in the server (off by default
	// in tests: its health checks would change what DescribeTargetHealth
	// answers, and its listeners bind ports).
	LBDataPlane bool
}

// TestMinHealthyTime is the services' minimum healthy time of the test
// servers that do not ask for another.
const TestMinHealthyTime = time.Second

// Start starts a server for t, stopped in t.Cleanup. It skips under -short.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	cfg := config.DefaultServer()
	cfg.LBDataPlane = opts.LBDataPlane
	cfg.DataDir = opts.DataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen = opts.Listen
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if opts.LostInstanceGrace > 0 {
		cfg.LostInstanceGrace = opts.LostInstanceGrace
	}
	if opts.AlarmEvaluationInterval > 0 {
		cfg.AlarmEvaluationInterval = opts.AlarmEvaluationInterval
	}
	cfg.RegistryListen = "127.0.0.1:0"
	// Deleted task definitions go soon after their last use.
	cfg.TaskDefinitionReapInterval = time.Second
	switch {
	case opts.MinHealthyTime > 0:
		cfg.MinHealthyTime = opts.MinHealthyTime
	case opts.MinHealthyTime < 0:
		cfg.MinHealthyTime = 0
	default:
		cfg.MinHealthyTime = TestMinHealthyTime
	}
	cfg.Region = Region
	cfg.AccountID = Account
	cfg.Credentials = append(cfg.Credentials, config.Credential(AccessKeyID, SecretAccessKey, "tester", Account))
	if opts.CredentialsFile != "" {
		cfg.CredentialsFile = opts.CredentialsFile
		if err := cfg.LoadCredentials(func(string) (string, bool) { return "", false }); err != nil {
			t.Fatalf("credentials: %v", err)
		}
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	srv, err := app.StartServer(context.Background(), cfg, Logger())
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	stopped := false
	env := &Env{Server: srv, URL: srv.URL, DataDir: cfg.DataDir, Config: cfg, Client: NewClient(srv.URL)}
	t.Cleanup(func() {
		if !stopped {
			srv.Close()
		}
	})
	_ = stopped
	return env
}

// Restart stops the server and starts a new one on the same data directory
// and address.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	if err := e.Server.Close(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	cfg := e.Config
	cfg.Listen = strings.TrimPrefix(strings.TrimPrefix(e.URL, "http://"), "https://")
	if e.Server.RegistryURL != "" {
		cfg.RegistryListen = e.Server.RegistryURL[len("http://"):]
	}
	srv, err := app.StartServer(context.Background(), cfg, Logger())
	if err != nil {
		t.Fatalf("restart server: %v", err)
	}
	e.Server = srv
	t.Cleanup(func() { srv.Close() })
}

// NewClient returns an ECS client of the server at url with the test
// credentials.
func NewClient(url string) *ecs.Client {
	return NewClientWith(url, AccessKeyID, SecretAccessKey)
}

// NewClientWith returns an ECS client of url signing with the given keys.
func NewClientWith(url, akid, secret string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
	})
}

// Logger is a logger that discards, for tests.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
