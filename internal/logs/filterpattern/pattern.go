package filterpattern

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
)

// Kind says which of the documented pattern forms a Pattern is.
type Kind uint8

// The pattern kinds.
const (
	// KindAll is the empty (or blank) pattern: it matches every event.
	KindAll Kind = iota
	// KindTerms is an unstructured pattern of terms and quoted phrases.
	KindTerms
	// KindRegex is a standalone %regular expression%.
	KindRegex
	// KindJSON is a { ... } pattern over JSON events.
	KindJSON
	// KindDelimited is a [ ... ] pattern over space-delimited events.
	KindDelimited
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindAll:
		return "all"
	case KindTerms:
		return "terms"
	case KindRegex:
		return "regex"
	case KindJSON:
		return "json"
	case KindDelimited:
		return "delimited"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ErrInvalidPattern is wrapped by every error Parse returns.
var ErrInvalidPattern = errors.New("invalid filter pattern")

// SyntaxError reports a malformed filter pattern.
type SyntaxError struct {
	// Pattern is the pattern as given to Parse.
	Pattern string
	// Offset is the byte offset in Pattern where the problem was found.
	Offset int
	// Message is the text to return to the client in an
	// InvalidParameterException, in CloudWatch Logs' wording: always
	// "Invalid filter pattern", then ": " and a reason.
	Message string
}

// Error returns Message.
func (e *SyntaxError) Error() string { return e.Message }

// Unwrap returns ErrInvalidPattern.
func (e *SyntaxError) Unwrap() error { return ErrInvalidPattern }

// errorf builds a *SyntaxError for pattern p at offset off.
func errorf(p string, off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{
		Pattern: p,
		Offset:  off,
		Message: "Invalid filter pattern: " + fmt.Sprintf(format, args...),
	}
}

// matcher is the compiled form of one pattern kind.
type matcher interface {
	match(msg string, s *scratch) bool
}

// Pattern is a compiled filter pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	src  string
	kind Kind
	m    matcher // nil for KindAll
}

// Parse compiles a filter pattern. It returns a *SyntaxError (wrapping
// ErrInvalidPattern) when the pattern is malformed or uses syntax CloudWatch
// Logs rejects. It never panics.
func Parse(pattern string) (*Pattern, error) {
	p := &Pattern{src: pattern}
	t := strings.TrimSpace(pattern)
	off := len(pattern) - len(strings.TrimLeftFunc(pattern, unicode.IsSpace))
	var err error
	switch {
	case t == "":
		p.kind = KindAll
	case t[0] == '{':
		p.kind = KindJSON
		p.m, err = parseJSON(pattern, off, t)
	case t[0] == '[':
		p.kind = KindDelimited
		p.m, err = parseDelimited(pattern, off, t)
	case t[0] == '%':
		p.kind = KindRegex
		p.m, err = parseStandaloneRegex(pattern, off, t)
	default:
		var tm *termsMatcher
		tm, err = parseTerms(pattern, off, t)
		if err == nil {
			if tm.matchesAll() {
				p.kind = KindAll
			} else {
				p.kind = KindTerms
				p.m = tm
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// MustParse is Parse for patterns known to be valid (tests, constants); it
// panics on error.
func MustParse(pattern string) *Pattern {
	p, err := Parse(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as given to Parse.
func (p *Pattern) String() string { return p.src }

// Kind returns the pattern's kind.
func (p *Pattern) Kind() Kind { return p.kind }

// Match reports whether an event whose message is msg matches the pattern.
// It does not allocate in the steady state: scratch space for JSON and
// space-delimited events comes from a pool.
func (p *Pattern) Match(msg string) bool {
	if p.m == nil {
		return true
	}
	if p.kind == KindTerms || p.kind == KindRegex {
		return p.m.match(msg, nil)
	}
	s := scratchPool.Get().(*scratch)
	ok := p.m.match(msg, s)
	s.reset()
	scratchPool.Put(s)
	return ok
}

// Matcher matches events against one Pattern with scratch space of its own,
// avoiding the pool; use one per goroutine in a tight loop.
type Matcher struct {
	p *Pattern
	s scratch
}

// NewMatcher returns a Matcher for p. A Matcher is not safe for concurrent
// use.
func (p *Pattern) NewMatcher() *Matcher { return &Matcher{p: p} }

// Match is Pattern.Match using the Matcher's own scratch space.
func (m *Matcher) Match(msg string) bool {
	if m.p.m == nil {
		return true
	}
	ok := m.p.m.match(msg, &m.s)
	m.s.reset()
	return ok
}

// scratch is per-match working memory, reused across matches.
type scratch struct {
	nodes []jnode // JSON tape
	hits  []int32 // selector results
	buf   []byte  // unescaped JSON strings
	toks  []span  // space-delimited fields
}

// maxRetained bounds what a scratch keeps after an unusually large event.
const maxRetained = 1 << 16

func (s *scratch) reset() {
	if cap(s.nodes) > maxRetained {
		s.nodes = nil
	}
	if cap(s.buf) > maxRetained {
		s.buf = nil
	}
	if cap(s.toks) > maxRetained {
		s.toks = nil
	}
	if cap(s.hits) > maxRetained {
		s.hits = nil
	}
	s.nodes, s.hits, s.buf, s.toks = s.nodes[:0], s.hits[:0], s.buf[:0], s.toks[:0]
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}
