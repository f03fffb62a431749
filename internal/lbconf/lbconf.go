// Package lbconf is the contract between Gantry's Elastic Load Balancing v2
// control plane (internal/elb: the API, the records in the store) and its
// data plane (internal/lb: listeners, proxying, health checks). The control
// plane produces Snapshots of every load balancer's configuration; a data
// plane applies each one as it comes and reports what its health checks
// find through a HealthSink. Neither side imports the other.
package lbconf

import (
	"context"
	"time"
)

// Load balancer types, as ELBv2 names them.
const (
	TypeApplication = "application"
	TypeNetwork     = "network"
)

// Protocols of listeners, target groups and health checks.
const (
	ProtocolHTTP = "HTTP"
	ProtocolTCP  = "TCP"
)

// Action types of listeners and rules.
const (
	ActionForward       = "forward"
	ActionFixedResponse = "fixed-response"
	ActionRedirect      = "redirect"
)

// Target health states and reason codes, as DescribeTargetHealth answers
// them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateDraining  = "draining"
	StateUnused    = "unused"

	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonNotRegistered            = "Target.NotRegistered"
)

// Snapshot is the whole configuration a data plane serves, at one store
// revision. It is immutable once published: a change produces a new one.
type Snapshot struct {
	// Revision is the store revision the snapshot was read at.
	Revision int64
	// LoadBalancers are every load balancer, with its listeners.
	LoadBalancers []LoadBalancer
	// TargetGroups are every target group by ARN, with its targets.
	TargetGroups map[string]*TargetGroup
}

// LoadBalancer is one load balancer and the listeners it serves.
type LoadBalancer struct {
	Arn  string
	Name string
	// Type is TypeApplication or TypeNetwork.
	Type string
	// Address is the host the listeners bind (for example 127.0.0.1, or
	// 0.0.0.0 for an internet-facing load balancer whose operator allowed
	// it).
	Address string
	// IdleTimeout is idle_timeout.timeout_seconds (application only).
	IdleTimeout time.Duration
	// HTTP2 is routing.http2.enabled (application only).
	HTTP2     bool
	Listeners []Listener
}

// Listener is one port of a load balancer.
type Listener struct {
	Arn  string
	Port int
	// Protocol is ProtocolHTTP (application) or ProtocolTCP (network).
	Protocol       string
	DefaultActions []Action
	// IdleTimeout is tcp.idle_timeout.seconds of a TCP listener (0: the
	// default, 350 seconds).
	IdleTimeout time.Duration
	// Rules are the listener's non-default rules, lowest priority value
	// (evaluated first) first.
	Rules []Rule
}

// Rule is a listener rule: when every condition matches, its actions run.
type Rule struct {
	Arn        string
	Priority   int
	Conditions []Condition
	Actions    []Action
}

// Condition is one rule condition. Field is path-pattern, host-header,
// http-header, http-request-method, query-string or source-ip; Values are
// its patterns (with ELBv2's * and ? wildcards where the field allows
// them), any of which may match.
type Condition struct {
	Field  string
	Values []string
	// HeaderName is the header of an http-header condition.
	HeaderName string
	// QueryStrings are the key/value pairs of a query-string condition
	// (an empty Key matches any key).
	QueryStrings []KeyValue
}

// KeyValue is one query-string pattern.
type KeyValue struct{ Key, Value string }

// Action is what a listener or rule does with a request. Rules and
// listeners hold one terminal action (forward, fixed-response or
// redirect); Order is kept for completeness.
type Action struct {
	Type  string
	Order int
	// Forward is the weighted target groups of a forward action (one
	// with weight 1 for TargetGroupArn-style actions).
	Forward []WeightedTargetGroup
	// Stickiness is the forward action's target-group stickiness.
	Stickiness         bool
	StickinessDuration time.Duration
	FixedResponse      *FixedResponse
	Redirect           *Redirect
}

// WeightedTargetGroup is a target group of a forward action and its
// weight (0 to 999).
type WeightedTargetGroup struct {
	TargetGroupArn string
	Weight         int
}

// FixedResponse is a fixed-response action.
type FixedResponse struct {
	StatusCode  int
	ContentType string
	MessageBody string
}

// Redirect is a redirect action; empty fields keep the request's value
// ("#{host}" and the like are resolved by the data plane).
type Redirect struct {
	Protocol, Host, Port, Path, Query string
	// StatusCode is 301 or 302.
	StatusCode int
}

// TargetGroup is a target group, its health check, attributes and
// registered targets.
type TargetGroup struct {
	Arn  string
	Name string
	// Protocol is ProtocolHTTP or ProtocolTCP.
	Protocol string
	Port     int
	// TargetType is instance or ip.
	TargetType  string
	HealthCheck HealthCheck
	// DeregistrationDelay is deregistration_delay.timeout_seconds.
	DeregistrationDelay time.Duration
	// SlowStart is slow_start.duration_seconds (0: off).
	SlowStart time.Duration
	// Algorithm is round_robin or least_outstanding_requests.
	Algorithm string
	// Stickiness is stickiness.enabled with lb_cookie, and its duration.
	Stickiness         bool
	StickinessDuration time.Duration
	// HoldTimeout is how long a request (or a TCP connection) to the
	// group waits at the listener while no target is healthy, for one to
	// turn healthy, before it gets the usual answer (Gantry's attributes
	// gantry.hold_requests.enabled and
	// gantry.hold_requests.timeout_seconds; 0: not held, as ELB does).
	HoldTimeout time.Duration
	Targets     []Target
}

// HealthCheck is a target group's health check.
type HealthCheck struct {
	Enabled bool
	// Protocol is ProtocolHTTP or ProtocolTCP.
	Protocol string
	// Port is "traffic-port" or a port number.
	Port               string
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Matcher is the HTTP codes that mean healthy ("200", "200-299",
	// "200,202").
	Matcher string
}

// Target is one registered target.
type Target struct {
	// ID is the target's Id as registered (an instance ID or an IP).
	ID string
	// Port is the port traffic goes to.
	Port int
	// Host is the address the data plane dials (the instance's address
	// for instance targets, the IP itself for ip targets).
	Host string
	// Draining is set while the target is deregistered and within its
	// deregistration delay: it takes no new requests or connections, and
	// those in flight finish.
	Draining bool
	// RegisteredAt is when the target was registered (slow start counts
	// from it).
	RegisteredAt time.Time
}

// Source publishes the configuration: Watch sends the current Snapshot at
// once, then a new one after each change, until ctx ends.
type Source interface {
	Watch(ctx context.Context) <-chan *Snapshot
}

// Health is what a data plane's health checks found of one target.
type Health struct {
	// State is StateInitial, StateHealthy or StateUnhealthy.
	State string
	// Reason and Description are ELBv2's reason code and text for a
	// state other than healthy.
	Reason      string
	Description string
}

// HealthSink receives the data plane's health check results. Report is
// called on every change of a target's state (not on every check), so it
// may write to the store.
type HealthSink interface {
	Report(ctx context.Context, targetGroupArn, targetID string, port int, h Health) error
}

// Namespaces of the metrics a data plane publishes, as Elastic Load
// Balancing names them.
const (
	NamespaceApplication = "AWS/ApplicationELB"
	NamespaceNetwork     = "AWS/NetworkELB"
)

// Dimension is one name and value of a metric.
type Dimension struct{ Name, Value string }

// Metric is one datapoint of a data plane's metrics: a statistic set
// (SampleCount, Sum, Minimum, Maximum), or, when Values is set, values
// with their counts (Counts[i] times Values[i]), from which percentiles
// can be computed.
type Metric struct {
	Name       string
	Dimensions []Dimension
	// Unit is a CloudWatch unit: Count, Seconds, Bytes.
	Unit string
	// Timestamp is the start of the period the datapoint covers.
	Timestamp   time.Time
	SampleCount float64
	Sum         float64
	Minimum     float64
	Maximum     float64
	Values      []float64
	Counts      []float64
}

// MetricSink receives a data plane's metrics once per period (Elastic
// Load Balancing's CloudWatch metrics, aggregated in the data plane), to
// store them where CloudWatch answers them.
type MetricSink interface {
	PublishMetrics(ctx context.Context, namespace string, data []Metric) error
}

// DemandSink receives a data plane's demand signals: a request or
// connection is held for a target group that has no healthy target (see
// TargetGroup.HoldTimeout), so whatever owns the group's capacity (a
// service scaled to zero) should add some now. Demand is called at most
// about once a second per target group while requests are held, from a
// goroutine of its own: it may write to the store.
type DemandSink interface {
	Demand(ctx context.Context, targetGroupArn string) error
}
