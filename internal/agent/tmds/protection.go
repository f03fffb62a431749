package tmds

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Protection calls the control plane's task protection operations. The
// ECS agent calls them with the task role's credentials; Gantry's agent
// calls them with its own instance key, which the control plane lets
// touch only the tasks assigned to the instance.
type Protection interface {
	GetTaskProtection(ctx context.Context, in *ecsapi.GetTaskProtectionRequest) (*ecsapi.GetTaskProtectionResponse, error)
	UpdateTaskProtection(ctx context.Context, in *ecsapi.UpdateTaskProtectionRequest) (*ecsapi.UpdateTaskProtectionResponse, error)
}

// protectionTimeout bounds a task protection call (the ECS agent's
// default ECS call timeout for these handlers).
const protectionTimeout = 4 * time.Second

// protectedTask is the SDK's types.ProtectedTask as the ECS agent encodes
// it: Go's field names, null for unset pointers.
type protectedTask struct {
	ExpirationDate    *time.Time
	ProtectionEnabled bool
	TaskArn           *string
}

// failure is the SDK's types.Failure as the ECS agent encodes it.
type failure struct {
	Arn    *string
	Detail *string
	Reason *string
}

// protectionError is the ECS agent's error member.
type protectionError struct {
	Arn     string `json:"Arn,omitempty"`
	Code    string
	Message string
}

// protectionResponse is the ECS agent's TaskProtectionResponse.
type protectionResponse struct {
	RequestID  *string          `json:"requestID,omitempty"`
	Protection *protectedTask   `json:"protection,omitempty"`
	Failure    *failure         `json:"failure,omitempty"`
	Error      *protectionError `json:"error,omitempty"`
}

// protectionRequest is the body of a PUT.
type protectionRequest struct {
	ProtectionEnabled *bool
	ExpiresInMinutes  *int64
}

const taskNotFoundMessage = "Failed to find a task for the request"

func errorResponse(arn, code, msg string) protectionResponse {
	return protectionResponse{Error: &protectionError{Arn: arn, Code: code, Message: msg}}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) getProtection(w http.ResponseWriter, r *http.Request) {
	e, ok := s.lookup(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorResponse("", "ResourceNotFoundException", taskNotFoundMessage))
		return
	}
	arn := e.Task.TaskARN
	if s.cfg.Protection == nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse(arn, "ServerException", "task protection is not available on this agent"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), protectionTimeout)
	defer cancel()
	out, err := s.cfg.Protection.GetTaskProtection(ctx, &ecsapi.GetTaskProtectionRequest{Cluster: s.cfg.Cluster, Tasks: []string{arn}})
	if err != nil {
		s.protectionFailed(w, arn, err)
		return
	}
	s.protectionAnswer(w, arn, out.ProtectedTasks, out.Failures)
}

func (s *Server) updateProtection(w http.ResponseWriter, r *http.Request) {
	var req protectionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse("", "InvalidParameterException", "UpdateTaskProtection: failed to decode request"))
		return
	}
	e, ok := s.lookup(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorResponse("", "ResourceNotFoundException", taskNotFoundMessage))
		return
	}
	arn := e.Task.TaskARN
	if req.ProtectionEnabled == nil {
		writeJSON(w, http.StatusBadRequest, errorResponse(arn, "InvalidParameterException", "Invalid request: does not contain 'ProtectionEnabled' field"))
		return
	}
	if s.cfg.Protection == nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse(arn, "ServerException", "task protection is not available on this agent"))
		return
	}
	in := &ecsapi.UpdateTaskProtectionRequest{Cluster: s.cfg.Cluster, ProtectionEnabled: *req.ProtectionEnabled, Tasks: []string{arn}}
	if req.ExpiresInMinutes != nil {
		// The control plane validates the range (1 to 2880); a value that
		// does not fit 32 bits is out of it either way.
		v := int32(max(min(*req.ExpiresInMinutes, 1<<31-1), -1<<31))
		in.ExpiresInMinutes = &v
	}
	ctx, cancel := context.WithTimeout(r.Context(), protectionTimeout)
	defer cancel()
	out, err := s.cfg.Protection.UpdateTaskProtection(ctx, in)
	if err != nil {
		s.protectionFailed(w, arn, err)
		return
	}
	s.protectionAnswer(w, arn, out.ProtectedTasks, out.Failures)
}

// protectionFailed answers a failed control plane call as the ECS agent
// does: the API's code, message and HTTP status; a timeout is
// RequestCanceled 504; anything else ServerException 500.
func (s *Server) protectionFailed(w http.ResponseWriter, arn string, err error) {
	s.log.Warn("task protection call", "task", arn, "err", err)
	var ae *ecsclient.Error
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.Status, errorResponse(arn, ae.Code, ae.Message))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		writeJSON(w, http.StatusGatewayTimeout, errorResponse(arn, "RequestCanceled", "Timed out calling ECS Task Protection API"))
	default:
		writeJSON(w, http.StatusInternalServerError, errorResponse(arn, "ServerException", err.Error()))
	}
}

// protectionAnswer answers the control plane's answer for one task: its
// failure (200), its protection (200), or ServerException when the answer
// is not about exactly one task.
func (s *Server) protectionAnswer(w http.ResponseWriter, arn string, tasks []ecsapi.ProtectedTask, failures []ecsapi.Failure) {
	switch {
	case len(failures) == 1:
		f := failures[0]
		writeJSON(w, http.StatusOK, protectionResponse{Failure: &failure{Arn: strPtr(f.Arn), Detail: strPtr(f.Detail), Reason: strPtr(f.Reason)}})
	case len(failures) > 1 || len(tasks) != 1:
		writeJSON(w, http.StatusInternalServerError, errorResponse(arn, "ServerException", "Unexpected error occurred"))
	default:
		t := tasks[0]
		p := &protectedTask{ProtectionEnabled: t.ProtectionEnabled, TaskArn: strPtr(t.TaskArn)}
		if t.ExpirationDate != nil {
			exp := t.ExpirationDate.UTC()
			p.ExpirationDate = &exp
		}
		writeJSON(w, http.StatusOK, protectionResponse{Protection: p})
	}
}
