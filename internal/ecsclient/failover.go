package ecsclient

import (
	"errors"
	"net"
	"strings"
	"sync"
)

// SplitEndpoints splits a comma-separated list of endpoint URLs, trimming
// spaces and trailing slashes and dropping empty items and repeats.
func SplitEndpoints(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimRight(strings.TrimSpace(s), "/")
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// endpoints are the servers a client may call: the ones it was given (the
// seeds) and the ones the control plane says are live (SetEndpoints). One
// is current; a failed call moves to the next.
type endpoints struct {
	mu    sync.Mutex
	seeds []string
	list  []string // the live set first, then the seeds not in it
	cur   int
	// onSwitch, if set, is called (without mu held) when a failed call
	// moves the client to another endpoint.
	onSwitch func(from, to string, err error)
}

func newEndpoints(seeds []string) endpoints {
	return endpoints{seeds: seeds, list: append([]string(nil), seeds...)}
}

func (e *endpoints) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(len(e.list), 1)
}

func (e *endpoints) current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.list) == 0 {
		return ""
	}
	return e.list[e.cur]
}

// failed notes that a call to ep failed with err. It reports whether err
// is a failure of the server or the network (not an answer refusing the
// request), after which the client moves to the next endpoint, if ep is
// still the current one.
func (e *endpoints) failed(ep string, err error) bool {
	var ae *Error
	if errors.As(err, &ae) && ae.Status < 500 {
		return false
	}
	e.mu.Lock()
	if len(e.list) < 2 || e.list[e.cur] != ep {
		e.mu.Unlock()
		return len(e.list) > 1
	}
	e.cur = (e.cur + 1) % len(e.list)
	to, fn := e.list[e.cur], e.onSwitch
	e.mu.Unlock()
	if fn != nil {
		fn(ep, to, err)
	}
	return true
}

// set makes live the endpoints to call, keeping the seeds after them as a
// last resort and the current endpoint current if it is still listed.
func (e *endpoints) set(live []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var list []string
	for _, s := range live {
		s = strings.TrimRight(s, "/")
		if s != "" && !contains(list, s) {
			list = append(list, s)
		}
	}
	for _, s := range e.seeds {
		if !contains(list, s) {
			list = append(list, s)
		}
	}
	cur := ""
	if len(e.list) > 0 {
		cur = e.list[e.cur]
	}
	e.list, e.cur = list, 0
	for i, s := range list {
		if s == cur {
			e.cur = i
		}
	}
}

// notSent reports whether err means that the request never reached the
// server (the connection was refused or could not be made), so that it is
// safe to send it to another one at once.
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// SetEndpoints makes the client call the servers in live (the control
// plane's live set, from discovery), followed by the endpoints it was
// created with, which stay as a last resort. The current endpoint stays
// current if it is listed.
func (c *Client) SetEndpoints(live []string) { c.eps.set(live) }

// Endpoints returns the endpoints the client may call, the live set first.
func (c *Client) Endpoints() []string {
	c.eps.mu.Lock()
	defer c.eps.mu.Unlock()
	return append([]string(nil), c.eps.list...)
}

// Endpoint returns the endpoint the client calls now.
func (c *Client) Endpoint() string { return c.eps.current() }

// OnFailover sets fn to be called when a failed call moves the client to
// another endpoint. Call it before the first request.
func (c *Client) OnFailover(fn func(from, to string, err error)) {
	c.eps.mu.Lock()
	c.eps.onSwitch = fn
	c.eps.mu.Unlock()
}
