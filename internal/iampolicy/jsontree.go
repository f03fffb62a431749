package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// jkind is the JSON type of a decoded value.
type jkind uint8

const (
	jObject jkind = iota
	jArray
	jString
	jNumber
	jBool
	jNull
)

func (k jkind) String() string {
	return [...]string{"an object", "a list", "a string", "a number", "a boolean", "null"}[k]
}

// jval is a JSON value with the byte offset where it starts, so that every
// complaint about a policy can name its line and column. Objects keep their
// members in document order, and a duplicated name is refused rather than
// silently won by the last one as encoding/json would.
type jval struct {
	kind jkind
	off  int
	text string    // string value, number or boolean as written
	obj  []jmember // object members
	arr  []jval    // array elements
}

type jmember struct {
	key    string
	keyOff int
	val    jval
}

// maxDepth bounds nesting; a policy needs four levels.
const maxDepth = 32

// decodeTree decodes doc into a tree. Errors are *MalformedError with the
// line and column of the fault.
func decodeTree(doc []byte) (jval, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, doc, 0)
	if err != nil {
		return jval{}, err
	}
	off := skipSpace(doc, int(dec.InputOffset()))
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return jval{}, syntaxAt(doc, off, "unexpected data after the policy document")
	}
	return v, nil
}

func readValue(dec *json.Decoder, doc []byte, depth int) (jval, error) {
	start := skipSpace(doc, int(dec.InputOffset()))
	if depth > maxDepth {
		return jval{}, syntaxAt(doc, start, "nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return jval{}, jsonError(doc, start, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := jval{kind: jObject, off: start}
			seen := map[string]bool{}
			for dec.More() {
				keyOff := skipSpace(doc, int(dec.InputOffset()))
				kt, err := dec.Token()
				if err != nil {
					return jval{}, jsonError(doc, keyOff, err)
				}
				key, ok := kt.(string)
				if !ok {
					return jval{}, syntaxAt(doc, keyOff, "object key must be a string")
				}
				if seen[key] {
					return jval{}, syntaxAt(doc, keyOff, "duplicate field "+quote(key))
				}
				seen[key] = true
				val, err := readValue(dec, doc, depth+1)
				if err != nil {
					return jval{}, err
				}
				v.obj = append(v.obj, jmember{key: key, keyOff: keyOff, val: val})
			}
			end := skipSpace(doc, int(dec.InputOffset()))
			if _, err := dec.Token(); err != nil {
				return jval{}, jsonError(doc, end, err)
			}
			return v, nil
		case '[':
			v := jval{kind: jArray, off: start}
			for dec.More() {
				el, err := readValue(dec, doc, depth+1)
				if err != nil {
					return jval{}, err
				}
				v.arr = append(v.arr, el)
			}
			end := skipSpace(doc, int(dec.InputOffset()))
			if _, err := dec.Token(); err != nil {
				return jval{}, jsonError(doc, end, err)
			}
			return v, nil
		default:
			return jval{}, syntaxAt(doc, start, "unexpected "+string(rune(t)))
		}
	case string:
		return jval{kind: jString, off: start, text: t}, nil
	case json.Number:
		return jval{kind: jNumber, off: start, text: string(t)}, nil
	case bool:
		text := "false"
		if t {
			text = "true"
		}
		return jval{kind: jBool, off: start, text: text}, nil
	default:
		return jval{kind: jNull, off: start}, nil
	}
}

// skipSpace returns the offset of the next token at or after off: past
// white space and the separators the decoder has not yet reported.
func skipSpace(doc []byte, off int) int {
	for off < len(doc) {
		switch doc[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// jsonError turns a decoder error into a MalformedError. The decoder's
// offsets are not exact for every kind of fault, so a syntax error is
// located again with json.Unmarshal, whose offset is that of the bad byte.
func jsonError(doc []byte, off int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return syntaxAt(doc, len(doc), "unexpected end of document")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		var raw json.RawMessage
		if uerr := json.Unmarshal(doc, &raw); errors.As(uerr, &se) {
			return syntaxAt(doc, int(se.Offset)-1, se.Error())
		}
	}
	return syntaxAt(doc, off, err.Error())
}

func syntaxAt(doc []byte, off int, detail string) error {
	line, col := position(doc, off)
	return &MalformedError{Line: line, Column: col, Reason: "Syntax errors in policy: " + detail + "."}
}

// position converts a byte offset to a 1-based line and column (in bytes).
func position(doc []byte, off int) (line, col int) {
	off = min(max(off, 0), len(doc))
	line = 1 + bytes.Count(doc[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(doc[:off], '\n')
	return line, col
}
