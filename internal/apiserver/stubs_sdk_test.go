package apiserver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
	"github.com/fxamacker/cbor/v2"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

const (
	stubRegion = "us-east-1"
	stubAKID   = "AKIDSTUB"
	stubSecret = "stub-secret"
)

// startStubs serves ECS and CloudWatch Logs (with no handler) and every
// stub service.
func startStubs(t *testing.T) string {
	t.Helper()
	services := append([]apiserver.Service{apiserver.ECS(nil, nil), apiserver.Logs(nil)}, apiserver.Stubs()...)
	v := sigv4.NewServicesVerifier(stubRegion, apiserver.SigningNames(services),
		[]sigv4.Credential{{AccessKeyID: stubAKID, SecretAccessKey: stubSecret, Principal: "arn:aws:iam::123456789012:root"}})
	srv := httptest.NewServer(apiserver.New(v, slog.New(slog.DiscardHandler), services...))
	t.Cleanup(srv.Close)
	return srv.URL
}

func sdkConfig(url string) aws.Config {
	return aws.Config{
		Region:           stubRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(stubAKID, stubSecret, ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
	}
}

// wantAPIError fails unless err is an API error (not a deserialization
// error) with the given code.
func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		t.Fatalf("deserialization error: %v", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want API error %s, got %T %v", code, err, err)
	}
}

func TestStubServicesThroughTheSDK(t *testing.T) {
	url := startStubs(t)
	cfg := sdkConfig(url)
	ctx := context.Background()

	t.Run("elbv2 (query)", func(t *testing.T) {
		_, err := elasticloadbalancingv2.NewFromConfig(cfg).DescribeLoadBalancers(ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{})
		wantAPIError(t, err, "InvalidAction")
	})
	t.Run("logs (awsJson 1.1)", func(t *testing.T) {
		_, err := cloudwatchlogs.NewFromConfig(cfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
		wantAPIError(t, err, "UnknownOperationException")
	})
	t.Run("application-autoscaling (awsJson 1.1)", func(t *testing.T) {
		_, err := applicationautoscaling.NewFromConfig(cfg).DescribeScalableTargets(ctx,
			&applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
		wantAPIError(t, err, "UnknownOperationException")
	})
	t.Run("ecr (awsJson 1.1)", func(t *testing.T) {
		_, err := ecr.NewFromConfig(cfg).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
		wantAPIError(t, err, "UnknownOperationException")
	})
	t.Run("ecs without a handler (awsJson 1.1)", func(t *testing.T) {
		_, err := ecs.NewFromConfig(cfg).ListClusters(ctx, &ecs.ListClustersInput{})
		wantAPIError(t, err, "UnknownOperationException")
	})
	cloudwatchProtocols := []struct {
		name string
		set  func(*cloudwatch.Options)
		code string
	}{
		{"rpc-v2-cbor (the SDK's default)", func(*cloudwatch.Options) {}, "UnknownOperationException"},
		{"awsJson 1.0", func(o *cloudwatch.Options) { o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801) }, "UnknownOperationException"},
		{"query", func(o *cloudwatch.Options) { o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801) }, "InvalidAction"},
	}
	for _, p := range cloudwatchProtocols {
		t.Run("monitoring "+p.name, func(t *testing.T) {
			_, err := cloudwatch.NewFromConfig(cfg, p.set).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
			wantAPIError(t, err, p.code)
		})
	}
}

// signedRequest signs req (whose body is body) for the scope's service.
func signedRequest(t *testing.T, req *http.Request, body []byte, service string) *http.Response {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: stubAKID, SecretAccessKey: stubSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, stubRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestRoutingErrors covers what no SDK sends: a scope that does not match
// the target, a wrong version, a missing Action, an unknown CBOR service.
func TestRoutingErrors(t *testing.T) {
	url := startStubs(t)
	tests := []struct {
		name, service, method, path, ct, target, smithy, body string
		status                                                int
		contains                                              string
	}{
		{name: "logs target under the ecs scope", service: "ecs", method: "POST", path: "/", ct: "application/x-amz-json-1.1",
			target: "Logs_20140328.DescribeLogGroups", body: "{}", status: 400, contains: `"__type":"UnknownOperationException"`},
		{name: "query with another version", service: "elasticloadbalancing", method: "POST", path: "/", ct: "application/x-www-form-urlencoded",
			body: "Action=DescribeLoadBalancers&Version=2012-06-01", status: 400, contains: "<Code>InvalidAction</Code>"},
		{name: "query without Action", service: "elasticloadbalancing", method: "POST", path: "/", ct: "application/x-www-form-urlencoded",
			body: "Version=2015-12-01", status: 400, contains: "<Code>MissingAction</Code>"},
		{name: "query GET", service: "monitoring", method: "GET", path: "/?Action=ListMetrics&Version=2010-08-01",
			status: 400, contains: "<Code>InvalidAction</Code><Message>Could not find operation ListMetrics for version 2010-08-01</Message>"},
		{name: "query to a JSON-only service", service: "logs", method: "POST", path: "/", ct: "application/x-www-form-urlencoded",
			body: "Action=DescribeLogGroups&Version=2014-03-28", status: 400, contains: "<Code>InvalidAction</Code>"},
		{name: "cbor for another service name", service: "monitoring", method: "POST", path: "/service/Nope/operation/ListMetrics",
			ct: "application/cbor", smithy: "rpc-v2-cbor", status: 404},
		{name: "unknown scope", service: "sqs", method: "POST", path: "/", ct: "application/x-amz-json-1.0",
			target: "AmazonSQS.ListQueues", body: "{}", status: 400, contains: `"__type":"InvalidSignatureException"`},
		{name: "no protocol at all", service: "ecs", method: "POST", path: "/", ct: "text/plain", body: "hello",
			status: 400, contains: `"__type":"UnknownOperationException"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, bytes.NewReader([]byte(tt.body)))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.smithy != "" {
				req.Header.Set("Smithy-Protocol", tt.smithy)
			}
			resp := signedRequest(t, req, []byte(tt.body), tt.service)
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(data), tt.contains) || resp.Header.Get("X-Amzn-RequestId") == "" {
				t.Fatalf("got %d %q %v", resp.StatusCode, data, resp.Header)
			}
			if tt.smithy != "" {
				var m map[string]any
				if err := cbor.Unmarshal(data, &m); err != nil || m["__type"] != "UnknownOperationException" || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
					t.Fatalf("cbor error %#v %v", m, err)
				}
			}
		})
	}
	// A query request with a bad signature: the query form of the error,
	// in the service's namespace.
	form := "Action=DescribeLoadBalancers&Version=2015-12-01"
	req, _ := http.NewRequest("POST", url+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	creds := aws.Credentials{AccessKeyID: stubAKID, SecretAccessKey: "wrong"}
	sum := sha256.Sum256([]byte(form))
	_ = v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "elasticloadbalancing", stubRegion, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(data), `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>`) {
		t.Fatalf("bad signature over query: %d %s", resp.StatusCode, data)
	}
	resp, err = http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestCLIAgainstStub runs the aws CLI against the stubs: it must print
// each service's unknown-operation code.
func TestCLIAgainstStub(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the aws CLI is needed in CI: %v", err)
		}
		t.Skip("no aws CLI")
	}
	url := startStubs(t)
	tests := []struct {
		args []string
		code string
	}{
		{[]string{"elbv2", "describe-load-balancers"}, "InvalidAction"},
		{[]string{"cloudwatch", "list-metrics"}, "UnknownOperationException"},
		{[]string{"logs", "describe-log-groups"}, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, append(tt.args, "--endpoint-url", url, "--region", stubRegion)...)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+stubAKID, "AWS_SECRET_ACCESS_KEY="+stubSecret,
				"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "("+tt.code+")") {
				t.Fatalf("want the CLI to report %s, got %v: %s", tt.code, err, out)
			}
		})
	}
}
