package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/awsproto"
)

// Identity is who an in-process call acts as: a key the server accepts
// and the principal it acts as.
type Identity struct {
	AccessKeyID string
	Principal   string
}

// Invoke runs operation op of the service whose signing name is service,
// in process, as id: the same required-member validation, key policy
// (the Authorizer) and caller context as a signed request, without the
// wire. in is a pointer to the operation's input struct; the result is a
// pointer to its output struct. r, when set, is the HTTP request the call
// comes from (its source address, TLS and user agent feed the policy's
// condition keys). Errors are what the operation or the authorizer
// return, normally *apierror.Error.
func (s *Server) Invoke(ctx context.Context, r *http.Request, id Identity, service, op string, in any) (any, error) {
	h, rt, err := s.handlerOf(service, op, in)
	if err != nil {
		return nil, err
	}
	if e := awsproto.CheckRequired(in, rt.svc.Meta.Validation()); e != nil {
		return nil, e
	}
	reqID := newRequestID()
	if err := s.authorize(ctx, r, id, service, op, in, reqID); err != nil {
		return nil, err
	}
	if rt.svc.WithCaller != nil {
		ctx = rt.svc.WithCaller(ctx, Caller{AccessKeyID: id.AccessKeyID, Principal: id.Principal, RequestID: reqID, Service: service})
	}
	out := h.method.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(in)})
	if e := out[1].Interface(); e != nil {
		return nil, e.(error)
	}
	return out[0].Interface(), nil
}

// Allowed reports whether id's policy lets it call op of service with in
// (nil: any input), without calling it: nil when it may, else the error
// the call would be refused with.
func (s *Server) Allowed(ctx context.Context, r *http.Request, id Identity, service, op string, in any) error {
	if in == nil {
		h, _, err := s.handlerOf(service, op, nil)
		if err != nil {
			return err
		}
		in = reflect.New(h.in).Interface()
	} else if _, _, err := s.handlerOf(service, op, in); err != nil {
		return err
	}
	return s.authorize(ctx, r, id, service, op, in, newRequestID())
}

func (s *Server) authorize(ctx context.Context, r *http.Request, id Identity, service, op string, in any, reqID string) error {
	if s.authorizer == nil {
		return nil
	}
	return s.authorizer.Authorize(ctx, &authz.Call{AccessKeyID: id.AccessKeyID, Principal: id.Principal, Service: service,
		Operation: op, Input: in, Request: r, RequestID: reqID})
}

// handlerOf finds the handler of op of service and checks that in (when
// not nil) is a pointer to its input type.
func (s *Server) handlerOf(service, op string, in any) (handler, *route, error) {
	rt := s.routes[service]
	if rt == nil {
		return handler{}, nil, apierror.New(apierror.CodeInvalidParameter, "No service is served under the signing name %q.", service)
	}
	h, ok := rt.ops[op]
	if !ok {
		return handler{}, nil, awsproto.UnknownOperation(awsproto.JSON11, op, "")
	}
	if in != nil {
		if t := reflect.TypeOf(in); t.Kind() != reflect.Pointer || t.Elem() != h.in {
			return handler{}, nil, fmt.Errorf("apiserver: %s %s takes *%s, not %T", service, op, h.in, in)
		}
	}
	return h, rt, nil
}
