// Package apiserver serves the Amazon ECS JSON 1.1 protocol over HTTP:
// POST / with X-Amz-Target naming the operation, a SigV4-signed JSON body,
// and JSON responses or errors in AWS's form. It dispatches each operation
// to the method of ecs.API of the same name.
package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// ContentType is the media type of every request and response.
const ContentType = "application/x-amz-json-1.1"

type handler struct {
	method reflect.Value
	in     reflect.Type // the request struct type (not pointer)
}

// Server is the HTTP handler of the ECS API.
type Server struct {
	ops      map[string]handler
	verifier *sigv4.Verifier
	logger   *slog.Logger
	now      func() time.Time
	required requiredChecker
}

// New returns a Server dispatching to svc, verifying signatures with v.
// Operations of the ECS model that svc has no method for answer
// UnknownOperationException.
func New(svc *ecs.API, v *sigv4.Verifier, logger *slog.Logger) *Server {
	s := &Server{ops: map[string]handler{}, verifier: v, logger: logger, now: time.Now}
	rv := reflect.ValueOf(svc)
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	names := []string{}
	for name := range ecsapi.Operations() {
		names = append(names, name)
	}
	for name := range ecsapi.ExtensionOperations() {
		names = append(names, name)
	}
	for _, name := range names {
		m := rv.MethodByName(name)
		if !m.IsValid() {
			continue
		}
		t := m.Type()
		if t.NumIn() != 2 || t.In(0) != ctxType || t.In(1).Kind() != reflect.Pointer ||
			t.NumOut() != 2 || t.Out(1) != errType {
			panic(fmt.Sprintf("ecs.API.%s has the wrong signature", name))
		}
		s.ops[name] = handler{method: m, in: t.In(1).Elem()}
	}
	return s
}

// Operations returns the names of the operations served.
func (s *Server) Operations() []string {
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	return names
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	resp, err := s.handle(r, reqID)
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(resp)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

func (s *Server) handle(r *http.Request, reqID string) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, &apierror.Error{Code: apierror.CodeUnknownOperation, Message: "", Status: http.StatusNotFound}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, &apierror.Error{Code: apierror.CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body of %d bytes is larger than the limit of %d bytes.", r.ContentLength, MaxBodyBytes)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, apierror.Serialization("could not read the request body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, &apierror.Error{Code: apierror.CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body is larger than the limit of %d bytes.", MaxBodyBytes)}
	}
	cred, aerr := s.verifier.Verify(r, body, s.now())
	if aerr != nil {
		return nil, aerr
	}
	target := r.Header.Get("X-Amz-Target")
	prefix, opName, ok := strings.Cut(target, ".")
	if !ok || prefix != ecsapi.TargetPrefix {
		return nil, apierror.UnknownOperation()
	}
	h, ok := s.ops[opName]
	if !ok {
		return nil, apierror.UnknownOperation()
	}
	in := reflect.New(h.in)
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeStrict(body, in.Interface()); err != nil {
			return nil, err
		}
	}
	if err := s.required.check(in.Elem()); err != nil {
		return nil, err
	}
	ctx := caller.WithCaller(r.Context(), caller.Caller{AccessKeyID: cred.AccessKeyID, Principal: cred.Principal, RequestID: reqID})
	out := h.method.Call([]reflect.Value{reflect.ValueOf(ctx), in})
	if e := out[1].Interface(); e != nil {
		return nil, e.(error)
	}
	res := out[0].Interface()
	if out[0].IsNil() {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode %s response: %w", opName, err)
	}
	return b, nil
}

// decodeStrict decodes one JSON object into v, turning every decoding problem
// into the SerializationException AWS answers with.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
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

func describeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32, reflect.Int64, reflect.Int:
		return "an integer"
	case reflect.Float64:
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

// fieldPlan is one member of a structure that needs checking: required
// itself, or holding structures with required members.
type fieldPlan struct {
	index    int
	name     string
	required bool
	kind     reflect.Kind
	sub      *typePlan // for members that hold structures
}

// typePlan lists the members of a structure type that need checking.
type typePlan struct {
	fields []fieldPlan
}

// requiredChecker checks the members the model marks required, with a plan
// per type computed once.
type requiredChecker struct {
	plans sync.Map // reflect.Type -> *typePlan
}

// planFor returns the plan of struct type t (nil when nothing in t needs a
// check).
func (c *requiredChecker) planFor(t reflect.Type) *typePlan {
	if p, ok := c.plans.Load(t); ok {
		return p.(*typePlan)
	}
	p := c.build(t, map[reflect.Type]bool{})
	c.plans.Store(t, p)
	return p
}

func (c *requiredChecker) build(t reflect.Type, visiting map[reflect.Type]bool) *typePlan {
	if t == reflect.TypeFor[ecsapi.Timestamp]() || visiting[t] {
		return nil
	}
	visiting[t] = true
	defer delete(visiting, t)
	var p typePlan
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fp := fieldPlan{index: i, name: name, required: f.Tag.Get("required") == "true", kind: f.Type.Kind()}
		et := f.Type
		for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
			et = et.Elem()
		}
		if et.Kind() == reflect.Struct {
			fp.sub = c.build(et, visiting)
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

// check reports the first required member of v (a struct) that is absent,
// as AWS words it.
func (c *requiredChecker) check(v reflect.Value) error {
	if missing := c.walk(v, c.planFor(v.Type())); missing != nil {
		return apierror.InvalidParameter("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", strings.Join(missing, "."))
	}
	return nil
}

// walk returns the path of the first missing member under v, or nil.
func (c *requiredChecker) walk(v reflect.Value, p *typePlan) []string {
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
				if m := c.walk(fv.Elem(), f.sub); m != nil {
					return append([]string{f.name}, m...)
				}
			}
		case reflect.Slice:
			for i := 0; i < fv.Len(); i++ {
				el := fv.Index(i)
				if el.Kind() == reflect.Pointer {
					if el.IsNil() {
						continue
					}
					el = el.Elem()
				}
				if m := c.walk(el, f.sub); m != nil {
					return append([]string{f.name, strconv.Itoa(i + 1)}, m...)
				}
			}
		case reflect.Struct:
			if m := c.walk(fv, f.sub); m != nil {
				return append([]string{f.name}, m...)
			}
		}
	}
	return nil
}

// checkRequired checks v with a fresh checker (tests and fuzzing).
func checkRequired(v reflect.Value, _ string) error {
	var c requiredChecker
	return c.check(v)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	ae, ok := apierror.As(err)
	if !ok {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away (an agent's long poll when it stops).
			s.logger.Debug("request canceled", "request_id", reqID, "target", r.Header.Get("X-Amz-Target"))
		} else {
			s.logger.Error("request failed", "request_id", reqID, "target", r.Header.Get("X-Amz-Target"), "err", err)
		}
		ae = apierror.Server()
	}
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{ae.Code, ae.Message})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", ae.Code)
	w.WriteHeader(ae.HTTPStatus())
	_, _ = w.Write(body)
}
