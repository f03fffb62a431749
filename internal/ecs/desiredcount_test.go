package ecs

import (
	"errors"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

func TestMemSetDesiredCount(t *testing.T) {
	s, ctx := newMemAPI(t)
	memCluster(t, s, ctx, "c", 1024, 1024)
	registerTD(t, s, ctx, "web")
	noErr[*ecsapi.CreateServiceResponse](t)(s.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: "c", ServiceName: "svc",
		TaskDefinition: "web", DesiredCount: ptr(int32(2))}))
	if err := s.SetDesiredCount(ctx, "c", "svc", 1, 5); !errors.Is(err, ErrDesiredCountChanged) {
		t.Fatalf("from a count that is not the service's: %v", err)
	}
	if err := s.SetDesiredCount(ctx, "c", "svc", 2, 5); err != nil {
		t.Fatal(err)
	}
	svc, _, err := s.ServiceRecord(ctx, "c", "svc")
	if err != nil {
		t.Fatal(err)
	}
	if svc.DesiredCount != 5 || len(svc.Deployments) != 1 || svc.Deployments[0].DesiredCount != 5 {
		t.Fatalf("service %d, deployments %+v", svc.DesiredCount, svc.Deployments)
	}
	if err := s.SetDesiredCount(ctx, "c", "svc", 5, -1); !apierror.IsCode(err, apierror.CodeInvalidParameter) {
		t.Errorf("a negative count: %v", err)
	}
	if err := s.SetDesiredCount(ctx, "c", "nope", 0, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a service that does not exist: %v", err)
	}
	noErr[*ecsapi.DeleteServiceResponse](t)(s.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Cluster: "c", Service: "svc", Force: ptr(true)}))
	if err := s.SetDesiredCount(ctx, "c", "svc", 0, 1); !apierror.IsCode(err, apierror.CodeServiceNotActive) {
		t.Errorf("a draining service: %v", err)
	}
}
