package ecs_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestUpdateContainerAgentAndContinueServiceDeployment: the two operations
// that have nothing to act on in Gantry answer ECS's errors: no agent
// update is available for a known instance (unknown ones and clusters get
// their own errors), and no lifecycle hook waits in any deployment.
func TestUpdateContainerAgentAndContinueServiceDeployment(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("so")}); err != nil {
		t.Fatal(err)
	}
	a := newSimAgent(t, env, "so", 1024, 1024)
	registerWeb(t, c, "web", 64, 0)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("so"), ServiceName: aws.String("s"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	l, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("so"), Service: aws.String("s")})
	if err != nil || len(l.ServiceDeployments) != 1 {
		t.Fatalf("list: %v %+v", err, l)
	}
	dep := aws.ToString(l.ServiceDeployments[0].ServiceDeploymentArn)
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"agent: known instance", func() error {
			_, err := c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{Cluster: aws.String("so"), ContainerInstance: aws.String(a.arn)})
			return err
		}, "NoUpdateAvailableException"},
		{"agent: unknown instance", func() error {
			_, err := c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{Cluster: aws.String("so"), ContainerInstance: aws.String("0123456789abcdef0123456789abcdef")})
			return err
		}, "InvalidParameterException"},
		{"agent: unknown cluster", func() error {
			_, err := c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{Cluster: aws.String("nope"), ContainerInstance: aws.String(a.arn)})
			return err
		}, "ClusterNotFoundException"},
		{"continue: no hook waits", func() error {
			_, err := c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(dep), HookId: aws.String("h-1")})
			return err
		}, "InvalidParameterException"},
		{"continue: unknown deployment", func() error {
			_, err := c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(dep[:len(dep)-3] + "999"), HookId: aws.String("h-1")})
			return err
		}, "ServiceDeploymentNotFoundException"},
		{"continue: not a deployment ARN", func() error {
			_, err := c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/so/s"), HookId: aws.String("h-1")})
			return err
		}, "InvalidParameterException"},
	}
	for _, tt := range tests {
		if err := tt.call(); apiCode(err) != tt.code {
			t.Errorf("%s: want %s, got %v", tt.name, tt.code, err)
		}
	}
}
