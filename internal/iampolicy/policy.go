package iampolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The policy language versions IAM accepts. A document without a Version
// is read as VersionLegacy, as IAM reads it.
const (
	VersionCurrent = "2012-10-17"
	VersionLegacy  = "2008-10-17"
)

// effect is a statement's Effect.
type effect uint8

const (
	effectAllow effect = iota + 1
	effectDeny
)

// Policy is a parsed and compiled identity-based policy document. It is
// immutable and safe for concurrent use.
type Policy struct {
	version string
	id      string
	stmts   []statement
}

// Version returns the document's Version, or "" if it had none.
func (p *Policy) Version() string { return p.version }

// Len returns the number of statements.
func (p *Policy) Len() int { return len(p.stmts) }

// statement is one compiled Statement.
type statement struct {
	sid         string
	effect      effect
	notAction   bool
	actions     []pattern
	notResource bool
	resources   []pattern
	conds       []condition
}

// ErrMalformed is matched, with errors.Is, by every error Parse returns.
var ErrMalformed = errors.New("malformed policy document")

// MalformedError says why a policy document was refused and where. Reason
// reads like IAM's MalformedPolicyDocument messages ("Policy statement must
// contain actions.").
type MalformedError struct {
	// Line and Column locate the offending element (1-based; Column counts
	// bytes). Both are 0 when there is no single place to point at.
	Line, Column int
	// Statement is the 1-based index of the statement at fault, 0 if the
	// fault is outside any statement; Sid is its Sid, if it has one.
	Statement int
	Sid       string
	Reason    string
}

// Error returns "MalformedPolicyDocument: <reason> (line L, column C,
// statement N "sid")".
func (e *MalformedError) Error() string {
	var b strings.Builder
	b.WriteString("MalformedPolicyDocument: ")
	b.WriteString(e.Reason)
	var where []string
	if e.Line > 0 {
		where = append(where, fmt.Sprintf("line %d, column %d", e.Line, e.Column))
	}
	if e.Statement > 0 {
		s := "statement " + strconv.Itoa(e.Statement)
		if e.Sid != "" {
			s += " " + strconv.Quote(e.Sid)
		}
		where = append(where, s)
	}
	if len(where) > 0 {
		b.WriteString(" (" + strings.Join(where, ", ") + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Options adjusts Parse.
type Options struct {
	// ConditionKeys lists the condition keys a policy may name: the keys
	// the caller fills in Request.Context. A key ending in "/" stands for a
	// family ("aws:ResourceTag/" admits "aws:ResourceTag/team"). Keys are
	// matched case-insensitively, as IAM matches them, and compiled to the
	// spelling given here. Nil means DefaultConditionKeys().
	ConditionKeys []string
}

// DefaultConditionKeys returns the condition keys Parse accepts by default:
// the global keys and the service keys Gantry can supply.
func DefaultConditionKeys() []string {
	return []string{
		"aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:SourceIp",
		"aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType",
		"aws:username", "aws:userid", "aws:RequestedRegion", "aws:UserAgent",
		"aws:TagKeys", "aws:RequestTag/", "aws:ResourceTag/", "aws:PrincipalTag/",
		"ecs:cluster", "ecs:container-instances", "ecs:container-name",
		"ecs:task-definition", "ecs:service", "ecs:task", "ecs:capacity-provider",
		"ecs:enable-execute-command", "ecs:ResourceTag/",
		"elasticloadbalancing:ResourceTag/",
		"logs:ResourceTag/",
		"ecr:ResourceTag/",
		"application-autoscaling:service-namespace",
		"application-autoscaling:scalable-dimension",
		"cloudwatch:namespace",
	}
}

// Parse parses an identity-based policy document as IAM does and compiles
// it for Evaluate. A document that does not parse yields a nil *Policy and
// a *MalformedError (matched by ErrMalformed); nothing is ever ignored:
// unknown elements, operators and condition keys, a Principal, duplicated
// names and policy variables are all refused.
func Parse(doc []byte) (*Policy, error) {
	return ParseWithOptions(doc, Options{})
}

// ParseWithOptions is Parse with options.
func ParseWithOptions(doc []byte, opts Options) (*Policy, error) {
	keys := opts.ConditionKeys
	if keys == nil {
		keys = DefaultConditionKeys()
	}
	ps := &parser{doc: doc, keys: newKeySet(keys)}
	root, err := decodeTree(doc)
	if err != nil {
		return nil, err
	}
	return ps.policy(root)
}

// parser carries the document (for positions) and the statement being read
// (for messages).
type parser struct {
	doc     []byte
	keys    keySet
	version string
	stmt    int
	sid     string
}

func (ps *parser) errAt(off int, reason string) error {
	e := &MalformedError{Statement: ps.stmt, Sid: ps.sid, Reason: reason}
	if off >= 0 {
		e.Line, e.Column = position(ps.doc, off)
	}
	return e
}

func (ps *parser) syntax(off int, format string, args ...any) error {
	return ps.errAt(off, "Syntax errors in policy: "+fmt.Sprintf(format, args...)+".")
}

func (ps *parser) policy(root jval) (*Policy, error) {
	if root.kind != jObject {
		return nil, ps.syntax(root.off, "the document must be a JSON object, not %s", root.kind)
	}
	p := &Policy{}
	var stmts *jval
	for i := range root.obj {
		m := &root.obj[i]
		switch m.key {
		case "Version":
			if m.val.kind != jString || (m.val.text != VersionCurrent && m.val.text != VersionLegacy) {
				return nil, ps.errAt(m.val.off, fmt.Sprintf("The policy must contain a valid version string: %s is not one of %s or %s.", show(m.val), VersionCurrent, VersionLegacy))
			}
			p.version = m.val.text
		case "Id":
			if m.val.kind != jString {
				return nil, ps.syntax(m.val.off, "Id must be a string")
			}
			p.id = m.val.text
		case "Statement":
			stmts = &m.val
		default:
			return nil, ps.syntax(m.keyOff, "unknown field %s", quote(m.key))
		}
	}
	ps.version = p.version
	if stmts == nil {
		return nil, ps.errAt(root.off, "Missing required field Statement.")
	}
	list := []jval{*stmts}
	if stmts.kind == jArray {
		list = stmts.arr
	}
	if len(list) == 0 {
		return nil, ps.errAt(stmts.off, "Policy must contain at least one statement.")
	}
	sids := map[string]bool{}
	for i, v := range list {
		ps.stmt, ps.sid = i+1, ""
		s, err := ps.statement(v)
		if err != nil {
			return nil, err
		}
		if s.sid != "" {
			if sids[s.sid] {
				return nil, ps.errAt(v.off, "Statement IDs (SID) in a single policy must be unique.")
			}
			sids[s.sid] = true
		}
		p.stmts = append(p.stmts, s)
	}
	return p, nil
}

func (ps *parser) statement(v jval) (statement, error) {
	var s statement
	if v.kind != jObject {
		return s, ps.syntax(v.off, "a statement must be a JSON object, not %s", v.kind)
	}
	var effect, action, notAction, resource, notResource, cond *jmember
	for i := range v.obj {
		m := &v.obj[i]
		switch m.key {
		case "Sid":
			if m.val.kind != jString {
				return s, ps.syntax(m.val.off, "Sid must be a string")
			}
			for _, c := range []byte(m.val.text) {
				if !isAlnum(c) {
					return s, ps.errAt(m.val.off, "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*")
				}
			}
			s.sid, ps.sid = m.val.text, m.val.text
		case "Effect":
			effect = m
		case "Action":
			action = m
		case "NotAction":
			notAction = m
		case "Resource":
			resource = m
		case "NotResource":
			notResource = m
		case "Condition":
			cond = m
		case "Principal", "NotPrincipal":
			return s, ps.errAt(m.keyOff, "Policy document should not specify a principal.")
		default:
			return s, ps.syntax(m.keyOff, "unknown field %s in a statement", quote(m.key))
		}
	}
	switch {
	case effect == nil:
		return s, ps.errAt(v.off, "Missing required field Effect.")
	case effect.val.kind != jString:
		return s, ps.errAt(effect.val.off, "Invalid effect: "+show(effect.val)+". Effect must be Allow or Deny.")
	case effect.val.text == "Allow":
		s.effect = effectAllow
	case effect.val.text == "Deny":
		s.effect = effectDeny
	default:
		return s, ps.errAt(effect.val.off, "Invalid effect: "+show(effect.val)+". Effect must be Allow or Deny.")
	}

	switch {
	case action != nil && notAction != nil:
		return s, ps.errAt(notAction.keyOff, "Statement must contain Action or NotAction, not both.")
	case action == nil && notAction == nil:
		return s, ps.errAt(v.off, "Policy statement must contain actions.")
	}
	am := action
	if am == nil {
		am, s.notAction = notAction, true
	}
	acts, err := ps.stringList(am)
	if err != nil {
		return s, err
	}
	if len(acts) == 0 {
		return s, ps.errAt(am.val.off, "Policy statement must contain actions.")
	}
	for _, a := range acts {
		if err := ps.checkAction(a); err != nil {
			return s, err
		}
		s.actions = append(s.actions, compileAction(a.text))
	}

	switch {
	case resource != nil && notResource != nil:
		return s, ps.errAt(notResource.keyOff, "Statement must contain Resource or NotResource, not both.")
	case resource == nil && notResource == nil:
		return s, ps.errAt(v.off, "Policy statement must contain resources.")
	}
	rm := resource
	if rm == nil {
		rm, s.notResource = notResource, true
	}
	ress, err := ps.stringList(rm)
	if err != nil {
		return s, err
	}
	if len(ress) == 0 {
		return s, ps.errAt(rm.val.off, "Policy statement must contain resources.")
	}
	for _, r := range ress {
		if err := ps.checkResource(r); err != nil {
			return s, err
		}
		s.resources = append(s.resources, compileResource(r.text))
	}

	if cond != nil {
		s.conds, err = ps.conditions(cond.val)
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// stringList reads a string or a list of strings.
func (ps *parser) stringList(m *jmember) ([]jval, error) {
	switch m.val.kind {
	case jString:
		return []jval{m.val}, nil
	case jArray:
		for _, el := range m.val.arr {
			if el.kind != jString {
				return nil, ps.syntax(el.off, "%s must hold strings, not %s", m.key, el.kind)
			}
		}
		return m.val.arr, nil
	}
	return nil, ps.syntax(m.val.off, "%s must be a string or a list of strings, not %s", m.key, m.val.kind)
}

// checkAction validates "*" or "service:Operation" with wildcards only in
// the operation.
func (ps *parser) checkAction(v jval) error {
	a := v.text
	if a == "*" {
		return nil
	}
	svc, op, ok := strings.Cut(a, ":")
	if !ok || svc == "" {
		return ps.errAt(v.off, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
	}
	if strings.Contains(op, ":") {
		return ps.errAt(v.off, "Actions/Condition can contain only one colon.")
	}
	for _, c := range []byte(svc) {
		if !isAlnum(c) && c != '-' {
			return ps.errAt(v.off, fmt.Sprintf("Vendor %s is not valid", svc))
		}
	}
	if op == "" {
		return ps.errAt(v.off, fmt.Sprintf("Action %s must name an operation after the vendor.", a))
	}
	for _, c := range []byte(op) {
		if !isAlnum(c) && c != '*' && c != '?' && c != '-' && c != '_' {
			return ps.errAt(v.off, fmt.Sprintf("Action %s contains an invalid character %q.", a, c))
		}
	}
	return nil
}

// checkResource validates "*" or an ARN of at least six colon-separated
// parts with a service part free of wildcards.
func (ps *parser) checkResource(v jval) error {
	r := v.text
	if r == "*" {
		return ps.checkVariables(v)
	}
	parts := strings.SplitN(r, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || parts[2] == "" {
		return ps.errAt(v.off, fmt.Sprintf("Resource %s must be in ARN format or \"*\".", r))
	}
	if strings.ContainsAny(parts[2], "*?") {
		return ps.errAt(v.off, fmt.Sprintf("Resource %s: the service part of an ARN cannot hold a wildcard.", r))
	}
	return ps.checkVariables(v)
}

// checkVariables refuses policy variables, which Gantry does not expand,
// rather than treating "${aws:username}" as literal text the way a
// 2008-10-17 policy would.
func (ps *parser) checkVariables(v jval) error {
	if ps.version == VersionCurrent && strings.Contains(v.text, "${") {
		return ps.errAt(v.off, fmt.Sprintf("Policy variables are not supported: %s.", v.text))
	}
	return nil
}

func (ps *parser) conditions(v jval) ([]condition, error) {
	if v.kind != jObject {
		return nil, ps.syntax(v.off, "Condition must be an object, not %s", v.kind)
	}
	var conds []condition
	for _, om := range v.obj {
		c, err := ps.operator(om)
		if err != nil {
			return nil, err
		}
		if om.val.kind != jObject {
			return nil, ps.syntax(om.val.off, "condition %s must map keys to values, not %s", om.key, om.val.kind)
		}
		if len(om.val.obj) == 0 {
			return nil, ps.errAt(om.val.off, fmt.Sprintf("Condition %s names no key.", om.key))
		}
		for _, km := range om.val.obj {
			kc := c
			key, err := ps.conditionKey(km)
			if err != nil {
				return nil, err
			}
			kc.key = key
			if err := ps.conditionValues(&kc, om.key, km.val); err != nil {
				return nil, err
			}
			conds = append(conds, kc)
		}
	}
	return conds, nil
}

// operator reads an operator name with its qualifiers.
func (ps *parser) operator(om jmember) (condition, error) {
	var c condition
	name := om.key
	if q, rest, ok := strings.Cut(name, ":"); ok {
		switch strings.ToLower(q) {
		case "foranyvalue":
			c.set = setAny
		case "forallvalues":
			c.set = setAll
		default:
			return c, ps.errAt(om.keyOff, "Invalid Condition type : "+om.key)
		}
		name = rest
	}
	if len(name) > len("IfExists") && strings.EqualFold(name[len(name)-len("IfExists"):], "IfExists") {
		c.ifExists = true
		name = name[:len(name)-len("IfExists")]
	}
	spec, ok := lookupOperator(name)
	if !ok {
		return c, ps.errAt(om.keyOff, "Invalid Condition type : "+om.key)
	}
	if spec.op == opNull && (c.ifExists || c.set != setNone) {
		return c, ps.errAt(om.keyOff, "Invalid Condition type : "+om.key+" (Null takes no qualifier)")
	}
	c.opSpec = spec
	return c, nil
}

func (ps *parser) conditionKey(km jmember) (string, error) {
	if svc, _, ok := strings.Cut(km.key, ":"); !ok || svc == "" {
		return "", ps.errAt(km.keyOff, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
	}
	key, ok := ps.keys.canonical(km.key)
	if !ok {
		return "", ps.errAt(km.keyOff, fmt.Sprintf("Condition key %s is not supported.", km.key))
	}
	return key, nil
}

// conditionValues reads a condition's values (a string, number or boolean,
// or a list of them) and compiles them for the operator.
func (ps *parser) conditionValues(c *condition, opName string, v jval) error {
	vals := []jval{v}
	if v.kind == jArray {
		vals = v.arr
	}
	if len(vals) == 0 {
		return ps.errAt(v.off, fmt.Sprintf("Condition %s on %s has no value.", opName, c.key))
	}
	for _, el := range vals {
		if el.kind != jString && el.kind != jNumber && el.kind != jBool {
			return ps.syntax(el.off, "condition values must be strings, numbers or booleans, not %s", el.kind)
		}
		if err := ps.checkVariables(el); err != nil {
			return err
		}
		bad := func(what string) error {
			return ps.errAt(el.off, fmt.Sprintf("Condition %s on %s: %s is not %s.", opName, c.key, show(el), what))
		}
		s := el.text
		switch c.op {
		case opStringEquals:
			if c.ignoreCase {
				s = strings.ToLower(s)
			}
			c.strs = append(c.strs, s)
		case opStringLike:
			c.pats = append(c.pats, compileGlob(s, false))
		case opArnLike:
			a, ok := compileARNValue(s)
			if !ok {
				return bad("an ARN")
			}
			c.arns = append(c.arns, a)
		case opBool, opNull:
			if !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
				return bad("true or false")
			}
			c.strs = append(c.strs, strings.ToLower(s))
			c.null = strings.EqualFold(s, "true")
			if c.op == opNull && len(vals) > 1 {
				return ps.errAt(el.off, fmt.Sprintf("Condition %s on %s takes one value.", opName, c.key))
			}
		case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return bad("a number")
			}
			c.nums = append(c.nums, n)
		case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
			t, ok := parseDate(s)
			if !ok {
				return bad("a date (ISO 8601 or seconds since the epoch)")
			}
			c.times = append(c.times, t)
		case opIPAddress:
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return bad("an IP address or CIDR block")
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			p = p.Masked()
			c.nets = append(c.nets, p)
		}
	}
	return nil
}

// compileARNValue compiles an ArnLike value: "*" or six colon-separated
// parts, each a wildcard pattern.
func compileARNValue(s string) (arnPattern, bool) {
	if s == "*" {
		return arnPattern{all: true}, true
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 {
		return arnPattern{}, false
	}
	var a arnPattern
	for i, p := range parts {
		a.segs[i] = compileGlob(p, false)
	}
	return a, true
}

// keySet resolves condition keys case-insensitively to their canonical
// spelling.
type keySet struct {
	exact    map[string]string // lower case → canonical
	families []string          // canonical prefixes ending in "/"
}

func newKeySet(keys []string) keySet {
	ks := keySet{exact: map[string]string{}}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			ks.families = append(ks.families, k)
			continue
		}
		ks.exact[strings.ToLower(k)] = k
	}
	return ks
}

func (ks keySet) canonical(key string) (string, bool) {
	if k, ok := ks.exact[strings.ToLower(key)]; ok {
		return k, true
	}
	for _, f := range ks.families {
		if len(key) > len(f) && strings.EqualFold(key[:len(f)], f) {
			return f + key[len(f):], true
		}
	}
	return "", false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// show renders a JSON scalar for a message.
func show(v jval) string {
	switch v.kind {
	case jString:
		return v.text
	case jNumber, jBool:
		return v.text
	}
	return v.kind.String()
}

func quote(s string) string { return strconv.Quote(s) }
