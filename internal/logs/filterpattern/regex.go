package filterpattern

import (
	"regexp"
	"strings"
)

// The regular expressions of filter patterns ("Supported regular expressions
// (regex) syntax" in the user guide) are a subset: between the % signs only
// ASCII letters and digits, the symbols : _ # = @ / ; , - and space, and the
// operators ^ $ ? [ ] { } | \ * + . may appear. Parentheses are not
// supported, nor multi-byte characters; \xhh reaches any other character.
// Escapes are \d \D \s \S \w \W \xhh and a backslash before a symbol or
// operator (its literal meaning). {m,n} may omit either bound.
//
// The subset is translated to Go's RE2 syntax and compiled with regexp, so
// matching is linear in the message. A regex matches when it matches
// anywhere in the text (unanchored search); . matches any character,
// newline included.

// maxRegexes is AWS's quota of regular expressions in one JSON or
// space-delimited pattern.
const maxRegexes = 2

// regexMatcher is a standalone %regex% pattern.
type regexMatcher struct{ re *regexp.Regexp }

func (m *regexMatcher) match(msg string, _ *scratch) bool { return m.re.MatchString(msg) }

func parseStandaloneRegex(src string, base int, t string) (*regexMatcher, error) {
	if len(t) < 2 || t[len(t)-1] != '%' {
		return nil, errorf(src, base, "If a filter pattern starts with '%%' it must end with '%%'")
	}
	re, err := compileRegex(src, base+1, t[1:len(t)-1])
	if err != nil {
		return nil, err
	}
	return &regexMatcher{re: re}, nil
}

// isRegexLiteral reports whether c stands for itself in a regex body.
func isRegexLiteral(c byte) bool {
	if isWordByte(c) {
		return true
	}
	switch c {
	case ':', '#', '=', '@', '/', ';', ',', '-', ' ':
		return true
	}
	return false
}

func isRegexOperator(c byte) bool {
	switch c {
	case '^', '$', '?', '[', ']', '{', '}', '|', '\\', '*', '+', '.':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// compileRegex validates body (at offset base in src) against the documented
// subset and compiles it.
func compileRegex(src string, base int, body string) (*regexp.Regexp, error) {
	if body == "" {
		return nil, errorf(src, base, "Empty regular expression")
	}
	var b strings.Builder
	b.Grow(len(body) + 8)
	b.WriteString("(?s)")
	canRepeat := false // whether a quantifier may follow
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			n, err := regexEscape(src, base+i, body[i:], &b)
			if err != nil {
				return nil, err
			}
			i += n
			canRepeat = true
		case c == '[':
			n, err := regexClass(src, base+i, body[i:], &b)
			if err != nil {
				return nil, err
			}
			i += n
			canRepeat = true
		case c == '{':
			n, err := regexRepeat(src, base+i, body[i:], &b, canRepeat)
			if err != nil {
				return nil, err
			}
			i += n
		case c == '?' || c == '*' || c == '+':
			if !canRepeat {
				return nil, errorf(src, base+i, "Invalid regular expression: missing argument to repetition operator '%c'", c)
			}
			b.WriteByte(c)
			i++
		case c == '^' || c == '$' || c == '|':
			b.WriteByte(c)
			i++
			canRepeat = false
		case c == '.':
			b.WriteByte('.')
			i++
			canRepeat = true
		case c == ']' || c == '}':
			return nil, errorf(src, base+i, "Invalid regular expression: unexpected '%c'", c)
		case isRegexLiteral(c):
			b.WriteByte(c)
			i++
			canRepeat = true
		default:
			return nil, invalidRegexChar(src, base+i, body)
		}
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, errorf(src, base, "Invalid regular expression %%%s%%", body)
	}
	return re, nil
}

func invalidRegexChar(src string, off int, body string) error {
	return errorf(src, off, "Invalid character(s) in regular expression '%%%s%%'", body)
}

// regexEscape translates the escape at s[0] == '\\' (the same set is valid
// inside and outside [...]). It returns the bytes consumed.
func regexEscape(src string, off int, s string, b *strings.Builder) (int, error) {
	if len(s) < 2 {
		return 0, errorf(src, off, "Invalid regular expression: trailing backslash")
	}
	c := s[1]
	switch {
	case c == 'd' || c == 'D' || c == 's' || c == 'S' || c == 'w' || c == 'W':
		b.WriteByte('\\')
		b.WriteByte(c)
		return 2, nil
	case c == 'x':
		if len(s) < 4 || !isHex(s[2]) || !isHex(s[3]) {
			return 0, errorf(src, off, "Invalid regular expression: \\x needs two hexadecimal digits")
		}
		if s[2] > '7' { // ASCII only: multi-byte characters are not supported
			return 0, errorf(src, off, "Invalid regular expression: \\x%s is not ASCII", s[2:4])
		}
		b.WriteString(`\x`)
		b.WriteString(s[2:4])
		return 4, nil
	case isRegexOperator(c) || (isRegexLiteral(c) && !isWordByte(c) && c != ' '):
		b.WriteByte('\\')
		b.WriteByte(c)
		return 2, nil
	}
	return 0, errorf(src, off, "Invalid regular expression: unsupported escape \\%c", c)
}

// regexClass translates a character class starting at s[0] == '['.
func regexClass(src string, off int, s string, b *strings.Builder) (int, error) {
	b.WriteByte('[')
	i := 1
	if i < len(s) && s[i] == '^' {
		b.WriteByte('^')
		i++
	}
	first := true
	prevAtom := false // whether a single character precedes (for ranges)
	for i < len(s) {
		c := s[i]
		switch {
		case c == ']' && !first:
			b.WriteByte(']')
			return i + 1, nil
		case c == '\\':
			n, err := regexEscape(src, off+i, s[i:], b)
			if err != nil {
				return 0, err
			}
			// \d and the like are sets, not range endpoints.
			prevAtom = s[i+1] == 'x' || !isWordByte(s[i+1])
			i += n
		case c == '-':
			if prevAtom && i+1 < len(s) && s[i+1] != ']' {
				b.WriteByte('-')
				prevAtom = false
				i++
				continue
			}
			b.WriteString(`\-`)
			prevAtom = true
			i++
		case isRegexLiteral(c) || isRegexOperator(c):
			if c == '[' || c == ']' || c == '^' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
			prevAtom = true
			i++
		default:
			return 0, invalidRegexChar(src, off+i, s)
		}
		first = false
	}
	return 0, errorf(src, off, "Invalid regular expression: missing closing ]")
}

// regexRepeat translates {m,n}, {m}, {m,} and {,n} starting at s[0] == '{'.
// Spaces around the bounds are allowed (the guide writes {m, n}).
func regexRepeat(src string, off int, s string, b *strings.Builder, canRepeat bool) (int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, errorf(src, off, "Invalid regular expression: missing closing }")
	}
	if !canRepeat {
		return 0, errorf(src, off, "Invalid regular expression: missing argument to repetition operator '{'")
	}
	inner := strings.ReplaceAll(s[1:end], " ", "")
	lo, hi, comma := inner, "", false
	if k := strings.IndexByte(inner, ','); k >= 0 {
		lo, hi, comma = inner[:k], inner[k+1:], true
	}
	if !allDigits(lo) || !allDigits(hi) || (lo == "" && hi == "") || (!comma && lo == "") {
		return 0, errorf(src, off, "Invalid regular expression: bad repetition %s", s[:end+1])
	}
	if lo == "" {
		lo = "0"
	}
	b.WriteByte('{')
	b.WriteString(lo)
	if comma {
		b.WriteByte(',')
		b.WriteString(hi)
	}
	b.WriteByte('}')
	return end + 1, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
