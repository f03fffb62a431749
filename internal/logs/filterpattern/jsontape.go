package filterpattern

import "unicode/utf8"

// The JSON event is parsed once per match into a flat tape of nodes in
// reused scratch memory: an object node is followed by its members (a key
// node, then the value's subtree), an array node by its elements, and each
// node records where its subtree ends so a lookup skips siblings without
// rescanning. Strings stay as offsets into the message and are unescaped
// only when compared.

type jkind uint8

const (
	jObject jkind = iota + 1
	jArray
	jString
	jNumber
	jTrue
	jFalse
	jNull
)

type jnode struct {
	start, end int32 // byte range in the message; for strings, inside the quotes
	next       int32 // index of the first node after this subtree
	kind       jkind
	esc        bool // string with backslash escapes
}

// maxJSONDepth bounds nesting so hostile events cannot exhaust the stack.
const maxJSONDepth = 512

// parse parses p.msg into p.nodes. It reports false when the message is
// not one JSON value (surrounded by optional white space): such an event
// matches no JSON pattern.
func (p *tapeParser) parse() bool {
	if len(p.msg) > 1<<31-1 {
		return false
	}
	i, ok := p.value(p.ws(0), 0)
	if !ok {
		return false
	}
	return p.ws(i) == len(p.msg)
}

// tapeParser parses one event and evaluates selectors over its tape.
type tapeParser struct {
	msg   string
	nodes []jnode
	s     *scratch // hits and buf
}

func (p *tapeParser) ws(i int) int {
	for i < len(p.msg) {
		switch p.msg[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (p *tapeParser) push(k jkind, start, end int) int {
	n := len(p.nodes)
	p.nodes = append(p.nodes, jnode{kind: k, start: int32(start), end: int32(end), next: int32(n + 1)})
	return n
}

func (p *tapeParser) value(i, depth int) (int, bool) {
	if i >= len(p.msg) || depth > maxJSONDepth {
		return i, false
	}
	msg := p.msg
	switch c := msg[i]; {
	case c == '{':
		n := p.push(jObject, i, i)
		i = p.ws(i + 1)
		if i < len(msg) && msg[i] == '}' {
			i++
		} else {
			for {
				if i >= len(msg) || msg[i] != '"' {
					return i, false
				}
				var ok bool
				if i, ok = p.str(i); !ok {
					return i, false
				}
				i = p.ws(i)
				if i >= len(msg) || msg[i] != ':' {
					return i, false
				}
				if i, ok = p.value(p.ws(i+1), depth+1); !ok {
					return i, false
				}
				i = p.ws(i)
				if i >= len(msg) {
					return i, false
				}
				if msg[i] == '}' {
					i++
					break
				}
				if msg[i] != ',' {
					return i, false
				}
				i = p.ws(i + 1)
			}
		}
		p.nodes[n].end, p.nodes[n].next = int32(i), int32(len(p.nodes))
		return i, true
	case c == '[':
		n := p.push(jArray, i, i)
		i = p.ws(i + 1)
		if i < len(msg) && msg[i] == ']' {
			i++
		} else {
			for {
				var ok bool
				if i, ok = p.value(i, depth+1); !ok {
					return i, false
				}
				i = p.ws(i)
				if i >= len(msg) {
					return i, false
				}
				if msg[i] == ']' {
					i++
					break
				}
				if msg[i] != ',' {
					return i, false
				}
				i = p.ws(i + 1)
			}
		}
		p.nodes[n].end, p.nodes[n].next = int32(i), int32(len(p.nodes))
		return i, true
	case c == '"':
		return p.str(i)
	case c == 't':
		return p.lit(i, "true", jTrue)
	case c == 'f':
		return p.lit(i, "false", jFalse)
	case c == 'n':
		return p.lit(i, "null", jNull)
	case c == '-' || c >= '0' && c <= '9':
		return p.num(i)
	}
	return i, false
}

func (p *tapeParser) lit(i int, word string, k jkind) (int, bool) {
	if len(p.msg)-i < len(word) || p.msg[i:i+len(word)] != word {
		return i, false
	}
	p.push(k, i, i+len(word))
	return i + len(word), true
}

// num scans a JSON number (RFC 8259 grammar).
func (p *tapeParser) num(i int) (int, bool) {
	msg, start := p.msg, i
	if msg[i] == '-' {
		i++
	}
	if i >= len(msg) {
		return i, false
	}
	switch {
	case msg[i] == '0':
		i++
	case msg[i] >= '1' && msg[i] <= '9':
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(msg) && msg[i] == '.' {
		i++
		d := i
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	if i < len(msg) && (msg[i] == 'e' || msg[i] == 'E') {
		i++
		if i < len(msg) && (msg[i] == '+' || msg[i] == '-') {
			i++
		}
		d := i
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	p.push(jNumber, start, i)
	return i, true
}

// str scans a JSON string at msg[i] == '"', validating escapes. (Raw
// control characters inside strings are tolerated.)
func (p *tapeParser) str(i int) (int, bool) {
	msg := p.msg
	start := i + 1
	// Fast path: no backslash before the closing quote. (A byte loop beats
	// two IndexByte calls on the short strings of log events.)
	for j := start; j < len(msg); j++ {
		if c := msg[j]; c == '"' {
			p.push(jString, start, j)
			return j + 1, true
		} else if c == '\\' {
			break
		}
	}
	for j := start; j < len(msg); j++ {
		switch msg[j] {
		case '"':
			n := p.push(jString, start, j)
			p.nodes[n].esc = true
			return j + 1, true
		case '\\':
			if j+1 >= len(msg) {
				return j, false
			}
			switch msg[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(msg) || !isHex(msg[j+2]) || !isHex(msg[j+3]) || !isHex(msg[j+4]) || !isHex(msg[j+5]) {
					return j, false
				}
				j += 5
			default:
				return j, false
			}
		}
	}
	return len(msg), false
}

// text returns the value of string or number node n. Strings with escapes
// are unescaped into s.buf; the result is then only valid until the next
// call.
func (p *tapeParser) text(n *jnode) string {
	raw := p.msg[n.start:n.end]
	if !n.esc {
		return raw
	}
	p.s.buf = unescapeJSON(p.s.buf[:0], raw)
	return bytesString(p.s.buf)
}

// unescapeJSON appends the unescaped form of a valid JSON string body.
func unescapeJSON(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+4 >= len(s) {
				return dst
			}
			r := rune(hexVal(s[i+1 : i+5]))
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				lo := rune(hexVal(s[i+3 : i+7]))
				if lo >= 0xDC00 && lo < 0xE000 {
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // " \ /
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hexVal(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		}
	}
	return v
}
