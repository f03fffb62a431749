package apiserver

import (
	"reflect"
	"sort"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func inputTypes(t testing.TB) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for op, io := range ecsapi.OperationShapes() {
		typ := ecsapi.ShapeType(io[0])
		if typ == nil {
			continue
		}
		names = append(names, op)
		types[op] = typ
	}
	sort.Strings(names)
	for op, io := range ecsapi.ExtensionOperations() {
		names = append(names, op)
		types[op] = ecsapi.ExtensionShapeType(io[0])
	}
	sort.Strings(names)
	return names, types
}

// FuzzDecode feeds arbitrary bodies to the decoding and validation of every
// operation's input: the result is a value or an *apierror.Error of a
// client's fault, never a panic.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{}`, `null`, `[]`, `{"family":"web","containerDefinitions":[{"name":"a","image":"b"}]}`,
		`{"containerDefinitions":[{"name":1}]}`, `{"cluster":{"a":1}}`, `{"maxResults":"x"}`,
		`{"maxResults":1e400}`, `{"tags":[{"key":null}]}`, `{"family":"x"} trailing`, `{"a":`,
		`{"startedAt":"2020-01-01T00:00:00Z"}`, `{"registeredAt":1e300}`, "\xff\xfe",
		`{"overrides":{"containerOverrides":[{"environment":[{"name":"A","value":"B"}]}]}}`,
	}
	for i, s := range seeds {
		f.Add(uint16(i*7), []byte(s))
	}
	names, types := inputTypes(f)
	f.Fuzz(func(t *testing.T, pick uint16, body []byte) {
		op := names[int(pick)%len(names)]
		in := reflect.New(types[op])
		err := decodeStrict(body, in.Interface())
		if err == nil {
			err = checkRequired(in.Elem(), "")
		}
		if err != nil {
			ae, ok := apierror.As(err)
			if !ok || ae.HTTPStatus() != 400 {
				t.Fatalf("%s: %q: not a client error: %v", op, body, err)
			}
		}
	})
}
