package authz

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
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
	logger          *slog.Logger
	now             func() time.Time
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
	// Logger receives a line for every refusal.
	Logger *slog.Logger
}

// New returns an Authorizer.
func New(o Options) *Authorizer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authorizer{region: o.Region, account: o.Account, policies: o.Policies, instances: o.Instances, logger: o.Logger, now: time.Now}
}

// Authorize returns nil when c may proceed, else an *apierror.Error:
// AccessDeniedException with AWS's message for a policy's refusal (the
// query services render it as AccessDenied), or the error Instances gives
// for an instance key.
func (a *Authorizer) Authorize(ctx context.Context, c *Call) error {
	if a.instances != nil {
		if inst, ok := a.instances.Instance(ctx, c.AccessKeyID); ok {
			return a.authorizeInstance(ctx, c, inst)
		}
	}
	p, limited := a.policies[c.AccessKeyID]
	if !limited {
		return nil // an administrator
	}
	op := c.Operation
	if c.Service == "ecs" && op == IssueOperation {
		op = "RegisterContainerInstance" // the join key's permission
	}
	action := Action(c.Service, op)
	resources, cluster := Resources(a.region, a.account, c.Service, op, c.Input)
	req := iampolicy.Request{Action: action, Context: a.context(c, cluster)}
	for _, r := range resources {
		req.Resource = r
		if d := p.Evaluate(req); !d.Allowed() {
			a.logger.Info("access denied", "request_id", c.RequestID, "principal", c.Principal, "action", action, "resource", r, "decision", d.String())
			return apierror.New(apierror.CodeAccessDenied, "%s", iampolicy.DeniedMessage(c.Principal, action, r, d))
		}
	}
	return nil
}

// context returns the condition keys Gantry supplies for c.
func (a *Authorizer) context(c *Call, cluster string) map[string][]string {
	now := a.now().UTC()
	m := map[string][]string{
		"aws:CurrentTime":      {now.Format(time.RFC3339)},
		"aws:EpochTime":        {strconv.FormatInt(now.Unix(), 10)},
		"aws:PrincipalArn":     {c.Principal},
		"aws:PrincipalAccount": {a.account},
		"aws:PrincipalType":    {"User"},
		"aws:RequestedRegion":  {a.region},
		"aws:userid":           {c.AccessKeyID},
	}
	if i := lastSlash(c.Principal); i >= 0 {
		m["aws:username"] = []string{c.Principal[i+1:]}
	}
	if r := c.Request; r != nil {
		m["aws:SecureTransport"] = []string{strconv.FormatBool(r.TLS != nil)}
		if ua := r.UserAgent(); ua != "" {
			m["aws:UserAgent"] = []string{ua}
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			m["aws:SourceIp"] = []string{host}
		}
	}
	if cluster != "" {
		m["ecs:cluster"] = []string{cluster}
	}
	return m
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
