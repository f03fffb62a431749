package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecr"
	"github.com/gantry-dev/gantry/internal/registry"
)

// startECR starts Amazon ECR on the server's endpoint and the OCI registry
// behind it on its own listener (cfg.RegistryListen), over the storage
// driver of cfg.RegistryStorage (the filesystem under DataDir/registry by
// default). It sets s.ECR and s.RegistryURL.
func startECR(s *Server) (neighbour, error) {
	cfg := s.cfg
	api := &ecr.API{
		Store:             s.ECS.Store,
		Region:            cfg.Region,
		Account:           cfg.AccountID,
		Logger:            s.logger.With("service", "ecr"),
		LifecycleInterval: cfg.RegistryLifecycleInterval,
		Secret: func(akid string) (string, bool) {
			for _, c := range cfg.Credentials {
				if c.AccessKeyID == akid {
					return c.SecretAccessKey, true
				}
			}
			return "", false
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := api.TokenKey(ctx)
	if err != nil {
		return neighbour{}, fmt.Errorf("ecr token key: %w", err)
	}
	// The garbage collection waits for the pushes of every server on the
	// store, not only this one's.
	guard := &ecr.StoreGuard{Store: s.ECS.Store, Logger: s.logger.With("service", "registry")}
	opts := registry.Options{Secret: key, Repositories: api, Auth: api, Logger: s.logger.With("service", "registry"), Guard: guard,
		Challenge: cfg.RegistryAuthChallenge}
	var tmp string
	if cfg.RegistryStorage != "" && cfg.RegistryStorage != "filesystem" {
		opts.Driver = cfg.RegistryStorage
		opts.Parameters = map[string]any{}
		for k, v := range cfg.RegistryStorageParams {
			opts.Parameters[k] = v
		}
	} else if dir := cfg.RegistryStorageParams["rootdirectory"]; dir != "" {
		opts.Dir = dir
	} else if cfg.DataDir != "" {
		opts.Dir = filepath.Join(cfg.DataDir, "registry")
		opts.Full = s.disk.Full // on the disk the guard watches
	} else {
		if tmp, err = os.MkdirTemp("", "gantry-registry-"); err != nil {
			return neighbour{}, fmt.Errorf("registry directory: %w", err)
		}
		opts.Dir = tmp
		s.logger.Warn("no --data-dir: registry images are kept in a temporary directory until the server stops", "dir", tmp)
	}
	reg, err := registry.New(ctx, opts)
	if err != nil {
		return neighbour{}, err
	}
	api.Registry = reg
	s.ECR = api
	var srv *http.Server
	var ln net.Listener
	if cfg.RegistryListen != "" {
		ln, err = net.Listen("tcp", cfg.RegistryListen)
		if err != nil {
			reg.Close()
			return neighbour{}, fmt.Errorf("registry listen %s: %w", cfg.RegistryListen, err)
		}
		host := cfg.RegistryHost
		if host == "" {
			host = ln.Addr().String()
		}
		scheme := "http"
		if cfg.RegistryTLSCert != "" {
			scheme = "https"
		}
		api.RegistryHost, api.RegistryURL = host, scheme+"://"+host
		s.RegistryURL = api.RegistryURL
		srv = &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		go func() {
			var err error
			if cfg.RegistryTLSCert != "" {
				err = srv.ServeTLS(ln, cfg.RegistryTLSCert, cfg.RegistryTLSKey)
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("registry server stopped", "err", err)
			}
		}()
		s.logger.Info("registry listening", "url", api.RegistryURL)
	}
	svc := apiserver.ECR(api)
	svc.WithCaller = func(ctx context.Context, c apiserver.Caller) context.Context {
		return caller.WithCaller(ctx, caller.Caller{AccessKeyID: c.AccessKeyID, Principal: c.Principal, RequestID: c.RequestID})
	}
	return neighbour{
		service: svc,
		run: func(ctx context.Context) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				api.RunGC(ctx, cfg.RegistryGCInterval, cfg.RegistryGCGrace)
			}()
			api.Run(ctx)
			<-done
		},
		close: func() error {
			var errs []error
			if srv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				errs = append(errs, srv.Shutdown(ctx))
				cancel()
			}
			errs = append(errs, reg.Close(), guard.Close())
			if tmp != "" {
				errs = append(errs, os.RemoveAll(tmp))
			}
			return errors.Join(errs...)
		},
	}, nil
}
