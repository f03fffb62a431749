package apiserver

import (
	"context"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// describeOnly answers DescribeServices with the caller it ran as.
type describeOnly struct{}

type callerKey struct{}

func (describeOnly) DescribeServices(ctx context.Context, in *ecsapi.DescribeServicesRequest) (*ecsapi.DescribeServicesResponse, error) {
	who, _ := ctx.Value(callerKey{}).(string)
	return &ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{{ServiceName: in.Services[0], CreatedBy: who}}}, nil
}

// denyAll refuses every key but "ADMIN".
type denyAll struct{ calls []string }

func (d *denyAll) Authorize(_ context.Context, c *authz.Call) error {
	d.calls = append(d.calls, c.AccessKeyID+" "+c.Service+":"+c.Operation)
	if c.AccessKeyID == "ADMIN" {
		return nil
	}
	return apierror.New(apierror.CodeAccessDenied, "%s may not %s", c.Principal, c.Operation)
}

func TestInvokeRunsTheOperationWithValidationAndPolicy(t *testing.T) {
	s := New(sigv4.NewVerifier("us-east-1", "ecs", nil), nil, ECS(describeOnly{}, func(ctx context.Context, c Caller) context.Context {
		return context.WithValue(ctx, callerKey{}, c.Principal)
	}))
	auth := &denyAll{}
	s.SetAuthorizer(auth)
	ctx := context.Background()
	admin := Identity{AccessKeyID: "ADMIN", Principal: "arn:aws:iam::1:user/admin"}

	out, err := s.Invoke(ctx, nil, admin, "ecs", "DescribeServices", &ecsapi.DescribeServicesRequest{Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*ecsapi.DescribeServicesResponse).Services[0]; got.ServiceName != "web" || got.CreatedBy != admin.Principal {
		t.Fatalf("answer %+v", got)
	}
	// A missing required member: AWS's validation error, before the policy.
	n := len(auth.calls)
	if _, err := s.Invoke(ctx, nil, admin, "ecs", "DescribeServices", &ecsapi.DescribeServicesRequest{}); err == nil || !strings.Contains(err.Error(), "'services'") {
		t.Fatalf("missing member: %v", err)
	}
	if len(auth.calls) != n {
		t.Fatal("an invalid request reached the authorizer")
	}
	// A key the policy refuses: its error, and the operation never runs.
	reader := Identity{AccessKeyID: "READER", Principal: "arn:aws:iam::1:user/reader"}
	if _, err := s.Invoke(ctx, nil, reader, "ecs", "DescribeServices", &ecsapi.DescribeServicesRequest{Services: []string{"web"}}); err == nil ||
		!strings.Contains(err.Error(), "reader may not DescribeServices") {
		t.Fatalf("refused key: %v", err)
	}
	if err := s.Allowed(ctx, nil, reader, "ecs", "DescribeServices", nil); err == nil {
		t.Fatal("Allowed let the refused key through")
	}
	if err := s.Allowed(ctx, nil, admin, "ecs", "DescribeServices", &ecsapi.DescribeServicesRequest{}); err != nil {
		t.Fatalf("Allowed refused the administrator: %v", err)
	}
	// Unknown operations and services, and the wrong input type.
	if _, err := s.Invoke(ctx, nil, admin, "ecs", "ListServices", &ecsapi.ListServicesRequest{}); err == nil {
		t.Fatal("an operation without a handler ran")
	}
	if _, err := s.Invoke(ctx, nil, admin, "logs", "GetLogEvents", &ecsapi.ListServicesRequest{}); err == nil {
		t.Fatal("a service not registered ran")
	}
	if _, err := s.Invoke(ctx, nil, admin, "ecs", "DescribeServices", &ecsapi.ListServicesRequest{}); err == nil {
		t.Fatal("the wrong input type was accepted")
	}
}
