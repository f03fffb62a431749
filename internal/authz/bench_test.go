package authz_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/iampolicy"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// policy20 is a 20-statement policy of the kind an operator writes
// (allows per service and resource family, denies guarded by conditions),
// as in iampolicy's benchmark: DescribeTaskDefinition is allowed by its
// last statement after every Deny has been checked.
func policy20() string {
	var st []string
	services := []string{"elasticloadbalancing", "logs", "cloudwatch", "application-autoscaling", "ecr"}
	for i := range 10 {
		st = append(st, fmt.Sprintf(`{"Sid":"Svc%d","Effect":"Allow","Action":["%s:Describe*","%s:List*","%s:Get*"],"Resource":"arn:aws:%s:us-east-1:123456789012:thing%d/*"}`,
			i, services[i%5], services[i%5], services[i%5], services[i%5], i))
	}
	for i := range 5 {
		st = append(st, fmt.Sprintf(`{"Sid":"Ecs%d","Effect":"Allow","Action":["ecs:RunTask","ecs:StartTask","ecs:StopTask","ecs:Update*"],"Resource":["arn:aws:ecs:us-east-1:123456789012:cluster/team%d-*","arn:aws:ecs:us-east-1:123456789012:service/team%d-*/*"],"Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}}`, i, i, i))
	}
	st = append(st,
		`{"Sid":"DenyProd","Effect":"Deny","Action":["ecs:Delete*","ecs:Deregister*"],"Resource":"arn:aws:ecs:*:*:cluster/prod*"}`,
		`{"Sid":"DenyOutside","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}`,
		`{"Sid":"DenyPlain","Effect":"Deny","NotAction":["ecs:Describe*","ecs:List*"],"Resource":"*","Condition":{"BoolIfExists":{"aws:SecureTransport":"false"}}}`,
		`{"Sid":"DenyTags","Effect":"Deny","Action":"ecs:TagResource","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["aws*","gantry*"]}}}`,
		`{"Sid":"ReadAll","Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"}`,
	)
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",\n") + `]}`
}

// fakeTaskDefs answers DescribeTaskDefinition with a fixed task
// definition, so that the router's own cost is what is measured.
type fakeTaskDefs struct {
	out *ecsapi.DescribeTaskDefinitionResponse
}

func (f fakeTaskDefs) DescribeTaskDefinition(context.Context, *ecsapi.DescribeTaskDefinitionRequest) (*ecsapi.DescribeTaskDefinitionResponse, error) {
	return f.out, nil
}

const (
	benchAKID   = "AKIDBENCH00000000000"
	benchSecret = "bench-secret"
)

// routerBench serves DescribeTaskDefinition through the router: SigV4,
// routing, decoding, the authorizer when az is set, the operation and the
// encoding of its answer.
func routerBench(b *testing.B, az apiserver.Authorizer) {
	out := &ecsapi.DescribeTaskDefinitionResponse{TaskDefinition: &ecsapi.TaskDefinition{
		TaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42", Family: "web", Revision: 42, Status: "ACTIVE",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web", Image: "nginx:1.27", Essential: aws.Bool(true)}},
	}}
	v := sigv4.NewVerifier("us-east-1", "ecs", []sigv4.Credential{{AccessKeyID: benchAKID, SecretAccessKey: benchSecret,
		Principal: "arn:aws:iam::123456789012:user/ci"}})
	srv := apiserver.New(v, slog.New(slog.DiscardHandler), apiserver.ECS(fakeTaskDefs{out}, nil))
	if az != nil {
		srv.SetAuthorizer(az)
	}
	body := []byte(`{"taskDefinition":"web:42"}`)
	proto, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", bytes.NewReader(body))
	proto.Header.Set("Content-Type", "application/x-amz-json-1.1")
	proto.Header.Set("X-Amz-Target", ecsapi.TargetPrefix+".DescribeTaskDefinition")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: benchAKID, SecretAccessKey: benchSecret},
		proto, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	serve := func() *httptest.ResponseRecorder {
		r := proto.Clone(context.Background())
		r.Body = nopCloser{bytes.NewReader(body)}
		r.RemoteAddr = "10.1.2.3:40000"
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	if w := serve(); w.Code != 200 {
		b.Fatalf("HTTP %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustPolicy(b *testing.B) *iampolicy.Policy {
	p, err := iampolicy.Parse([]byte(policy20()))
	if err != nil {
		b.Fatal(err)
	}
	if p.Len() != 20 {
		b.Fatalf("%d statements", p.Len())
	}
	return p
}

// BenchmarkDescribeTaskDefinition measures a DescribeTaskDefinition
// through the router with no authorizer, with the authorizer and an
// administrator key (no policy), and with a 20-statement policy: the
// difference is the per-request cost of authorisation.
func BenchmarkDescribeTaskDefinition(b *testing.B) {
	b.Run("no-authorizer", func(b *testing.B) { routerBench(b, nil) })
	b.Run("admin-key", func(b *testing.B) {
		routerBench(b, authz.New(authz.Options{Region: "us-east-1", Account: "123456789012"}))
	})
	b.Run("policy-20-statements", func(b *testing.B) {
		routerBench(b, authz.New(authz.Options{Region: "us-east-1", Account: "123456789012",
			Policies: map[string]*iampolicy.Policy{benchAKID: mustPolicy(b)}}))
	})
}

// BenchmarkAuthorize is the authorizer alone for that request: resources,
// condition keys and the 20-statement policy's evaluation.
func BenchmarkAuthorize(b *testing.B) {
	az := authz.New(authz.Options{Region: "us-east-1", Account: "123456789012",
		Policies: map[string]*iampolicy.Policy{benchAKID: mustPolicy(b)}})
	r := httptest.NewRequest("POST", "http://127.0.0.1:8845/", nil)
	r.RemoteAddr = "10.1.2.3:40000"
	call := &authz.Call{AccessKeyID: benchAKID, Principal: "arn:aws:iam::123456789012:user/ci", Service: "ecs",
		Operation: "DescribeTaskDefinition", Input: &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: "web:42"}, Request: r}
	if err := az.Authorize(context.Background(), call); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		_ = az.Authorize(context.Background(), call)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
