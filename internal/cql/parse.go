package cql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxLength is the longest expression Parse accepts, in bytes, as ECS
// limits placement constraint expressions to 2,000 characters.
const MaxLength = 2000

// SyntaxError is the error Parse returns for an expression it cannot parse.
type SyntaxError struct {
	// Offset is the byte offset in the expression where the problem is; it
	// equals the expression's length when the expression ends too early.
	Offset int
	// Msg says what was expected there and what was found.
	Msg string
}

// Error formats the error with a 1-based character position.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("cluster query: at character %d: %s", e.Offset+1, e.Msg)
}

// Expr is a parsed cluster query expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	root      node
	usesTasks bool
}

// Parse parses expr. Any error is a *SyntaxError.
func Parse(expr string) (*Expr, error) {
	if len(expr) > MaxLength {
		return nil, &SyntaxError{Offset: MaxLength, Msg: fmt.Sprintf("expression is %d characters long; at most %d are allowed", len(expr), MaxLength)}
	}
	p := &parser{src: expr}
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf("empty expression; expected a condition such as attribute:ecs.instance-type == t2.small")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errorf("expected and, or, or the end of the expression, found %s", p.found())
	}
	return &Expr{root: root, usesTasks: p.usesTasks}, nil
}

// Eval reports whether t satisfies the expression.
func (e *Expr) Eval(t Target) bool { return e.root.eval(t) }

// UsesTasks reports whether the expression reads task:group or
// runningTasksCount, whose values change as tasks are placed; an expression
// that does not can be evaluated once per instance and request.
func (e *Expr) UsesTasks() bool { return e.usesTasks }

// String returns the expression in canonical form: word operators written as
// symbols, attributes with their attribute: prefix, values quoted where a
// bare word would not read back the same. Parse(e.String()) is equivalent to
// e.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

// subject is what a condition compares.
type subject uint8

const (
	subjAttribute subject = iota
	subjEC2InstanceID
	subjAgentConnected
	subjAgentVersion
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

// builtinSubjects maps the lower-cased built-in subject names to subjects.
func builtinSubject(name string) (subject, bool) {
	switch strings.ToLower(name) {
	case "ec2instanceid":
		return subjEC2InstanceID, true
	case "agentconnected":
		return subjAgentConnected, true
	case "agentversion":
		return subjAgentVersion, true
	case "registeredat":
		return subjRegisteredAt, true
	case "runningtaskscount":
		return subjRunningTasksCount, true
	case "task:group":
		return subjTaskGroup, true
	}
	return 0, false
}

func (s subject) name() string {
	switch s {
	case subjEC2InstanceID:
		return "ec2InstanceId"
	case subjAgentConnected:
		return "agentConnected"
	case subjAgentVersion:
		return "agentVersion"
	case subjRegisteredAt:
		return "registeredAt"
	case subjRunningTasksCount:
		return "runningTasksCount"
	case subjTaskGroup:
		return "task:group"
	}
	return "attribute"
}

// op is a condition's operator.
type op uint8

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatches
	opNotMatches
)

var opSymbols = [...]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opExists: "exists", opNotExists: "!exists", opIn: "in", opNotIn: "not_in",
	opMatches: "=~", opNotMatches: "!~",
}

func (o op) String() string { return opSymbols[o] }

// positive returns the operator o negates, and whether it is a negation.
func (o op) positive() (op, bool) {
	switch o {
	case opNe:
		return opEq, true
	case opNotExists:
		return opExists, true
	case opNotIn:
		return opIn, true
	case opNotMatches:
		return opMatches, true
	}
	return o, false
}

// validOps lists, per subject, the operators ECS documents for it.
func validOps(s subject) []op {
	switch s {
	case subjEC2InstanceID, subjAgentConnected:
		return []op{opEq, opNe, opIn, opNotIn, opMatches, opNotMatches}
	case subjAgentVersion, subjRegisteredAt, subjRunningTasksCount:
		return []op{opEq, opNe, opGt, opGe, opLt, opLe}
	case subjTaskGroup:
		return []op{opEq, opNe, opIn, opNotIn, opMatches, opNotMatches, opExists, opNotExists}
	}
	return []op{opEq, opNe, opGt, opGe, opLt, opLe, opExists, opNotExists, opIn, opNotIn, opMatches, opNotMatches}
}

// Symbolic operators, longest first so that ">=" wins over ">".
var symbolOps = []struct {
	text string
	op   op
	word bool // must be followed by a word boundary
}{
	{"!exists", opNotExists, true},
	{"!in", opNotIn, true},
	{"==", opEq, false},
	{"!=", opNe, false},
	{">=", opGe, false},
	{"<=", opLe, false},
	{"=~", opMatches, false},
	{"!~", opNotMatches, false},
	{">", opGt, false},
	{"<", opLt, false},
}

var wordOps = map[string]op{
	"equals":             opEq,
	"not_equals":         opNe,
	"greater_than":       opGt,
	"greater_than_equal": opGe,
	"less_than":          opLt,
	"less_than_equal":    opLe,
	"exists":             opExists,
	"not_exists":         opNotExists,
	"in":                 opIn,
	"not_in":             opNotIn,
	"matches":            opMatches,
	"not_matches":        opNotMatches,
}

const expectedOps = "==, !=, >, >=, <, <=, exists, !exists, in, not_in, =~ or !~"

type parser struct {
	src       string
	pos       int
	usesTasks bool
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) errorf(format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// found describes the input at the current position for error messages.
func (p *parser) found() string {
	if p.eof() {
		return "the end of the expression"
	}
	rest := p.src[p.pos:]
	end := 0
	for end < len(rest) && end < 20 && !isSpace(rest[end]) {
		end++
	}
	if end == 0 {
		end = 1
	}
	return strconv.Quote(rest[:end])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isNameChar reports whether c may appear in a subject or keyword: ECS
// attribute names are letters, digits, hyphens, underscores, periods,
// slashes, back slashes, at signs and, after the prefix, colons.
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '/' || c == '\\' || c == '@' || c == ':'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// keyword consumes the case-insensitive word kw if it is next and is not the
// start of a longer name.
func (p *parser) keyword(kw string) bool {
	end := p.pos + len(kw)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], kw) {
		return false
	}
	if end < len(p.src) && isNameChar(p.src[end]) {
		return false
	}
	p.pos = end
	return true
}

// symbol consumes s if it is next.
func (p *parser) symbol(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) parseOr() (node, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.symbol("||") && !p.keyword("or") {
			return left, nil
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &orNode{left, right}
	}
}

func (p *parser) parseAnd() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.symbol("&&") && !p.keyword("and") {
			return left, nil
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &andNode{left, right}
	}
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.keyword("not") || p.symbol("!") {
		operand, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &notNode{operand}, nil
	}
	if p.symbol("(") {
		open := p.pos - 1
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.symbol(")") {
			return nil, p.errorf("expected and, or, or ) to close the ( at character %d, found %s", open+1, p.found())
		}
		return inner, nil
	}
	return p.parseCondition()
}

func (p *parser) parseCondition() (node, error) {
	start := p.pos
	for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		p.pos = start
		return nil, p.errorf("expected a condition (attribute:NAME, ec2InstanceId, agentConnected, agentVersion, registeredAt, runningTasksCount or task:group), not, or (, found %s", p.found())
	}
	c := &cond{}
	switch subj, ok := builtinSubject(name); {
	case ok:
		c.subj = subj
	case len(name) >= len("attribute:") && strings.EqualFold(name[:len("attribute:")], "attribute:"):
		c.subj = subjAttribute
		c.attr = name[len("attribute:"):]
		if c.attr == "" {
			p.pos = start + len("attribute:")
			return nil, p.errorf("expected an attribute name after attribute:")
		}
	case strings.HasPrefix(name, "ecs."):
		c.subj = subjAttribute
		c.attr = name
	default:
		p.pos = start
		return nil, p.errorf("unknown subject %q; expected attribute:NAME, ec2InstanceId, agentConnected, agentVersion, registeredAt, runningTasksCount or task:group", name)
	}
	if c.subj == subjTaskGroup || c.subj == subjRunningTasksCount {
		p.usesTasks = true
	}

	p.skipSpace()
	opAt := p.pos
	o, ok := p.parseOp()
	if !ok {
		return nil, p.errorf("expected an operator (%s) after %s, found %s", expectedOps, name, p.found())
	}
	if !opValid(c.subj, o) {
		p.pos = opAt
		return nil, p.errorf("operator %s is not valid for %s; use one of %s", o, c.subj.name(), opList(validOps(c.subj)))
	}
	c.op, c.neg = o.positive()

	switch c.op {
	case opExists:
		return c, nil
	case opIn:
		p.skipSpace()
		if err := p.parseList(c); err != nil {
			return nil, err
		}
	default:
		p.skipSpace()
		argAt := p.pos
		v, err := p.parseValue(false)
		if err != nil {
			return nil, err
		}
		c.args = []string{v}
		if err := c.compile(); err != nil {
			return nil, &SyntaxError{Offset: argAt, Msg: err.Error()}
		}
	}
	return c, nil
}

func opValid(s subject, o op) bool {
	for _, v := range validOps(s) {
		if v == o {
			return true
		}
	}
	return false
}

func opList(ops []op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	return strings.Join(s, ", ")
}

func (p *parser) parseOp() (op, bool) {
	for _, s := range symbolOps {
		if s.word {
			if p.keyword(s.text) {
				return s.op, true
			}
			continue
		}
		if p.symbol(s.text) {
			return s.op, true
		}
	}
	end := p.pos
	for end < len(p.src) && (p.src[end] >= 'a' && p.src[end] <= 'z' || p.src[end] >= 'A' && p.src[end] <= 'Z' || p.src[end] == '_') {
		end++
	}
	if o, ok := wordOps[strings.ToLower(p.src[p.pos:end])]; ok && (end == len(p.src) || !isNameChar(p.src[end])) {
		p.pos = end
		return o, true
	}
	return 0, false
}

func (p *parser) parseList(c *cond) error {
	var closer byte
	switch {
	case p.symbol("["):
		closer = ']'
	case p.symbol("("):
		closer = ')'
	default:
		return p.errorf("expected a list such as [a, b] after %s, found %s", c.op.String(), p.found())
	}
	open := p.pos - 1
	for {
		p.skipSpace()
		if len(c.args) == 0 && p.pos < len(p.src) && p.src[p.pos] == closer {
			return p.errorf("expected a value; an argument list needs at least one")
		}
		argAt := p.pos
		v, err := p.parseValue(true)
		if err != nil {
			return err
		}
		c.args = append(c.args, v)
		if err := c.compileArg(v); err != nil {
			return &SyntaxError{Offset: argAt, Msg: err.Error()}
		}
		p.skipSpace()
		if p.symbol(",") {
			continue
		}
		if p.symbol(string(closer)) {
			return nil
		}
		return p.errorf("expected , or %c to close the list at character %d, found %s", closer, open+1, p.found())
	}
}

// parseValue reads a quoted string or a bare word. In a list, a bare word
// also ends at a comma.
func (p *parser) parseValue(inList bool) (string, error) {
	if p.eof() {
		return "", p.errorf("expected a value, found the end of the expression")
	}
	if q := p.src[p.pos]; q == '"' || q == '\'' {
		return p.parseQuoted()
	}
	start := p.pos
	parens, brackets := 0, 0
loop:
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			break loop
		case c == '(':
			parens++
		case c == ')':
			if parens == 0 {
				break loop
			}
			parens--
		case c == '[':
			brackets++
		case c == ']':
			if brackets == 0 {
				break loop
			}
			brackets--
		case c == ',' && inList && parens == 0 && brackets == 0:
			break loop
		case (c == '&' || c == '|') && p.pos+1 < len(p.src) && p.src[p.pos+1] == c && parens == 0 && brackets == 0:
			break loop
		}
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected a value, found %s", p.found())
	}
	return p.src[start:p.pos], nil
}

func (p *parser) parseQuoted() (string, error) {
	start := p.pos
	q := p.src[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == q || p.src[p.pos+1] == '\\'):
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return "", p.errorf("unterminated quoted value; expected a closing %c", q)
}

// compile checks the single argument of c against its subject and operator
// and precomputes what Eval needs.
func (c *cond) compile() error {
	if c.op == opMatches {
		return c.compileRegexp(c.args[0])
	}
	return c.compileArg(c.args[0])
}

func (c *cond) compileRegexp(pattern string) error {
	if strings.HasPrefix(pattern, "*") {
		return fmt.Errorf("invalid regular expression %q: it starts with *; to match any characters write .*", pattern)
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return fmt.Errorf("invalid regular expression %q: %v", pattern, err)
	}
	c.re = re
	return nil
}

// compileArg checks one argument of a comparison or list.
func (c *cond) compileArg(v string) error {
	switch c.subj {
	case subjAgentConnected:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("agentConnected compares with true or false, not %q", v)
		}
	case subjRunningTasksCount:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("runningTasksCount compares with a non-negative integer, not %q", v)
		}
		c.ints = append(c.ints, n)
	case subjRegisteredAt:
		t, day, ok := parseTime(v)
		if !ok {
			return fmt.Errorf("registeredAt compares with a date such as 2018-06-18T22:28:28Z, 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28 or 2018-06-18, not %q", v)
		}
		c.times = append(c.times, t)
		c.day = day
	case subjAgentVersion:
		if v == "" {
			return fmt.Errorf("agentVersion compares with a version such as 1.14.5, not an empty value")
		}
	}
	return nil
}

// parseTime parses the registeredAt formats ECS documents. day reports a
// date without a time.
func parseTime(v string) (t time.Time, day bool, ok bool) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, false, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", v); err == nil {
		return t, false, true
	}
	return time.Time{}, false, false
}
