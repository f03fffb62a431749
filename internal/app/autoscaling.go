package app

import "github.com/gantry-dev/gantry/internal/apiserver"

// startAutoScaling starts Application Auto Scaling on the server's endpoint. Not built yet: every
// operation answers the protocol's unknown-operation error.
func startAutoScaling(s *Server) (neighbour, error) {
	return neighbour{service: apiserver.AutoScaling(nil)}, nil
}
