package cql

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// node is one node of a parsed expression.
type node interface {
	eval(t Target) bool
	format(b *strings.Builder)
}

type andNode struct{ left, right node }

func (n *andNode) eval(t Target) bool { return n.left.eval(t) && n.right.eval(t) }

func (n *andNode) format(b *strings.Builder) {
	formatOperand(b, n.left, true)
	b.WriteString(" and ")
	formatOperand(b, n.right, true)
}

type orNode struct{ left, right node }

func (n *orNode) eval(t Target) bool { return n.left.eval(t) || n.right.eval(t) }

func (n *orNode) format(b *strings.Builder) {
	n.left.format(b)
	b.WriteString(" or ")
	n.right.format(b)
}

type notNode struct{ operand node }

func (n *notNode) eval(t Target) bool { return !n.operand.eval(t) }

func (n *notNode) format(b *strings.Builder) {
	b.WriteString("not ")
	formatOperand(b, n.operand, false)
}

// formatOperand writes n, in parentheses if it would otherwise bind
// differently: an or inside an and, any binary node inside a not.
func formatOperand(b *strings.Builder, n node, inAnd bool) {
	paren := false
	switch n.(type) {
	case *orNode:
		paren = true
	case *andNode:
		paren = !inAnd
	}
	if paren {
		b.WriteByte('(')
	}
	n.format(b)
	if paren {
		b.WriteByte(')')
	}
}

// cond is one condition: subject, operator and arguments. Negated operators
// are stored as their positive form with neg set.
type cond struct {
	subj  subject
	attr  string // attribute name, for subjAttribute
	op    op     // never a negated operator
	neg   bool
	args  []string
	re    *regexp.Regexp // opMatches
	ints  []int64        // runningTasksCount arguments
	times []time.Time    // registeredAt arguments
	day   bool           // registeredAt argument is a date: compare whole UTC days
}

func (c *cond) eval(t Target) bool {
	return c.evalPositive(t) != c.neg
}

func (c *cond) evalPositive(t Target) bool {
	switch c.subj {
	case subjAttribute:
		v, ok := t.Attribute(c.attr)
		if c.op == opExists || !ok {
			return ok
		}
		return c.matchString(v, compareValues)
	case subjEC2InstanceID:
		return c.matchString(t.EC2InstanceID(), compareValues)
	case subjAgentConnected:
		v := strconv.FormatBool(t.AgentConnected())
		if c.op == opMatches {
			return c.re.MatchString(v)
		}
		for _, a := range c.args {
			if strings.EqualFold(a, v) {
				return true
			}
		}
		return false
	case subjAgentVersion:
		v := t.AgentVersion()
		if v == "" {
			return false
		}
		return compareOp(c.op, compareVersions(v, c.args[0]))
	case subjRegisteredAt:
		at := t.RegisteredAt()
		if at.IsZero() {
			return false
		}
		at = at.UTC()
		if c.day {
			at = time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		}
		return compareOp(c.op, at.Compare(c.times[0]))
	case subjRunningTasksCount:
		n := int64(t.RunningTasksCount())
		switch {
		case n < c.ints[0]:
			return compareOp(c.op, -1)
		case n > c.ints[0]:
			return compareOp(c.op, 1)
		}
		return compareOp(c.op, 0)
	case subjTaskGroup:
		for g := range t.TaskGroups() {
			if c.op == opExists || c.matchString(g, compareValues) {
				return true
			}
		}
		return false
	}
	return false
}

// matchString applies a string operator to v; cmp orders v against an
// argument for >, >=, <, <=.
func (c *cond) matchString(v string, cmp func(a, b string) int) bool {
	switch c.op {
	case opEq:
		return v == c.args[0]
	case opIn:
		for _, a := range c.args {
			if v == a {
				return true
			}
		}
		return false
	case opMatches:
		return c.re.MatchString(v)
	case opExists:
		return true
	}
	return compareOp(c.op, cmp(v, c.args[0]))
}

// compareOp applies an ordering or equality operator to the result of a
// three-way comparison.
func compareOp(o op, cmp int) bool {
	switch o {
	case opEq:
		return cmp == 0
	case opGt:
		return cmp > 0
	case opGe:
		return cmp >= 0
	case opLt:
		return cmp < 0
	case opLe:
		return cmp <= 0
	}
	return false
}

// compareValues orders two attribute values: numerically when both are
// decimal numbers, as versions when both are dotted numbers, else byte-wise.
func compareValues(a, b string) int {
	if x, ok := parseNumber(a); ok {
		if y, ok := parseNumber(b); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	if isDottedNumber(a) && isDottedNumber(b) {
		return compareVersions(a, b)
	}
	return strings.Compare(a, b)
}

// parseNumber parses a plain decimal number: an optional sign, digits with
// an optional fraction, and an optional exponent; no hex, inf or NaN.
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// isDottedNumber reports whether s is digits separated by single dots.
func isDottedNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// compareVersions orders dotted versions part by part: numerically where
// both parts are numbers, byte-wise otherwise; a missing part counts as 0,
// so 1.14 == 1.14.0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		if c := comparePart(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func comparePart(x, y string) int {
	if isDigits(x) && isDigits(y) {
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(x, y)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (c *cond) format(b *strings.Builder) {
	if c.subj == subjAttribute {
		b.WriteString("attribute:")
		b.WriteString(c.attr)
	} else {
		b.WriteString(c.subj.name())
	}
	o := c.op
	if c.neg {
		switch c.op {
		case opEq:
			o = opNe
		case opExists:
			o = opNotExists
		case opIn:
			o = opNotIn
		case opMatches:
			o = opNotMatches
		}
	}
	b.WriteByte(' ')
	b.WriteString(o.String())
	switch c.op {
	case opExists:
	case opIn:
		b.WriteString(" [")
		for i, a := range c.args {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, a)
		}
		b.WriteByte(']')
	default:
		b.WriteByte(' ')
		writeValue(b, c.args[0])
	}
}

// writeValue writes v bare when it is a plain word, else double-quoted.
func writeValue(b *strings.Builder, v string) {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		c := v[i]
		plain = isNameChar(c) || c == '*' || c == '+' || c == '?' || c == '^' || c == '$' || c == '=' || c == '!' || c == '~' || c == '<' || c == '>'
	}
	if plain {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}
