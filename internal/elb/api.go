package elb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/store"
)

// API is the Elastic Load Balancing v2 operations. Its methods are named
// after the operations and dispatched by internal/apiserver.
type API struct {
	// Store holds the records.
	Store *store.Store
	// Region and Account build ARNs.
	Region, Account string
	// Address is every load balancer's DNSName and the address the data
	// plane binds its listeners on ("127.0.0.1" when empty).
	Address string
	// InstanceHost is the address of an instance target whose container
	// instance has no gantry.host-address attribute ("127.0.0.1" when
	// empty).
	InstanceHost string
	// ProbePorts makes CreateListener and ModifyListener refuse a port
	// that a socket on this host already binds at Address (set it where
	// the data plane runs beside the API, as in `gantry dev`).
	ProbePorts bool
	// Logger receives the API's log lines.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	// view, while Run runs, serves the reads.
	view atomic.Pointer[view]
}

// New returns the API over st.
func New(st *store.Store, region, account string, logger *slog.Logger) *API {
	return &API{Store: st, Region: region, Account: account, Logger: logger}
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) address() string {
	if a.Address != "" {
		return a.Address
	}
	return "127.0.0.1"
}

func (a *API) instanceHost() string {
	if a.InstanceHost != "" {
		return a.InstanceHost
	}
	return "127.0.0.1"
}

func (a *API) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Error codes, as the query protocol writes them (awsproto maps the
// exception shape names of the model to these too).
const (
	codeValidation              = apierror.CodeValidationError
	codeLoadBalancerNotFound    = "LoadBalancerNotFound"
	codeTargetGroupNotFound     = "TargetGroupNotFound"
	codeListenerNotFound        = "ListenerNotFound"
	codeRuleNotFound            = "RuleNotFound"
	codeDuplicateLoadBalancer   = "DuplicateLoadBalancerName"
	codeDuplicateTargetGroup    = "DuplicateTargetGroupName"
	codeDuplicateListener       = "DuplicateListener"
	codeDuplicateTagKeys        = "DuplicateTagKeys"
	codePriorityInUse           = "PriorityInUse"
	codeResourceInUse           = "ResourceInUse"
	codeOperationNotPermitted   = "OperationNotPermitted"
	codeInvalidConfiguration    = "InvalidConfigurationRequest"
	codeInvalidTarget           = "InvalidTarget"
	codeInvalidSubnet           = "InvalidSubnet"
	codeSubnetNotFound          = "SubnetNotFound"
	codeInvalidSecurityGroup    = "InvalidSecurityGroup"
	codeInvalidScheme           = "InvalidScheme"
	codeIncompatibleProtocols   = "IncompatibleProtocols"
	codeUnsupportedProtocol     = "UnsupportedProtocol"
	codeInvalidAction           = "InvalidLoadBalancerAction"
	codeTooManyLoadBalancers    = "TooManyLoadBalancers"
	codeTooManyTargetGroups     = "TooManyTargetGroups"
	codeTooManyListeners        = "TooManyListeners"
	codeTooManyRules            = "TooManyRules"
	codeTooManyActions          = "TooManyActions"
	codeTooManyTags             = "TooManyTags"
	codeTooManyTargets          = "TooManyTargets"
	codeTooManyRegistrations    = "TooManyRegistrationsForTargetId"
	codeTooManyUniqueTGsPerLB   = "TooManyUniqueTargetGroupsPerLoadBalancer"
	codeTargetGroupAssociations = "TargetGroupAssociationLimit"
	codeCertificateNotFound     = "CertificateNotFound"
)

// Limits, AWS's default quotas (Elastic Load Balancing User Guide,
// "Quotas for your Application Load Balancers / Network Load Balancers").
const (
	maxLoadBalancers      = 50
	maxTargetGroups       = 3000
	maxListenersPerLB     = 50
	maxRulesPerALB        = 100
	maxConditionValues    = 5
	maxTargetGroupsPerAct = 5
	maxTagsPerResource    = 50
	maxTargetsPerALB      = 1000
	maxTargetsPerTG       = 1000
	maxUniqueTGsPerALB    = 100
	maxTGsPerAction       = 5
	maxPageSize           = 400
)

func errf(code, format string, args ...any) *apierror.Error {
	return &apierror.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apierror.Error {
	return errf(codeValidation, format, args...)
}

// newID is a resource ID: 16 hex digits, as AWS's ARNs end.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// arnPrefix is "arn:aws:elasticloadbalancing:REGION:ACCOUNT:".
func (a *API) arnPrefix() string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:", a.Region, a.Account)
}

// typeSegment is the ARN segment of a load balancer type.
func typeSegment(typ string) string {
	if typ == "network" {
		return "net"
	}
	return "app"
}

func (a *API) lbARN(typ, name, id string) string {
	return a.arnPrefix() + "loadbalancer/" + typeSegment(typ) + "/" + name + "/" + id
}

func (a *API) tgARN(name, id string) string {
	return a.arnPrefix() + "targetgroup/" + name + "/" + id
}

func (a *API) listenerARN(lb *lbRecord, id string) string {
	return a.arnPrefix() + "listener/" + typeSegment(string(lb.LB.Type)) + "/" + lb.LB.LoadBalancerName + "/" + lb.ID + "/" + id
}

func (a *API) ruleARN(lb *lbRecord, listenerID, id string) string {
	return a.arnPrefix() + "listener-rule/" + typeSegment(string(lb.LB.Type)) + "/" + lb.LB.LoadBalancerName + "/" + lb.ID + "/" + listenerID + "/" + id
}

// arnKind returns the resource kind of an ELBv2 ARN of this region and
// account ("loadbalancer", "targetgroup", "listener", "listener-rule") and
// its last segment (the ID); ok is false for anything else.
func (a *API) arnKind(arn string) (kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(arn, a.arnPrefix())
	if !ok {
		return "", "", false
	}
	kind, _, _ = strings.Cut(rest, "/")
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	return kind, rest[i+1:], true
}

// checkARN validates the form of an ARN member.
func checkARN(member, arn string) error {
	if !strings.HasPrefix(arn, "arn:") || strings.Count(arn, ":") < 5 {
		return validation("'%s' is not a valid %s ARN", arn, member)
	}
	return nil
}

// Keys of the records.
const (
	kindLB       = "lb"
	kindTG       = "tg"
	kindListener = "listener"
	kindRule     = "rule"
	kindTarget   = "target"
)

func keyOf(kind string, parts ...string) string {
	return store.Key(append([]string{"elbv2", kind}, parts...)...)
}

// configPrefix is the prefix of every configuration record (what the data
// plane's Snapshot is built from).
func configPrefix() string { return store.Key("elbv2") + "/" }

// versionKey is bumped by every configuration write and guards them all.
func versionKey() string { return store.Key("elbv2", "version") }

// healthPrefix is the prefix of the health reports of target group tg (all
// of them when tg is empty).
func healthPrefix(tg string) string {
	if tg == "" {
		return store.Key("elbv2-health") + "/"
	}
	return store.Key("elbv2-health", tg) + "/"
}

func healthKey(tg, target string, port int32, reporter string) string {
	return store.Key("elbv2-health", tg, target, fmt.Sprint(port), reporter)
}

// ruleKey is the key of a rule: under its listener's, so that a listener's
// rules go in one prefix deletion.
func ruleKey(r *ruleRecord) string { return keyOf(kindRule, r.ListenerID, r.ID) }

func targetKey(tg, target string, port int32) string {
	return keyOf(kindTarget, tg, target, fmt.Sprint(port))
}

// update runs fn on the current world and commits what it wrote, guarded
// by the version key; it retries on conflict. fn must be safe to run again.
func (a *API) update(ctx context.Context, fn func(w *world) error) (*world, error) {
	for attempt := 0; attempt < 50; attempt++ {
		w, err := a.load(ctx)
		if err != nil {
			return nil, err
		}
		if err := fn(w); err != nil {
			return nil, err
		}
		if len(w.ops) == 0 {
			return w, nil
		}
		ops := append(w.ops, store.OpPut(versionKey(), []byte(fmt.Sprint(w.rev))))
		resp, err := a.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(versionKey(), w.versionRev)}, ops...)
		if err != nil {
			return nil, fmt.Errorf("elbv2 write: %w", err)
		}
		if resp.Succeeded {
			return w, nil
		}
		if attempt > 2 {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
		}
	}
	return nil, fmt.Errorf("elbv2 write: %w", store.ErrConflict)
}

// put records a write of v at key in w.
func (w *world) put(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("elb: encode %s: %v", key, err)) // records always encode
	}
	w.ops = append(w.ops, store.OpPut(key, b))
}

func (w *world) del(key string) { w.ops = append(w.ops, store.OpDelete(key)) }

func (w *world) delPrefix(prefix string) { w.ops = append(w.ops, store.OpDeletePrefix(prefix)) }
