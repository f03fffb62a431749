package ecs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	ecsint "github.com/gantry-dev/gantry/internal/ecs"
)

// TestServiceDeploymentOperations: the service deployment and revision
// operations page, filter, describe and refuse as ECS's API reference has
// them (the rollbacks themselves: e2e TestCircuitBreakerRollsBack).
func TestServiceDeploymentOperations(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("h")}); err != nil {
		t.Fatal(err)
	}
	registerWeb(t, c, "web", 64, 0)
	registerWeb(t, c, "web", 64, 0)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("h"), ServiceName: aws.String("s"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for _, td := range []string{"web:2", "web:1"} {
		if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("h"), Service: aws.String("s"), TaskDefinition: aws.String(td)}); err != nil {
			t.Fatal(err)
		}
	}
	// Three deployments, newest first, a page of two then one.
	p1, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), MaxResults: aws.Int32(2)})
	if err != nil || len(p1.ServiceDeployments) != 2 || p1.NextToken == nil {
		t.Fatalf("page 1: %v %+v", err, p1)
	}
	p2, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), MaxResults: aws.Int32(2), NextToken: p1.NextToken})
	if err != nil || len(p2.ServiceDeployments) != 1 || p2.NextToken != nil {
		t.Fatalf("page 2: %v %+v", err, p2)
	}
	all := append(p1.ServiceDeployments, p2.ServiceDeployments...)
	if all[0].CreatedAt.Before(*all[1].CreatedAt) || all[1].CreatedAt.Before(*all[2].CreatedAt) {
		t.Fatalf("not newest first: %+v", all)
	}
	// With no container instance nothing completes: the newest is in
	// progress, the two it replaced are STOPPED.
	if all[0].Status != types.ServiceDeploymentStatusInProgress || all[1].Status != types.ServiceDeploymentStatusStopped || all[2].Status != types.ServiceDeploymentStatusStopped {
		t.Fatalf("statuses %s %s %s", all[0].Status, all[1].Status, all[2].Status)
	}
	stopped, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusStopped}})
	if err != nil || len(stopped.ServiceDeployments) != 2 {
		t.Fatalf("status filter: %v %+v", err, stopped)
	}
	after := all[1].CreatedAt
	newer, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"),
		CreatedAt: &types.CreatedAt{After: after}})
	if err != nil || len(newer.ServiceDeployments) != 1 || aws.ToString(newer.ServiceDeployments[0].ServiceDeploymentArn) != aws.ToString(all[0].ServiceDeploymentArn) {
		t.Fatalf("createdAt filter: %v %+v", err, newer)
	}
	missing := strings.Replace(aws.ToString(all[0].ServiceDeploymentArn), "/s/", "/nope/", 1)
	d, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(all[0].ServiceDeploymentArn), missing}})
	if err != nil || len(d.ServiceDeployments) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe: %v %+v", err, d)
	}
	if got := d.ServiceDeployments[0]; got.TargetServiceRevision == nil || len(got.SourceServiceRevisions) == 0 || got.DeploymentConfiguration == nil {
		t.Fatalf("deployment %+v", got)
	}
	// DescribeServices names the current service deployment and revision.
	ds, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("h"), Services: []string{"s"}})
	if err != nil || len(ds.Services) != 1 || aws.ToString(ds.Services[0].CurrentServiceDeployment) != aws.ToString(all[0].ServiceDeploymentArn) ||
		len(ds.Services[0].CurrentServiceRevisions) == 0 || aws.ToString(ds.Services[0].CurrentServiceRevisions[0].Arn) != aws.ToString(all[0].TargetServiceRevisionArn) {
		t.Fatalf("describe services: %v %+v", err, ds)
	}
	r, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{aws.ToString(all[1].TargetServiceRevisionArn)}})
	if err != nil || len(r.ServiceRevisions) != 1 || !strings.HasSuffix(aws.ToString(r.ServiceRevisions[0].TaskDefinition), "web:2") {
		t.Fatalf("revision: %v %+v", err, r)
	}
	// Nothing COMPLETED to roll back to; a STOPPED one cannot stop.
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: all[0].ServiceDeploymentArn}); apiCode(err) != "ConflictException" {
		t.Errorf("stop without a rollback target: %v", err)
	}
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: all[1].ServiceDeploymentArn}); apiCode(err) != "ConflictException" {
		t.Errorf("stop a stopped deployment: %v", err)
	}
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(missing)}); apiCode(err) != "ServiceDeploymentNotFoundException" {
		t.Errorf("stop unknown: %v", err)
	}
	bad := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown service", func() error {
			_, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("nope")})
			return err
		}, "ServiceNotFoundException"},
		{"unknown cluster", func() error {
			_, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("nope"), Service: aws.String("s")})
			return err
		}, "ClusterNotFoundException"},
		{"maxResults 0", func() error {
			_, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), MaxResults: aws.Int32(0)})
			return err
		}, "InvalidParameterException"},
		{"bad status", func() error {
			_, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), Status: []types.ServiceDeploymentStatus{"DONE"}})
			return err
		}, "InvalidParameterException"},
		{"bad token", func() error {
			_, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), NextToken: aws.String("x")})
			return err
		}, "InvalidParameterException"},
		{"no ARNs", func() error {
			_, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{}})
			return err
		}, "InvalidParameterException"},
		{"not a deployment ARN", func() error {
			_, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(all[0].TargetServiceRevisionArn)}})
			return err
		}, "InvalidParameterException"},
		{"ABORT", func() error {
			_, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: all[0].ServiceDeploymentArn, StopType: types.StopServiceDeploymentStopTypeAbort})
			return err
		}, "InvalidParameterException"},
	}
	for _, tt := range bad {
		if err := tt.call(); apiCode(err) != tt.code {
			t.Errorf("%s: want %s, got %v", tt.name, tt.code, err)
		}
	}
	// The history is bounded: the oldest finished deployments go.
	for range ecsint.MaxServiceDeployments {
		if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("h"), Service: aws.String("s"), ForceNewDeployment: true}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	var tok *string
	for {
		l, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("h"), Service: aws.String("s"), MaxResults: aws.Int32(100), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		n += len(l.ServiceDeployments)
		if tok = l.NextToken; tok == nil {
			break
		}
	}
	if n != ecsint.MaxServiceDeployments {
		t.Fatalf("%d deployments kept, want %d", n, ecsint.MaxServiceDeployments)
	}
}
