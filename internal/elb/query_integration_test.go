package elb_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// post sends a SigV4-signed query request with body and answers the
// status and body.
func post(t *testing.T, endpoint, body string) (int, string) { return postB(t, endpoint, body) }

func postB(t testing.TB, endpoint, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "elasticloadbalancing", apitest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const version = "&Version=2015-12-01"

func TestQueryProtocolErrors(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed query string", "Action=DescribeLoadBalancers" + version + "&%zz", 400, "MalformedQueryString"},
		{"unknown action", "Action=DescribeUnicorns" + version, 400, "InvalidAction"},
		{"no action", "Version=2015-12-01", 400, "MissingAction"},
		{"missing required member", "Action=CreateLoadBalancer" + version, 400, "ValidationError"},
		{"wrong type", "Action=CreateTargetGroup" + version + "&Name=tg&Protocol=HTTP&Port=eighty", 400, "ValidationError"},
		{"wrong boolean", "Action=CreateTargetGroup" + version + "&Name=tg&Protocol=HTTP&Port=80&HealthCheckEnabled=perhaps", 400, "ValidationError"},
		{"name over the limit", "Action=CreateLoadBalancer" + version + "&Name=" + strings.Repeat("n", 33), 400, "ValidationError"},
		{"target group name over the limit", "Action=CreateTargetGroup" + version + "&Name=" + strings.Repeat("n", 33) + "&Protocol=HTTP&Port=80", 400, "ValidationError"},
		{"unknown load balancer", "Action=DescribeLoadBalancerAttributes" + version + "&LoadBalancerArn=" +
			url.QueryEscape("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0123456789abcdef"), 400, "LoadBalancerNotFound"},
		{"not an ARN", "Action=DescribeTargetHealth" + version + "&TargetGroupArn=tg", 400, "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, env.URL, tt.body)
			if status != tt.status || !strings.Contains(body, "<Code>"+tt.code+"</Code>") || !strings.Contains(body, "<Type>Sender</Type>") ||
				!strings.Contains(body, "<RequestId>") {
				t.Fatalf("status %d, body %s; want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	status, body := post(t, env.URL, "Action=CreateLoadBalancer"+version+"&Name=xml&Tags.member.1.Key=a&Tags.member.1.Value=b")
	if status != 200 || !strings.Contains(body, `<CreateLoadBalancerResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">`) ||
		!strings.Contains(body, "<CreateLoadBalancerResult><LoadBalancers><member>") || !strings.Contains(body, "<LoadBalancerName>xml</LoadBalancerName>") ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Fatalf("create: %d %s", status, body)
	}
}

// TestNoOperationAnswersAServerError sends every operation of the model
// with no members and with junk members: each answers an AWS error or a
// result, never a 500.
func TestNoOperationAnswersAServerError(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	var names []string
	for name := range elbv2api.Operations() {
		names = append(names, name)
	}
	sort.Strings(names)
	junk := []string{"", "&Name=a&LoadBalancerArn=x&TargetGroupArn=y&ListenerArn=z&RuleArn=r&Port=1&Priority=1",
		"&Names.member.1=web&ResourceArns.member.1=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3Aloadbalancer%2Fapp%2Fa%2Fb" +
			"&Targets.member.1.Id=1.2.3.4&Attributes.member.1.Key=k&Attributes.member.1.Value=v&Conditions.member.1.Field=path-pattern" +
			"&Actions.member.1.Type=forward&DefaultActions.member.1.Type=redirect&RulePriorities.member.1.Priority=1&Tags.member.1.Key=k&TagKeys.member.1=k"}
	for _, name := range names {
		for _, j := range junk {
			status, body := post(t, env.URL, "Action="+name+version+j)
			if status >= 500 || !strings.Contains(body, "<RequestId>") {
				t.Errorf("%s%s: %d %s", name, j, status, body)
			}
		}
	}
}
