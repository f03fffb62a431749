package iampolicy

import (
	"testing"
)

const (
	acct    = "123456789012"
	cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
)

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

type evalCase struct {
	name     string
	action   string
	resource string
	ctx      map[string][]string
	want     Decision
}

func runEval(t *testing.T, p *Policy, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.resource
			if res == "" {
				res = "*"
			}
			got := p.Evaluate(Request{Action: tc.action, Resource: res, Context: tc.ctx})
			if got != tc.want {
				t.Errorf("Evaluate(%s on %s, %v) = %v, want %v", tc.action, res, tc.ctx, got, tc.want)
			}
		})
	}
}

// The example of IAM's "The difference between explicit and implicit
// denies": Get*/List* allowed, *Report explicitly denied, the rest
// implicitly denied.
func TestEvaluateExplicitAndImplicitDeny(t *testing.T) {
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"}
  ]
}`)
	runEval(t, p, []evalCase{
		{name: "get allowed", action: "iam:GetUser", want: Allow},
		{name: "list allowed", action: "iam:ListRoles", want: Allow},
		{name: "create implicit", action: "iam:CreatePolicy", want: ImplicitDeny},
		{name: "report explicit beats Get*", action: "iam:GetOrganizationsAccessReport", want: ExplicitDeny},
		{name: "generate report explicit", action: "iam:GenerateCredentialReport", want: ExplicitDeny},
		{name: "action case-insensitive", action: "IAM:getuser", want: Allow},
		{name: "other service implicit", action: "ecs:ListClusters", want: ImplicitDeny},
	})
}

// Explicit Deny wins whichever order the statements come in, and across
// policies.
func TestEvaluateDenyWins(t *testing.T) {
	allow := `{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}`
	deny := `{"Effect": "Deny", "Action": "ecs:RunTask", "Resource": "` + cluster + `"}`
	for _, doc := range []string{
		`{"Version":"2012-10-17","Statement":[` + allow + `,` + deny + `]}`,
		`{"Version":"2012-10-17","Statement":[` + deny + `,` + allow + `]}`,
	} {
		p := mustParse(t, doc)
		runEval(t, p, []evalCase{
			{name: "denied", action: "ecs:RunTask", resource: cluster, want: ExplicitDeny},
			{name: "other cluster", action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:123456789012:cluster/dev", want: Allow},
			{name: "other action", action: "ecs:DescribeClusters", resource: cluster, want: Allow},
		})
	}
	pa := mustParse(t, `{"Version":"2012-10-17","Statement":`+allow+`}`)
	pd := mustParse(t, `{"Version":"2012-10-17","Statement":`+deny+`}`)
	req := Request{Action: "ecs:RunTask", Resource: cluster}
	if got := Evaluate([]*Policy{pa, pd}, req); got != ExplicitDeny {
		t.Errorf("Evaluate(allow, deny) = %v, want ExplicitDeny", got)
	}
	if got := Evaluate([]*Policy{pd, pa}, Request{Action: "ecs:ListTasks", Resource: cluster}); got != Allow {
		t.Errorf("Evaluate(deny, allow) for another action = %v, want Allow", got)
	}
	if got := Evaluate(nil, req); got != ImplicitDeny {
		t.Errorf("Evaluate(no policies) = %v, want ImplicitDeny", got)
	}
	var nilPolicy *Policy
	if got := nilPolicy.Evaluate(req); got != ImplicitDeny {
		t.Errorf("nil policy = %v, want ImplicitDeny", got)
	}
}

// NotAction with Allow grants everything outside the list; with Deny it
// denies everything outside the list (IAM's NotAction examples).
func TestEvaluateNotAction(t *testing.T) {
	allowAllButIAM := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}`)
	runEval(t, allowAllButIAM, []evalCase{
		{name: "ecs allowed", action: "ecs:RunTask", want: Allow},
		{name: "iam not granted", action: "iam:CreateUser", want: ImplicitDeny},
	})
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Sid": "DenyAllButListsWithoutTLS", "Effect": "Deny", "NotAction": ["ecs:List*", "ecs:Describe*"], "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}}
  ]
}`)
	plain := map[string][]string{"aws:SecureTransport": {"false"}}
	tls := map[string][]string{"aws:SecureTransport": {"true"}}
	runEval(t, p, []evalCase{
		{name: "list over plain http", action: "ecs:ListClusters", ctx: plain, want: Allow},
		{name: "run over plain http", action: "ecs:RunTask", ctx: plain, want: ExplicitDeny},
		{name: "run over tls", action: "ecs:RunTask", ctx: tls, want: Allow},
		{name: "key absent: IfExists holds", action: "ecs:RunTask", want: ExplicitDeny},
	})
}

// NotResource: IAM's example denies everything in a service except the
// listed resources.
func TestEvaluateNotResource(t *testing.T) {
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "ecs:*", "NotResource": [
      "arn:aws:ecs:*:123456789012:cluster/dev",
      "arn:aws:ecs:*:123456789012:service/dev/*"]}
  ]
}`)
	runEval(t, p, []evalCase{
		{name: "dev cluster", action: "ecs:DeleteCluster", resource: "arn:aws:ecs:us-east-1:123456789012:cluster/dev", want: Allow},
		{name: "dev service", action: "ecs:UpdateService", resource: "arn:aws:ecs:eu-west-1:123456789012:service/dev/web", want: Allow},
		{name: "prod cluster denied", action: "ecs:DeleteCluster", resource: cluster, want: ExplicitDeny},
		{name: "no resource-level: * is not dev", action: "ecs:ListClusters", resource: "*", want: ExplicitDeny},
		{name: "other account denied", action: "ecs:DeleteCluster", resource: "arn:aws:ecs:us-east-1:999999999999:cluster/dev", want: ExplicitDeny},
	})
	allowNot := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","NotResource":"arn:aws:ecs:*:*:cluster/prod"}}`)
	runEval(t, allowNot, []evalCase{
		{name: "not prod allowed", action: "ecs:DeleteCluster", resource: "arn:aws:ecs:us-east-1:1:cluster/dev", want: Allow},
		{name: "prod not granted", action: "ecs:DeleteCluster", resource: cluster, want: ImplicitDeny},
	})
}

// The read-only key of issue 17: describe and list, nothing else.
func TestEvaluateReadOnlyKey(t *testing.T) {
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "ReadOnly", "Effect": "Allow",
    "Action": ["ecs:Describe*", "ecs:List*", "logs:Get*", "elasticloadbalancing:Describe*"],
    "Resource": "*"}]
}`)
	runEval(t, p, []evalCase{
		{name: "describe", action: "ecs:DescribeTaskDefinition", resource: "arn:aws:ecs:us-east-1:1:task-definition/web:3", want: Allow},
		{name: "list", action: "ecs:ListServices", want: Allow},
		{name: "run task", action: "ecs:RunTask", resource: cluster, want: ImplicitDeny},
		{name: "update service", action: "ecs:UpdateService", want: ImplicitDeny},
		{name: "submit state change", action: "ecs:SubmitTaskStateChange", want: ImplicitDeny},
		{name: "elb describe", action: "elasticloadbalancing:DescribeLoadBalancers", want: Allow},
	})
}

// An agent join key: RegisterContainerInstance on one cluster, as ECS's
// documentation scopes it.
func TestEvaluateConditionsECS(t *testing.T) {
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "ecs:RegisterContainerInstance", "Resource": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"},
    {"Effect": "Allow", "Action": ["ecs:RunTask", "ecs:StartTask"], "Resource": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:*",
     "Condition": {"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}}},
    {"Effect": "Deny", "Action": "ecs:*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.7"]}}}
  ]
}`)
	in := func(kv ...string) map[string][]string {
		m := map[string][]string{"aws:SourceIp": {"10.1.2.3"}}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	td := "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
	runEval(t, p, []evalCase{
		{name: "register prod", action: "ecs:RegisterContainerInstance", resource: cluster, ctx: in(), want: Allow},
		{name: "register dev", action: "ecs:RegisterContainerInstance", resource: "arn:aws:ecs:us-east-1:123456789012:cluster/dev", ctx: in(), want: ImplicitDeny},
		{name: "run in prod", action: "ecs:RunTask", resource: td, ctx: in("ecs:cluster", cluster), want: Allow},
		{name: "run in dev", action: "ecs:RunTask", resource: td, ctx: in("ecs:cluster", "arn:aws:ecs:us-east-1:123456789012:cluster/dev"), want: ImplicitDeny},
		{name: "run without cluster key", action: "ecs:RunTask", resource: td, ctx: in(), want: ImplicitDeny},
		{name: "other family", action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/db:1", ctx: in("ecs:cluster", cluster), want: ImplicitDeny},
		{name: "outside network denied", action: "ecs:RegisterContainerInstance", resource: cluster, ctx: map[string][]string{"aws:SourceIp": {"203.0.113.9"}}, want: ExplicitDeny},
		{name: "single address allowed", action: "ecs:RegisterContainerInstance", resource: cluster, ctx: map[string][]string{"aws:SourceIp": {"192.168.1.7"}}, want: Allow},
		{name: "no source ip: negated holds", action: "ecs:RegisterContainerInstance", resource: cluster, want: ExplicitDeny},
	})
}

func TestConditionOperators(t *testing.T) {
	cases := []struct {
		name string
		cond string
		ctx  map[string][]string
		want bool
	}{
		{"StringEquals", `{"StringEquals": {"aws:username": "alice"}}`, map[string][]string{"aws:username": {"alice"}}, true},
		{"StringEquals case", `{"StringEquals": {"aws:username": "alice"}}`, map[string][]string{"aws:username": {"Alice"}}, false},
		{"StringEquals absent", `{"StringEquals": {"aws:username": "alice"}}`, nil, false},
		{"StringEquals key case-insensitive", `{"StringEquals": {"AWS:UserName": "alice"}}`, map[string][]string{"aws:username": {"alice"}}, true},
		{"StringEquals any value", `{"StringEquals": {"aws:username": ["bob", "alice"]}}`, map[string][]string{"aws:username": {"alice"}}, true},
		{"StringNotEquals", `{"StringNotEquals": {"aws:username": "alice"}}`, map[string][]string{"aws:username": {"bob"}}, true},
		{"StringNotEquals match", `{"StringNotEquals": {"aws:username": ["alice", "bob"]}}`, map[string][]string{"aws:username": {"bob"}}, false},
		{"StringNotEquals absent", `{"StringNotEquals": {"aws:username": "alice"}}`, nil, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}`, map[string][]string{"aws:username": {"alice"}}, true},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}`, map[string][]string{"aws:username": {"Alice"}}, false},
		{"StringLike", `{"StringLike": {"aws:ResourceTag/team": "web-*"}}`, map[string][]string{"aws:ResourceTag/team": {"web-1"}}, true},
		{"StringLike ?", `{"StringLike": {"aws:ResourceTag/team": "web-?"}}`, map[string][]string{"aws:ResourceTag/team": {"web-12"}}, false},
		{"StringNotLike", `{"StringNotLike": {"aws:ResourceTag/team": "web-*"}}`, map[string][]string{"aws:ResourceTag/team": {"db"}}, true},
		{"tag family key", `{"StringEquals": {"aws:resourcetag/team": "x"}}`, map[string][]string{"aws:ResourceTag/team": {"x"}}, true},
		{"NumericLessThan", `{"NumericLessThan": {"aws:EpochTime": 100}}`, map[string][]string{"aws:EpochTime": {"99"}}, true},
		{"NumericLessThan equal", `{"NumericLessThan": {"aws:EpochTime": "100"}}`, map[string][]string{"aws:EpochTime": {"100"}}, false},
		{"NumericLessThanEquals", `{"NumericLessThanEquals": {"aws:EpochTime": "100"}}`, map[string][]string{"aws:EpochTime": {"100"}}, true},
		{"NumericGreaterThan", `{"NumericGreaterThan": {"aws:EpochTime": "100"}}`, map[string][]string{"aws:EpochTime": {"100.5"}}, true},
		{"NumericGreaterThanEquals", `{"NumericGreaterThanEquals": {"aws:EpochTime": "100"}}`, map[string][]string{"aws:EpochTime": {"99"}}, false},
		{"NumericEquals", `{"NumericEquals": {"aws:EpochTime": "7"}}`, map[string][]string{"aws:EpochTime": {"7.0"}}, true},
		{"NumericNotEquals", `{"NumericNotEquals": {"aws:EpochTime": "7"}}`, map[string][]string{"aws:EpochTime": {"8"}}, true},
		{"Numeric bad request value", `{"NumericEquals": {"aws:EpochTime": "7"}}`, map[string][]string{"aws:EpochTime": {"seven"}}, false},
		{"DateLessThan", `{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}`, map[string][]string{"aws:CurrentTime": {"2026-12-06T05:00:00Z"}}, true},
		{"DateGreaterThan", `{"DateGreaterThan": {"aws:CurrentTime": "2027-01-01"}}`, map[string][]string{"aws:CurrentTime": {"2026-12-06T05:00:00Z"}}, false},
		{"DateEquals epoch", `{"DateEquals": {"aws:EpochTime": "2001-09-09T01:46:40Z"}}`, map[string][]string{"aws:EpochTime": {"1000000000"}}, true},
		{"DateNotEquals", `{"DateNotEquals": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}`, map[string][]string{"aws:CurrentTime": {"2027-01-01T00:00:00Z"}}, false},
		{"Bool", `{"Bool": {"aws:SecureTransport": true}}`, map[string][]string{"aws:SecureTransport": {"true"}}, true},
		{"Bool false", `{"Bool": {"aws:SecureTransport": "false"}}`, map[string][]string{"aws:SecureTransport": {"true"}}, false},
		{"Bool absent", `{"Bool": {"aws:SecureTransport": "false"}}`, nil, false},
		{"BoolIfExists absent", `{"BoolIfExists": {"aws:SecureTransport": "false"}}`, nil, true},
		{"StringEqualsIfExists present", `{"StringEqualsIfExists": {"aws:username": "a"}}`, map[string][]string{"aws:username": {"b"}}, false},
		{"IpAddress v4", `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": {"203.0.113.77"}}, true},
		{"IpAddress v4-mapped", `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": {"::ffff:203.0.113.77"}}, true},
		{"IpAddress v6", `{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}`, map[string][]string{"aws:SourceIp": {"2001:db8::1"}}, true},
		{"IpAddress outside", `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": {"198.51.100.1"}}, false},
		{"NotIpAddress", `{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, map[string][]string{"aws:SourceIp": {"198.51.100.1"}}, true},
		{"ArnLike", `{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops-*"}}`, map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::123456789012:user/ops-ann"}}, true},
		{"ArnLike segment", `{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops-*"}}`, map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::1:2:user/ops-ann"}}, false},
		{"ArnEquals short value", `{"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:user/x"}}`, map[string][]string{"aws:PrincipalArn": {"arn:aws:iam"}}, false},
		{"ArnNotLike", `{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops-*"}}`, map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::1:user/dev"}}, true},
		{"Null true absent", `{"Null": {"aws:ResourceTag/team": "true"}}`, nil, true},
		{"Null true present", `{"Null": {"aws:ResourceTag/team": "true"}}`, map[string][]string{"aws:ResourceTag/team": {"x"}}, false},
		{"Null false present", `{"Null": {"aws:ResourceTag/team": "false"}}`, map[string][]string{"aws:ResourceTag/team": {"x"}}, true},
		{"ForAnyValue", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}}`, map[string][]string{"aws:TagKeys": {"owner", "team"}}, true},
		{"ForAnyValue none", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, map[string][]string{"aws:TagKeys": {"owner"}}, false},
		{"ForAnyValue absent", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, nil, false},
		{"ForAllValues subset", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}`, map[string][]string{"aws:TagKeys": {"env"}}, true},
		{"ForAllValues extra", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}`, map[string][]string{"aws:TagKeys": {"env", "owner"}}, false},
		{"ForAllValues absent is true", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}`, nil, true},
		{"ForAllValues empty list is true", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}`, map[string][]string{"aws:TagKeys": {}}, true},
		{"ForAllValues:StringNotEquals", `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}`, map[string][]string{"aws:TagKeys": {"a", "b"}}, true},
		{"ForAnyValue:StringNotLike", `{"ForAnyValue:StringNotLike": {"aws:TagKeys": ["a*"]}}`, map[string][]string{"aws:TagKeys": {"a1", "b"}}, true},
		{"two keys: both must hold", `{"StringEquals": {"aws:username": "a", "ecs:cluster": "c"}}`, map[string][]string{"aws:username": {"a"}, "ecs:cluster": {"d"}}, false},
		{"two operators: both hold", `{"StringEquals": {"aws:username": "a"}, "StringLike": {"ecs:cluster": "c*"}}`, map[string][]string{"aws:username": {"a"}, "ecs:cluster": {"cx"}}, true},
		{"no qualifier multi-valued", `{"StringEquals": {"aws:TagKeys": "b"}}`, map[string][]string{"aws:TagKeys": {"a", "b"}}, true},
		{"operator name case", `{"stringequals": {"aws:username": "a"}}`, map[string][]string{"aws:username": {"a"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:RunTask","Resource":"*","Condition":` + tc.cond + `}}`
			p := mustParse(t, doc)
			got := p.Evaluate(Request{Action: "ecs:RunTask", Resource: "*", Context: tc.ctx}) == Allow
			if got != tc.want {
				t.Errorf("condition %s with %v = %v, want %v", tc.cond, tc.ctx, got, tc.want)
			}
		})
	}
}

func TestDeniedMessage(t *testing.T) {
	user := "arn:aws:iam::123456789012:user/ci"
	got := DeniedMessage(user, "ecs:RunTask", cluster, ImplicitDeny)
	want := "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:cluster/prod because no identity-based policy allows the ecs:RunTask action"
	if got != want {
		t.Errorf("implicit:\n got %q\nwant %q", got, want)
	}
	got = DeniedMessage(user, "ecs:RunTask", cluster, ExplicitDeny)
	want = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:cluster/prod with an explicit deny in an identity-based policy"
	if got != want {
		t.Errorf("explicit:\n got %q\nwant %q", got, want)
	}
	if got := DeniedMessage(user, "ecs:RunTask", cluster, Allow); got != "" {
		t.Errorf("allow: got %q, want empty", got)
	}
	repo := "arn:aws:ecr:us-east-1:123456789012:repository/app"
	got = DeniedByResourcePolicyMessage(user, "ecr:BatchDeleteImage", repo)
	want = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:BatchDeleteImage on resource: " + repo + " with an explicit deny in a resource-based policy"
	if got != want {
		t.Errorf("resource-based:\n got %q\nwant %q", got, want)
	}
}

func TestExplain(t *testing.T) {
	pa := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"ecs:Describe*","Resource":"*"},{"Sid":"All","Effect":"Allow","Action":"ecs:*","Resource":"*"}]}`)
	pd := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"},{"Sid":"NoRun","Effect":"Deny","Action":"ecs:RunTask","Resource":"*"}]}`)
	ps := []*Policy{pa, nil, pd}
	cases := []struct {
		action string
		want   Match
	}{
		{"ecs:DescribeClusters", Match{Decision: Allow, Policy: 0, Statement: 0, Sid: "Read"}},
		{"ecs:ListClusters", Match{Decision: Allow, Policy: 0, Statement: 1, Sid: "All"}},
		{"ecs:RunTask", Match{Decision: ExplicitDeny, Policy: 2, Statement: 1, Sid: "NoRun"}},
		{"ecr:GetAuthorizationToken", Match{Decision: ImplicitDeny, Policy: -1, Statement: -1}},
	}
	for _, tc := range cases {
		req := Request{Action: tc.action, Resource: "*"}
		if got := Explain(ps, req); got != tc.want {
			t.Errorf("Explain(%s) = %+v, want %+v", tc.action, got, tc.want)
		}
		if got := Evaluate(ps, req); got != tc.want.Decision {
			t.Errorf("Evaluate(%s) = %v, want %v", tc.action, got, tc.want.Decision)
		}
	}
}
