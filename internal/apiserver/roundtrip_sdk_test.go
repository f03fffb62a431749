package apiserver_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

type fakeELB struct {
	got *elbv2api.DescribeLoadBalancersInput
}

func (f *fakeELB) DescribeLoadBalancers(_ context.Context, in *elbv2api.DescribeLoadBalancersInput) (*elbv2api.DescribeLoadBalancersOutput, error) {
	f.got = in
	if len(in.Names) > 0 && in.Names[0] == "missing" {
		return nil, apierror.New("LoadBalancerNotFoundException", "One or more load balancers not found")
	}
	return &elbv2api.DescribeLoadBalancersOutput{LoadBalancers: []elbv2api.LoadBalancer{{
		LoadBalancerName: "web", LoadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1",
		CreatedTime:       awstime.NewTimestamp(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)),
		State:             &elbv2api.LoadBalancerState{Code: "active"},
		AvailabilityZones: []elbv2api.AvailabilityZone{{ZoneName: "us-east-1a"}},
		SecurityGroups:    []string{},
	}}}, nil
}

// DeleteLoadBalancer answers no output at all.
func (f *fakeELB) DeleteLoadBalancer(context.Context, *elbv2api.DeleteLoadBalancerInput) (*elbv2api.DeleteLoadBalancerOutput, error) {
	return nil, nil
}

type fakeCW struct {
	got *cloudwatchapi.GetMetricDataInput
}

func (f *fakeCW) GetMetricData(_ context.Context, in *cloudwatchapi.GetMetricDataInput) (*cloudwatchapi.GetMetricDataOutput, error) {
	f.got = in
	if in.MetricDataQueries[0].Id == "bad" {
		return nil, apierror.New("InvalidParameterValueException", "bad id")
	}
	return &cloudwatchapi.GetMetricDataOutput{MetricDataResults: []cloudwatchapi.MetricDataResult{{
		Id: "m1", Label: "CPU", StatusCode: "Complete",
		Timestamps: []awstime.Timestamp{*awstime.NewTimestamp(time.Unix(1767225600, 0))},
		Values:     []float64{42.5},
	}}, Messages: []cloudwatchapi.MessageData{}}, nil
}

// startWith serves the stubs with the ELBv2 and CloudWatch ones given
// handlers.
func startWith(t *testing.T, handlers map[string]any) string {
	t.Helper()
	services := apiserver.Stubs()
	for i := range services {
		if h, ok := handlers[services[i].Meta.SigningName]; ok {
			services[i].Handler = h
		}
	}
	v := sigv4.NewServicesVerifier(stubRegion, apiserver.SigningNames(services),
		[]sigv4.Credential{{AccessKeyID: stubAKID, SecretAccessKey: stubSecret}})
	srv := httptest.NewServer(apiserver.New(v, slog.New(slog.DiscardHandler), services...))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestQueryRoundTripThroughTheSDK(t *testing.T) {
	elb := &fakeELB{}
	url := startWith(t, map[string]any{"elasticloadbalancing": elb})
	c := elasticloadbalancingv2.NewFromConfig(sdkConfig(url))
	out, err := c.DescribeLoadBalancers(context.Background(), &elasticloadbalancingv2.DescribeLoadBalancersInput{
		Names: []string{"web", "api"}, PageSize: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(elb.got.Names, []string{"web", "api"}) || elb.got.PageSize == nil || *elb.got.PageSize != 5 {
		t.Fatalf("decoded %+v", elb.got)
	}
	lb := out.LoadBalancers[0]
	if aws.ToString(lb.LoadBalancerName) != "web" || lb.State.Code != elbtypes.LoadBalancerStateEnumActive ||
		!lb.CreatedTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)) || aws.ToString(lb.AvailabilityZones[0].ZoneName) != "us-east-1a" ||
		lb.SecurityGroups == nil || len(lb.SecurityGroups) != 0 {
		t.Fatalf("got %+v", lb)
	}
	if _, err := c.DeleteLoadBalancer(context.Background(), &elasticloadbalancingv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String("arn")}); err != nil {
		t.Fatalf("nil output: %v", err)
	}
	_, err = c.DescribeLoadBalancers(context.Background(), &elasticloadbalancingv2.DescribeLoadBalancersInput{Names: []string{"missing"}})
	var nf *elbtypes.LoadBalancerNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("want LoadBalancerNotFoundException, got %T %v", err, err)
	}
}

func TestCloudWatchRoundTripThroughTheSDK(t *testing.T) {
	cw := &fakeCW{}
	url := startWith(t, map[string]any{"monitoring": cw})
	start, end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 1, 0, 0, 500e6, time.UTC)
	in := func(id string) *cloudwatch.GetMetricDataInput {
		return &cloudwatch.GetMetricDataInput{StartTime: &start, EndTime: &end, MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String(id), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(60), Stat: aws.String("Average"),
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ECS"), MetricName: aws.String("CPUUtilization"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("ClusterName"), Value: aws.String("default")}}}},
		}}}
	}
	protocols := []struct {
		name string
		set  func(*cloudwatch.Options)
	}{
		{"rpc-v2-cbor", func(*cloudwatch.Options) {}},
		{"awsJson 1.0", func(o *cloudwatch.Options) { o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801) }},
		{"query", func(o *cloudwatch.Options) { o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801) }},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := cloudwatch.NewFromConfig(sdkConfig(url), p.set)
			out, err := c.GetMetricData(context.Background(), in("m1"))
			if err != nil {
				t.Fatal(err)
			}
			q := cw.got.MetricDataQueries[0]
			if !cw.got.StartTime.Equal(start) || !cw.got.EndTime.Equal(end) || q.Id != "m1" || *q.MetricStat.Period != 60 ||
				q.MetricStat.Metric.Dimensions[0].Value != "default" {
				t.Fatalf("decoded %+v %+v", cw.got, q.MetricStat.Metric)
			}
			r := out.MetricDataResults[0]
			if aws.ToString(r.Id) != "m1" || r.StatusCode != cwtypes.StatusCodeComplete || len(r.Values) != 1 || r.Values[0] != 42.5 ||
				!r.Timestamps[0].Equal(time.Unix(1767225600, 0)) {
				t.Fatalf("got %+v", r)
			}
			_, err = c.GetMetricData(context.Background(), in("bad"))
			// The typed exception in every protocol; over CBOR and JSON the
			// query code comes through X-Amzn-Query-Error (awsQueryCompatible).
			var ipv *cwtypes.InvalidParameterValueException
			if !errors.As(err, &ipv) || p.name != "query" && ipv.ErrorCode() != "InvalidParameterValue" {
				t.Fatalf("want InvalidParameterValueException (code InvalidParameterValue), got %T %v", err, err)
			}
		})
	}
}
