package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// generated describes one generated package for the tests.
type generated struct {
	model      string
	operations map[string]awsop.Operation
	errors     map[string]awsop.ErrorInfo
	protocols  []string
	signing    string
	// wantOps and wantErrors are the counts in the pinned model.
	wantOps, wantErrors int
}

func packages() []generated {
	return []generated{
		{"ecs", ecsapi.Operations(), ecsapi.Errors(), ecsapi.Protocols(), ecsapi.SigningName, 77, 30},
		{"elbv2", elbv2api.Operations(), elbv2api.Errors(), elbv2api.Protocols(), elbv2api.SigningName, 51, 56},
		{"logs", logsapi.Operations(), logsapi.Errors(), logsapi.Protocols(), logsapi.SigningName, 113, 21},
		{"cloudwatch", cloudwatchapi.Operations(), cloudwatchapi.Errors(), cloudwatchapi.Protocols(), cloudwatchapi.SigningName, 46, 14},
		{"application-autoscaling", autoscalingapi.Operations(), autoscalingapi.Errors(), autoscalingapi.Protocols(), autoscalingapi.SigningName, 14, 9},
		{"ecr", ecrapi.Operations(), ecrapi.Errors(), ecrapi.Protocols(), ecrapi.SigningName, 58, 47},
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMarshalLists(t *testing.T) {
	tests := []struct {
		name       string
		empty, nil any
		want       string
	}{
		{"ecs ListTasks", ecsapi.ListTasksResponse{TaskArns: []string{}}, ecsapi.ListTasksResponse{}, `{"taskArns":[]}`},
		{"ecs ListAccountSettings", ecsapi.ListAccountSettingsResponse{Settings: []ecsapi.Setting{}}, ecsapi.ListAccountSettingsResponse{}, `{"settings":[]}`},
		{"elbv2 DescribeLoadBalancers", elbv2api.DescribeLoadBalancersOutput{LoadBalancers: []elbv2api.LoadBalancer{}}, elbv2api.DescribeLoadBalancersOutput{}, `{"LoadBalancers":[]}`},
		{"logs DescribeLogGroups", logsapi.DescribeLogGroupsResponse{LogGroups: []logsapi.LogGroup{}}, logsapi.DescribeLogGroupsResponse{}, `{"logGroups":[]}`},
		{"cloudwatch ListMetrics", cloudwatchapi.ListMetricsOutput{Metrics: []cloudwatchapi.Metric{}}, cloudwatchapi.ListMetricsOutput{}, `{"Metrics":[]}`},
		{"autoscaling DescribeScalableTargets", autoscalingapi.DescribeScalableTargetsResponse{ScalableTargets: []autoscalingapi.ScalableTarget{}}, autoscalingapi.DescribeScalableTargetsResponse{}, `{"ScalableTargets":[]}`},
		{"ecr DescribeRepositories", ecrapi.DescribeRepositoriesResponse{Repositories: []ecrapi.Repository{}}, ecrapi.DescribeRepositoriesResponse{}, `{"repositories":[]}`},
		{"ecs map", ecsapi.LogConfiguration{Options: map[string]string{}}, ecsapi.LogConfiguration{}, `{"options":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := marshal(t, tt.empty); got != tt.want {
				t.Errorf("empty list: got %s, want %s", got, tt.want)
			}
			if got := marshal(t, tt.nil); got != `{}` {
				t.Errorf("nil list: got %s, want {}", got)
			}
		})
	}
}

func TestMarshalEmptyStrings(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"ecs tag value", ecsapi.Tag{Key: "k", Value: ""}, `{"key":"k","value":""}`},
		{"ecs tag key omitted", ecsapi.Tag{}, `{"value":""}`},
		{"elbv2 tag value", elbv2api.Tag{Key: "k"}, `{"Key":"k","Value":""}`},
		{"ecs attribute value omitted", ecsapi.Attribute{Name: "n"}, `{"name":"n"}`},
		{"cloudwatch scalars", cloudwatchapi.MetricDatum{MetricName: "m"}, `{"MetricName":"m"}`},
		{"cloudwatch zero scalar kept", cloudwatchapi.MetricDatum{MetricName: "m", Value: new(0.0)}, `{"MetricName":"m","Value":0}`},
		{"ecs unboxed scalar", ecsapi.ContainerInstance{}, `{"agentConnected":false,"pendingTasksCount":0,"runningTasksCount":0,"version":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := marshal(t, tt.v); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRequiredTag(t *testing.T) {
	f, ok := reflect.TypeFor[elbv2api.CreateLoadBalancerInput]().FieldByName("Name")
	if !ok || f.Tag.Get("required") != "true" || f.Tag.Get("json") != "Name,omitempty" {
		t.Errorf("CreateLoadBalancerInput.Name: tag %q", f.Tag)
	}
	f, _ = reflect.TypeFor[elbv2api.CreateLoadBalancerInput]().FieldByName("Subnets")
	if f.Tag.Get("required") != "" {
		t.Errorf("CreateLoadBalancerInput.Subnets is not required: tag %q", f.Tag)
	}
	f, _ = reflect.TypeFor[ecsapi.RunTaskRequest]().FieldByName("TaskDefinition")
	if f.Tag.Get("required") != "true" {
		t.Errorf("RunTaskRequest.TaskDefinition: tag %q", f.Tag)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		errs map[string]awsop.ErrorInfo
		want awsop.ErrorInfo
	}{
		{"elbv2", elbv2api.Errors(), awsop.ErrorInfo{Shape: "LoadBalancerNotFoundException", Code: "LoadBalancerNotFound", HTTPStatus: 400, Sender: true}},
		{"elbv2 server", elbv2api.Errors(), awsop.ErrorInfo{Shape: "HealthUnavailableException", Code: "HealthUnavailable", HTTPStatus: 500}},
		{"elbv2 throttle", elbv2api.Errors(), awsop.ErrorInfo{Shape: "PriorRequestNotCompleteException", Code: "PriorRequestNotComplete", HTTPStatus: 429, Sender: true}},
		{"ecs", ecsapi.Errors(), awsop.ErrorInfo{Shape: "ClusterNotFoundException", Code: "ClusterNotFoundException", HTTPStatus: 400, Sender: true}},
		{"ecs server", ecsapi.Errors(), awsop.ErrorInfo{Shape: "ServerException", Code: "ServerException", HTTPStatus: 500}},
		{"cloudwatch", cloudwatchapi.Errors(), awsop.ErrorInfo{Shape: "DashboardNotFoundError", Code: "ResourceNotFound", HTTPStatus: 404, Sender: true}},
		{"cloudwatch synthetic", cloudwatchapi.Errors(), awsop.ErrorInfo{Shape: "InvalidParameterValueException", Code: "InvalidParameterValue", HTTPStatus: 400, Sender: true}},
		{"logs", logsapi.Errors(), awsop.ErrorInfo{Shape: "ResourceNotFoundException", Code: "ResourceNotFoundException", HTTPStatus: 400, Sender: true}},
		{"ecr", ecrapi.Errors(), awsop.ErrorInfo{Shape: "RepositoryNotFoundException", Code: "RepositoryNotFoundException", HTTPStatus: 400, Sender: true}},
		{"autoscaling server", autoscalingapi.Errors(), awsop.ErrorInfo{Shape: "ConcurrentUpdateException", Code: "ConcurrentUpdateException", HTTPStatus: 500}},
		{"autoscaling not found", autoscalingapi.Errors(), awsop.ErrorInfo{Shape: "ResourceNotFoundException", Code: "ResourceNotFoundException", HTTPStatus: 404, Sender: true}},
		{"ecs access denied", ecsapi.Errors(), awsop.ErrorInfo{Shape: "AccessDeniedException", Code: "AccessDeniedException", HTTPStatus: 403, Sender: true}},
		{"logs server", logsapi.Errors(), awsop.ErrorInfo{Shape: "ServiceUnavailableException", Code: "ServiceUnavailableException", HTTPStatus: 500}},
		{"autoscaling", autoscalingapi.Errors(), awsop.ErrorInfo{Shape: "ObjectNotFoundException", Code: "ObjectNotFoundException", HTTPStatus: 400, Sender: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.errs[tt.want.Shape]; got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	if got := cloudwatchapi.Protocols(); !reflect.DeepEqual(got, []string{"smithy-rpc-v2-cbor", "json", "query"}) {
		t.Errorf("cloudwatch Protocols = %v", got)
	}
	if cloudwatchapi.JSONVersion != "1.0" || cloudwatchapi.TargetPrefix != "GraniteServiceVersion20100801" || cloudwatchapi.XMLNamespace == "" {
		t.Errorf("cloudwatch metadata: %q %q %q", cloudwatchapi.JSONVersion, cloudwatchapi.TargetPrefix, cloudwatchapi.XMLNamespace)
	}
	if ecsapi.TargetPrefix != "AmazonEC2ContainerServiceV20141113" || ecsapi.JSONVersion != "1.1" {
		t.Errorf("ecs metadata: %q %q", ecsapi.TargetPrefix, ecsapi.JSONVersion)
	}
	if elbv2api.TargetPrefix != "" || elbv2api.APIVersion != "2015-12-01" {
		t.Errorf("elbv2 metadata: %q %q", elbv2api.TargetPrefix, elbv2api.APIVersion)
	}
	want := map[string]string{
		"ecs": "ecs", "elbv2": "elasticloadbalancing", "logs": "logs", "cloudwatch": "monitoring",
		"application-autoscaling": "application-autoscaling", "ecr": "ecr",
	}
	for _, p := range packages() {
		if p.signing != want[p.model] {
			t.Errorf("%s: SigningName %q, want %q", p.model, p.signing, want[p.model])
		}
	}
}

func TestOperations(t *testing.T) {
	for _, p := range packages() {
		t.Run(p.model, func(t *testing.T) {
			if len(p.operations) != p.wantOps {
				t.Errorf("%d operations, want %d", len(p.operations), p.wantOps)
			}
			if len(p.errors) != p.wantErrors {
				t.Errorf("%d errors, want %d", len(p.errors), p.wantErrors)
			}
			for name, op := range p.operations {
				if op.Name != name {
					t.Errorf("%s: Name %q", name, op.Name)
				}
				for _, typ := range []reflect.Type{op.Input, op.Output} {
					if typ != nil && typ.Kind() != reflect.Struct {
						t.Errorf("%s: %v is not a struct", name, typ)
					}
				}
				if op.Input == nil {
					t.Errorf("%s: no input type", name)
				}
			}
			for shape, e := range p.errors {
				if e.Shape != shape || e.Code == "" || e.HTTPStatus < 400 {
					t.Errorf("%s: %+v", shape, e)
				}
			}
		})
	}
	op := elbv2api.Operations()["CreateLoadBalancer"]
	if op.Input != reflect.TypeFor[elbv2api.CreateLoadBalancerInput]() || op.Output != reflect.TypeFor[elbv2api.CreateLoadBalancerOutput]() || op.ResultWrapper != "CreateLoadBalancerResult" {
		t.Errorf("elbv2 CreateLoadBalancer: %+v", op)
	}
	if op := ecsapi.Operations()["RunTask"]; op.Input != reflect.TypeFor[ecsapi.RunTaskRequest]() || op.ResultWrapper != "" {
		t.Errorf("ecs RunTask: %+v", op)
	}
	if got, want := len(ecsapi.OperationShapes()), len(ecsapi.Operations()); got != want {
		t.Errorf("ecs OperationShapes has %d operations, want %d", got, want)
	}
}

// TestContractTags walks every type reachable from an operation of every
// package and checks each field against the wire contract's tag rules.
func TestContractTags(t *testing.T) {
	timestamp := reflect.TypeFor[awstime.Timestamp]()
	for _, p := range packages() {
		seen := map[reflect.Type]bool{}
		var walk func(reflect.Type)
		walk = func(typ reflect.Type) {
			for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
				if typ.Kind() == reflect.Map && typ.Key().Kind() != reflect.String {
					t.Errorf("%s: map key %v", p.model, typ.Key())
				}
				typ = typ.Elem()
			}
			if typ.Kind() != reflect.Struct || typ == timestamp || seen[typ] {
				return
			}
			seen[typ] = true
			for f := range typ.Fields() {
				name, opt, _ := strings.Cut(f.Tag.Get("json"), ",")
				where := p.model + " " + typ.Name() + "." + f.Name
				if name == "" || !strings.EqualFold(name[:1], f.Name[:1]) || name[1:] != f.Name[1:] {
					t.Errorf("%s: json name %q", where, name)
				}
				var want []string
				switch k := f.Type.Kind(); {
				case k == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8:
					want = []string{"omitempty"}
				case k == reflect.Slice || k == reflect.Map:
					want = []string{"omitzero"}
				case k == reflect.Pointer:
					want = []string{"omitempty"}
				case k == reflect.String:
					want = []string{"omitempty", ""}
				default:
					if p.model != "ecs" {
						t.Errorf("%s: unboxed scalar %v outside ECS", where, f.Type)
					}
					want = []string{""}
				}
				ok := false
				for _, w := range want {
					ok = ok || opt == w
				}
				if !ok {
					t.Errorf("%s: json option %q, want one of %q", where, opt, want)
				}
				walk(f.Type)
			}
		}
		for _, op := range p.operations {
			for _, typ := range []reflect.Type{op.Input, op.Output} {
				if typ != nil {
					walk(typ)
				}
			}
		}
		if len(seen) < 10 {
			t.Errorf("%s: only %d types reached", p.model, len(seen))
		}
	}
}

// TestFieldOrder checks that fields follow the model's order (the order
// AWS writes XML in), xmlOrder where the model gives one, and ECS's fields
// stay sorted by name.
func TestFieldOrder(t *testing.T) {
	index := func(typ reflect.Type, name string) int {
		f, ok := typ.FieldByName(name)
		if !ok {
			t.Fatalf("%v has no field %s", typ, name)
		}
		return f.Index[0]
	}
	alarm := reflect.TypeFor[cloudwatchapi.MetricAlarm]()
	if index(alarm, "ExtendedStatistic") < index(alarm, "ComparisonOperator") {
		t.Error("MetricAlarm does not follow its xmlOrder")
	}
	if lb := reflect.TypeFor[elbv2api.CreateLoadBalancerInput](); index(lb, "Name") != 0 || index(lb, "Subnets") != 1 {
		t.Error("CreateLoadBalancerInput does not follow the model's member order")
	}
	if tag := reflect.TypeFor[ecsapi.Tag](); index(tag, "Key") != 0 {
		t.Error("ecsapi.Tag is not sorted by name")
	}
}
