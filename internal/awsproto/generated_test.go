package awsproto

import (
	"encoding/xml"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// fill sets every member of v, down to depth levels of structures.
func fill(v reflect.Value, depth int) {
	t := v.Type()
	switch {
	case t == timestampType:
		v.Set(reflect.ValueOf(awstime.Timestamp{Time: time.UnixMilli(1767225600123).UTC()}))
		return
	case isBlob(t):
		v.SetBytes([]byte{1, 2, 3})
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct && t.Elem() != timestampType && depth == 0 {
			return
		}
		nv := reflect.New(t.Elem())
		fill(nv.Elem(), depth)
		v.Set(nv)
	case reflect.Struct:
		if depth == 0 {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				fill(v.Field(i), depth-1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(t, 1, 1)
		fill(s.Index(0), depth)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		ev := reflect.New(t.Elem()).Elem()
		fill(ev, depth)
		m.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), ev)
		v.Set(m)
	case reflect.String:
		v.SetString("s<&>")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

// TestEveryGeneratedShape encodes every input and output shape of every
// generated service, filled, in CBOR and decodes it back, and writes every
// output as query XML that must be well formed.
func TestEveryGeneratedShape(t *testing.T) {
	services := map[string]map[string]awsop.Operation{
		"ecs": ecsapi.Operations(), "elbv2": elbv2api.Operations(), "logs": logsapi.Operations(),
		"cloudwatch": cloudwatchapi.Operations(), "autoscaling": autoscalingapi.Operations(), "ecr": ecrapi.Operations(),
	}
	n := 0
	for svc, ops := range services {
		for name, op := range ops {
			for _, typ := range []reflect.Type{op.Input, op.Output} {
				if typ == nil {
					continue
				}
				n++
				v := reflect.New(typ)
				fill(v.Elem(), 4)
				b, err := encodeCBOR(v.Interface())
				if err != nil {
					t.Fatalf("%s %s: encode: %v", svc, typ, err)
				}
				back := reflect.New(typ)
				if aerr := decodeCBOR(b, back.Interface()); aerr != nil {
					t.Fatalf("%s %s: decode: %v", svc, typ, aerr)
				}
				if !reflect.DeepEqual(v.Interface(), back.Interface()) {
					t.Fatalf("%s %s: CBOR round trip differs:\n%+v\n%+v", svc, typ, v.Elem(), back.Elem())
				}
				if typ == op.Output {
					body := queryResponse(name, op.ResultWrapper, "urn:x", "rid", v.Interface())
					var anyXML struct{}
					if err := xml.Unmarshal(body, &anyXML); err != nil {
						t.Fatalf("%s %s: XML: %v\n%s", svc, typ, err, body)
					}
				}
			}
		}
	}
	if n < 300 {
		t.Fatalf("only %d shapes checked", n)
	}
}
