package apiserver

import (
	"reflect"
	"sort"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsproto"
)

func inputTypes(t testing.TB) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for name, op := range ECS(nil, nil).Operations {
		if op.Input == nil {
			continue
		}
		names = append(names, name)
		types[name] = op.Input
	}
	sort.Strings(names)
	return names, types
}

// FuzzDecode feeds arbitrary bodies to the decoding and validation of every
// ECS operation's input: the result is a value or an *apierror.Error of a
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
	meta := ECS(nil, nil).Meta
	f.Fuzz(func(t *testing.T, pick uint16, body []byte) {
		op := names[int(pick)%len(names)]
		in := reflect.New(types[op])
		if err := awsproto.Decode(&awsproto.Request{Protocol: awsproto.JSON11}, &meta, body, in.Interface()); err != nil {
			ae, ok := apierror.As(err)
			if !ok || ae.HTTPStatus() != 400 {
				t.Fatalf("%s: %q: not a client error: %v", op, body, err)
			}
		}
	})
}
