package awsproto

import (
	"reflect"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/awstime"
)

var timestampType = reflect.TypeFor[awstime.Timestamp]()

// field is one member of a structure as the codecs see it.
type field struct {
	index     int
	name      string // wire name (json tag)
	xmlName   string // query/XML name: locationName, else name
	omitEmpty bool
	omitZero  bool
	required  bool
	flattened bool
	xmlMember string // list member element name ("member")
	memberSet bool   // xmlMember came from a tag
	xmlKey    string // map key element name ("key")
	xmlValue  string // map value element name ("value")
	tsFormat  string // timestampFormat tag, "" for the protocol's default
	typ       reflect.Type
}

// structPlan lists the members of a structure type.
type structPlan struct {
	fields []field
	byName map[string]int // wire name -> index in fields
}

var plans sync.Map // reflect.Type -> *structPlan

// planOf returns the (cached) plan of struct type t.
func planOf(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := buildPlan(t)
	actual, _ := plans.LoadOrStore(t, p)
	return actual.(*structPlan)
}

func buildPlan(t reflect.Type) *structPlan {
	p := &structPlan{byName: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := field{
			index:     i,
			name:      name,
			xmlName:   name,
			required:  sf.Tag.Get("required") == "true",
			flattened: sf.Tag.Get("flattened") == "true",
			xmlMember: "member",
			xmlKey:    "key",
			xmlValue:  "value",
			tsFormat:  sf.Tag.Get("timestampFormat"),
			typ:       sf.Type,
		}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			}
		}
		if ln := sf.Tag.Get("locationName"); ln != "" {
			f.xmlName = ln
		}
		if m := sf.Tag.Get("xmlMember"); m != "" {
			f.xmlMember, f.memberSet = m, true
		}
		if k := sf.Tag.Get("xmlKey"); k != "" {
			f.xmlKey = k
		}
		if v := sf.Tag.Get("xmlValue"); v != "" {
			f.xmlValue = v
		}
		p.byName[name] = len(p.fields)
		p.fields = append(p.fields, f)
	}
	return p
}

// omitted reports whether the member f with value v is left out of an
// encoding, by the same rules encoding/json applies to the json tag.
func (f *field) omitted(v reflect.Value) bool {
	if f.omitZero && v.IsZero() {
		return true
	}
	if !f.omitEmpty {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	}
	return false
}

// isBlob reports whether t is a blob ([]byte).
func isBlob(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

// memberPath renders a path of member names as AWS validation messages do:
// each name with a lower-case first letter, joined by dots.
func memberPath(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
			p = strings.ToLower(p[:1]) + p[1:]
		}
		out[i] = p
	}
	return strings.Join(out, ".")
}
