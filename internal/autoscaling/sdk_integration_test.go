package autoscaling_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/cwlink"
)

// scalingEnv is a real server (embedded etcd) with cluster "scale",
// services "web" (desired 1) and "api" (desired 2), and an Application
// Auto Scaling client of it.
func scalingEnv(t testing.TB) (*apitest.Env, *aas.Client) {
	t.Helper()
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	c := env.Client
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("scale")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int32{"web": 1, "api": 2} {
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("scale"), ServiceName: aws.String(name),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	return env, newClient(env.URL)
}

func newClient(url string) *aas.Client {
	return aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
}

func desired(t testing.TB, env *apitest.Env, name string) int32 {
	t.Helper()
	out, err := env.Client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("scale"), Services: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("services %+v", out.Services)
	}
	return out.Services[0].DesiredCount
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// TestStepPolicyScalesARealService registers a real service, puts a step
// policy, invokes it as CloudWatch does when its alarm goes to ALARM, and
// reads the new desired count back through ECS, the activity through
// DescribeScalingActivities; the target and policy survive a restart.
func TestStepPolicyScalesARealService(t *testing.T) {
	t.Parallel()
	env, c := scalingEnv(t)
	ctx := context.Background()
	reg, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(5), Tags: map[string]string{"team": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := c.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("cpu-high"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{
			AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(60), MetricAggregationType: aastypes.MetricAggregationTypeAverage,
			StepAdjustments: []aastypes.StepAdjustment{
				{MetricIntervalLowerBound: aws.Float64(0), MetricIntervalUpperBound: aws.Float64(15), ScalingAdjustment: aws.Int32(1)},
				{MetricIntervalLowerBound: aws.Float64(15), ScalingAdjustment: aws.Int32(2)}}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(pol.PolicyARN)
	if !strings.HasPrefix(arn, "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:") || !strings.HasSuffix(arn, ":resource/ecs/service/scale/web:policyName/cpu-high") {
		t.Errorf("policy ARN %s", arn)
	}
	if err := env.Server.AutoScaling.Invoke(ctx, arn, cwlink.AlarmEvent{AlarmName: "web-cpu-high", State: "ALARM", PreviousState: "OK",
		Timestamp: time.Now(), Value: 90, Threshold: 70}); err != nil {
		t.Fatal(err)
	}
	if n := desired(t, env, "web"); n != 3 {
		t.Fatalf("desired count %d, want 1 + 2", n)
	}
	acts, err := c.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/scale/web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.ScalingActivities) != 1 {
		t.Fatalf("activities %+v", acts.ScalingActivities)
	}
	a := acts.ScalingActivities[0]
	if aws.ToString(a.Description) != "Setting desired count to 3." || aws.ToString(a.Cause) != "monitor alarm web-cpu-high in state ALARM triggered policy cpu-high" ||
		a.StatusCode != aastypes.ScalingActivityStatusCodeSuccessful || a.StartTime == nil || aws.ToString(a.ActivityId) == "" {
		t.Errorf("activity %+v", a)
	}

	env.Restart(t)
	c = newClient(env.URL)
	pols, err := c.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/scale/web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(pols.ScalingPolicies) != 1 || aws.ToString(pols.ScalingPolicies[0].PolicyARN) != arn ||
		len(pols.ScalingPolicies[0].StepScalingPolicyConfiguration.StepAdjustments) != 2 {
		t.Fatalf("policies after the restart %+v", pols.ScalingPolicies)
	}
	if _, err := c.TagResource(ctx, &aas.TagResourceInput{ResourceARN: reg.ScalableTargetARN, Tags: map[string]string{"env": "prod", "cost": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &aas.UntagResourceInput{ResourceARN: reg.ScalableTargetARN, TagKeys: []string{"cost"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &aas.ListTagsForResourceInput{ResourceARN: reg.ScalableTargetARN})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 2 || tags.Tags["team"] != "web" || tags.Tags["env"] != "prod" {
		t.Errorf("tags %v", tags.Tags)
	}
	// The cooldown is kept too: the same breach does nothing at once.
	if err := env.Server.AutoScaling.Invoke(ctx, arn, cwlink.AlarmEvent{AlarmName: "web-cpu-high", State: "ALARM", Value: 90, Threshold: 70}); err != nil {
		t.Fatal(err)
	}
	if n := desired(t, env, "web"); n != 3 {
		t.Errorf("desired count %d after a second invocation in the cooldown, want 3", n)
	}
	if _, err := c.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.AutoScaling.Invoke(ctx, arn, cwlink.AlarmEvent{AlarmName: "web-cpu-high", State: "ALARM", Value: 90, Threshold: 70}); !apierror.IsCode(err, "ObjectNotFoundException") {
		t.Errorf("invoking a deregistered target's policy: %v, want ObjectNotFoundException", err)
	}
}

// TestScheduledActionScalesARealService runs an at() action on the
// server's leader and sees the service's desired count follow its
// minimum.
func TestScheduledActionScalesARealService(t *testing.T) {
	t.Parallel()
	env, c := scalingEnv(t)
	ctx := context.Background()
	if _, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/api"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(2 * time.Second).Format("2006-01-02T15:04:05")
	if _, err := c.PutScheduledAction(ctx, &aas.PutScheduledActionInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/api"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		ScheduledActionName: aws.String("peak"), Schedule: aws.String("at(" + at + ")"),
		ScalableTargetAction: &aastypes.ScalableTargetAction{MinCapacity: aws.Int32(4), MaxCapacity: aws.Int32(6)}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for desired(t, env, "api") != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("desired count %d 20s after scheduling, want the action's minimum 4", desired(t, env, "api"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	tg, err := c.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceIds: []string{"service/scale/api"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.ScalableTargets) != 1 || aws.ToInt32(tg.ScalableTargets[0].MinCapacity) != 4 || aws.ToInt32(tg.ScalableTargets[0].MaxCapacity) != 6 {
		t.Errorf("targets %+v", tg.ScalableTargets)
	}
	acts, err := c.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/scale/api")})
	if err != nil {
		t.Fatal(err)
	}
	var causes []string
	for _, a := range acts.ScalingActivities {
		causes = append(causes, aws.ToString(a.Description)+" / "+aws.ToString(a.Cause))
	}
	if len(causes) != 2 || causes[0] != "Setting desired count to 4. / scheduled action name peak was triggered" ||
		causes[1] != "Setting min capacity to 4 and max capacity to 6 / scheduled action name peak was triggered" {
		t.Errorf("activities %q", causes)
	}
}

// TestBadInputGetsAWSErrors sends what AWS refuses through the SDK.
func TestBadInputGetsAWSErrors(t *testing.T) {
	t.Parallel()
	_, c := scalingEnv(t)
	ctx := context.Background()
	ns, dim := aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	_, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: aws.String("service/scale/web"),
		ScalableDimension: dim, MinCapacity: aws.Int32(5), MaxCapacity: aws.Int32(2)})
	wantAPIError(t, err, "ValidationException")
	_, err = c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: aws.String("service/scale/nope"),
		ScalableDimension: dim, MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(2)})
	wantAPIError(t, err, "ValidationException")
	_, err = c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: "ecs", ResourceId: aws.String("service/scale/web"),
		ScalableDimension: "ecs:service:Nope", MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(2)})
	wantAPIError(t, err, "ValidationException")
	_, err = c.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("p"), ServiceNamespace: ns, ResourceId: aws.String("service/scale/web"),
		ScalableDimension: dim, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity,
			StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(0), ScalingAdjustment: aws.Int32(1)}}}})
	var nf *aastypes.ObjectNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("a policy for an unregistered target: %v, want ObjectNotFoundException", err)
	}
	if _, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: aws.String("service/scale/web"),
		ScalableDimension: dim, MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutScheduledAction(ctx, &aas.PutScheduledActionInput{ServiceNamespace: ns, ResourceId: aws.String("service/scale/web"), ScalableDimension: dim,
		ScheduledActionName: aws.String("x"), Schedule: aws.String("cron(0 25 * * ? *)"), ScalableTargetAction: &aastypes.ScalableTargetAction{MinCapacity: aws.Int32(1)}})
	var ve *aastypes.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(aws.ToString(ve.Message), "cron(0 25 * * ? *)") {
		t.Fatalf("an invalid cron expression: %v", err)
	}
	_, err = c.DeleteScalingPolicy(ctx, &aas.DeleteScalingPolicyInput{PolicyName: aws.String("none"), ServiceNamespace: ns, ResourceId: aws.String("service/scale/web"), ScalableDimension: dim})
	wantAPIError(t, err, "ObjectNotFoundException")
	_, err = c.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: ns, NextToken: aws.String("bogus!")})
	wantAPIError(t, err, "InvalidNextTokenException")
	_, err = c.ListTagsForResource(ctx, &aas.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/00ff")})
	wantAPIError(t, err, "ResourceNotFoundException")
	_, err = c.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: ns, MaxResults: aws.Int32(11)})
	wantAPIError(t, err, "ValidationException")
}

// TestMalformedRequests sends what no SDK sends, signed, to the real
// server: AWS's JSON errors with status 400, never a 500.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	env, _ := scalingEnv(t)
	for _, tc := range []struct {
		name, op, body, code string
	}{
		{"not JSON", "RegisterScalableTarget", `{"ServiceNamespace":`, "SerializationException"},
		{"wrong type", "RegisterScalableTarget", `{"ServiceNamespace":"ecs","ResourceId":"service/scale/web","ScalableDimension":"ecs:service:DesiredCount","MinCapacity":"one"}`, "SerializationException"},
		{"missing member", "PutScalingPolicy", `{"ServiceNamespace":"ecs","ResourceId":"service/scale/web","ScalableDimension":"ecs:service:DesiredCount"}`, "ValidationException"},
		{"unknown enum", "DescribeScalableTargets", `{"ServiceNamespace":"nope"}`, "ValidationException"},
		{"unknown operation", "ScaleEverything", `{}`, "UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, env.URL+"/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "AnyScaleFrontendService."+tc.op)
			sum := sha256.Sum256([]byte(tc.body))
			creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "application-autoscaling", apitest.Region, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Type string `json:"__type"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != http.StatusBadRequest || !strings.HasSuffix(body.Type, tc.code) {
				t.Errorf("status %d, __type %q; want 400 %s", resp.StatusCode, body.Type, tc.code)
			}
		})
	}
}
