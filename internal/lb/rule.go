package lb

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// Condition fields of listener rules.
const (
	fieldPathPattern = "path-pattern"
	fieldHostHeader  = "host-header"
	fieldHTTPHeader  = "http-header"
	fieldMethod      = "http-request-method"
	fieldQueryString = "query-string"
	fieldSourceIP    = "source-ip"
)

// pattern is one ELBv2 value pattern: '*' matches any run of characters
// (none included) and '?' exactly one; everything else matches itself,
// case-insensitively unless fold is false.
type pattern struct {
	text string
	fold bool
	wild bool
}

func newPattern(s string, fold bool) pattern {
	return pattern{text: s, fold: fold, wild: strings.ContainsAny(s, "*?")}
}

// match reports whether s matches the whole pattern.
func (p pattern) match(s string) bool {
	if !p.wild {
		if p.fold {
			return strings.EqualFold(p.text, s)
		}
		return p.text == s
	}
	return wildcard(p.text, s, p.fold)
}

// wildcard matches s against a pattern of '*' and '?' by the classic
// backtracking of the last star: linear for one star, never exponential.
func wildcard(pat, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && (pat[p] == '?' || sameByte(pat[p], s[i], fold)):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

func sameByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}

// condition is a compiled rule condition: any of its values may match.
type condition struct {
	field    string
	header   string // canonical header name of http-header
	patterns []pattern
	methods  []string
	queries  []queryPattern
	prefixes []netip.Prefix
}

// queryPattern is one key/value pattern of a query-string condition; an
// empty key matches any key.
type queryPattern struct {
	anyKey     bool
	key, value pattern
}

// compileCondition compiles a condition; values it cannot parse (a bad
// CIDR) never match.
func compileCondition(c lbconf.Condition) condition {
	out := condition{field: c.Field}
	switch c.Field {
	case fieldPathPattern:
		for _, v := range c.Values {
			out.patterns = append(out.patterns, newPattern(v, false))
		}
	case fieldHostHeader:
		for _, v := range c.Values {
			out.patterns = append(out.patterns, newPattern(v, true))
		}
	case fieldHTTPHeader:
		out.header = http.CanonicalHeaderKey(c.HeaderName)
		for _, v := range c.Values {
			out.patterns = append(out.patterns, newPattern(v, true))
		}
	case fieldMethod:
		out.methods = append(out.methods, c.Values...)
	case fieldQueryString:
		for _, kv := range c.QueryStrings {
			out.queries = append(out.queries, queryPattern{
				anyKey: kv.Key == "",
				key:    newPattern(kv.Key, true),
				value:  newPattern(kv.Value, true),
			})
		}
	case fieldSourceIP:
		for _, v := range c.Values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				if a, aerr := netip.ParseAddr(v); aerr == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				} else {
					continue
				}
			}
			out.prefixes = append(out.prefixes, p.Masked())
		}
	}
	return out
}

// matchAny reports whether s matches any of ps.
func matchAny(ps []pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}

// match reports whether r matches the condition.
func (c *condition) match(r *http.Request) bool {
	switch c.field {
	case fieldPathPattern:
		return matchAny(c.patterns, r.URL.Path)
	case fieldHostHeader:
		return matchAny(c.patterns, hostOnly(r.Host))
	case fieldHTTPHeader:
		for _, v := range r.Header[c.header] {
			if matchAny(c.patterns, v) {
				return true
			}
		}
		return false
	case fieldMethod:
		for _, m := range c.methods {
			if m == r.Method {
				return true
			}
		}
		return false
	case fieldQueryString:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil && len(q) == 0 {
			return false
		}
		for _, qp := range c.queries {
			for k, vs := range q {
				if !qp.anyKey && !qp.key.match(k) {
					continue
				}
				for _, v := range vs {
					if qp.value.match(v) {
						return true
					}
				}
			}
		}
		return false
	case fieldSourceIP:
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		a := ap.Addr().Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return false
}

// hostOnly is a Host header without its port.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// rule is a compiled listener rule: every condition must match.
type rule struct {
	priority   int
	conditions []condition
	action     *action
}

func (r *rule) match(req *http.Request) bool {
	for i := range r.conditions {
		if !r.conditions[i].match(req) {
			return false
		}
	}
	return true
}
