package iampolicy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opKind is a condition operator family; the Not and IgnoreCase variants
// are flags on the condition.
type opKind uint8

const (
	opStringEquals opKind = iota
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opIPAddress
	opArnLike
	opNull
)

// opSpec is what an operator name means.
type opSpec struct {
	op         opKind
	negate     bool
	ignoreCase bool
}

// lookupOperator maps an operator name, without its ForAnyValue: or
// ForAllValues: prefix and IfExists suffix, to its meaning. Names are
// matched case-insensitively.
func lookupOperator(name string) (opSpec, bool) {
	switch strings.ToLower(name) {
	case "stringequals":
		return opSpec{op: opStringEquals}, true
	case "stringnotequals":
		return opSpec{op: opStringEquals, negate: true}, true
	case "stringequalsignorecase":
		return opSpec{op: opStringEquals, ignoreCase: true}, true
	case "stringnotequalsignorecase":
		return opSpec{op: opStringEquals, negate: true, ignoreCase: true}, true
	case "stringlike":
		return opSpec{op: opStringLike}, true
	case "stringnotlike":
		return opSpec{op: opStringLike, negate: true}, true
	case "numericequals":
		return opSpec{op: opNumericEquals}, true
	case "numericnotequals":
		return opSpec{op: opNumericEquals, negate: true}, true
	case "numericlessthan":
		return opSpec{op: opNumericLessThan}, true
	case "numericlessthanequals":
		return opSpec{op: opNumericLessThanEquals}, true
	case "numericgreaterthan":
		return opSpec{op: opNumericGreaterThan}, true
	case "numericgreaterthanequals":
		return opSpec{op: opNumericGreaterThanEquals}, true
	case "dateequals":
		return opSpec{op: opDateEquals}, true
	case "datenotequals":
		return opSpec{op: opDateEquals, negate: true}, true
	case "datelessthan":
		return opSpec{op: opDateLessThan}, true
	case "datelessthanequals":
		return opSpec{op: opDateLessThanEquals}, true
	case "dategreaterthan":
		return opSpec{op: opDateGreaterThan}, true
	case "dategreaterthanequals":
		return opSpec{op: opDateGreaterThanEquals}, true
	case "bool":
		return opSpec{op: opBool}, true
	case "ipaddress":
		return opSpec{op: opIPAddress}, true
	case "notipaddress":
		return opSpec{op: opIPAddress, negate: true}, true
	case "arnequals", "arnlike":
		return opSpec{op: opArnLike}, true
	case "arnnotequals", "arnnotlike":
		return opSpec{op: opArnLike, negate: true}, true
	case "null":
		return opSpec{op: opNull}, true
	}
	return opSpec{}, false
}

// setKind is the ForAnyValue/ForAllValues qualifier.
type setKind uint8

const (
	setNone setKind = iota
	setAny
	setAll
)

// condition is one (operator, key) pair of a Condition block with its
// values compiled. All conditions of a statement must hold; any one value
// of a condition may match.
type condition struct {
	opSpec
	set      setKind
	ifExists bool
	key      string // canonical spelling, as looked up in Request.Context

	strs  []string // StringEquals* (lower-cased if ignoreCase), Bool
	pats  []pattern
	arns  []arnPattern
	nums  []float64
	times []time.Time
	nets  []netip.Prefix
	null  bool // Null: true means "the key is absent"
}

// arnPattern matches the six colon-separated parts of an ARN separately,
// as ArnLike does; the last part keeps any further colons.
type arnPattern struct {
	all  bool // the value "*"
	segs [6]pattern
}

func (a *arnPattern) match(v string) bool {
	if a.all {
		return true
	}
	for i := range 5 {
		j := strings.IndexByte(v, ':')
		if j < 0 || !a.segs[i].match(v[:j]) {
			return false
		}
		v = v[j+1:]
	}
	return a.segs[5].match(v)
}

// eval reports whether the condition holds for the request context.
func (c *condition) eval(ctx map[string][]string) bool {
	vals := ctx[c.key]
	if c.op == opNull {
		return (len(vals) == 0) == c.null
	}
	if len(vals) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.set == setAll:
			return true // IAM: ForAllValues over no values is true
		case c.set == setAny:
			return false
		}
		return c.negate // a negated operator holds when the key is absent
	}
	switch c.set {
	case setAny:
		for _, v := range vals {
			if c.matchOne(v) != c.negate {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range vals {
			if c.matchOne(v) == c.negate {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.matchOne(v) {
			return !c.negate
		}
	}
	return c.negate
}

// matchOne reports whether one request value matches any policy value under
// the positive form of the operator.
func (c *condition) matchOne(v string) bool {
	switch c.op {
	case opStringEquals:
		for _, s := range c.strs {
			if v == s || c.ignoreCase && strings.EqualFold(v, s) {
				return true
			}
		}
	case opBool:
		for _, s := range c.strs {
			if strings.EqualFold(v, s) {
				return true
			}
		}
	case opStringLike:
		for i := range c.pats {
			if c.pats[i].match(v) {
				return true
			}
		}
	case opArnLike:
		for i := range c.arns {
			if c.arns[i].match(v) {
				return true
			}
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, n := range c.nums {
			if compareHolds(c.op-opNumericEquals, cmpFloat(x, n)) {
				return true
			}
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, d := range c.times {
			if compareHolds(c.op-opDateEquals, t.Compare(d)) {
				return true
			}
		}
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
	}
	return false
}

// compareHolds applies the comparison at offset rel (0 equals, 1 less
// than, 2 less or equal, 3 greater than, 4 greater or equal) to the result
// of a three-way comparison of request value with policy value.
func compareHolds(rel opKind, cmp int) bool {
	switch rel {
	case 0:
		return cmp == 0
	case 1:
		return cmp < 0
	case 2:
		return cmp <= 0
	case 3:
		return cmp > 0
	default:
		return cmp >= 0
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseDate reads a date as IAM accepts it: ISO 8601 (RFC 3339, or a bare
// date) or seconds since the epoch.
func parseDate(s string) (time.Time, bool) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04Z07:00", s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
