package awsproto

import (
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awstime"
)

// The CBOR codec of Smithy RPC v2: the wire format is read and written by
// fxamacker/cbor into generic values (maps with string keys, slices,
// numbers, byte and text strings, tag 1 epoch timestamps), and walked here
// against the shape's plan, so that the json tags' names and omission rules
// apply and a value of the wrong type is a SerializationException.

var cborDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  64,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

var cborEnc = func() cbor.EncMode {
	em, err := cbor.EncOptions{ShortestFloat: cbor.ShortestFloat16}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// decodeCBOR decodes one CBOR map into v, a pointer to a structure. An
// empty body is an empty request.
func decodeCBOR(body []byte, v any) *apierror.Error {
	if len(body) == 0 {
		return nil
	}
	if c := fastCodecOf(v); c != nil && c.decode != nil && !isNil(v) {
		r := CBORReader{b: body}
		if c.decode(&r, v) && r.Done() {
			return nil
		}
		// Not handled: decode again from nothing, with the generic
		// decoder's errors.
		reflect.ValueOf(v).Elem().SetZero()
	}
	var tree any
	if err := cborDec.Unmarshal(body, &tree); err != nil {
		return apierror.Serialization("The request body is not valid CBOR: %v", err)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil
	}
	if _, ok := tree.(map[string]any); !ok && tree != nil {
		return apierror.Serialization("The request body must be a CBOR map.")
	}
	return fromTree(tree, rv.Elem(), nil)
}

func wrongType(path []string, t reflect.Type, got any) *apierror.Error {
	return apierror.Serialization("Value of the wrong type at '%s': expected %s, got CBOR %s", memberPath(path), describeKind(t), cborKind(got))
}

func cborKind(x any) string {
	switch x.(type) {
	case map[string]any:
		return "map"
	case []any:
		return "array"
	case string:
		return "text string"
	case []byte:
		return "byte string"
	case bool:
		return "boolean"
	case uint64, int64:
		return "integer"
	case float64, float32:
		return "float"
	case time.Time:
		return "timestamp"
	}
	return reflect.TypeOf(x).String()
}

// fromTree fills v from the generic CBOR value x.
func fromTree(x any, v reflect.Value, path []string) *apierror.Error {
	if x == nil {
		return nil // null: absent
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		nv := reflect.New(t.Elem())
		if err := fromTree(x, nv.Elem(), path); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	switch {
	case t == timestampType:
		switch n := x.(type) {
		case time.Time:
			// Tag 1 with a float decodes with the float's error: AWS
			// timestamps have milliseconds at most.
			v.Set(reflect.ValueOf(awstime.Timestamp{Time: n.UTC().Round(time.Millisecond)}))
			return nil
		case cbor.Tag:
			return wrongType(path, t, x)
		}
		if f, ok := number(x); ok && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e13 {
			v.Set(reflect.ValueOf(epochTimestamp(f)))
			return nil
		}
		return wrongType(path, t, x)
	case isBlob(t):
		b, ok := x.([]byte)
		if !ok {
			return wrongType(path, t, x)
		}
		v.SetBytes(b)
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			return wrongType(path, t, x)
		}
		p := planOf(t)
		for k, el := range m {
			i, ok := p.byName[k]
			if !ok {
				continue
			}
			f := &p.fields[i]
			if err := fromTree(el, v.Field(f.index), append(path, f.name)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		a, ok := x.([]any)
		if !ok {
			return wrongType(path, t, x)
		}
		out := reflect.MakeSlice(t, len(a), len(a))
		for i, el := range a {
			if err := fromTree(el, out.Index(i), append(path, strconv.Itoa(i+1))); err != nil {
				return err
			}
		}
		v.Set(out)
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok {
			return wrongType(path, t, x)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, el := range m {
			ev := reflect.New(t.Elem()).Elem()
			if err := fromTree(el, ev, append(path, k)); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(out)
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return wrongType(path, t, x)
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return wrongType(path, t, x)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch i := x.(type) {
		case uint64:
			if i > math.MaxInt64 {
				return wrongType(path, t, x)
			}
			n = int64(i)
		case int64:
			n = i
		default:
			return wrongType(path, t, x)
		}
		if v.OverflowInt(n) {
			return apierror.Serialization("Value at '%s' is out of range: %d", memberPath(path), n)
		}
		v.SetInt(n)
	case reflect.Float32, reflect.Float64:
		f, ok := number(x)
		if !ok {
			return wrongType(path, t, x)
		}
		v.SetFloat(f)
	default:
		return wrongType(path, t, x)
	}
	return nil
}

func number(x any) (float64, bool) {
	switch n := x.(type) {
	case uint64:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// encodeCBOR writes v (a pointer to a structure, or nil) as a CBOR map.
func encodeCBOR(v any) ([]byte, error) {
	if c := fastCodecOf(v); c != nil && c.encode != nil && !isNil(v) {
		var w CBORWriter
		c.encode(&w, v)
		return w.Bytes(), nil
	}
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return cborEnc.Marshal(map[string]any{})
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return cborEnc.Marshal(map[string]any{})
	}
	return cborEnc.Marshal(toTree(rv))
}

// toTree turns v into generic values for the CBOR encoder.
func toTree(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	switch {
	case t == timestampType:
		ts := v.Interface().(awstime.Timestamp)
		ms := ts.UnixMilli()
		var content any = ms / 1000
		if ms%1000 != 0 {
			content = float64(ms) / 1000
		}
		return cbor.Tag{Number: 1, Content: content}
	case isBlob(t):
		return append([]byte{}, v.Bytes()...)
	}
	switch t.Kind() {
	case reflect.Struct:
		p := planOf(t)
		m := make(map[string]any, len(p.fields))
		for i := range p.fields {
			f := &p.fields[i]
			fv := v.Field(f.index)
			if f.omitted(fv) {
				continue
			}
			if (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			m[f.name] = toTree(fv)
		}
		return m
	case reflect.Slice, reflect.Array:
		a := make([]any, v.Len())
		for i := range a {
			a[i] = toTree(v.Index(i))
		}
		return a
	case reflect.Map:
		m := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = toTree(iter.Value())
		}
		return m
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return nil
}
