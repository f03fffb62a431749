package app

import "github.com/gantry-dev/gantry/internal/apiserver"

// startELBv2 starts Elastic Load Balancing v2 on the server's endpoint. Not built yet: every
// operation answers the protocol's unknown-operation error.
func startELBv2(s *Server) (neighbour, error) {
	return neighbour{service: apiserver.ELBv2(nil)}, nil
}
