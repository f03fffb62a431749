package authz

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// downInstances is an Instances whose key lookups fail, as with the store
// unreachable.
type downInstances struct{}

func (downInstances) Instance(context.Context, string) (Instance, bool, error) {
	return Instance{}, false, errors.New("etcdserver: request timed out")
}
func (downInstances) TaskOwner(context.Context, string, string) (string, error) { return "", nil }
func (downInstances) LogDestination(context.Context, string, string, string) (LogDestination, bool, error) {
	return LogDestination{}, false, nil
}

// TestAuthorizeInstanceLookupOutage: a key that could not be looked up is
// neither refused as a bad credential nor let through as an
// administrator's (a key without a policy): the call is answered as a
// temporary failure, 503 ServerException.
func TestAuthorizeInstanceLookupOutage(t *testing.T) {
	a := New(Options{Region: "us-east-1", Account: "123456789012", Instances: downInstances{}})
	r, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", nil)
	err := a.Authorize(context.Background(), &Call{AccessKeyID: "AKGIEXAMPLE", Service: "ecs", Operation: "RunTask", Request: r})
	ae, ok := apierror.As(err)
	if !ok || ae.Code != apierror.CodeServer || ae.HTTPStatus() != http.StatusServiceUnavailable {
		t.Fatalf("Authorize with the key lookup failing: got %v, want a 503 ServerException", err)
	}
}
