package archtest

import (
	"strings"
	"testing"
)

// m is the module path; the patterns below name Gantry's packages with it.
const m = "github.com/gantry-dev/gantry/"

// rule says what the packages matching from may link. forbid lists what
// they may not link; only, when not nil, is an allow-list: they may link
// nothing but what it matches ("std" is the standard library). A rule with
// pending set is one the code does not keep yet: its violations are logged,
// not failed, and pending says what must land first; delete it then.
type rule struct {
	name    string
	from    []string
	forbid  []string
	only    []string
	reason  string
	pending string
}

// serverPkgs are the control plane's packages, as they are named today and
// as the layout redesign (issue 10) names them; names that do not exist yet
// match nothing.
var serverPkgs = []string{
	m + "internal/app/...",
	m + "internal/apiserver/...",
	m + "internal/awsproto/...",
	m + "internal/sigv4/...",
	m + "internal/authz/...",
	m + "internal/instancekey/...",
	m + "internal/ecs/...",
	m + "internal/elbv2/...",
	m + "internal/elb/...",
	m + "internal/logs/...",
	m + "internal/cloudwatch/...",
	m + "internal/autoscaling/...",
	m + "internal/ecr/...",
	m + "internal/registry/...",
	m + "internal/state/...",
	m + "internal/store/...",
	m + "internal/etcdembed/...",
	m + "internal/controller/...",
	m + "internal/lb/...",
	m + "internal/console/...",
	m + "internal/capacity/...",
}

// agentPkgs are the agent's packages.
var agentPkgs = []string{
	m + "internal/agent/...",
	m + "internal/agentapp/...",
}

// sharedPkgs are what server and agent may share: wire shapes and pure
// helpers.
var sharedPkgs = []string{
	"std",
	m + "internal/*api",    // generated wire shapes (ecsapi, and one per service)
	m + "internal/awstime", // the wire timestamp of the generated shapes
	m + "internal/awsop",   // the operation and error tables of the generated shapes
	m + "internal/taskstatus",
	m + "internal/taskres",
	m + "internal/taskdefcheck",
}

// rules are the import rules of docs/architecture.md.
var rules = []rule{
	{
		name:   "agent binary links no etcd, gRPC or Prometheus",
		from:   []string{m + "cmd/gantry-agent"},
		forbid: []string{"go.etcd.io/...", "google.golang.org/grpc/...", "github.com/prometheus/..."},
		reason: "gantry-agent runs on every host and must stay small; those modules are the control plane's",
	},
	{
		name:   "agent binary links no server package",
		from:   []string{m + "cmd/gantry-agent"},
		forbid: serverPkgs,
		reason: "the agent reaches the control plane only through the ECS API",
	},
	{
		name:   "agent packages import no server package",
		from:   agentPkgs,
		forbid: append([]string{"go.etcd.io/...", "google.golang.org/grpc/..."}, serverPkgs...),
		reason: "server and agent share only wire shapes and pure helpers, never each other's packages",
	},
	{
		name:   "server links no Docker SDK and no agent package",
		from:   serverPkgs,
		forbid: append([]string{"github.com/docker/docker/...", "github.com/docker/go-connections/...", "github.com/containerd/...", "github.com/moby/..."}, agentPkgs...),
		reason: "only the agent's runtime/docker talks to Docker; the server applies the runtime's rules through taskdefcheck " +
			"(the registry's library links docker/go-events, go-metrics and credential helpers, none of them the Engine's SDK)",
	},
	{
		name: "scheduler and cql are pure",
		from: []string{m + "internal/scheduler/...", m + "internal/cql/..."},
		only: append([]string{m + "internal/cql", m + "internal/scheduler/..."}, sharedPkgs...),
		reason: "placement and the cluster query language import only wire shapes and pure helpers, " +
			"so they are tested alone and could run on either side",
	},
	{
		name:   "shared helpers are pure",
		from:   sharedPkgs[1:],
		only:   sharedPkgs,
		reason: "what server and agent share must not pull either side's packages into the other",
	},
	{
		name: "operations, state and store import neither the API server nor app",
		from: []string{m + "internal/ecs/...", m + "internal/elbv2/...", m + "internal/elb/...", m + "internal/logs/...",
			m + "internal/cloudwatch/...", m + "internal/autoscaling/...", m + "internal/ecr/...", m + "internal/state/...",
			m + "internal/store/...", m + "internal/controller/..."},
		forbid: []string{m + "internal/app/...", m + "internal/apiserver/...", m + "cmd/..."},
		reason: "imports flow one way: cmd -> app -> apiserver -> operations -> state, scheduler, store",
	},
	{
		name: "store is the bottom of the server",
		from: []string{m + "internal/store/..."},
		forbid: []string{m + "internal/ecs/...", m + "internal/state/...",
			m + "internal/controller/...", m + "internal/scheduler/..."},
		reason: "etcd behind its own API knows nothing of what is stored in it",
	},
	{
		name:   "the metric store never reaches etcd",
		from:   []string{m + "internal/cloudwatch/metricstore"},
		forbid: []string{"go.etcd.io/...", m + "internal/store/...", m + "internal/etcdembed/..."},
		reason: "metric samples are high-volume data: they live in the metric store's Pebble files, never in etcd",
	},
	{
		name:   "controllers do not import the ECS operations",
		from:   []string{m + "internal/controller/..."},
		forbid: []string{m + "internal/ecs/...", m + "internal/apiserver/..."},
		reason: "a controller declares the small interfaces it needs and gets them from app",
	},
	{
		name:   "the registry knows nothing of ECR or etcd",
		from:   []string{m + "internal/registry/..."},
		forbid: []string{"go.etcd.io/...", m + "internal/store/...", m + "internal/ecr/...", m + "internal/ecs/...", m + "internal/app/..."},
		reason: "the OCI registry asks the ECR API through the small interfaces it declares (Repositories, Authenticator)",
	},
	{
		name:   "the load balancers' control plane and data plane meet only in lbconf",
		from:   []string{m + "internal/elb/...", m + "internal/lb/..."},
		forbid: []string{m + "internal/elb", m + "internal/lb"},
		reason: "internal/elb (the ELBv2 API) and internal/lb (the data plane) share only the contract internal/lbconf, so each is tested alone and a data plane may run apart from the API",
	},
	{
		name:   "Application Auto Scaling reaches ECS and CloudWatch only through interfaces",
		from:   []string{m + "internal/autoscaling/..."},
		forbid: []string{m + "internal/ecs/...", m + "internal/cloudwatch/...", m + "internal/controller/...", m + "internal/state/..."},
		reason: "autoscaling declares Services (desired counts) and uses cwlink.Alarms; app joins them to ECS and CloudWatch",
	},
	{
		name:   "the web console reaches the server only through its Backend",
		from:   []string{m + "internal/console"},
		only:   append([]string{m + "internal/apierror"}, sharedPkgs...),
		reason: "every page and action is an API operation run as the signed-in key (apiserver.Invoke, through app), so the console cannot bypass validation or key policies",
	},
	{
		name:   "config imports nothing of Gantry's",
		from:   []string{m + "internal/config"},
		only:   []string{"std"},
		reason: "both binaries read their configuration through it; the wiring converts it to what each side needs",
	},
	{
		name:   "the load balancer data plane reads its configuration only through lbconf",
		from:   []string{m + "internal/lb/..."},
		only:   []string{"std", m + "internal/lbconf", "golang.org/x/sys/..."},
		reason: "the data plane runs inside the server or on a host of its own; it neither reads the store nor calls the API",
	},
	{
		name:   "lbconf and lbload are pure",
		from:   []string{m + "internal/lbconf", m + "internal/lbload"},
		only:   []string{"std"},
		reason: "lbconf is the contract between the ELBv2 control plane and data plane; lbload is a client any test can link",
	},
}

// TestImportRules checks every rule against the module's import graph and
// names, for each package a rule refuses, the chain of imports that links
// it.
func TestImportRules(t *testing.T) {
	g, err := loadGraph(strings.TrimSuffix(m, "/"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			vs, matched := g.check(r)
			if !matched {
				t.Skipf("no package matches %q", r.from)
			}
			report := t.Errorf
			if r.pending != "" {
				report = t.Logf
				if len(vs) > 0 {
					t.Logf("pending until %s: not failing", r.pending)
				}
			}
			for _, v := range vs {
				report("%s links %s, which the rule %q refuses (%s)\n\timport chain: %s",
					short(v.root), short(v.chain[len(v.chain)-1]), r.name, r.reason, chain(v.chain))
			}
		})
	}
}

func short(p string) string { return strings.TrimPrefix(p, m) }

func chain(c []string) string {
	out := make([]string, len(c))
	for i, p := range c {
		out[i] = short(p)
	}
	return strings.Join(out, " -> ")
}
