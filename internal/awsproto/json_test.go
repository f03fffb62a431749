package awsproto

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awstime"
)

func ptr[T any](v T) *T { return &v }

var jsonSvc = &Service{SigningName: "logs", TargetPrefix: "Logs_20140328", JSONVersion: "1.1", Protocols: []string{"json"},
	Errors: map[string]awsop.ErrorInfo{"ResourceNotFoundException": {Shape: "ResourceNotFoundException", Code: "ResourceNotFoundException", HTTPStatus: 400, Sender: true}}}

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		name, body string
		code       string // "" when it decodes
	}{
		{"empty body is an empty request", "", "ValidationException"},
		{"blank body", "  \n", "ValidationException"},
		{"full", `{"Name":"a","Names":[],"Tags":[{"Key":"k","Value":""}],"At":1700000000.5,"Blob":"AAE="}`, ""},
		{"malformed", `{"Name":`, apierror.CodeSerialization},
		{"wrong type", `{"Name":42}`, apierror.CodeSerialization},
		{"wrong type nested", `{"Name":"a","Listener":{"Port":"eighty"}}`, apierror.CodeSerialization},
		{"trailing data", `{"Name":"a"} {}`, apierror.CodeSerialization},
		{"missing required", `{}`, "ValidationException"},
		{"missing required in list", `{"Name":"a","Tags":[{"Value":"v"}]}`, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in testInput
			err := Decode(&Request{Protocol: JSON11}, jsonSvc, []byte(tt.body), &in)
			if tt.code == "" && err != nil || tt.code != "" && (err == nil || err.Code != tt.code) {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
		})
	}
	var in testInput
	if err := Decode(&Request{Protocol: JSON11}, jsonSvc, []byte(`{"Name":"a","Tags":[{"Key":"k"}]}`), &in); err != nil {
		t.Fatal(err)
	}
	var in2 testInput
	err := Decode(&Request{Protocol: JSON11}, jsonSvc, []byte(`{"Name":"a","Tags":[{"Value":"v"}]}`), &in2)
	if err == nil || !strings.Contains(err.Message, "'tags.1.key'") {
		t.Fatalf("path: %v", err)
	}
}

func TestJSONOutput(t *testing.T) {
	out := &testOutput{Items: []testTag{{Key: ptr("k"), Value: ""}}, Empty: []string{}, Value: "",
		Created: awstime.NewTimestamp(time.UnixMilli(1700000000123))}
	rec := httptest.NewRecorder()
	if err := WriteOutput(rec, &Request{Protocol: JSON10}, jsonSvc, "Op", "", "req-1", out); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != ContentTypeJSON10 || rec.Header().Get("X-Amzn-RequestId") != "req-1" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := `{"Created":1700000000.123,"Empty":[],"Items":[{"Key":"k","Value":""}],"Value":""}`
	got, _ := json.Marshal(m)
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	rec = httptest.NewRecorder()
	_ = WriteOutput(rec, &Request{Protocol: JSON11}, jsonSvc, "Op", "", "r", nil)
	if rec.Body.String() != "{}" || rec.Header().Get("Content-Type") != ContentTypeJSON11 {
		t.Fatalf("nil output: %q", rec.Body.String())
	}
}

func TestJSONError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, JSON11, jsonSvc, "r", apierror.New("ResourceNotFoundException", "no such group"))
	if rec.Code != 400 || rec.Header().Get("X-Amzn-ErrorType") != "ResourceNotFoundException" ||
		rec.Body.String() != `{"__type":"ResourceNotFoundException","message":"no such group"}` ||
		rec.Header().Get("X-Amzn-Query-Error") != "" {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteError(rec, JSON10, nil, "r", apierror.Server())
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != ContentTypeJSON10 {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
}
