package cloudwatch

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Metric math: the subset Gantry evaluates. Arithmetic (+ - * / ^ and
// unary minus) between time series and scalars; SUM, AVG, MIN, MAX over
// an array [m1, m2] or METRICS() (a time series) or over one time series
// (a scalar); ABS; parentheses; query ids as operands.

// tseries is a time series: timestamps (Unix seconds, ascending) and values.
type tseries struct {
	ts   []int64
	vals []float64
}

// value is an expression's result: a scalar, a time series or an array of
// them.
type value struct {
	kind   int // kScalar, kSeries, kArray
	scalar float64
	series tseries
	array  []tseries
}

const (
	kScalar = iota
	kSeries
	kArray
)

// node is a parsed expression.
type node interface{}

type numNode struct{ v float64 }
type idNode struct{ id string }
type unaryNode struct{ x node }
type binNode struct {
	op   byte
	l, r node
}
type callNode struct {
	fn   string
	args []node
}
type listNode struct{ items []node }

// exprError is a metric math error, answered as a ValidationError-like
// InvalidParameterValue by GetMetricData.
type exprError struct{ msg string }

func (e *exprError) Error() string { return e.msg }

func exprErr(format string, args ...any) error { return &exprError{fmt.Sprintf(format, args...)} }

type parser struct {
	s   string
	pos int
}

// parseExpr parses a metric math expression.
func parseExpr(s string) (node, error) {
	p := &parser{s: s}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos != len(p.s) {
		return nil, exprErr("Syntax error at position %d: unexpected %q", p.pos+1, p.s[p.pos:p.pos+1])
	}
	return n, nil
}

func (p *parser) skip() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *parser) peek() byte {
	p.skip()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) expr() (node, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		c := p.peek()
		if c != '+' && c != '-' {
			return l, nil
		}
		p.pos++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = binNode{op: c, l: l, r: r}
	}
}

func (p *parser) term() (node, error) {
	l, err := p.power()
	if err != nil {
		return nil, err
	}
	for {
		c := p.peek()
		if c != '*' && c != '/' {
			return l, nil
		}
		p.pos++
		r, err := p.power()
		if err != nil {
			return nil, err
		}
		l = binNode{op: c, l: l, r: r}
	}
}

func (p *parser) power() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if p.peek() == '^' {
		p.pos++
		r, err := p.power()
		if err != nil {
			return nil, err
		}
		return binNode{op: '^', l: l, r: r}, nil
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	if p.peek() == '-' {
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return unaryNode{x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	c := p.peek()
	switch {
	case c == 0:
		return nil, exprErr("Syntax error: unexpected end of expression")
	case c == '(':
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, exprErr("Syntax error at position %d: expected ')'", p.pos+1)
		}
		p.pos++
		return n, nil
	case c == '[':
		p.pos++
		items, err := p.list(']')
		if err != nil {
			return nil, err
		}
		return listNode{items}, nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '.' ||
			p.s[p.pos] == 'e' || p.s[p.pos] == 'E' || (p.pos > start && (p.s[p.pos] == '+' || p.s[p.pos] == '-') && (p.s[p.pos-1] == 'e' || p.s[p.pos-1] == 'E'))) {
			p.pos++
		}
		v, err := strconv.ParseFloat(p.s[start:p.pos], 64)
		if err != nil {
			return nil, exprErr("Syntax error at position %d: invalid number %q", start+1, p.s[start:p.pos])
		}
		return numNode{v}, nil
	case c == '_' || unicode.IsLetter(rune(c)):
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] == '_' || unicode.IsLetter(rune(p.s[p.pos])) || unicode.IsDigit(rune(p.s[p.pos]))) {
			p.pos++
		}
		name := p.s[start:p.pos]
		if p.peek() == '(' {
			p.pos++
			args, err := p.list(')')
			if err != nil {
				return nil, err
			}
			return callNode{fn: strings.ToUpper(name), args: args}, nil
		}
		return idNode{name}, nil
	}
	return nil, exprErr("Syntax error at position %d: unexpected %q", p.pos+1, string(c))
}

func (p *parser) list(closer byte) ([]node, error) {
	var items []node
	if p.peek() == closer {
		p.pos++
		return items, nil
	}
	for {
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, n)
		switch p.peek() {
		case ',':
			p.pos++
		case closer:
			p.pos++
			return items, nil
		default:
			return nil, exprErr("Syntax error at position %d: expected ',' or '%c'", p.pos+1, closer)
		}
	}
}

// refs returns the ids an expression names (METRICS() names every
// MetricStat query: all).
func refs(n node, out map[string]bool) (all bool) {
	switch n := n.(type) {
	case idNode:
		out[n.id] = true
	case unaryNode:
		return refs(n.x, out)
	case binNode:
		a := refs(n.l, out)
		return refs(n.r, out) || a
	case callNode:
		if n.fn == "METRICS" {
			all = true
		}
		for _, x := range n.args {
			all = refs(x, out) || all
		}
	case listNode:
		for _, x := range n.items {
			all = refs(x, out) || all
		}
	}
	return all
}

// evalEnv resolves ids and METRICS() while evaluating.
type evalEnv struct {
	lookup  func(id string) (value, error)
	metrics func() []tseries
}

func (e *evalEnv) eval(n node) (value, error) {
	switch n := n.(type) {
	case numNode:
		return value{kind: kScalar, scalar: n.v}, nil
	case idNode:
		return e.lookup(n.id)
	case unaryNode:
		x, err := e.eval(n.x)
		if err != nil {
			return value{}, err
		}
		return mapValue(x, func(v float64) float64 { return -v }), nil
	case binNode:
		l, err := e.eval(n.l)
		if err != nil {
			return value{}, err
		}
		r, err := e.eval(n.r)
		if err != nil {
			return value{}, err
		}
		return binary(n.op, l, r)
	case listNode:
		var arr []tseries
		for _, it := range n.items {
			v, err := e.eval(it)
			if err != nil {
				return value{}, err
			}
			switch v.kind {
			case kSeries:
				arr = append(arr, v.series)
			case kArray:
				arr = append(arr, v.array...)
			default:
				return value{}, exprErr("Error in expression: an array may hold only time series")
			}
		}
		return value{kind: kArray, array: arr}, nil
	case callNode:
		return e.call(n)
	}
	return value{}, exprErr("Error in expression")
}

func (e *evalEnv) call(n callNode) (value, error) {
	switch n.fn {
	case "METRICS":
		if len(n.args) > 0 {
			return value{}, exprErr("Error in expression: METRICS() with a filter is not supported")
		}
		return value{kind: kArray, array: e.metrics()}, nil
	case "ABS":
		if len(n.args) != 1 {
			return value{}, exprErr("Error in expression: ABS takes 1 argument")
		}
		x, err := e.eval(n.args[0])
		if err != nil {
			return value{}, err
		}
		return mapValue(x, math.Abs), nil
	case "SUM", "AVG", "MIN", "MAX":
		if len(n.args) != 1 {
			return value{}, exprErr("Error in expression: %s takes 1 argument", n.fn)
		}
		x, err := e.eval(n.args[0])
		if err != nil {
			return value{}, err
		}
		agg := aggregator(n.fn)
		switch x.kind {
		case kScalar:
			return x, nil
		case kSeries:
			if len(x.series.vals) == 0 {
				return value{kind: kScalar, scalar: math.NaN()}, nil
			}
			return value{kind: kScalar, scalar: agg(x.series.vals)}, nil
		default:
			return value{kind: kSeries, series: acrossSeries(x.array, agg)}, nil
		}
	}
	return value{}, exprErr("Error in expression: unknown function %s", n.fn)
}

func aggregator(fn string) func([]float64) float64 {
	switch fn {
	case "SUM":
		return func(v []float64) float64 {
			s := 0.0
			for _, x := range v {
				s += x
			}
			return s
		}
	case "AVG":
		return func(v []float64) float64 {
			s := 0.0
			for _, x := range v {
				s += x
			}
			return s / float64(len(v))
		}
	case "MIN":
		return func(v []float64) float64 { return slices.Min(v) }
	default:
		return func(v []float64) float64 { return slices.Max(v) }
	}
}

// acrossSeries applies agg at each timestamp over the series that have a
// value there.
func acrossSeries(arr []tseries, agg func([]float64) float64) tseries {
	by := map[int64][]float64{}
	for _, s := range arr {
		for i, t := range s.ts {
			by[t] = append(by[t], s.vals[i])
		}
	}
	var out tseries
	for t := range by {
		out.ts = append(out.ts, t)
	}
	slices.Sort(out.ts)
	for _, t := range out.ts {
		out.vals = append(out.vals, agg(by[t]))
	}
	return out
}

func mapValue(x value, f func(float64) float64) value {
	switch x.kind {
	case kScalar:
		return value{kind: kScalar, scalar: f(x.scalar)}
	case kSeries:
		return value{kind: kSeries, series: mapSeries(x.series, f)}
	}
	arr := make([]tseries, len(x.array))
	for i, s := range x.array {
		arr[i] = mapSeries(s, f)
	}
	return value{kind: kArray, array: arr}
}

func mapSeries(s tseries, f func(float64) float64) tseries {
	out := tseries{}
	for i, v := range s.vals {
		if r := f(v); !math.IsNaN(r) && !math.IsInf(r, 0) {
			out.ts = append(out.ts, s.ts[i])
			out.vals = append(out.vals, r)
		}
	}
	return out
}

func arith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	case '/':
		return a / b
	}
	return math.Pow(a, b)
}

// binary applies op: scalar with anything elementwise; two series at the
// timestamps both have; an array with a series or scalar member by member.
func binary(op byte, l, r value) (value, error) {
	f := func(a, b float64) float64 { return arith(op, a, b) }
	switch {
	case l.kind == kScalar && r.kind == kScalar:
		return value{kind: kScalar, scalar: f(l.scalar, r.scalar)}, nil
	case l.kind == kScalar:
		return mapValue(r, func(v float64) float64 { return f(l.scalar, v) }), nil
	case r.kind == kScalar:
		return mapValue(l, func(v float64) float64 { return f(v, r.scalar) }), nil
	case l.kind == kSeries && r.kind == kSeries:
		return value{kind: kSeries, series: zipSeries(l.series, r.series, f)}, nil
	case l.kind == kArray && r.kind == kSeries:
		arr := make([]tseries, len(l.array))
		for i, s := range l.array {
			arr[i] = zipSeries(s, r.series, f)
		}
		return value{kind: kArray, array: arr}, nil
	case l.kind == kSeries && r.kind == kArray:
		arr := make([]tseries, len(r.array))
		for i, s := range r.array {
			arr[i] = zipSeries(l.series, s, f)
		}
		return value{kind: kArray, array: arr}, nil
	}
	return value{}, exprErr("Error in expression: arithmetic between two arrays is not supported")
}

func zipSeries(a, b tseries, f func(x, y float64) float64) tseries {
	out := tseries{}
	i, j := 0, 0
	for i < len(a.ts) && j < len(b.ts) {
		switch {
		case a.ts[i] < b.ts[j]:
			i++
		case a.ts[i] > b.ts[j]:
			j++
		default:
			if r := f(a.vals[i], b.vals[j]); !math.IsNaN(r) && !math.IsInf(r, 0) {
				out.ts = append(out.ts, a.ts[i])
				out.vals = append(out.vals, r)
			}
			i++
			j++
		}
	}
	return out
}
