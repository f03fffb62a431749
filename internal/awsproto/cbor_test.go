package awsproto

import (
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awstime"
)

var cborSvc = &Service{SigningName: "monitoring", APIVersion: "2010-08-01", TargetPrefix: "GraniteServiceVersion20100801",
	JSONVersion: "1.0", XMLNamespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
	Protocols: []string{"smithy-rpc-v2-cbor", "json", "query"},
	Errors: map[string]awsop.ErrorInfo{"ResourceNotFoundException": {Shape: "ResourceNotFoundException", Code: "ResourceNotFoundException", HTTPStatus: 404, Sender: true},
		"InvalidParameterValueException": {Shape: "InvalidParameterValueException", Code: "InvalidParameterValue", HTTPStatus: 400, Sender: true}}}

func TestCBORRoundTrip(t *testing.T) {
	at := awstime.NewTimestamp(time.UnixMilli(1700000000250))
	in := &testInput{
		Name: ptr("n"), Names: []string{}, Tags: []testTag{{Key: ptr("k"), Value: ""}},
		Listener:   &testListener{Port: ptr(int32(443)), Weights: []float64{1.5, 2}},
		Attributes: map[string]string{"a": ""}, Nested: map[string][]int64{"x": {-1, 1 << 40}},
		Enabled: ptr(false), Count: ptr(int64(-5)), Ratio: ptr(0.1), At: at, Blob: []byte("bin"),
		State: "ok", Lists: [][]string{{}}, Recursive: &testInput{Name: ptr("r")}, Unboxed: 7,
	}
	b, err := encodeCBOR(in)
	if err != nil {
		t.Fatal(err)
	}
	// The wire form: names from the json tags, empty lists and "" kept,
	// nil members absent, the timestamp as tag 1.
	var generic map[string]any
	if err := cbor.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Flat", "Custom", "Description", "Loc"} {
		if _, ok := generic[k]; ok {
			t.Errorf("%s present", k)
		}
	}
	if l, ok := generic["Names"].([]any); !ok || len(l) != 0 {
		t.Errorf("Names = %#v, want []", generic["Names"])
	}
	var raw map[string]cbor.RawMessage
	_ = cbor.Unmarshal(b, &raw)
	var tag cbor.Tag
	if err := cbor.Unmarshal(raw["At"], &tag); err != nil || tag.Number != 1 || tag.Content != 1700000000.25 {
		t.Errorf("At = %#v (%v)", tag, err)
	}
	var out testInput
	if err := Decode(&Request{Protocol: CBOR}, cborSvc, b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&out, in) {
		t.Fatalf("got  %+v\nwant %+v", out, *in)
	}
}

func TestCBORDecodeErrors(t *testing.T) {
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		body []byte
		code string
	}{
		{"empty body is an empty request", nil, "ValidationException"},
		{"not cbor", []byte{0xff, 0x00}, apierror.CodeSerialization},
		{"truncated", enc(map[string]any{"Name": "abc"})[:4], apierror.CodeSerialization},
		{"not a map", enc([]any{1}), apierror.CodeSerialization},
		{"wrong type", enc(map[string]any{"Name": 1}), apierror.CodeSerialization},
		{"wrong nested type", enc(map[string]any{"Name": "a", "Listener": map[string]any{"Port": "80"}}), apierror.CodeSerialization},
		{"int32 overflow", enc(map[string]any{"Name": "a", "Listener": map[string]any{"Port": 1 << 40}}), apierror.CodeSerialization},
		{"float for an integer", enc(map[string]any{"Name": "a", "Count": 1.5}), apierror.CodeSerialization},
		{"text for a blob", enc(map[string]any{"Name": "a", "Blob": "x"}), apierror.CodeSerialization},
		{"duplicate key", []byte{0xa2, 0x64, 'N', 'a', 'm', 'e', 0x61, 'a', 0x64, 'N', 'a', 'm', 'e', 0x61, 'b'}, apierror.CodeSerialization},
		{"missing required", enc(map[string]any{"Names": []string{"a"}}), "ValidationException"},
		{"null is absent", enc(map[string]any{"Name": "a", "Listener": nil}), ""},
		{"epoch number timestamp", enc(map[string]any{"Name": "a", "At": 1700000000}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in testInput
			err := Decode(&Request{Protocol: CBOR}, cborSvc, tt.body, &in)
			if tt.code == "" && err != nil || tt.code != "" && (err == nil || err.Code != tt.code) {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
		})
	}
}

func TestCBOROutputAndError(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := WriteOutput(rec, &Request{Protocol: CBOR}, cborSvc, "Op", "", "rid", &testOutput{Empty: []string{}}); err != nil {
		t.Fatal(err)
	}
	if rec.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" || rec.Header().Get("Content-Type") != "application/cbor" || rec.Code != 200 {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var m map[string]any
	if err := cbor.Unmarshal(rec.Body.Bytes(), &m); err != nil || len(m) != 2 || m["Value"] != "" {
		t.Fatalf("%#v %v", m, err)
	}

	rec = httptest.NewRecorder()
	WriteError(rec, CBOR, cborSvc, "rid", apierror.New("InvalidParameterValue", "bad"))
	m = nil
	if err := cbor.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 400 || m["__type"] != "InvalidParameterValueException" || m["message"] != "bad" ||
		rec.Header().Get("X-Amzn-Query-Error") != "InvalidParameterValue;Sender" || rec.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Fatalf("%d %v %#v", rec.Code, rec.Header(), m)
	}
	rec = httptest.NewRecorder()
	WriteError(rec, CBOR, cborSvc, "rid", UnknownOperation(CBOR, "Dance", ""))
	m = nil
	_ = cbor.Unmarshal(rec.Body.Bytes(), &m)
	if rec.Code != 404 || m["__type"] != "UnknownOperationException" || rec.Header().Get("X-Amzn-Query-Error") != "" {
		t.Fatalf("%d %v %#v", rec.Code, rec.Header(), m)
	}
	// The model's status applies when the error sets none.
	rec = httptest.NewRecorder()
	WriteError(rec, JSON10, cborSvc, "rid", apierror.New("ResourceNotFoundException", "gone"))
	if rec.Code != 404 || rec.Header().Get("X-Amzn-Query-Error") != "ResourceNotFoundException;Sender" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
}
