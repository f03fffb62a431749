//go:build !linux

package lb

import "net"

// newConnIO is c's reads and writes through c's own methods.
func newConnIO(c net.Conn) connIO { return &plainIO{Conn: c} }

// Read reads through the connection.
func (r *loopReader) Read(b []byte) (int, error) { return r.readConn(b) }
