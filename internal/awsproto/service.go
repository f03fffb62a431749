package awsproto

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsop"
)

// Protocol is an AWS wire protocol.
type Protocol int

// The protocols served. Unknown is a request that matches none; it is
// answered in awsJson 1.1, the protocol Gantry spoke first.
const (
	Unknown Protocol = iota
	JSON10
	JSON11
	Query
	CBOR
)

// String returns the protocol's name as botocore's metadata.protocols
// spells it ("json" for both awsJson versions).
func (p Protocol) String() string {
	switch p {
	case JSON10, JSON11:
		return "json"
	case Query:
		return "query"
	case CBOR:
		return "smithy-rpc-v2-cbor"
	}
	return "unknown"
}

// Media types of the protocols.
const (
	ContentTypeJSON10 = "application/x-amz-json-1.0"
	ContentTypeJSON11 = "application/x-amz-json-1.1"
	ContentTypeForm   = "application/x-www-form-urlencoded"
	ContentTypeXML    = "text/xml"
	ContentTypeCBOR   = "application/cbor"
)

// Service is what the protocols need to know of one AWS service; the fields
// mirror the generated packages' service_gen.go.
type Service struct {
	// SigningName is the SigV4 scope's service ("elasticloadbalancing").
	SigningName string
	// APIVersion is the query protocol's Version ("2015-12-01").
	APIVersion string
	// TargetPrefix is the awsJson X-Amz-Target prefix and the Smithy
	// service name of RPC v2 CBOR paths ("GraniteServiceVersion20100801").
	TargetPrefix string
	// JSONVersion is "1.0" or "1.1" ("" when the service has no JSON).
	JSONVersion string
	// XMLNamespace is the xmlns of query responses.
	XMLNamespace string
	// Protocols lists the protocols served, as botocore names them
	// ("json", "query", "smithy-rpc-v2-cbor").
	Protocols []string
	// Errors maps exception shape names to their codes, statuses and faults
	// (query codes may differ from shape names).
	Errors map[string]awsop.ErrorInfo
	// ValidationCode is the code of a missing required member or a value
	// that does not parse (query). Default: ValidationError for a
	// query-only service, ValidationException otherwise.
	ValidationCode string
}

// Speaks reports whether s serves protocol p.
func (s Service) Speaks(p Protocol) bool {
	for _, name := range s.Protocols {
		if name == p.String() {
			return true
		}
	}
	return false
}

// QueryCompatible reports whether s speaks query beside JSON or CBOR; its
// JSON and CBOR errors then carry the query code in X-Amzn-Query-Error
// (the awsQueryCompatible trait).
func (s Service) QueryCompatible() bool {
	return s.Speaks(Query) && (s.Speaks(JSON10) || s.Speaks(CBOR))
}

// Validation returns the code of validation errors for s.
func (s Service) Validation() string {
	if s.ValidationCode != "" {
		return s.ValidationCode
	}
	if len(s.Protocols) == 1 && s.Protocols[0] == "query" {
		return apierror.CodeValidationError
	}
	return apierror.CodeValidationException
}

// Request is what Detect reads of an HTTP request.
type Request struct {
	Protocol Protocol
	// Target is the awsJson target prefix or the CBOR path's service name
	// ("" for query).
	Target string
	// Operation is the operation named by X-Amz-Target, the CBOR path or
	// the query Action ("" when absent).
	Operation string
	// Version is the query protocol's Version parameter.
	Version string
	// Form holds the query protocol's parameters.
	Form url.Values
}

// Detect recognises the protocol of r, whose body is body, and the
// operation it names. Rules: a Smithy-Protocol: rpc-v2-cbor header is CBOR
// (path /service/S/operation/O); an X-Amz-Target header is awsJson (1.0 or
// 1.1 by the content type, 1.1 when it names neither); a form-encoded POST
// or a GET with an Action parameter is query. Anything else is Unknown.
// The error, if any, is the one to answer in the returned protocol.
func Detect(r *http.Request, body []byte) (Request, *apierror.Error) {
	if strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		req := Request{Protocol: CBOR}
		// {prefix?}/service/{ServiceName}/operation/{Operation}, the
		// service name possibly an absolute shape ID with '.' for '#'.
		i := strings.LastIndex(r.URL.Path, "/service/")
		if i < 0 {
			return req, unknownOperation(CBOR)
		}
		svc, op, ok := strings.Cut(r.URL.Path[i+len("/service/"):], "/operation/")
		if j := strings.LastIndexByte(svc, '.'); j >= 0 {
			svc = svc[j+1:]
		}
		if !ok || svc == "" || op == "" || strings.Contains(op, "/") {
			return req, unknownOperation(CBOR)
		}
		req.Target, req.Operation = svc, op
		if r.Method != http.MethodPost {
			return req, unknownOperation(CBOR)
		}
		return req, nil
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		req := Request{Protocol: JSON11}
		if mediaType(r.Header.Get("Content-Type")) == ContentTypeJSON10 {
			req.Protocol = JSON10
		}
		prefix, op, _ := strings.Cut(target, ".")
		req.Target, req.Operation = prefix, op
		if r.Method != http.MethodPost {
			return req, &apierror.Error{Code: apierror.CodeUnknownOperation, Status: http.StatusNotFound}
		}
		return req, nil
	}
	isForm := r.Method == http.MethodPost && mediaType(r.Header.Get("Content-Type")) == ContentTypeForm
	if isForm || r.Method == http.MethodGet && r.URL.Query().Has("Action") {
		req := Request{Protocol: Query}
		var form url.Values
		var err error
		if isForm {
			form, err = url.ParseQuery(string(body))
		} else {
			form, err = url.ParseQuery(r.URL.RawQuery)
		}
		if err != nil {
			return req, &apierror.Error{Code: apierror.CodeMalformedQueryString, Message: "The query string contains a syntax error."}
		}
		req.Form = form
		req.Operation = form.Get("Action")
		req.Version = form.Get("Version")
		if req.Operation == "" {
			return req, &apierror.Error{Code: apierror.CodeMissingAction, Message: "Missing Action"}
		}
		return req, nil
	}
	if r.Method != http.MethodPost {
		return Request{}, &apierror.Error{Code: apierror.CodeUnknownOperation, Status: http.StatusNotFound}
	}
	return Request{}, unknownOperation(JSON11)
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// UnknownOperation returns the error for an operation the service does not
// have, in protocol p: for query InvalidAction (400) "Could not find
// operation OP for version V" (AWS's common error for query services), for
// awsJson UnknownOperationException (400, what ECS answers), for CBOR
// UnknownOperationException (404, as the Smithy server runtime answers a
// path that names no operation).
func UnknownOperation(p Protocol, op, version string) *apierror.Error {
	if p == Query {
		return &apierror.Error{Code: apierror.CodeInvalidAction, Message: "Could not find operation " + op + " for version " + version}
	}
	return unknownOperation(p)
}

func unknownOperation(p Protocol) *apierror.Error {
	e := apierror.UnknownOperation()
	if p == CBOR {
		e.Status = http.StatusNotFound
	}
	return e
}
