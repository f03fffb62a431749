package authz

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/iampolicy"
)

// Call is one authenticated request, as the router knows it before the
// operation runs.
type Call struct {
	// AccessKeyID and Principal are the signing key and who it acts as.
	AccessKeyID string
	Principal   string
	// Service is the SigV4 signing name ("ecs", "monitoring"...).
	Service string
	// Operation is the operation's name ("RunTask").
	Operation string
	// Input is a pointer to the decoded input struct.
	Input any
	// Request is the HTTP request (source address, TLS, user agent).
	Request *http.Request
	// RequestID identifies the request in logs.
	RequestID string
}

// Authorizer decides whether a call may proceed. The zero value is not
// usable; New makes one.
type Authorizer struct {
	region, account string
	policies        map[string]*iampolicy.Policy // by access key ID; absent: an administrator
	instances       Instances
	resources       ResourcePolicies
	logger          *slog.Logger
	now             func() time.Time

	keys  sync.Map // access key ID -> *keyContext
	clock atomic.Pointer[timeContext]
}

// Options configure an Authorizer.
type Options struct {
	// Region and Account build the ARNs of resources.
	Region, Account string
	// Policies holds the policy of each key that has one, by access key
	// ID. A key absent from it is an administrator.
	Policies map[string]*iampolicy.Policy
	// Instances, when set, says which keys are container instances' own
	// (agent identity) and what each may touch.
	Instances Instances
	// ResourcePolicies, when set, has the resource-based policies (ECR's
	// repository policies) evaluated beside the keys' own.
	ResourcePolicies ResourcePolicies
	// Logger receives a line for every refusal.
	Logger *slog.Logger
}

// ResourcePolicies evaluates resource-based policies.
type ResourcePolicies interface {
	// EvaluateResourcePolicy returns the decision of the policy attached
	// to resource for principal making req; ok is false when the resource
	// has none.
	EvaluateResourcePolicy(ctx context.Context, resource, principal string, req iampolicy.Request) (d iampolicy.Decision, ok bool, err error)
}

// New returns an Authorizer.
func New(o Options) *Authorizer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authorizer{region: o.Region, account: o.Account, policies: o.Policies, instances: o.Instances, resources: o.ResourcePolicies,
		logger: o.Logger, now: time.Now}
}

// Authorize returns nil when c may proceed, else an *apierror.Error:
// AccessDeniedException with AWS's message for a policy's refusal (the
// query services render it as AccessDenied), or the error Instances gives
// for an instance key.
func (a *Authorizer) Authorize(ctx context.Context, c *Call) error {
	if a.instances != nil {
		inst, ok, err := a.instances.Instance(ctx, c.AccessKeyID)
		if err != nil {
			// Not known to be an instance key: neither refuse it as one
			// nor let it through as an administrator's.
			a.logger.Warn("instance key lookup failed", "accessKeyId", c.AccessKeyID, "err", err)
			e := apierror.New(apierror.CodeServer, "The service is temporarily unable to verify the request's credentials. Retry the request.")
			e.Status = http.StatusServiceUnavailable
			return e
		}
		if ok {
			return a.authorizeInstance(ctx, c, inst)
		}
	}
	p, limited := a.policies[c.AccessKeyID]
	withResources := a.resources != nil && c.Service == "ecr"
	if !limited && !withResources {
		return nil // an administrator
	}
	op := c.Operation
	if c.Service == "ecs" && op == IssueOperation {
		op = "RegisterContainerInstance" // the join key's permission
	}
	action := Action(c.Service, op)
	resources, cluster := Resources(a.region, a.account, c.Service, op, c.Input)
	b := ctxPool.Get().(*ctxBuf)
	defer func() {
		clear(b.m)
		ctxPool.Put(b)
	}()
	a.context(b, c, cluster)
	req := iampolicy.Request{Action: action, Context: b.m}
	for _, r := range resources {
		req.Resource = r
		d := iampolicy.Allow // an administrator
		if limited {
			d = p.Evaluate(req)
		}
		byResource := false
		if withResources && d != iampolicy.ExplicitDeny {
			// Same account: an explicit Deny of either policy refuses,
			// an Allow of either allows.
			rd, ok, err := a.resources.EvaluateResourcePolicy(ctx, r, c.Principal, req)
			if err != nil {
				a.logger.Error("resource policy", "request_id", c.RequestID, "resource", r, "err", err)
				return apierror.New(apierror.CodeServer, "resource policy of %s could not be read", r)
			}
			if ok && (rd == iampolicy.ExplicitDeny || d != iampolicy.Allow) {
				d = rd
				byResource = rd == iampolicy.ExplicitDeny
			}
		}
		if !d.Allowed() {
			a.logger.Info("access denied", "request_id", c.RequestID, "principal", c.Principal, "action", action, "resource", r,
				"decision", d.String(), "resource_policy", byResource)
			if byResource {
				// The repository's policy refused: AWS names it.
				return apierror.New(apierror.CodeAccessDenied, "%s", iampolicy.DeniedByResourcePolicyMessage(c.Principal, action, r))
			}
			return apierror.New(apierror.CodeAccessDenied, "%s", iampolicy.DeniedMessage(c.Principal, action, r, d))
		}
	}
	return nil
}

// ctxBuf is one request's condition keys, pooled: building them anew
// for each request cost more than evaluating a 20-statement policy.
type ctxBuf struct {
	m                       map[string][]string
	ip, ua, secure, cluster [1]string
}

var ctxPool = sync.Pool{New: func() any { return &ctxBuf{m: make(map[string][]string, 16)} }}

// keyContext is the part of the condition keys fixed for an access key.
type keyContext struct {
	principal, account, principalType, region, userid, username []string
}

// timeContext is aws:CurrentTime and aws:EpochTime of one second.
type timeContext struct {
	sec            int64
	current, epoch []string
}

// context fills b with the condition keys Gantry supplies for c.
func (a *Authorizer) context(b *ctxBuf, c *Call, cluster string) {
	kc := a.keyContext(c)
	tc := a.timeContext()
	m := b.m
	m["aws:CurrentTime"] = tc.current
	m["aws:EpochTime"] = tc.epoch
	m["aws:PrincipalArn"] = kc.principal
	m["aws:PrincipalAccount"] = kc.account
	m["aws:PrincipalType"] = kc.principalType
	m["aws:RequestedRegion"] = kc.region
	m["aws:userid"] = kc.userid
	if kc.username != nil {
		m["aws:username"] = kc.username
	}
	if r := c.Request; r != nil {
		b.secure[0] = "false"
		if r.TLS != nil {
			b.secure[0] = "true"
		}
		m["aws:SecureTransport"] = b.secure[:]
		if ua := r.Header.Get("User-Agent"); ua != "" {
			b.ua[0] = ua
			m["aws:UserAgent"] = b.ua[:]
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			b.ip[0] = host
			m["aws:SourceIp"] = b.ip[:]
		}
	}
	if cluster != "" {
		b.cluster[0] = cluster
		m["ecs:cluster"] = b.cluster[:]
	}
}

func (a *Authorizer) keyContext(c *Call) *keyContext {
	if kc, ok := a.keys.Load(c.AccessKeyID); ok {
		if kc := kc.(*keyContext); kc.principal[0] == c.Principal {
			return kc
		}
	}
	kc := &keyContext{principal: []string{c.Principal}, account: []string{a.account}, principalType: []string{"User"},
		region: []string{a.region}, userid: []string{c.AccessKeyID}}
	if i := lastSlash(c.Principal); i >= 0 {
		kc.username = []string{c.Principal[i+1:]}
	}
	a.keys.Store(c.AccessKeyID, kc)
	return kc
}

func (a *Authorizer) timeContext() *timeContext {
	now := a.now().UTC()
	if tc := a.clock.Load(); tc != nil && tc.sec == now.Unix() {
		return tc
	}
	tc := &timeContext{sec: now.Unix(), current: []string{now.Truncate(time.Second).Format(time.RFC3339)},
		epoch: []string{strconv.FormatInt(now.Unix(), 10)}}
	a.clock.Store(tc)
	return tc
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
