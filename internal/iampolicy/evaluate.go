package iampolicy

// Request is what one call asks to do, as policy evaluation sees it.
type Request struct {
	// Action is "service:Operation", e.g. "ecs:RunTask".
	Action string
	// Resource is the ARN the action acts on, or "*" for an action that
	// has no resource-level permissions (only a statement whose Resource
	// matches "*", such as "*" itself, then applies).
	Resource string
	// Context holds the condition keys of the request, spelled as in
	// Options.ConditionKeys (aws:SourceIp, ecs:cluster, ...). A key that is
	// absent, or has no values, is "not present" for IAM's rules.
	Context map[string][]string
}

// Decision is the outcome of evaluating policies for a request.
type Decision uint8

// The three outcomes. The zero value is ImplicitDeny.
const (
	// ImplicitDeny: no statement allowed the request (and none denied it).
	ImplicitDeny Decision = iota
	// Allow: a statement allowed the request and none denied it.
	Allow
	// ExplicitDeny: a Deny statement matched; no Allow can override it.
	ExplicitDeny
)

// String returns the decision's name.
func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Allowed reports whether the decision is Allow.
func (d Decision) Allowed() bool { return d == Allow }

// Evaluate applies IAM's logic to one policy: a matching Deny statement
// wins, else a matching Allow statement allows, else the request is
// implicitly denied. A nil policy allows nothing. Evaluate does not
// allocate (for resources up to 2048 bytes).
func (p *Policy) Evaluate(req Request) Decision {
	if p == nil {
		return ImplicitDeny
	}
	allowed := false
	for i := range p.stmts {
		s := &p.stmts[i]
		if allowed && s.effect == effectAllow {
			continue // only a Deny can change the outcome now
		}
		if !s.applies(&req) {
			continue
		}
		if s.effect == effectDeny {
			return ExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

// Evaluate applies IAM's logic across several identity-based policies (a
// principal's policies are one set): an explicit Deny in any policy wins,
// else an Allow in any policy allows, else the request is implicitly
// denied. No policies allow nothing.
func Evaluate(policies []*Policy, req Request) Decision {
	return Explain(policies, req).Decision
}

// Match is a decision with the statement that made it, for logs.
type Match struct {
	Decision Decision
	// Policy and Statement are the 0-based indexes of the deciding
	// statement: the Deny for ExplicitDeny, the first Allow for Allow.
	// Both are -1 for ImplicitDeny.
	Policy, Statement int
	// Sid is the deciding statement's Sid, "" if it has none.
	Sid string
}

// Explain is Evaluate that also names the deciding statement. It does not
// allocate.
func Explain(policies []*Policy, req Request) Match {
	m := Match{Decision: ImplicitDeny, Policy: -1, Statement: -1}
	for pi, p := range policies {
		if p == nil {
			continue
		}
		for si := range p.stmts {
			s := &p.stmts[si]
			if m.Decision == Allow && s.effect == effectAllow {
				continue
			}
			if !s.applies(&req) {
				continue
			}
			if s.effect == effectDeny {
				return Match{Decision: ExplicitDeny, Policy: pi, Statement: si, Sid: s.sid}
			}
			m = Match{Decision: Allow, Policy: pi, Statement: si, Sid: s.sid}
		}
	}
	return m
}

// applies reports whether the statement matches the request: its action,
// its resource and all its conditions.
func (s *statement) applies(req *Request) bool {
	if anyMatches(s.actions, req.Action) == s.notAction {
		return false
	}
	if anyMatches(s.resources, req.Resource) == s.notResource {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].eval(req.Context) {
			return false
		}
	}
	return true
}

func anyMatches(pats []pattern, text string) bool {
	for i := range pats {
		if pats[i].match(text) {
			return true
		}
	}
	return false
}
