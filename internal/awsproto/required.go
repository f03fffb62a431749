package awsproto

import (
	"reflect"
	"strconv"
	"sync"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// reqField is one member of a structure that needs checking: required
// itself, or holding structures with required members.
type reqField struct {
	index    int
	name     string
	required bool
	kind     reflect.Kind
	sub      *reqPlan // for members that hold structures
}

// reqPlan lists the members of a structure type that need checking.
type reqPlan struct {
	fields []reqField
}

var reqPlans sync.Map // reflect.Type -> *reqPlan (nil when nothing to check)

func reqPlanOf(t reflect.Type) *reqPlan {
	if p, ok := reqPlans.Load(t); ok {
		return p.(*reqPlan)
	}
	p := buildReqPlan(t, map[reflect.Type]bool{})
	reqPlans.Store(t, p)
	return p
}

func buildReqPlan(t reflect.Type, visiting map[reflect.Type]bool) *reqPlan {
	if t == timestampType || visiting[t] {
		return nil
	}
	visiting[t] = true
	defer delete(visiting, t)
	var p reqPlan
	for _, f := range planOf(t).fields {
		fp := reqField{index: f.index, name: f.name, required: f.required, kind: f.typ.Kind()}
		et := f.typ
		for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice || et.Kind() == reflect.Map {
			et = et.Elem()
		}
		if et.Kind() == reflect.Struct {
			fp.sub = buildReqPlan(et, visiting)
		}
		if fp.required || fp.sub != nil {
			p.fields = append(p.fields, fp)
		}
	}
	if len(p.fields) == 0 {
		return nil
	}
	return &p
}

// CheckRequired reports the first member marked required that is absent
// from in (a pointer to a structure, or a structure), as AWS words it:
// "1 validation error detected: Value null at 'a.b' failed to satisfy
// constraint: Member must not be null", with the given error code
// (ECS answers InvalidParameterException, query services ValidationError).
// An absent member is a nil pointer, slice or map, or an empty string.
func CheckRequired(in any, code string) *apierror.Error {
	v := reflect.ValueOf(in)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	missing := walkRequired(v, reqPlanOf(v.Type()))
	if missing == nil {
		return nil
	}
	return apierror.New(code, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", memberPath(missing))
}

// walkRequired returns the path of the first missing member under v, or nil.
func walkRequired(v reflect.Value, p *reqPlan) []string {
	if p == nil {
		return nil
	}
	for _, f := range p.fields {
		fv := v.Field(f.index)
		if f.required {
			missing := false
			switch f.kind {
			case reflect.Pointer, reflect.Slice, reflect.Map:
				missing = fv.IsNil()
			case reflect.String:
				missing = fv.Len() == 0
			}
			if missing {
				return []string{f.name}
			}
		}
		if f.sub == nil {
			continue
		}
		switch fv.Kind() {
		case reflect.Pointer:
			if !fv.IsNil() {
				if m := walkRequired(fv.Elem(), f.sub); m != nil {
					return append([]string{f.name}, m...)
				}
			}
		case reflect.Slice:
			for i := 0; i < fv.Len(); i++ {
				if m := walkElem(fv.Index(i), f.sub); m != nil {
					return append([]string{f.name, strconv.Itoa(i + 1)}, m...)
				}
			}
		case reflect.Map:
			iter := fv.MapRange()
			for iter.Next() {
				if m := walkElem(iter.Value(), f.sub); m != nil {
					return append([]string{f.name, iter.Key().String()}, m...)
				}
			}
		case reflect.Struct:
			if m := walkRequired(fv, f.sub); m != nil {
				return append([]string{f.name}, m...)
			}
		}
	}
	return nil
}

func walkElem(el reflect.Value, p *reqPlan) []string {
	if el.Kind() == reflect.Pointer {
		if el.IsNil() {
			return nil
		}
		el = el.Elem()
	}
	if el.Kind() != reflect.Struct {
		return nil
	}
	return walkRequired(el, p)
}
