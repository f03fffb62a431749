package filterpattern

import (
	"regexp"
	"strconv"
	"strings"
)

// cmpOp is a comparison operator of JSON and space-delimited conditions.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

func (o cmpOp) String() string {
	return [...]string{"=", "!=", "<", "<=", ">", ">="}[o]
}

// lexOp reads an operator at t[i]; it returns the bytes consumed, 0 if none.
func lexOp(t string, i int) (cmpOp, int) {
	if i >= len(t) {
		return 0, 0
	}
	next := byte(0)
	if i+1 < len(t) {
		next = t[i+1]
	}
	switch t[i] {
	case '=':
		return opEq, 1
	case '!':
		if next == '=' {
			return opNe, 2
		}
	case '<':
		if next == '=' {
			return opLe, 2
		}
		return opLt, 1
	case '>':
		if next == '=' {
			return opGe, 2
		}
		return opGt, 1
	}
	return 0, 0
}

type litKind uint8

const (
	litText   litKind = iota // a string, possibly with leading/trailing * wildcards
	litNumber                // a number: compared numerically
	litRegex                 // %regex%
)

// cond is "OP value" of a JSON or space-delimited condition.
//
// Semantics (user guide, JSON and space-delimited sections):
//   - strings compare exactly, case-sensitively; * at the start or the end
//     matches any text ("*Event", "Event*", "4*", "*.html*"); the older
//     guide says "Ev*ent will only match the actual string Ev*ent", so an
//     inner * is literal; a lone * matches any value;
//   - a number literal compares numerically with a value that is a number;
//     = and != fall back to comparing the text as written otherwise, and
//     < <= > >= are false for a value that is not a number;
//   - %regex% matches when it matches anywhere in the value; != negates.
type cond struct {
	op   cmpOp
	kind litKind
	text string // litText: the text between wildcards; litNumber: as written
	pre  bool   // litText: leading *
	suf  bool   // litText: trailing *
	num  float64
	re   *regexp.Regexp
}

// matches reports whether value v (a JSON string or number, or a field of a
// space-delimited event) satisfies the condition.
func (c *cond) matches(v string) bool {
	switch c.kind {
	case litNumber:
		if isNumber(v) {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				switch c.op {
				case opEq:
					return f == c.num
				case opNe:
					return f != c.num
				case opLt:
					return f < c.num
				case opLe:
					return f <= c.num
				case opGt:
					return f > c.num
				case opGe:
					return f >= c.num
				}
			}
		}
		switch c.op {
		case opEq:
			return v == c.text
		case opNe:
			return v != c.text
		}
		return false
	case litRegex:
		return c.re.MatchString(v) == (c.op == opEq)
	}
	return c.glob(v) == (c.op == opEq)
}

func (c *cond) glob(v string) bool {
	switch {
	case c.pre && c.suf:
		return strings.Contains(v, c.text)
	case c.pre:
		return strings.HasSuffix(v, c.text)
	case c.suf:
		return strings.HasPrefix(v, c.text)
	}
	return v == c.text
}

// isNumber reports whether s is a number as filter patterns write them: an
// optional sign, digits with an optional fraction (or a fraction alone), and
// an optional exponent. (strconv.ParseFloat alone would also take "NaN",
// "Inf", hex and underscores.)
func isNumber(s string) bool {
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
		return false
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
			return false
		}
	}
	return i == len(s)
}

// isBareValueByte reports whether c may appear in an unquoted value. The
// guide's unquoted values are words, numbers (+1000, 1e-3) and wildcard
// strings such as 123.123.* and *.html*; anything else must be quoted.
func isBareValueByte(c byte) bool {
	return isWordByte(c) || c == '.' || c == '*' || c == '-' || c == '+'
}

// lexValue reads the value of a condition at t[i] (after the operator and
// any space): "quoted", %regex% or a bare word. stop reports the bytes that
// end a bare word besides white space. It returns the condition (op unset)
// and the index after the value.
func lexValue(src string, base int, t string, i int, stop func(byte) bool, regexes *int) (cond, int, error) {
	var c cond
	if i >= len(t) || stop(t[i]) {
		return c, i, errorf(src, base+i, "Missing value after operator")
	}
	switch t[i] {
	case '"':
		s, end, ok := unquote(t, i)
		if !ok {
			return c, i, errorf(src, base+i, "Unterminated quoted value %s", t[i:])
		}
		c.kind = litText
		c.setGlob(s)
		return c, end, nil
	case '%':
		k := strings.IndexByte(t[i+1:], '%')
		if k < 0 {
			return c, i, errorf(src, base+i, "Unterminated regular expression %s", t[i:])
		}
		*regexes++
		if *regexes > maxRegexes {
			return c, i, errorf(src, base+i, "A filter pattern may contain at most %d regular expressions", maxRegexes)
		}
		re, err := compileRegex(src, base+i+1, t[i+1:i+1+k])
		if err != nil {
			return c, i, err
		}
		c.kind, c.re = litRegex, re
		return c, i + k + 2, nil
	}
	j := i
	for j < len(t) && !isSpace(t[j]) && !stop(t[j]) {
		if !isBareValueByte(t[j]) {
			return c, j, errorf(src, base+j, "Invalid character(s) in term '%s'", bareRun(t, i, stop))
		}
		j++
	}
	w := t[i:j]
	if isNumber(w) {
		f, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return c, j, errorf(src, base+i, "Invalid number %s", w)
		}
		c.kind, c.text, c.num = litNumber, w, f
		return c, j, nil
	}
	c.kind = litText
	c.setGlob(w)
	return c, j, nil
}

// setGlob sets a text condition from s, taking * at either end as a
// wildcard.
func (c *cond) setGlob(s string) {
	if s != "" && strings.Trim(s, "*") == "" {
		c.pre, c.suf, c.text = true, true, ""
		return
	}
	if strings.HasPrefix(s, "*") {
		c.pre = true
		s = s[1:]
	}
	if strings.HasSuffix(s, "*") {
		c.suf = true
		s = s[:len(s)-1]
	}
	c.text = s
}

// bareRun returns the run of t from i up to white space or a stop byte.
func bareRun(t string, i int, stop func(byte) bool) string {
	j := i
	for j < len(t) && !isSpace(t[j]) && !stop(t[j]) {
		j++
	}
	return t[i:j]
}

// checkOp rejects operators the literal does not support: < <= > >= need a
// number, a regex only takes = and !=.
func checkOp(src string, off int, c *cond) error {
	if c.op >= opLt && c.kind != litNumber {
		return errorf(src, off, "Operator %s needs a number", c.op)
	}
	return nil
}
