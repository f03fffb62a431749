package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/elb"
)

// startELBv2 starts Elastic Load Balancing v2 on the server's endpoint:
// the API over the store (Server.ELB), the removal of targets whose
// deregistration delay is over (elb.API.Run), and the data plane that
// binds the listeners (lbDataPlane). Server.ELB is also the data
// plane's lbconf.Source (its Watch), and lbHealth the lbconf.HealthSink of
// a data plane in this process: its reports live on a lease of this
// process, revoked when the server closes.
func startELBv2(s *Server) (neighbour, error) {
	api := elb.New(s.ECS.Store, s.cfg.Region, s.cfg.AccountID, s.logger.With("service", "elbv2"))
	api.Address = s.cfg.LBAddress
	// The data plane runs in this process: a port another socket of
	// the host binds is refused when a listener is created.
	api.ProbePorts = true
	s.ELB = api
	// Services' loadBalancers name its target groups.
	s.ECS.TargetGroups = ecsTargetGroups{elb: api}
	s.lbHealth = api.HealthSink(context.Background(), reporterID())
	// The data plane (internal/lb) serves every listener in this process,
	// from the API's snapshots, reporting its health checks to lbHealth
	// (unless --lb-data-plane=false).
	dataPlane := func(context.Context) {}
	if s.cfg.LBDataPlane {
		var err error
		if dataPlane, err = lbDataPlane(s, api, s.lbHealth); err != nil {
			_ = s.lbHealth.Close()
			return neighbour{}, err
		}
	}
	return neighbour{
		service: apiserver.ELBv2(api),
		run: func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Go(func() { api.Run(ctx) })
			dataPlane(ctx)
			wg.Wait()
		},
		close: s.lbHealth.Close,
	}, nil
}

// reporterID names this process among the data planes that report target
// health: the host name and a random suffix.
func reporterID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
