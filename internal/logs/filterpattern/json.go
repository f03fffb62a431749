package filterpattern

import (
	"strconv"
	"strings"
)

// JSON patterns ("Using filter patterns to match terms in JSON log events"):
//
//	{ $.eventType = "UpdateTrail" }
//	{ $.latency > 100 && ($.level = "error" || $.level = "warn") }
//	{ $.SomeObject IS NULL }   { $.flag IS TRUE }   { $.other NOT EXISTS }
//
// A selector is $. followed by property names (letters, digits, - and _),
// array indexes [N], bracketed names ['cluster.name'] and the wildcard * (a
// property or an element); at most one wildcard per selector and three per
// pattern. && binds tighter than ||; parentheses group. A condition on a
// wildcard selector holds when it holds for any selected value. Comparisons
// only apply to strings and numbers: a selector that lands on an object, an
// array, a boolean or null fails both = and != (the guide: "If a property
// selector points to an array or object, the filter pattern won't match").
// An event that is not a JSON object or array matches no JSON pattern.

const (
	maxWildcardsPerSelector = 1
	maxWildcardsPerPattern  = 3
	maxParenDepth           = 100
)

type stepKind uint8

const (
	stepKey stepKind = iota
	stepIndex
	stepWild
)

type step struct {
	kind stepKind
	key  string
	idx  int
}

type testKind uint8

const (
	testCmp testKind = iota
	testNull
	testTrue
	testFalse
	testNotExists
)

type jcond struct {
	sel  []step
	test testKind
	c    cond
}

type exprKind uint8

const (
	exprCond exprKind = iota
	exprAnd
	exprOr
)

type jexpr struct {
	kind exprKind
	l, r *jexpr
	cond *jcond
}

type jsonMatcher struct {
	root *jexpr
	// need lists substrings every matching event contains when it has no
	// backslash escapes: the property names of selectors and the literal
	// strings compared with = on the AND spine of the expression. An event
	// lacking one is rejected without being parsed.
	need []string
}

// required collects the substrings a matching, escape-free event must
// contain for e to hold.
func required(e *jexpr, need []string) []string {
	switch e.kind {
	case exprAnd:
		return required(e.r, required(e.l, need))
	case exprOr:
		return need
	}
	c := e.cond
	if c.test == testNotExists {
		return need
	}
	for _, st := range c.sel {
		if st.kind == stepKey {
			// key" rather than "key": a needle starting with a quote
			// would make the search stop at every quote of the event.
			need = append(need, st.key+`"`)
		}
	}
	switch c.test {
	case testNull:
		need = append(need, "null")
	case testTrue:
		need = append(need, "true")
	case testFalse:
		need = append(need, "false")
	case testCmp:
		if c.c.op == opEq && c.c.kind == litText && c.c.text != "" {
			need = append(need, c.c.text)
		}
	}
	return need
}

func (m *jsonMatcher) match(msg string, s *scratch) bool {
	// Quick reject: a JSON event starts with { or [.
	i := 0
	for i < len(msg) && isSpace(msg[i]) {
		i++
	}
	if i == len(msg) || (msg[i] != '{' && msg[i] != '[') {
		return false
	}
	if len(m.need) > 0 && strings.IndexByte(msg, '\\') < 0 {
		for _, n := range m.need {
			if !strings.Contains(msg, n) {
				return false
			}
		}
	}
	p := tapeParser{msg: msg, s: s, nodes: s.nodes[:0]}
	ok := p.parse()
	s.nodes = p.nodes // keep the grown slice for the next event
	return ok && p.eval(m.root)
}

func (p *tapeParser) eval(e *jexpr) bool {
	switch e.kind {
	case exprAnd:
		return p.eval(e.l) && p.eval(e.r)
	case exprOr:
		return p.eval(e.l) || p.eval(e.r)
	}
	c := e.cond
	p.s.hits = p.s.hits[:0]
	p.resolve(c.sel, 0)
	if c.test == testNotExists {
		return len(p.s.hits) == 0
	}
	for k := 0; k < len(p.s.hits); k++ {
		n := &p.nodes[p.s.hits[k]]
		switch c.test {
		case testNull:
			if n.kind == jNull {
				return true
			}
		case testTrue:
			if n.kind == jTrue {
				return true
			}
		case testFalse:
			if n.kind == jFalse {
				return true
			}
		case testCmp:
			if (n.kind == jString || n.kind == jNumber) && c.c.matches(p.text(n)) {
				return true
			}
		}
	}
	return false
}

// resolve appends to s.hits the nodes that selector steps reach from node.
func (p *tapeParser) resolve(steps []step, node int32) {
	if len(steps) == 0 {
		p.s.hits = append(p.s.hits, node)
		return
	}
	nodes := p.nodes
	n := nodes[node]
	st := steps[0]
	switch n.kind {
	case jObject:
		if st.kind == stepIndex {
			return
		}
		for k := node + 1; k < n.next; {
			val := k + 1
			if st.kind == stepWild || p.keyIs(&nodes[k], st.key) {
				p.resolve(steps[1:], val)
				if st.kind == stepKey {
					return // first member with that name
				}
			}
			k = nodes[val].next
		}
	case jArray:
		if st.kind == stepKey {
			return
		}
		i := 0
		for k := node + 1; k < n.next; k = nodes[k].next {
			if st.kind == stepWild || i == st.idx {
				p.resolve(steps[1:], k)
				if st.kind == stepIndex {
					return
				}
			}
			i++
		}
	}
}

func (p *tapeParser) keyIs(n *jnode, key string) bool {
	raw := p.msg[n.start:n.end]
	if !n.esc {
		return raw == key
	}
	p.s.buf = unescapeJSON(p.s.buf[:0], raw)
	return bytesString(p.s.buf) == key
}

// jsonParser parses the inside of { ... }.
type jsonParser struct {
	src       string // the whole pattern, for errors
	base      int    // offset of t in src
	t         string
	i         int
	wildcards int
	regexes   int
}

func parseJSON(src string, base int, t string) (*jsonMatcher, error) {
	if t[len(t)-1] != '}' {
		return nil, errorf(src, base, "If a filter pattern starts with '{' it must end with '}'")
	}
	p := &jsonParser{src: src, base: base + 1, t: t[1 : len(t)-1]}
	p.skip()
	if p.i >= len(p.t) {
		return nil, p.err("Empty JSON filter pattern")
	}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.i < len(p.t) {
		return nil, p.err("Unexpected %q", p.rest())
	}
	return &jsonMatcher{root: e, need: required(e, nil)}, nil
}

func (p *jsonParser) err(format string, args ...any) error {
	return errorf(p.src, p.base+p.i, format, args...)
}

func (p *jsonParser) rest() string {
	r := p.t[p.i:]
	if len(r) > 32 {
		r = r[:32] + "..."
	}
	return r
}

func (p *jsonParser) skip() {
	for p.i < len(p.t) && isSpace(p.t[p.i]) {
		p.i++
	}
}

func (p *jsonParser) peek2(s string) bool { return strings.HasPrefix(p.t[p.i:], s) }

func (p *jsonParser) or(depth int) (*jexpr, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.peek2("||") {
			return l, nil
		}
		p.i += 2
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &jexpr{kind: exprOr, l: l, r: r}
	}
}

func (p *jsonParser) and(depth int) (*jexpr, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.peek2("&&") {
			return l, nil
		}
		p.i += 2
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &jexpr{kind: exprAnd, l: l, r: r}
	}
}

func (p *jsonParser) unary(depth int) (*jexpr, error) {
	p.skip()
	if p.i >= len(p.t) {
		return nil, p.err("Missing condition")
	}
	if p.t[p.i] == '(' {
		if depth >= maxParenDepth {
			return nil, p.err("Too many nested parentheses")
		}
		p.i++
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.i >= len(p.t) || p.t[p.i] != ')' {
			return nil, p.err("Missing closing parenthesis")
		}
		p.i++
		return e, nil
	}
	c, err := p.condition()
	if err != nil {
		return nil, err
	}
	return &jexpr{kind: exprCond, cond: c}, nil
}

func (p *jsonParser) condition() (*jcond, error) {
	sel, err := p.selector()
	if err != nil {
		return nil, err
	}
	c := &jcond{sel: sel}
	p.skip()
	at := p.i
	if op, n := lexOp(p.t, p.i); n > 0 {
		p.i += n
		p.skip()
		stop := func(b byte) bool { return b == ')' || b == '(' || b == '&' || b == '|' }
		v, end, err := lexValue(p.src, p.base, p.t, p.i, stop, &p.regexes)
		if err != nil {
			return nil, err
		}
		v.op = op
		if err := checkOp(p.src, p.base+at, &v); err != nil {
			return nil, err
		}
		c.test, c.c, p.i = testCmp, v, end
		return c, nil
	}
	switch w := strings.ToUpper(p.word()); w {
	case "IS":
		p.skip()
		switch w2 := strings.ToUpper(p.word()); w2 {
		case "NULL":
			c.test = testNull
		case "TRUE":
			c.test = testTrue
		case "FALSE":
			c.test = testFalse
		case "NOT":
			return nil, errorf(p.src, p.base+at, "IS NOT is not supported")
		default:
			return nil, errorf(p.src, p.base+at, "Expected NULL, TRUE or FALSE after IS")
		}
	case "NOT":
		p.skip()
		if strings.ToUpper(p.word()) != "EXISTS" {
			return nil, errorf(p.src, p.base+at, "Expected EXISTS after NOT")
		}
		c.test = testNotExists
	case "EXISTS":
		return nil, errorf(p.src, p.base+at, "EXISTS is not supported")
	case "":
		return nil, errorf(p.src, p.base+at, "Expected an operator after selector")
	default:
		return nil, errorf(p.src, p.base+at, "Unexpected %q after selector", w)
	}
	return c, nil
}

func (p *jsonParser) word() string {
	j := p.i
	for j < len(p.t) && (p.t[j] >= 'a' && p.t[j] <= 'z' || p.t[j] >= 'A' && p.t[j] <= 'Z') {
		j++
	}
	w := p.t[p.i:j]
	p.i = j
	return w
}

func isSelectorName(c byte) bool { return isWordByte(c) || c == '-' }

// selector parses $.a.b[0]['c.d'].* and the like.
func (p *jsonParser) selector() ([]step, error) {
	start := p.i
	if !p.peek2("$.") {
		return nil, p.err("Expected a property selector starting with $. at %q", p.rest())
	}
	p.i++ // past $; the first step starts with '.'
	var steps []step
	wild := 0
	for p.i < len(p.t) {
		c := p.t[p.i]
		if c == '.' {
			p.i++
			if p.i >= len(p.t) {
				return nil, p.err("Incomplete property selector")
			}
			switch c2 := p.t[p.i]; {
			case c2 == '*':
				p.i++
				steps = append(steps, step{kind: stepWild})
				wild++
				continue
			case c2 == '[':
				// $.['cluster.name'] — handled by the bracket case below.
				continue
			case isSelectorName(c2):
				j := p.i
				for j < len(p.t) && isSelectorName(p.t[j]) {
					j++
				}
				steps = append(steps, step{kind: stepKey, key: p.t[p.i:j]})
				p.i = j
				continue
			}
			return nil, p.err("Invalid property selector %q", p.t[start:p.i+1])
		}
		if c != '[' {
			break
		}
		if len(steps) == 0 && p.t[p.i-1] != '.' {
			return nil, p.err("Invalid property selector")
		}
		st, n, err := p.bracket()
		if err != nil {
			return nil, err
		}
		if st.kind == stepWild {
			wild++
		}
		steps = append(steps, st)
		p.i += n
	}
	if len(steps) == 0 {
		return nil, errorf(p.src, p.base+start, "Incomplete property selector")
	}
	if wild > maxWildcardsPerSelector {
		return nil, errorf(p.src, p.base+start, "A property selector may contain at most %d wildcard", maxWildcardsPerSelector)
	}
	p.wildcards += wild
	if p.wildcards > maxWildcardsPerPattern {
		return nil, errorf(p.src, p.base+start, "A filter pattern may contain at most %d wildcard selectors", maxWildcardsPerPattern)
	}
	return steps, nil
}

// bracket parses [N], [*], ['name'] or ["name"] at p.t[p.i] == '['.
func (p *jsonParser) bracket() (step, int, error) {
	r := p.t[p.i:]
	end := 1
	switch {
	case len(r) > 1 && (r[1] == '\'' || r[1] == '"'):
		q := r[1]
		k := strings.IndexByte(r[2:], q)
		if k < 0 || 2+k+1 >= len(r) || r[2+k+1] != ']' {
			return step{}, 0, p.err("Unterminated property name in selector")
		}
		return step{kind: stepKey, key: r[2 : 2+k]}, 2 + k + 2, nil
	case len(r) > 2 && r[1] == '*' && r[2] == ']':
		return step{kind: stepWild}, 3, nil
	}
	for end < len(r) && r[end] >= '0' && r[end] <= '9' {
		end++
	}
	if end == 1 || end >= len(r) || r[end] != ']' {
		return step{}, 0, p.err("Invalid array index in selector")
	}
	idx, err := strconv.Atoi(r[1:end])
	if err != nil {
		return step{}, 0, p.err("Invalid array index in selector")
	}
	return step{kind: stepIndex, idx: idx}, end + 1, nil
}
