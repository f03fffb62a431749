// Package apierror defines the error every operation of every served AWS
// API returns to a client: an error code (the exception's shape name, or
// its query code), a message, and the HTTP status AWS sends with it. How it
// is written on the wire is internal/awsproto's business.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an ECS API error. Code is the exception name that AWS SDKs decode
// into a typed error (InvalidParameterException, ClusterNotFoundException...).
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status; 0 means the default for the code.
	Status int
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// HTTPStatus is the status the error is sent with: 500 for server faults,
// 400 for everything the client caused, unless Status says otherwise.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if e.Code == CodeServer {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}

// The ECS error codes Gantry uses, and the protocol-level ones of the AWS
// JSON 1.1 protocol and of SigV4 authentication.
const (
	CodeAccessDenied                 = "AccessDeniedException"
	CodeAttributeLimitExceeded       = "AttributeLimitExceededException"
	CodeClient                       = "ClientException"
	CodeClusterContainsInstances     = "ClusterContainsContainerInstancesException"
	CodeClusterContainsServices      = "ClusterContainsServicesException"
	CodeClusterContainsTasks         = "ClusterContainsTasksException"
	CodeClusterNotFound              = "ClusterNotFoundException"
	CodeInvalidParameter             = "InvalidParameterException"
	CodeLimitExceeded                = "LimitExceededException"
	CodeResourceInUse                = "ResourceInUseException"
	CodeResourceNotFound             = "ResourceNotFoundException"
	CodeServer                       = "ServerException"
	CodeServiceNotActive             = "ServiceNotActiveException"
	CodeServiceNotFound              = "ServiceNotFoundException"
	CodeTargetNotFound               = "TargetNotFoundException"
	CodeUnsupportedFeature           = "UnsupportedFeatureException"
	CodeUpdateInProgress             = "UpdateInProgressException"
	CodePlatformUnknown              = "PlatformUnknownException"
	CodeSerialization                = "SerializationException"
	CodeUnknownOperation             = "UnknownOperationException"
	CodeMissingAuthenticationToken   = "MissingAuthenticationTokenException"
	CodeIncompleteSignature          = "IncompleteSignatureException"
	CodeInvalidSignature             = "InvalidSignatureException"
	CodeUnrecognizedClient           = "UnrecognizedClientException"
	CodeRequestEntityTooLarge        = "RequestEntityTooLargeException"
	CodeInvalidAction                = "InvalidAction"
	CodeThrottling                   = "ThrottlingException"
	CodeNoUpdateAvailable            = "NoUpdateAvailableException"
	CodeTaskSetNotFound              = "TaskSetNotFoundException"
	CodeServiceDeploymentNotFound    = "ServiceDeploymentNotFoundException"
	CodeClusterContainsCapacityProv  = "ClusterContainsCapacityProviderException"
	CodeTargetNotConnected           = "TargetNotConnectedException"
	CodeNamespaceNotFound            = "NamespaceNotFoundException"
	CodePlatformTaskDefIncompatible  = "PlatformTaskDefinitionIncompatibilityException"
	CodeConflict                     = "ConflictException"
	CodeMissingVersion               = "MissingVersionException"
	CodeBlocked                      = "BlockedException"
	CodeDaemonNotFound               = "DaemonNotFoundException"
	CodeDaemonNotActive              = "DaemonNotActiveException"
	CodeClusterContainsCapacityProvs = CodeClusterContainsCapacityProv
)

// Protocol-level codes of the query protocol (AWS's "Common Errors") and
// the validation codes of the other services.
const (
	// CodeMissingAction is a query request without an Action parameter.
	CodeMissingAction = "MissingAction"
	// CodeMalformedQueryString is a query request whose form does not parse.
	CodeMalformedQueryString = "MalformedQueryString"
	// CodeValidationError is a bad or missing member of a query service's
	// request (ELBv2, CloudWatch).
	CodeValidationError = "ValidationError"
	// CodeValidationException is a bad or missing member of a JSON or CBOR
	// service's request.
	CodeValidationException = "ValidationException"
)

func newf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParameter is a bad or missing request member.
func InvalidParameter(format string, args ...any) *Error {
	return newf(CodeInvalidParameter, format, args...)
}

// Client is a valid request refused because of the state of a resource.
func Client(format string, args ...any) *Error { return newf(CodeClient, format, args...) }

// ClusterNotFound is an unknown cluster named in a call that needs one.
func ClusterNotFound() *Error {
	return newf(CodeClusterNotFound, "Cluster not found.")
}

// ServiceNotFound is an unknown service named in a call that needs one.
func ServiceNotFound() *Error {
	return newf(CodeServiceNotFound, "Service not found.")
}

// ServiceNotActive is a service that is DRAINING or INACTIVE.
func ServiceNotActive() *Error {
	return newf(CodeServiceNotActive, "Service was not ACTIVE.")
}

// ResourceNotFound is an unknown resource named by ARN.
func ResourceNotFound(format string, args ...any) *Error {
	return newf(CodeResourceNotFound, format, args...)
}

// TargetNotFound is an unknown attribute target.
func TargetNotFound(format string, args ...any) *Error {
	return newf(CodeTargetNotFound, format, args...)
}

// AttributeLimitExceeded is more than ten custom attributes on a resource.
func AttributeLimitExceeded(format string, args ...any) *Error {
	return newf(CodeAttributeLimitExceeded, format, args...)
}

// LimitExceeded is a resource limit reached.
func LimitExceeded(format string, args ...any) *Error {
	return newf(CodeLimitExceeded, format, args...)
}

// ClusterContainsServices refuses to delete a cluster with active services.
func ClusterContainsServices() *Error {
	return newf(CodeClusterContainsServices, "The Cluster cannot be deleted while Services are active.")
}

// ClusterContainsTasks refuses to delete a cluster with tasks.
func ClusterContainsTasks() *Error {
	return newf(CodeClusterContainsTasks, "The Cluster cannot be deleted while Tasks are active.")
}

// ClusterContainsInstances refuses to delete a cluster with instances.
func ClusterContainsInstances() *Error {
	return newf(CodeClusterContainsInstances, "The Cluster cannot be deleted while Container Instances are active or draining.")
}

// UnsupportedFeature is a feature Gantry does not offer.
func UnsupportedFeature(format string, args ...any) *Error {
	return newf(CodeUnsupportedFeature, format, args...)
}

// Server is an unexpected fault; the message is generic on purpose.
func Server() *Error {
	return newf(CodeServer, "Service encountered an unexpected error. Please try again.")
}

// Serialization is a request body that is not JSON or has a member of the
// wrong type.
func Serialization(format string, args ...any) *Error {
	return newf(CodeSerialization, format, args...)
}

// UnknownOperation is an X-Amz-Target that names no operation.
func UnknownOperation() *Error {
	return &Error{Code: CodeUnknownOperation, Message: ""}
}

// New returns an error with any code; prefer the named constructors.
func New(code, format string, args ...any) *Error { return newf(code, format, args...) }
