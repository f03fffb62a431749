package app

import "github.com/gantry-dev/gantry/internal/apiserver"

// startCloudWatch starts CloudWatch (metrics and alarms) on the server's endpoint. Not built yet: every
// operation answers the protocol's unknown-operation error.
func startCloudWatch(s *Server) (neighbour, error) {
	return neighbour{service: apiserver.CloudWatch(nil)}, nil
}
