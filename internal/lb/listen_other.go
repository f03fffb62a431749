//go:build !linux

package lb

import (
	"net"
	"time"
)

// listen binds addr (without SO_REUSEPORT: one data-plane process per
// host and port on this system).
func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// tcpIdle is not known on this system: TCP listeners have no idle
// timeout here.
func tcpIdle(net.Conn) (time.Duration, bool) { return 0, false }
