package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strconv"

	"github.com/gantry-dev/gantry/internal/awstime"
)

// xmlEncoder writes shapes as the query protocol's XML: a member as an
// element of its name, lists as <Name><member>..</member></Name> (an empty
// list as <Name/>; flattened lists as repeated <Name>), maps as
// <Name><entry><key/><value/></entry></Name>, timestamps in ISO 8601 with
// milliseconds (UTC), booleans true/false, blobs in base64.
type xmlEncoder struct {
	buf *bytes.Buffer
}

func (e *xmlEncoder) open(name string) {
	e.buf.WriteByte('<')
	e.buf.WriteString(name)
	e.buf.WriteByte('>')
}

func (e *xmlEncoder) close(name string) {
	e.buf.WriteString("</")
	e.buf.WriteString(name)
	e.buf.WriteByte('>')
}

func (e *xmlEncoder) text(s string) {
	_ = xml.EscapeText(e.buf, []byte(s))
}

// element writes <name>s</name> with s escaped.
func (e *xmlEncoder) element(name, s string) {
	e.open(name)
	e.text(s)
	e.close(name)
}

// structure writes the members of v (a struct) as child elements.
func (e *xmlEncoder) structure(v reflect.Value) {
	p := planOf(v.Type())
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		if f.omitted(fv) {
			continue
		}
		e.member(f.xmlName, f, fv)
	}
}

// member writes the value v named name; f describes it (nil for list
// elements and map values).
func (e *xmlEncoder) member(name string, f *field, v reflect.Value) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	switch {
	case t == timestampType:
		format := ""
		if f != nil {
			format = f.tsFormat
		}
		e.element(name, formatTimestamp(v.Interface().(awstime.Timestamp), format))
		return
	case isBlob(t):
		e.element(name, base64.StdEncoding.EncodeToString(v.Bytes()))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		e.open(name)
		e.structure(v)
		e.close(name)
	case reflect.Slice, reflect.Array:
		e.list(name, f, v)
	case reflect.Map:
		e.mapping(name, f, v)
	default:
		e.element(name, scalarText(v))
	}
}

func (e *xmlEncoder) list(name string, f *field, v reflect.Value) {
	member, flat := "member", false
	if f != nil {
		member, flat = f.xmlMember, f.flattened
		if flat && !f.memberSet {
			member = name
		}
	}
	if flat {
		for i := 0; i < v.Len(); i++ {
			e.member(member, nil, v.Index(i))
		}
		return
	}
	if v.Len() == 0 {
		e.buf.WriteByte('<')
		e.buf.WriteString(name)
		e.buf.WriteString("/>")
		return
	}
	e.open(name)
	for i := 0; i < v.Len(); i++ {
		e.member(member, nil, v.Index(i))
	}
	e.close(name)
}

func (e *xmlEncoder) mapping(name string, f *field, v reflect.Value) {
	kName, vName, flat := "key", "value", false
	if f != nil {
		kName, vName, flat = f.xmlKey, f.xmlValue, f.flattened
	}
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	entry := "entry"
	if flat {
		entry = name
	} else {
		if len(keys) == 0 {
			e.buf.WriteByte('<')
			e.buf.WriteString(name)
			e.buf.WriteString("/>")
			return
		}
		e.open(name)
	}
	for _, k := range keys {
		e.open(entry)
		e.element(kName, k.String())
		e.member(vName, nil, v.MapIndex(k))
		e.close(entry)
	}
	if !flat {
		e.close(name)
	}
}

// scalarText renders a string, number or boolean.
func scalarText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return formatFloat(v.Float())
	}
	return ""
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// formatTimestamp writes t in the member's timestampFormat (ISO 8601 with
// milliseconds, UTC, by default).
func formatTimestamp(t awstime.Timestamp, format string) string {
	switch format {
	case "unixTimestamp":
		return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
	case "rfc822":
		return t.UTC().Format(http.TimeFormat)
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// queryResponse writes the XML answer of op: the output inside the result
// wrapper (op+"Result" when wrapper is ""), then the request ID. out is nil
// (or a nil pointer) when the operation has no output.
func queryResponse(op, wrapper, ns, reqID string, out any) []byte {
	var buf bytes.Buffer
	e := &xmlEncoder{buf: &buf}
	buf.WriteString("<" + op + "Response")
	if ns != "" {
		buf.WriteString(` xmlns="`)
		e.text(ns)
		buf.WriteByte('"')
	}
	buf.WriteByte('>')
	v := reflect.ValueOf(out)
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v = reflect.Value{}
			break
		}
		v = v.Elem()
	}
	if v.IsValid() && v.Kind() == reflect.Struct {
		if wrapper == "" {
			wrapper = op + "Result"
		}
		e.open(wrapper)
		e.structure(v)
		e.close(wrapper)
	}
	e.open("ResponseMetadata")
	e.element("RequestId", reqID)
	e.close("ResponseMetadata")
	e.close(op + "Response")
	return buf.Bytes()
}

// queryError writes the query protocol's <ErrorResponse>.
func queryError(ns, typ, code, message, reqID string) []byte {
	var buf bytes.Buffer
	e := &xmlEncoder{buf: &buf}
	buf.WriteString("<ErrorResponse")
	if ns != "" {
		buf.WriteString(` xmlns="`)
		e.text(ns)
		buf.WriteByte('"')
	}
	buf.WriteByte('>')
	e.open("Error")
	e.element("Type", typ)
	e.element("Code", code)
	e.element("Message", message)
	e.close("Error")
	e.element("RequestId", reqID)
	e.close("ErrorResponse")
	return buf.Bytes()
}
