package filterpattern

import "strings"

// Space-delimited patterns ("Using filter patterns to match terms in
// space-delimited log events"):
//
//	[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes > 1000]
//	[..., status_code = 404 || status_code = 410, bytes]
//	[w1=ERROR || w1=WARNING, w2]
//
// The event is split into fields at white space; text between double quotes
// or between square brackets is one field, without its delimiters (the
// guide's extracted "$request": "GET /index.html HTTP/1.0"). A field ends at
// its closing delimiter; an unclosed one runs to the end of the event.
//
// Each pattern field is a name (matches any one field), an empty entry (the
// same, unnamed), ... (any number of fields, zero included), or a
// condition on the field: name OP value, combined with && (binding tighter)
// and ||, every operand naming the same field (a condition on another field
// is rejected, as CloudWatch rejects the older guide's
// "status_code = 4* && bytes > 1000"). Without an ellipsis the event must
// have exactly as many fields as the pattern.

type span struct{ start, end int32 }

type fieldKind uint8

const (
	fieldAny fieldKind = iota
	fieldEllipsis
	fieldCond
)

type dexpr struct {
	kind exprKind
	l, r *dexpr
	c    cond
}

func (e *dexpr) eval(v string) bool {
	switch e.kind {
	case exprAnd:
		return e.l.eval(v) && e.r.eval(v)
	case exprOr:
		return e.l.eval(v) || e.r.eval(v)
	}
	return e.c.matches(v)
}

type dfield struct {
	kind fieldKind
	name string
	expr *dexpr
}

type delimitedMatcher struct{ fields []dfield }

func (m *delimitedMatcher) match(msg string, s *scratch) bool {
	s.toks = splitFields(msg, s.toks[:0])
	toks := s.toks
	f, t := 0, 0
	starF, starT := -1, 0
	for t < len(toks) {
		if f < len(m.fields) {
			fl := &m.fields[f]
			if fl.kind == fieldEllipsis {
				starF, starT = f, t
				f++
				continue
			}
			if fl.kind == fieldAny || fl.expr.eval(msg[toks[t].start:toks[t].end]) {
				f++
				t++
				continue
			}
		}
		if starF < 0 {
			return false
		}
		starT++
		f, t = starF+1, starT
	}
	for f < len(m.fields) && m.fields[f].kind == fieldEllipsis {
		f++
	}
	return f == len(m.fields)
}

// splitFields appends the fields of msg to dst.
func splitFields(msg string, dst []span) []span {
	if len(msg) > 1<<31-1 {
		msg = msg[:1<<31-1]
	}
	i := 0
	for {
		for i < len(msg) && isSpace(msg[i]) {
			i++
		}
		if i >= len(msg) {
			return dst
		}
		switch c := msg[i]; c {
		case '"', '[':
			closer := byte('"')
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for j < len(msg) && msg[j] != closer {
				if c == '"' && msg[j] == '\\' && j+1 < len(msg) {
					j++ // \" inside a quoted field
				}
				j++
			}
			if j > len(msg) {
				j = len(msg)
			}
			dst = append(dst, span{int32(i + 1), int32(j)})
			i = j + 1
		default:
			j := i
			for j < len(msg) && !isSpace(msg[j]) {
				j++
			}
			dst = append(dst, span{int32(i), int32(j)})
			i = j
		}
	}
}

// delimParser parses the inside of [ ... ].
type delimParser struct {
	src     string
	base    int
	t       string
	i       int
	regexes int
}

func parseDelimited(src string, base int, t string) (*delimitedMatcher, error) {
	if t[len(t)-1] != ']' || len(t) < 2 {
		return nil, errorf(src, base, "If a filter pattern starts with '[' it must end with ']'")
	}
	p := &delimParser{src: src, base: base + 1, t: t[1 : len(t)-1]}
	m := &delimitedMatcher{}
	for {
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		m.fields = append(m.fields, f)
		p.skip()
		if p.i >= len(p.t) {
			break
		}
		if p.t[p.i] != ',' {
			return nil, p.err("Expected ',' between fields at %q", p.rest())
		}
		p.i++
	}
	if len(m.fields) == 1 && m.fields[0].kind == fieldAny && m.fields[0].name == "" {
		return nil, errorf(src, base, "Empty space-delimited filter pattern")
	}
	return m, nil
}

func (p *delimParser) err(format string, args ...any) error {
	return errorf(p.src, p.base+p.i, format, args...)
}

func (p *delimParser) rest() string {
	r := p.t[p.i:]
	if len(r) > 32 {
		r = r[:32] + "..."
	}
	return r
}

func (p *delimParser) skip() {
	for p.i < len(p.t) && isSpace(p.t[p.i]) {
		p.i++
	}
}

func (p *delimParser) field() (dfield, error) {
	p.skip()
	if p.i >= len(p.t) || p.t[p.i] == ',' {
		return dfield{kind: fieldAny}, nil
	}
	if len(p.t)-p.i >= 3 && p.t[p.i:p.i+3] == "..." {
		p.i += 3
		return dfield{kind: fieldEllipsis}, nil
	}
	name, e, err := p.atom("")
	if err != nil {
		return dfield{}, err
	}
	p.skip()
	if e == nil {
		if p.at("&&") || p.at("||") {
			return dfield{}, p.err("Expected an operator after field %s", name)
		}
		return dfield{kind: fieldAny, name: name}, nil
	}
	e, err = p.or(name, e)
	if err != nil {
		return dfield{}, err
	}
	return dfield{kind: fieldCond, name: name, expr: e}, nil
}

func (p *delimParser) at(s string) bool {
	return len(p.t)-p.i >= len(s) && p.t[p.i:p.i+len(s)] == s
}

// or continues an || / && expression whose first operand is first.
func (p *delimParser) or(name string, first *dexpr) (*dexpr, error) {
	l, err := p.and(name, first)
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !p.at("||") {
			return l, nil
		}
		p.i += 2
		r, err := p.and(name, nil)
		if err != nil {
			return nil, err
		}
		l = &dexpr{kind: exprOr, l: l, r: r}
	}
}

func (p *delimParser) and(name string, first *dexpr) (*dexpr, error) {
	l := first
	if l == nil {
		var err error
		if l, err = p.operand(name); err != nil {
			return nil, err
		}
	}
	for {
		p.skip()
		if !p.at("&&") {
			return l, nil
		}
		p.i += 2
		r, err := p.operand(name)
		if err != nil {
			return nil, err
		}
		l = &dexpr{kind: exprAnd, l: l, r: r}
	}
}

func (p *delimParser) operand(name string) (*dexpr, error) {
	_, e, err := p.atom(name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, p.err("Expected an operator after field %s", name)
	}
	return e, nil
}

// atom parses "name [OP value]". If want is set, the name must equal it.
// It returns a nil expression for a bare name.
func (p *delimParser) atom(want string) (string, *dexpr, error) {
	p.skip()
	start := p.i
	for p.i < len(p.t) && isWordByte(p.t[p.i]) {
		p.i++
	}
	name := p.t[start:p.i]
	if name == "" {
		return "", nil, p.err("Invalid character(s) in term '%s'", strings.TrimSpace(upTo(p.t, p.i, ',')))
	}
	if want != "" && name != want {
		return "", nil, errorf(p.src, p.base+start, "Condition on %s inside the field %s", name, want)
	}
	p.skip()
	op, n := lexOp(p.t, p.i)
	if n == 0 {
		if p.i < len(p.t) && p.t[p.i] != ',' && !p.at("&&") && !p.at("||") {
			return "", nil, p.err("Invalid character(s) in term '%s'", strings.TrimSpace(upTo(p.t, start, ',')))
		}
		return name, nil, nil
	}
	at := p.i
	p.i += n
	p.skip()
	stop := func(b byte) bool { return b == ',' || b == '&' || b == '|' }
	c, end, err := lexValue(p.src, p.base, p.t, p.i, stop, &p.regexes)
	if err != nil {
		return "", nil, err
	}
	c.op = op
	if err := checkOp(p.src, p.base+at, &c); err != nil {
		return "", nil, err
	}
	p.i = end
	return name, &dexpr{kind: exprCond, c: c}, nil
}

// upTo returns t from i up to the next c or the end.
func upTo(t string, i int, c byte) string {
	if k := strings.IndexByte(t[i:], c); k >= 0 {
		return t[i : i+k]
	}
	return t[i:]
}
