package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// decodeJSON decodes one JSON object into v, turning every decoding problem
// into the SerializationException AWS answers with. An empty (or blank)
// body is an empty request.
func decodeJSON(body []byte, v any) *apierror.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apierror.Serialization("Value of the wrong type at '%s': expected %s, got JSON %s", te.Field, describeKind(te.Type), te.Value)
		}
		return apierror.Serialization("The request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return apierror.Serialization("The request body has data after its JSON object.")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return apierror.Serialization("The request body has data after its JSON object.")
	}
	return nil
}

// describeKind names the kind of value t holds, for error messages.
func describeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timestampType {
		return "a timestamp"
	}
	if isBlob(t) {
		return "a blob"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32, reflect.Int64, reflect.Int:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		return "a structure"
	}
	return t.String()
}
