// Package apiserver is Gantry's one HTTP endpoint for every AWS API it
// serves. A request is authenticated (SigV4, internal/sigv4), its protocol
// recognised (internal/awsproto: awsJson 1.0/1.1, query, Smithy RPC v2
// CBOR), and routed by its credential scope and its target, CBOR path or
// query Action to an operation of a registered Service, whose handler
// object has a method of the operation's name. Decoding, required-member
// checks and the rendering of outputs and errors are awsproto's; anything
// that names no known service or operation gets the AWS error for it in
// the protocol the request came in.
package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/sigv4"
	"github.com/gantry-dev/gantry/internal/store"
)

// MaxBodyBytes is the largest request body accepted. A PutLogEvents batch
// may hold 1,048,576 bytes of events as CloudWatch Logs counts them (the
// messages plus 26 bytes each), which its JSON encoding (quotes, member
// names, escapes of up to six bytes a character) takes several times over:
// the cap leaves room for that, and every service still validates its own
// limits on the decoded request.
const MaxBodyBytes = 8 << 20

// ContentType is the media type of ECS's requests and responses.
const ContentType = awsproto.ContentTypeJSON11

// Caller is who made a request, as authenticated.
type Caller struct {
	AccessKeyID string
	Principal   string
	RequestID   string
	// Service is the signing name of the credential scope.
	Service string
}

// Service is one AWS service the server answers.
type Service struct {
	// Meta is what the protocols need of the service (from its generated
	// package's service_gen.go). Meta.SigningName routes requests to it.
	Meta awsproto.Service
	// Operations lists the operations the service may dispatch (the
	// model's, plus any extensions); a name without a handler method
	// answers the unknown-operation error.
	Operations map[string]awsop.Operation
	// Handler has a method func(context.Context, *In) (*Out, error) for
	// each operation it implements, named after it. Nil for a stub.
	Handler any
	// WithCaller, when set, returns the context the operation runs with.
	WithCaller func(ctx context.Context, c Caller) context.Context
}

type handler struct {
	method  reflect.Value
	in      reflect.Type // the input struct type (not pointer)
	wrapper string       // query result wrapper
	// noOutput: the model gives the operation no output shape; a query
	// answer then has no result element, as AWS writes it.
	noOutput bool
}

// route is a registered service with its dispatch table.
type route struct {
	svc Service
	ops map[string]handler
}

// Server is the HTTP handler of every served AWS API.
type Server struct {
	routes     map[string]*route // by signing name
	verifier   *sigv4.Verifier
	authorizer Authorizer
	// bodyTimeout and writeTimeout bound reading a request's body and
	// writing its answer; zero: unbounded.
	bodyTimeout, writeTimeout time.Duration
	logger                    *slog.Logger
	now                       func() time.Time
	observe                   func(service, operation string, failed bool, d time.Duration)
}

// Observe sets fn to be called after every request with the service's
// signing name and the operation ("" for either when the request named
// none this server serves, so the values stay bounded), whether it
// failed, and how long it took. Set it before serving.
func (s *Server) Observe(fn func(service, operation string, failed bool, d time.Duration)) {
	s.observe = fn
}

// Authorizer decides whether an authenticated, routed and decoded call
// may reach its operation (internal/authz). A non-nil error, normally an
// *apierror.Error, is the answer instead.
type Authorizer interface {
	Authorize(ctx context.Context, c *authz.Call) error
}

// SetTimeouts bounds reading a request's body, from when its operation
// starts reading it, to body, and writing its answer, from its first byte,
// to write; past either the connection is closed. The body deadline is
// lifted once the body is in, so a long poll waits as long as it asks.
// Call it before serving; zero leaves a phase unbounded.
func (s *Server) SetTimeouts(body, write time.Duration) {
	s.bodyTimeout, s.writeTimeout = body, write
}

// SetAuthorizer makes every request of every service pass a before its
// operation runs; without one every authenticated caller may call every
// operation. Call it before serving.
func (s *Server) SetAuthorizer(a Authorizer) { s.authorizer = a }

// New returns a Server verifying signatures with v and serving services.
// It panics when a handler's method named after an operation has the
// wrong signature, or two services share a signing name (programming
// errors).
func New(v *sigv4.Verifier, logger *slog.Logger, services ...Service) *Server {
	s := &Server{routes: map[string]*route{}, verifier: v, logger: logger, now: time.Now}
	for _, svc := range services {
		s.register(svc)
	}
	return s
}

func (s *Server) register(svc Service) {
	name := svc.Meta.SigningName
	if _, dup := s.routes[name]; dup {
		panic(fmt.Sprintf("apiserver: service %q registered twice", name))
	}
	rt := &route{svc: svc, ops: map[string]handler{}}
	s.routes[name] = rt
	if svc.Handler == nil {
		return
	}
	rv := reflect.ValueOf(svc.Handler)
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for opName, op := range svc.Operations {
		m := rv.MethodByName(opName)
		if !m.IsValid() {
			continue
		}
		t := m.Type()
		if t.NumIn() != 2 || t.In(0) != ctxType || t.In(1).Kind() != reflect.Pointer || t.In(1).Elem().Kind() != reflect.Struct ||
			t.NumOut() != 2 || t.Out(1) != errType {
			panic(fmt.Sprintf("apiserver: %T.%s has the wrong signature", svc.Handler, opName))
		}
		rt.ops[opName] = handler{method: m, in: t.In(1).Elem(), wrapper: op.ResultWrapper, noOutput: op.Output == nil}
	}
}

// Operations returns the names of the operations served, of every
// service, sorted.
func (s *Server) Operations() []string {
	var names []string
	for _, rt := range s.routes {
		for n := range rt.ops {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// MaxDrainBytes bounds how much of a body over MaxBodyBytes is read and
// discarded before the RequestEntityTooLargeException answer. A server that
// answers without reading the body closes the connection with unread data,
// which resets it: most clients (the aws CLI's urllib3 among them) then
// report the reset while still sending, never the answer. Reading on lets
// them finish sending and read it; beyond the bound the connection is
// closed after the answer, as before.
const MaxDrainBytes = 64 << 20

// drainBody reads and discards what is left of r's body, up to
// MaxDrainBytes (net/http closes the connection if more is left).
func drainBody(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxDrainBytes))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		w.Header().Set("X-Amzn-RequestId", reqID)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	start := time.Now()
	req, rt, err := s.serve(w, r, reqID)
	if err != nil {
		s.writeError(w, r, &req, rt, reqID, err)
	}
	if s.observe != nil {
		service, op := "", ""
		if rt != nil {
			service = rt.svc.Meta.SigningName
			if _, ok := rt.svc.Operations[req.Operation]; ok {
				op = req.Operation
			}
		}
		s.observe(service, op, err != nil, time.Since(start))
	}
}

// serve handles one API request; on failure it returns the error to
// answer, with what is known of the request to answer it in its protocol.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, reqID string) (awsproto.Request, *route, error) {
	if r.ContentLength > MaxBodyBytes {
		drainBody(r)
		req, _ := awsproto.Detect(r, nil)
		return req, nil, &apierror.Error{Code: apierror.CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body of %d bytes is larger than the limit of %d bytes.", r.ContentLength, MaxBodyBytes)}
	}
	rc := http.NewResponseController(w)
	if s.bodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.bodyTimeout))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if s.bodyTimeout > 0 && err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// A body slower than the timeout: the connection cannot be
		// read further; answer and close it.
		w.Header().Set("Connection", "close")
		req, _ := awsproto.Detect(r, nil)
		return req, nil, &apierror.Error{Code: "RequestTimeoutException", Status: http.StatusRequestTimeout,
			Message: fmt.Sprintf("The request body was not received within %s.", s.bodyTimeout)}
	}
	if err != nil {
		req, _ := awsproto.Detect(r, nil)
		return req, nil, apierror.Serialization("could not read the request body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		drainBody(r)
		req, _ := awsproto.Detect(r, nil)
		return req, nil, &apierror.Error{Code: apierror.CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body is larger than the limit of %d bytes.", MaxBodyBytes)}
	}
	payload, err := decodeContent(r, body)
	if err != nil {
		req, _ := awsproto.Detect(r, nil)
		return req, nil, err
	}
	req, derr := awsproto.Detect(r, payload)
	if derr != nil && r.Method != http.MethodPost {
		return req, nil, derr // no API request: answered before authentication
	}
	ver, aerr := s.verifier.Verify(r, body, s.now())
	if aerr != nil {
		return req, s.guess(&req), aerr
	}
	rt := s.routes[ver.Service]
	if derr != nil {
		return req, rt, derr
	}
	if rt == nil {
		// A scope the verifier accepts but no service registered for.
		return req, nil, awsproto.UnknownOperation(req.Protocol, req.Operation, req.Version)
	}
	h, ok := rt.lookup(&req)
	if !ok {
		return req, rt, awsproto.UnknownOperation(req.Protocol, req.Operation, req.Version)
	}
	in := reflect.New(h.in)
	if err := awsproto.Decode(&req, &rt.svc.Meta, payload, in.Interface()); err != nil {
		return req, rt, err
	}
	ctx := r.Context()
	if s.authorizer != nil {
		call := authz.Call{AccessKeyID: ver.AccessKeyID, Principal: ver.Principal, Service: ver.Service,
			Operation: req.Operation, Input: in.Interface(), Request: r, RequestID: reqID}
		if err := s.authorizer.Authorize(ctx, &call); err != nil {
			return req, rt, err
		}
	}
	if rt.svc.WithCaller != nil {
		ctx = rt.svc.WithCaller(ctx, Caller{AccessKeyID: ver.AccessKeyID, Principal: ver.Principal, RequestID: reqID, Service: ver.Service})
	}
	out := h.method.Call([]reflect.Value{reflect.ValueOf(ctx), in})
	if e := out[1].Interface(); e != nil {
		return req, rt, e.(error)
	}
	res := out[0]
	if req.Protocol == awsproto.Query && res.Kind() == reflect.Pointer && res.IsNil() {
		// The query SDKs look for the result element of every operation
		// that has an output: write an empty one.
		res = reflect.New(res.Type().Elem())
	}
	result := res.Interface()
	if req.Protocol == awsproto.Query && h.noOutput {
		result = nil // <OpResponse> holds only ResponseMetadata
	}
	s.startWrite(w)
	if err := awsproto.WriteOutput(w, &req, &rt.svc.Meta, req.Operation, h.wrapper, reqID, result); err != nil {
		return req, rt, err
	}
	return req, rt, nil
}

// lookup finds the handler of the operation req names, if the request
// speaks one of the service's protocols and its target (awsJson prefix,
// CBOR service name, query Version) is the service's.
func (rt *route) lookup(req *awsproto.Request) (handler, bool) {
	m := &rt.svc.Meta
	if !m.Speaks(req.Protocol) {
		return handler{}, false
	}
	switch req.Protocol {
	case awsproto.JSON10, awsproto.JSON11, awsproto.CBOR:
		if req.Target != m.TargetPrefix {
			return handler{}, false
		}
	case awsproto.Query:
		if req.Version != m.APIVersion {
			return handler{}, false
		}
	}
	h, ok := rt.ops[req.Operation]
	return h, ok
}

// guess returns the service a request that failed authentication seems
// to be for (by its target prefix or CBOR service name, or its query
// Version), to render the error with its metadata; nil when none.
func (s *Server) guess(req *awsproto.Request) *route {
	for _, rt := range s.routes {
		m := &rt.svc.Meta
		switch {
		case req.Target != "" && m.TargetPrefix == req.Target:
			return rt
		case req.Protocol == awsproto.Query && req.Version != "" && m.APIVersion == req.Version && m.Speaks(awsproto.Query):
			return rt
		}
	}
	return nil
}

// startWrite starts the write timeout of an answer about to be written.
func (s *Server) startWrite(w http.ResponseWriter) {
	if s.writeTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
}

// writeError renders err, the one place errors become responses: an
// *apierror.Error as itself, anything else logged and answered with a
// generic server fault.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, req *awsproto.Request, rt *route, reqID string, err error) {
	ae, ok := apierror.As(err)
	if !ok && errors.Is(err, store.ErrNoSpace) {
		// A full store refuses writes and serves reads: say so.
		s.logger.Warn("write refused: store full", "request_id", reqID, "operation", req.Operation, "err", err)
		ae, ok = apierror.New(apierror.CodeServer, "The store is full (%v); writes are refused until space is freed, reads still work.", err), true
	}
	if !ok {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away (an agent's long poll when it stops).
			s.logger.Debug("request canceled", "request_id", reqID, "operation", req.Operation)
		} else {
			s.logger.Error("request failed", "request_id", reqID, "operation", req.Operation, "err", err)
		}
		ae = apierror.Server()
	}
	var meta *awsproto.Service
	if rt != nil {
		meta = &rt.svc.Meta
	}
	s.startWrite(w)
	awsproto.WriteError(w, req.Protocol, meta, reqID, ae)
}
