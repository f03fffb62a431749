package iampolicy

import (
	"math/bits"
	"strings"
	"unicode/utf8"
)

// matchKind picks the matcher a pattern compiles to. Most patterns an
// operator writes are "*", a literal, or a literal with one trailing "*";
// those never run the general matchers.
type matchKind uint8

const (
	matchAny     matchKind = iota // "*"
	matchExact                    // no wildcard
	matchPrefix                   // literal + one trailing unrestricted "*"
	matchGlob                     // "*" (unrestricted) and "?" anywhere
	matchSegment                  // some "*" may not cross a colon: resource ARNs only
)

// tokKind is one element of a compiled segment pattern.
type tokKind uint8

const (
	tokLit   tokKind = iota // literal text
	tokOne                  // "?": one character (UTF-8 sequence) other than ':'
	tokStarR                // "*" inside an ARN segment: any run without ':'
	tokStarU                // "*" ending an ARN segment: any run
)

type token struct {
	kind tokKind
	lit  string
}

// pattern is a wildcard pattern compiled once at parse time. Matching never
// allocates for texts up to maxDPText bytes.
type pattern struct {
	kind matchKind
	// fold makes matching ASCII case-insensitive; lit is then lower case.
	fold bool
	// qNoColon makes "?" refuse ':' (resource ARNs, where wildcards stay
	// inside a segment).
	qNoColon bool
	lit      string  // exact and prefix: the literal; glob: the whole pattern
	toks     []token // segment only
	src      string  // as written, for messages and tests
}

// compileAction compiles an Action/NotAction pattern: "*" and "?" match
// anything, case-insensitively, as IAM matches action names.
func compileAction(s string) pattern {
	p := pattern{fold: true, src: s, lit: asciiLower(s)}
	switch {
	case s == "*":
		p.kind = matchAny
	case !strings.ContainsAny(s, "*?"):
		p.kind = matchExact
	case strings.IndexAny(s, "*?") == len(s)-1 && s[len(s)-1] == '*':
		p.kind = matchPrefix
		p.lit = p.lit[:len(p.lit)-1]
	default:
		p.kind = matchGlob
	}
	return p
}

// compileResource compiles a Resource/NotResource ARN pattern with IAM's
// rule: wildcards stay inside a colon-separated segment, except a "*" that
// is the last character of a segment, which may run past colons. Matching is
// case-sensitive.
func compileResource(s string) pattern {
	p := pattern{src: s, lit: s, qNoColon: true}
	if s == "*" {
		p.kind = matchAny
		return p
	}
	if !strings.ContainsAny(s, "*?") {
		p.kind = matchExact
		return p
	}
	toks := tokenizeARN(s)
	restricted := false
	for _, t := range toks {
		if t.kind == tokStarR {
			restricted = true
		}
	}
	switch {
	case restricted:
		p.kind = matchSegment
		p.toks = toks
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStarU:
		p.kind = matchPrefix
		p.lit = toks[0].lit
	default:
		p.kind = matchGlob
	}
	return p
}

// compileGlob compiles a plain case-sensitive pattern ("*" and "?" match
// anything), used for StringLike and the segments of ArnLike.
func compileGlob(s string, fold bool) pattern {
	p := compileAction(s)
	p.fold = fold
	if !fold {
		p.lit = s
		if p.kind == matchPrefix {
			p.lit = s[:len(s)-1]
		}
	}
	return p
}

// tokenizeARN splits an ARN pattern into literal runs, "?" and stars, a run
// of stars counting as one, and marks each star as restricted to its segment
// unless it ends the segment.
func tokenizeARN(s string) []token {
	var toks []token
	lit := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '*' && c != '?' {
			continue
		}
		if lit < i {
			toks = append(toks, token{kind: tokLit, lit: s[lit:i]})
		}
		if c == '?' {
			toks = append(toks, token{kind: tokOne})
			lit = i + 1
			continue
		}
		j := i
		for j < len(s) && s[j] == '*' {
			j++
		}
		kind := tokStarR
		if j == len(s) || s[j] == ':' {
			kind = tokStarU
		}
		toks = append(toks, token{kind: kind})
		i = j - 1
		lit = j
	}
	if lit < len(s) {
		toks = append(toks, token{kind: tokLit, lit: s[lit:]})
	}
	return toks
}

// match reports whether text matches the pattern.
func (p *pattern) match(text string) bool {
	switch p.kind {
	case matchAny:
		return true
	case matchExact:
		if p.fold {
			return len(text) == len(p.lit) && foldEqual(text, p.lit)
		}
		return text == p.lit
	case matchPrefix:
		if len(text) < len(p.lit) {
			return false
		}
		if p.fold {
			return foldEqual(text[:len(p.lit)], p.lit)
		}
		return text[:len(p.lit)] == p.lit
	case matchGlob:
		return globMatch(p.lit, text, p.fold, p.qNoColon)
	default:
		return segmentMatch(p.toks, text)
	}
}

// globMatch matches text against a pattern whose every "*" may match any
// run of characters. Greedy matching with one backtrack point (the last
// star) is exact for such patterns and runs in O(len(p)*len(text)) at worst.
func globMatch(p, text string, fold, qNoColon bool) bool {
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < len(text) {
		if pi < len(p) {
			c := p[pi]
			switch c {
			case '*':
				starP, starT = pi, ti
				pi++
				continue
			case '?':
				if !qNoColon || text[ti] != ':' {
					_, size := utf8.DecodeRuneInString(text[ti:])
					pi++
					ti += size
					continue
				}
			default:
				t := text[ti]
				if fold {
					t = lowerByte(t)
				}
				if c == t {
					pi++
					ti++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starT++
		pi, ti = starP+1, starT
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// maxDPText is the longest text segmentMatch handles with stack memory;
// longer texts (ARNs are at most 2048 characters) use the heap.
const maxDPText = 2048

// segmentMatch matches text against tokens where some stars may not cross
// a colon. It keeps the set of text positions reachable after each token as
// a bitset: O(tokens*len(text)) with no backtracking, so no pattern can make
// it exponential.
func segmentMatch(toks []token, text string) bool {
	n := len(text)
	words := n/64 + 1
	var bufA, bufB [maxDPText/64 + 1]uint64
	var cur, next []uint64
	if n <= maxDPText {
		cur, next = bufA[:words], bufB[:words]
	} else {
		cur, next = make([]uint64, words), make([]uint64, words)
	}
	cur[0] = 1
	for _, t := range toks {
		clear(next)
		found := false
		switch t.kind {
		case tokLit:
			forEach(cur, func(i int) {
				if i+len(t.lit) <= n && text[i:i+len(t.lit)] == t.lit {
					setBit(next, i+len(t.lit))
					found = true
				}
			})
		case tokOne:
			forEach(cur, func(i int) {
				if i < n && text[i] != ':' {
					_, size := utf8.DecodeRuneInString(text[i:])
					setBit(next, i+size)
					found = true
				}
			})
		case tokStarU:
			first := firstBit(cur)
			for i := first; i <= n; i++ {
				setBit(next, i)
			}
			found = true
		case tokStarR:
			// A run from i covers i up to the next colon (or the end);
			// a later start inside that run ends at the same place.
			stop := -1
			forEach(cur, func(i int) {
				if i <= stop {
					return
				}
				j := i
				setBit(next, j)
				for j < n && text[j] != ':' {
					j++
					setBit(next, j)
				}
				stop = j
			})
			found = true
		}
		if !found {
			return false
		}
		cur, next = next, cur
	}
	return cur[n/64]&(1<<(uint(n)%64)) != 0
}

// forEach calls f for each set bit in ascending order.
func forEach(set []uint64, f func(int)) {
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			f(w*64 + b)
			word &= word - 1
		}
	}
}

func firstBit(set []uint64) int {
	for w, word := range set {
		if word != 0 {
			return w*64 + bits.TrailingZeros64(word)
		}
	}
	return len(set) * 64
}

func setBit(set []uint64, i int) { set[i/64] |= 1 << (uint(i) % 64) }

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEqual reports whether a equals lower, a lower-case ASCII string, when
// a's ASCII letters are folded to lower case. len(a) must equal len(lower).
func foldEqual(a, lower string) bool {
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lower[i] {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}
