package iampolicy

import (
	"fmt"
	"strings"
	"testing"
)

// policy20 builds a 20-statement policy of the kind an operator writes:
// allows per service and resource family, and denies guarded by
// conditions, so a request that is allowed still has every Deny checked.
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

var benchReq = Request{
	Action:   "ecs:DescribeTaskDefinition",
	Resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42",
	Context: map[string][]string{
		"aws:SourceIp":        {"10.20.30.40"},
		"aws:SecureTransport": {"true"},
		"aws:RequestedRegion": {"us-east-1"},
		"aws:PrincipalArn":    {"arn:aws:iam::123456789012:user/ci"},
		"aws:CurrentTime":     {"2026-12-06T05:00:00Z"},
	},
}

func TestPolicy20(t *testing.T) {
	p := mustParse(t, policy20())
	if p.Len() != 20 {
		t.Fatalf("%d statements", p.Len())
	}
	if got := p.Evaluate(benchReq); got != Allow {
		t.Fatalf("Evaluate = %v, want Allow", got)
	}
	runReq := benchReq
	runReq.Action, runReq.Resource = "ecs:RunTask", "arn:aws:ecs:us-east-1:123456789012:cluster/team3-a"
	if got := p.Evaluate(runReq); got != Allow {
		t.Fatalf("RunTask = %v, want Allow", got)
	}
	runReq.Context = map[string][]string{"aws:SourceIp": {"8.8.8.8"}}
	if got := p.Evaluate(runReq); got != ExplicitDeny {
		t.Fatalf("RunTask from outside = %v, want ExplicitDeny", got)
	}
}

// Evaluation allocates nothing, whatever path it takes.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	p := mustParse(t, policy20())
	seg := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:*:123456789012:task-definition/w*b:*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/c?"},"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"},"NumericLessThanIfExists":{"aws:EpochTime":"9"}}}}`)
	segReq := benchReq
	segReq.Resource = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42"
	policies := []*Policy{p, seg}
	for name, f := range map[string]func(){
		"policy20": func() { p.Evaluate(benchReq) },
		"segment":  func() { seg.Evaluate(segReq) },
		"set":      func() { Evaluate(policies, segReq) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per Evaluate", name, n)
		}
	}
	if seg.Evaluate(segReq) != Allow {
		t.Errorf("segment policy did not allow")
	}
}

func BenchmarkEvaluate20Statements(b *testing.B) {
	p := mustParse(b, policy20())
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(benchReq) != Allow {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkEvaluateSegmentWildcard(b *testing.B) {
	p := mustParse(b, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:*:123456789012:task-definition/w*b:*"}}`)
	req := Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42"}
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(req) != Allow {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkParse20Statements(b *testing.B) {
	doc := []byte(policy20())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}
