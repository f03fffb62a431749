package awsproto

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsop"
)

// Decode decodes the body (awsJson, CBOR) or the form (query) of req into
// in, a pointer to the operation's input structure, then checks its
// required members. Errors are the client's: SerializationException for a
// body that does not decode, the service's validation code for a query
// value that does not parse or a missing required member.
func Decode(req *Request, svc *Service, body []byte, in any) *apierror.Error {
	var err *apierror.Error
	switch req.Protocol {
	case Query:
		err = decodeQuery(req.Form, in, svc.Validation())
	case CBOR:
		err = decodeCBOR(body, in)
	default:
		err = decodeJSON(body, in)
	}
	if err != nil {
		return err
	}
	return CheckRequired(in, svc.Validation())
}

// WriteOutput writes out, the answer of operation op, with status 200 in
// the protocol of req: awsJson (nil out is {}), CBOR (nil out is an empty
// map), or query XML inside <OpResponse> with resultWrapper (op+"Result"
// when ""; no result element when out is nil). The request ID goes in
// X-Amzn-RequestId and, for query, in ResponseMetadata.
func WriteOutput(w http.ResponseWriter, req *Request, svc *Service, op, resultWrapper, reqID string, out any) error {
	var body []byte
	var ct string
	switch req.Protocol {
	case Query:
		ns := ""
		if svc != nil {
			ns = svc.XMLNamespace
		}
		body, ct = queryResponse(op, resultWrapper, ns, reqID, out), ContentTypeXML
	case CBOR:
		b, err := encodeCBOR(out)
		if err != nil {
			return fmt.Errorf("encode %s output: %w", op, err)
		}
		body, ct = b, ContentTypeCBOR
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	default:
		if isNil(out) {
			body = []byte("{}")
		} else {
			b, err := json.Marshal(out)
			if err != nil {
				return fmt.Errorf("encode %s output: %w", op, err)
			}
			body = b
		}
		ct = jsonContentType(req.Protocol)
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func jsonContentType(p Protocol) string {
	if p == JSON10 {
		return ContentTypeJSON10
	}
	return ContentTypeJSON11
}

// queryAuthCodes are the codes query services give to SigV4 failures, with
// their statuses (AWS's "Common Errors").
var queryAuthCodes = map[string]struct {
	code   string
	status int
}{
	apierror.CodeMissingAuthenticationToken: {"MissingAuthenticationToken", http.StatusForbidden},
	apierror.CodeUnrecognizedClient:         {"InvalidClientTokenId", http.StatusForbidden},
	apierror.CodeInvalidSignature:           {"SignatureDoesNotMatch", http.StatusForbidden},
	apierror.CodeIncompleteSignature:        {"IncompleteSignature", http.StatusBadRequest},
	apierror.CodeServer:                     {"InternalFailure", http.StatusInternalServerError},
	apierror.CodeAccessDenied:               {"AccessDenied", http.StatusForbidden},
}

// wireError is an error as one protocol writes it.
type wireError struct {
	code      string // __type, or the query Code
	queryCode string // X-Amzn-Query-Error code for query-compatible services
	status    int
	sender    bool
}

// resolve finds how e is written in protocol p for svc (nil when the
// service is not known): a modelled exception named by its shape or its
// query code takes the other name where the protocol needs it, and the
// model's status when e sets none.
func resolve(p Protocol, svc *Service, e *apierror.Error) wireError {
	w := wireError{code: e.Code, status: e.HTTPStatus()}
	var info *awsop.ErrorInfo
	if svc != nil {
		if i, ok := svc.Errors[e.Code]; ok {
			info = &i
		} else {
			for _, i := range svc.Errors {
				if i.Code == e.Code {
					info = &i
					break
				}
			}
		}
	}
	if info != nil {
		if e.Status == 0 && info.HTTPStatus != 0 {
			w.status = info.HTTPStatus
		}
		w.sender = info.Sender
		if p == Query {
			w.code = info.Code
		} else {
			w.code = info.Shape
			if svc.QueryCompatible() && info.Code != "" {
				w.queryCode = info.Code
			}
		}
		return w
	}
	if a, ok := queryAuthCodes[e.Code]; ok {
		switch {
		case p == Query:
			w.code = a.code
			if e.Status == 0 {
				w.status = a.status
			}
		case svc != nil && svc.QueryCompatible():
			// awsQueryCompatible services say the query code too.
			w.queryCode = a.code
		}
	}
	w.sender = w.status < 500
	return w
}

// WriteError writes e in protocol p: awsJson's {"__type","message"} with
// X-Amzn-ErrorType, CBOR's {"__type","message"} map with Smithy-Protocol,
// or query's <ErrorResponse> (Type Sender or Receiver, Code, Message,
// RequestId). svc may be nil when the request named no known service.
func WriteError(w http.ResponseWriter, p Protocol, svc *Service, reqID string, e *apierror.Error) {
	we := resolve(p, svc, e)
	var body []byte
	h := w.Header()
	h.Set("X-Amzn-RequestId", reqID)
	switch p {
	case Query:
		ns := ""
		if svc != nil {
			ns = svc.XMLNamespace
		}
		typ := "Sender"
		if !we.sender {
			typ = "Receiver"
		}
		body = queryError(ns, typ, we.code, e.Message, reqID)
		h.Set("Content-Type", ContentTypeXML)
	case CBOR:
		m := map[string]any{"__type": we.code}
		if e.Message != "" {
			// The models name an error's message member "message" or
			// "Message", shape by shape (CloudWatch has both), and the
			// SDKs decode CBOR members by exact name (JSON ones
			// without regard to case): write both.
			m["message"] = e.Message
			m["Message"] = e.Message
		}
		body, _ = cborEnc.Marshal(m)
		h.Set("Content-Type", ContentTypeCBOR)
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
	default:
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message,omitempty"`
		}{we.code, e.Message})
		h.Set("Content-Type", jsonContentType(p))
		h.Set("X-Amzn-ErrorType", we.code)
	}
	if we.queryCode != "" {
		fault := "Sender"
		if !we.sender {
			fault = "Receiver"
		}
		h.Set("X-Amzn-Query-Error", we.queryCode+";"+fault)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(we.status)
	_, _ = w.Write(body)
}
