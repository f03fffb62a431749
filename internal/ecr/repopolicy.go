package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/iampolicy"
	"github.com/gantry-dev/gantry/internal/store"
)

// Repository policies are enforced as IAM evaluates a resource-based
// policy beside the caller's identity policy for a principal of the same
// account: an explicit Deny in either refuses; otherwise an Allow in
// either allows. The authorizer (internal/authz) asks through
// EvaluateResourcePolicy for every ECR call and every registry request
// (mapped to the ECR action docker's pull or push needs).

// repoPolicy is a parsed repository policy: each statement with the
// principals it applies to, evaluated by iampolicy without them.
type repoPolicy struct {
	stmts []repoStatement
}

type repoStatement struct {
	// principals are the AWS principals named ("*" for anyone);
	// not is NotPrincipal.
	principals []string
	not        bool
	policy     *iampolicy.Policy
}

// parseRepoPolicy parses a policy checkRepositoryPolicy accepted.
func parseRepoPolicy(text string) (*repoPolicy, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	var stmts []any
	switch st := doc["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	default:
		return nil, errors.New("the policy has no Statement")
	}
	out := &repoPolicy{}
	for i, s := range stmts {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("statement %d is not an object", i+1)
		}
		rs := repoStatement{}
		p, ok := m["Principal"]
		if !ok {
			p, rs.not = m["NotPrincipal"], true
		}
		rs.principals = principalsOf(p)
		delete(m, "Principal")
		delete(m, "NotPrincipal")
		if _, ok := m["Resource"]; !ok {
			if _, ok := m["NotResource"]; !ok {
				m["Resource"] = "*"
			}
		}
		one, err := json.Marshal(map[string]any{"Version": doc["Version"], "Statement": []any{m}})
		if err != nil {
			return nil, err
		}
		if doc["Version"] == nil {
			one, _ = json.Marshal(map[string]any{"Statement": []any{m}})
		}
		if rs.policy, err = iampolicy.Parse(one); err != nil {
			return nil, err
		}
		out.stmts = append(out.stmts, rs)
	}
	return out, nil
}

// principalsOf lists the AWS principals of a Principal element ("*" and
// {"AWS": "*"} are everyone). Service, Federated and CanonicalUser
// principals never match an access key.
func principalsOf(p any) []string {
	if s, ok := p.(string); ok {
		return []string{s}
	}
	m, _ := p.(map[string]any)
	switch v := m["AWS"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// names reports whether a statement's principals name the caller:
// everyone, its ARN, its account (ID or root ARN).
func (s *repoStatement) names(principal, account string) bool {
	return slices.ContainsFunc(s.principals, func(p string) bool {
		return p == "*" || p == principal || p == account || p == "arn:aws:iam::"+account+":root"
	})
}

// evaluate is the policy's decision for principal of account making req.
func (p *repoPolicy) evaluate(principal, account string, req iampolicy.Request) iampolicy.Decision {
	d := iampolicy.ImplicitDeny
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.names(principal, account) == s.not {
			continue
		}
		switch s.policy.Evaluate(req) {
		case iampolicy.ExplicitDeny:
			return iampolicy.ExplicitDeny
		case iampolicy.Allow:
			d = iampolicy.Allow
		}
	}
	return d
}

// policyCache keeps parsed repository policies by their text.
type policyCache struct {
	mu     sync.Mutex
	byText map[string]*repoPolicy
}

func (c *policyCache) get(text string) (*repoPolicy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.byText[text]; ok {
		return p, nil
	}
	p, err := parseRepoPolicy(text)
	if err != nil {
		return nil, err
	}
	if c.byText == nil || len(c.byText) > 1000 {
		c.byText = map[string]*repoPolicy{}
	}
	c.byText[text] = p
	return p, nil
}

// EvaluateResourcePolicy evaluates the repository policy of resource (a
// repository ARN of this registry) for principal making req: ok is false
// when the resource is not a repository or has no policy.
func (a *API) EvaluateResourcePolicy(ctx context.Context, resource, principal string, req iampolicy.Request) (iampolicy.Decision, bool, error) {
	prefix := "arn:aws:ecr:" + a.Region + ":" + a.Account + ":repository/"
	name, ok := strings.CutPrefix(resource, prefix)
	if !ok || name == "" {
		return iampolicy.ImplicitDeny, false, nil
	}
	var rec repoRecord
	if _, err := a.Store.Get(ctx, repoKey(name), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return iampolicy.ImplicitDeny, false, nil
		}
		return iampolicy.ImplicitDeny, false, err
	}
	if rec.PolicyText == "" {
		return iampolicy.ImplicitDeny, false, nil
	}
	p, err := a.policies.get(rec.PolicyText)
	if err != nil {
		return iampolicy.ImplicitDeny, false, fmt.Errorf("repository policy of %s: %w", name, err)
	}
	return p.evaluate(principal, a.Account, req), true, nil
}
