package awsproto

import (
	"net/url"
	"testing"
)

// checkClientError fails unless err is nil or a client (4xx) error.
func checkClientError(t *testing.T, in []byte, err interface{ HTTPStatus() int }) {
	t.Helper()
	if err != nil && err.HTTPStatus() != 400 {
		t.Fatalf("%q: status %d", in, err.HTTPStatus())
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `[]`, `{"Name":"a","Tags":[{"Key":null}]}`, `{"At":"2020-01-01T00:00:00Z"}`,
		`{"At":1e300}`, `{"Listener":{"Port":1e10}}`, `{"Nested":{"a":[1,"x"]}}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in testInput
		if err := Decode(&Request{Protocol: JSON11}, jsonSvc, body, &in); err != nil {
			checkClientError(t, body, err)
		}
	})
}

func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{"Name=a", "Names.member.1=a&Names.member.3=c", "Tags.member.1.Key=k", "Attributes.entry.1.key=a",
		"Nested.entry.1.Name=n&Nested.entry.1.Values.member.1=x", "Lists.member.1.member.1=d", "Recursive.Recursive.Name=x",
		"Listener.Port=99999999999", "At=1e400", "Blob=%%%", "Flat.1=a&Flat.2=b", "Names=&Names.member.1=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		vals, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		var in testInput
		if aerr := Decode(&Request{Protocol: Query, Form: vals}, querySvc, nil, &in); aerr != nil {
			checkClientError(t, []byte(form), aerr)
		}
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	in := &testInput{Name: ptr("n"), Names: []string{}, Tags: []testTag{{Key: ptr("k")}}, At: nil,
		Listener: &testListener{Port: ptr(int32(1))}, Nested: map[string][]int64{"a": {1}}}
	b, _ := encodeCBOR(in)
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0xc1, 0x1a, 0, 0, 0, 1})
	f.Add([]byte{0xa1, 0x62, 'A', 't', 0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		var in testInput
		if err := Decode(&Request{Protocol: CBOR}, cborSvc, body, &in); err != nil {
			checkClientError(t, body, err)
		}
	})
}
