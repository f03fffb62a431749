package awsproto

import (
	"encoding/base64"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awstime"
)

// formDecoder fills a structure from the query protocol's parameters:
// members by name ("A.B" for nested structures), lists as
// "Name.member.N" ("Name.N" when flattened; the member name from the
// xmlMember tag), maps as "Name.entry.N.key" / ".value" ("Name.N.key"
// when flattened). An empty list is sent as "Name=" with no elements.
type formDecoder struct {
	form     url.Values
	prefixes map[string]bool // every "a." and "a.b." that starts a key
	code     string          // validation error code
}

// decodeQuery decodes form into v, a pointer to a structure. Parameters the
// structure does not name are ignored (Action and Version among them).
func decodeQuery(form url.Values, v any, code string) *apierror.Error {
	d := &formDecoder{form: form, prefixes: map[string]bool{}, code: code}
	for k := range form {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				d.prefixes[k[:i+1]] = true
			}
		}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	return d.structure(rv.Elem(), "", nil)
}

// has reports whether any parameter is key itself or lies under it.
func (d *formDecoder) has(key string) bool {
	_, ok := d.form[key]
	return ok || d.prefixes[key+"."]
}

func (d *formDecoder) structure(v reflect.Value, prefix string, path []string) *apierror.Error {
	p := planOf(v.Type())
	for i := range p.fields {
		f := &p.fields[i]
		key := prefix + f.xmlName
		if !d.has(key) {
			continue
		}
		if err := d.value(v.Field(f.index), f, key, append(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// isScalar reports whether t (not a pointer) is written as one parameter.
func isScalar(t reflect.Type) bool {
	if t == timestampType || isBlob(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Map:
		return false
	}
	return true
}

// value fills v from the parameters at key; f describes the member (nil
// for list elements and map values, which take the defaults).
func (d *formDecoder) value(v reflect.Value, f *field, key string, path []string) *apierror.Error {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if isScalar(t.Elem()) {
			if _, ok := d.form[key]; !ok {
				return nil
			}
		}
		nv := reflect.New(t.Elem())
		if err := d.value(nv.Elem(), f, key, path); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	if isScalar(t) {
		vals, ok := d.form[key]
		if !ok || len(vals) == 0 {
			return nil
		}
		return d.scalar(v, vals[0], path)
	}
	switch t.Kind() {
	case reflect.Struct:
		return d.structure(v, key+".", path)
	case reflect.Slice:
		return d.list(v, f, key, path)
	case reflect.Map:
		return d.mapping(v, f, key, path)
	}
	return nil
}

func (d *formDecoder) list(v reflect.Value, f *field, key string, path []string) *apierror.Error {
	member, flat := "member", false
	if f != nil {
		member, flat = f.xmlMember, f.flattened
	}
	elemPrefix := key + "." + member + "."
	if flat {
		elemPrefix = key + "."
	}
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for n := 1; ; n++ {
		ek := elemPrefix + strconv.Itoa(n)
		if !d.has(ek) {
			break
		}
		el := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(el, nil, ek, append(path, strconv.Itoa(n))); err != nil {
			return err
		}
		out = reflect.Append(out, el)
	}
	v.Set(out)
	return nil
}

func (d *formDecoder) mapping(v reflect.Value, f *field, key string, path []string) *apierror.Error {
	kName, vName, flat := "key", "value", false
	if f != nil {
		kName, vName, flat = f.xmlKey, f.xmlValue, f.flattened
	}
	entryPrefix := key + ".entry."
	if flat {
		entryPrefix = key + "."
	}
	t := v.Type()
	out := reflect.MakeMap(t)
	for n := 1; ; n++ {
		ek := entryPrefix + strconv.Itoa(n)
		k, ok := d.form[ek+"."+kName]
		if !ok || len(k) == 0 {
			break
		}
		el := reflect.New(t.Elem()).Elem()
		if d.has(ek + "." + vName) {
			if err := d.value(el, nil, ek+"."+vName, append(path, k[0])); err != nil {
				return err
			}
		}
		out.SetMapIndex(reflect.ValueOf(k[0]).Convert(t.Key()), el)
	}
	v.Set(out)
	return nil
}

// scalar parses s into v (not a pointer).
func (d *formDecoder) scalar(v reflect.Value, s string, path []string) *apierror.Error {
	t := v.Type()
	bad := func(what string) *apierror.Error {
		shown := s
		if len(shown) > 100 {
			shown = shown[:100] + "..."
		}
		return apierror.New(d.code, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be %s", shown, memberPath(path), what)
	}
	switch {
	case t == timestampType:
		ts, ok := parseTimestamp(s)
		if !ok {
			return bad("a timestamp")
		}
		v.Set(reflect.ValueOf(ts))
		return nil
	case isBlob(t):
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad("base64-encoded binary data")
		}
		v.SetBytes(b)
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return bad("a boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return bad("an integer")
		}
		v.SetInt(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return bad("a number")
		}
		v.SetFloat(x)
	}
	return nil
}

// parseTimestamp reads an ISO 8601 date-time or epoch seconds.
func parseTimestamp(s string) (awstime.Timestamp, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return awstime.Timestamp{Time: t.UTC()}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return awstime.Timestamp{}, false
	}
	return epochTimestamp(f), true
}

func epochTimestamp(f float64) awstime.Timestamp {
	sec, frac := math.Modf(f)
	return awstime.Timestamp{Time: time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()}
}
