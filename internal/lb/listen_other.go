//go:build !linux

package lb

import "net"

// listen binds addr (without SO_REUSEPORT: one data-plane process per
// host and port on this system).
func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
