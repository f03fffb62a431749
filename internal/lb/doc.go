// Package lb is the data plane of Gantry's Elastic Load Balancing v2: it
// binds every listener of every load balancer and proxies to the targets
// of their target groups, with the routing, health checks and answers of
// an Application Load Balancer (HTTP) or a Network Load Balancer (TCP
// pass-through).
//
// Configuration comes from an lbconf.Source as whole Snapshots; each is
// applied as it arrives, without dropping an established connection:
//
//	Source.Watch ──> Run ──> apply: target groups (targets keep their health,
//	                 │               outstanding requests and connections)
//	                 │        listeners: bind new (SO_REUSEPORT), swap the
//	                 │               compiled rules of those that stay
//	                 │               (atomic pointer), close those that went
//	                 │               (their requests finish)
//	                 └──> per target: a health checker ──> HealthSink.Report
//
// An HTTP listener is one socket whose accept loop hands connections to an
// http.Server (HTTP/1.1, and h2c when routing.http2.enabled): each request
// is matched against the listener's rules in priority order, and its
// action answers (fixed-response, redirect) or forwards through
// net/http/httputil.ReverseProxy over a keep-alive pool per target.
// Changing the idle timeout or HTTP/2 starts a new http.Server on the same
// socket and shuts the previous one down gracefully.
//
// Health: a target is routable when it is healthy and not draining; when a
// target group has no healthy target, every non-draining target is (ELB's
// fail-open). A refused connection to a target is retried on another for a
// request without a body (nothing was sent).
package lb
