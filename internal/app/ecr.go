package app

import "github.com/gantry-dev/gantry/internal/apiserver"

// startECR starts Amazon ECR on the server's endpoint. Not built yet: every
// operation answers the protocol's unknown-operation error.
func startECR(s *Server) (neighbour, error) {
	return neighbour{service: apiserver.ECR(nil)}, nil
}
