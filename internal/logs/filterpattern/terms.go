package filterpattern

import "strings"

// termsMatcher is an unstructured pattern ("Using filter patterns to match
// terms in unstructured log events"): every include term must occur in the
// message, no exclude term may occur, and when the pattern has only ?terms
// at least one of them must occur. Matching is case-sensitive substring
// search, so ERROR matches "ERRORCODE" (AWS's own example).
type termsMatcher struct {
	include  []string
	exclude  []string
	optional []string
	all      bool // an include term was a blank phrase (" "): matches all
}

// matchesAll reports whether the pattern reduces to "match everything".
func (m *termsMatcher) matchesAll() bool {
	return len(m.include) == 0 && len(m.exclude) == 0 && len(m.optional) == 0
}

func (m *termsMatcher) match(msg string, _ *scratch) bool {
	for _, t := range m.include {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range m.exclude {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(m.optional) == 0 {
		return true
	}
	for _, t := range m.optional {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

// isWordByte reports whether c may appear in an unquoted term: AWS requires
// terms with characters "other than alphanumeric or underscore" to be
// quoted.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// parseTerms parses t (the trimmed pattern, at offset base in src).
//
// Rules, from the user guide:
//   - terms are separated by white space and all must match;
//   - "a phrase" in double quotes is matched exactly (\" and \\ escape);
//   - -term excludes (the older guide also writes "ERROR" - "Exiting", a
//     lone minus before the term, which is accepted);
//   - ?term is optional: the event matches if any ?term occurs. "If you
//     combine ? with other filter patterns, all question mark terms will be
//     ignored" — so ?terms only count when there are no other terms;
//   - a blank phrase (" ") matches everything; "" is rejected the way
//     CloudWatch rejects it: Invalid character(s) in term '""'.
func parseTerms(src string, base int, t string) (*termsMatcher, error) {
	m := &termsMatcher{}
	i := 0
	for {
		for i < len(t) && isSpace(t[i]) {
			i++
		}
		if i >= len(t) {
			break
		}
		start := i
		prefix := byte(0)
		if t[i] == '-' || t[i] == '?' {
			prefix = t[i]
			i++
			if prefix == '-' {
				// "ERROR" - "Exiting": a lone minus applies to the next term.
				for i < len(t) && isSpace(t[i]) {
					i++
				}
			}
			if i >= len(t) || isSpace(t[i]) {
				return nil, errorf(src, base+start, "Invalid character(s) in term '%c'", prefix)
			}
		}
		var term string
		blank := false
		if t[i] == '"' {
			s, end, ok := unquote(t, i)
			if !ok {
				return nil, errorf(src, base+i, "Unterminated quoted term %s", t[i:])
			}
			if s == "" {
				return nil, errorf(src, base+i, "Invalid character(s) in term '%s'", t[i:end])
			}
			if end < len(t) && !isSpace(t[end]) {
				return nil, errorf(src, base+end, "Invalid character(s) in term '%s'", wordAt(t, i))
			}
			term, i = s, end
			blank = strings.TrimSpace(s) == ""
		} else {
			j := i
			for j < len(t) && !isSpace(t[j]) {
				if !isWordByte(t[j]) {
					return nil, errorf(src, base+j, "Invalid character(s) in term '%s'", wordAt(t, start))
				}
				j++
			}
			term, i = t[i:j], j
		}
		switch prefix {
		case '-':
			m.exclude = append(m.exclude, term)
		case '?':
			m.optional = append(m.optional, term)
		default:
			if blank {
				m.all = true
				continue
			}
			m.include = append(m.include, term)
		}
	}
	if len(m.include) > 0 || len(m.exclude) > 0 || m.all {
		m.optional = nil
	}
	return m, nil
}

// wordAt returns the run of non-space bytes of t starting at i.
func wordAt(t string, i int) string {
	j := i
	for j < len(t) && !isSpace(t[j]) {
		j++
	}
	return t[i:j]
}

// unquote reads a double-quoted string starting at t[i] == '"'. It returns
// the contents with \" and \\ unescaped (any other backslash is kept as
// is), the index after the closing quote, and false if there is none.
func unquote(t string, i int) (string, int, bool) {
	j := i + 1
	esc := false
	for ; j < len(t); j++ {
		switch t[j] {
		case '\\':
			if j+1 < len(t) && (t[j+1] == '"' || t[j+1] == '\\') {
				esc = true
				j++
			}
		case '"':
			body := t[i+1 : j]
			if esc {
				body = unescapeQuoted(body)
			}
			return body, j + 1, true
		}
	}
	return "", j, false
}

func unescapeQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
