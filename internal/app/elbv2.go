package app

import (
	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/elb"
)

// startELBv2 starts Elastic Load Balancing v2 on the server's endpoint:
// the API over the store (Server.ELB), and the removal of targets whose
// deregistration delay is over. Server.ELB is also the data plane's
// lbconf.Source (Watch) and gives its lbconf.HealthSink (HealthSink).
func startELBv2(s *Server) (neighbour, error) {
	api := elb.New(s.ECS.Store, s.cfg.Region, s.cfg.AccountID, s.logger)
	api.Address = s.cfg.LBAddress
	// The data plane runs in this process: a port another socket of
	// the host binds is refused when a listener is created.
	api.ProbePorts = true
	s.ELB = api
	return neighbour{service: apiserver.ELBv2(api), run: api.Run}, nil
}
