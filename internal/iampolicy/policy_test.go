package iampolicy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		version string
		n       int
	}{
		{"statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}`, VersionCurrent, 1},
		{"statement list", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"},{"Effect":"Deny","Action":["ecs:RunTask"],"Resource":["*"]}]}`, VersionCurrent, 2},
		{"legacy version", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, VersionLegacy, 1},
		{"no version", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "", 1},
		{"id and sid", `{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Allow","Action":"ecs:List*","Resource":"*"},{"Sid":"B2","Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}`, VersionCurrent, 2},
		{"legacy keeps ${ literal", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iam::1:user/${aws:username}"}}`, VersionLegacy, 1},
		{"empty condition", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}}`, VersionCurrent, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Version() != tc.version || p.Len() != tc.n {
				t.Errorf("version %q, %d statements; want %q, %d", p.Version(), p.Len(), tc.version, tc.n)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct {
		name   string
		doc    string
		reason string // a substring of the reason
		line   int    // 0: not checked
		col    int
		stmt   int
	}{
		{"bad json", "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"*\"}\n  ]\n}", "Syntax errors in policy: invalid character '\"' after object key:value pair", 4, 24, 0},
		{"truncated", `{"Version": "2012-10-17", "Statement": [`, "unexpected end of document", 1, 41, 0},
		{"trailing data", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}} {}`, "unexpected data after the policy document", 1, 62, 0},
		{"not an object", `["Allow"]`, "the document must be a JSON object", 1, 1, 0},
		{"empty", ``, "Syntax errors in policy", 1, 1, 0},
		{"unknown top field", `{"Version":"2012-10-17","Statment":[]}`, `unknown field "Statment"`, 1, 25, 0}, //nolint:misspell // the typo is the test
		{"duplicate field", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}}`, `duplicate field "Effect"`, 1, 55, 0},
		{"bad version", `{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "valid version string: 2012-10-18", 1, 12, 0},
		{"missing statement", `{"Version":"2012-10-17"}`, "Missing required field Statement.", 1, 1, 0},
		{"empty statements", `{"Version":"2012-10-17","Statement":[]}`, "at least one statement", 0, 0, 0},
		{"statement not object", `{"Version":"2012-10-17","Statement":["x"]}`, "a statement must be a JSON object", 0, 0, 1},
		{"missing effect", `{"Version":"2012-10-17","Statement":{"Action":"*","Resource":"*"}}`, "Missing required field Effect.", 0, 0, 1},
		{"wrong effect", "{\"Version\":\"2012-10-17\",\"Statement\":[\n{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},\n{\"Sid\":\"Two\",\"Effect\":\"Permit\",\"Action\":\"*\",\"Resource\":\"*\"}]}", "Invalid effect: Permit", 3, 23, 2},
		{"effect lower case", `{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`, "Invalid effect: allow", 0, 0, 1},
		{"missing action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}`, "Policy statement must contain actions.", 0, 0, 1},
		{"empty action list", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, "Policy statement must contain actions.", 0, 0, 1},
		{"action and notaction", `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}}`, "Action or NotAction, not both", 0, 0, 1},
		{"action not string", `{"Statement":{"Effect":"Allow","Action":7,"Resource":"*"}}`, "Action must be a string or a list of strings, not a number", 0, 0, 1},
		{"action list of numbers", `{"Statement":{"Effect":"Allow","Action":["ecs:*",7],"Resource":"*"}}`, "Action must hold strings", 0, 0, 1},
		{"action without vendor", `{"Statement":{"Effect":"Allow","Action":"RunTask","Resource":"*"}}`, "Actions/Conditions must be prefaced by a vendor", 0, 0, 1},
		{"action two colons", `{"Statement":{"Effect":"Allow","Action":"ecs:Run:Task","Resource":"*"}}`, "Actions/Condition can contain only one colon.", 0, 0, 1},
		{"action wildcard vendor", `{"Statement":{"Effect":"Allow","Action":"*:RunTask","Resource":"*"}}`, "Vendor * is not valid", 0, 0, 1},
		{"action space", `{"Statement":{"Effect":"Allow","Action":"ecs:Run Task","Resource":"*"}}`, "invalid character", 0, 0, 1},
		{"action empty op", `{"Statement":{"Effect":"Allow","Action":"ecs:","Resource":"*"}}`, "must name an operation", 0, 0, 1},
		{"missing resource", `{"Statement":{"Effect":"Allow","Action":"*"}}`, "Policy statement must contain resources.", 0, 0, 1},
		{"resource and notresource", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}`, "Resource or NotResource, not both", 0, 0, 1},
		{"resource not arn", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"cluster/prod"}}`, `Resource cluster/prod must be in ARN format or "*".`, 0, 0, 1},
		{"resource short arn", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecs:us-east-1"}}`, "must be in ARN format", 0, 0, 1},
		{"resource wildcard service", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:*:us-east-1:1:cluster/a"}}`, "service part of an ARN cannot hold a wildcard", 0, 0, 1},
		{"principal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}}`, "Policy document should not specify a principal.", 1, 55, 1},
		{"notprincipal", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotPrincipal":"*","Action":"*","Resource":"*"}}`, "Policy document should not specify a principal.", 0, 0, 1},
		{"unknown statement field", `{"Statement":{"Effect":"Allow","Actions":"*","Resource":"*"}}`, `unknown field "Actions" in a statement`, 0, 0, 1},
		{"sid not alnum", `{"Statement":{"Sid":"my sid","Effect":"Allow","Action":"*","Resource":"*"}}`, "must be alpha-numeric", 0, 0, 1},
		{"duplicate sid", `{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}]}`, "must be unique", 0, 0, 2},
		{"unknown operator", "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\n\"Condition\":{\"StringEqualz\":{\"aws:username\":\"a\"}}}}", "Invalid Condition type : StringEqualz", 2, 14, 1},
		{"unsupported operator", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"aws:username":"YQ=="}}}}`, "Invalid Condition type : BinaryEquals", 0, 0, 1},
		{"unknown qualifier", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"aws:username":"a"}}}}`, "Invalid Condition type", 0, 0, 1},
		{"null with qualifier", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}}`, "Null takes no qualifier", 0, 0, 1},
		{"unknown key", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"ecs:flavour":"a"}}}}`, "Condition key ecs:flavour is not supported.", 0, 0, 1},
		{"key without vendor", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}}`, "prefaced by a vendor", 0, 0, 1},
		{"condition not object", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":"x"}}`, "Condition must be an object", 0, 0, 1},
		{"operator without key", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{}}}}`, "names no key", 0, 0, 1},
		{"condition without value", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":[]}}}}`, "has no value", 0, 0, 1},
		{"condition object value", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":1}}}}}`, "condition values must be strings", 0, 0, 1},
		{"bad number", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:EpochTime":"soon"}}}}`, "soon is not a number", 0, 0, 1},
		{"bad date", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}}`, "is not a date", 0, 0, 1},
		{"bad bool", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}`, "yes is not true or false", 0, 0, 1},
		{"bad ip", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`, "not an IP address or CIDR block", 0, 0, 1},
		{"bad arn value", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"user/x"}}}}`, "user/x is not an ARN", 0, 0, 1},
		{"policy variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iam::1:user/${aws:username}"}}`, "Policy variables are not supported", 0, 0, 1},
		{"policy variable in condition", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"}}}}`, "Policy variables are not supported", 0, 0, 1},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested too deeply", 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted %s", tc.doc)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with its error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v is not ErrMalformed", err)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *MalformedError", err)
			}
			if !strings.Contains(me.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", me.Reason, tc.reason)
			}
			if tc.line != 0 && (me.Line != tc.line || me.Column != tc.col) {
				t.Errorf("position %d:%d, want %d:%d (%v)", me.Line, me.Column, tc.line, tc.col, err)
			}
			if me.Line == 0 {
				t.Errorf("no position in %v", err)
			}
			if me.Statement != tc.stmt {
				t.Errorf("statement %d, want %d (%v)", me.Statement, tc.stmt, err)
			}
			if !strings.HasPrefix(err.Error(), "MalformedPolicyDocument: ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestMalformedErrorText(t *testing.T) {
	_, err := Parse([]byte("{\"Statement\":[\n{\"Sid\":\"RunOnly\",\"Effect\":\"Allow\",\"Action\":\"ecs:RunTask\"}]}"))
	want := `MalformedPolicyDocument: Policy statement must contain resources. (line 2, column 1, statement 1 "RunOnly")`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestParseWithOptionsKeys(t *testing.T) {
	doc := []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:multifactorauthpresent":"false"}}}}`)
	if _, err := Parse(doc); err == nil {
		t.Fatal("default keys accepted aws:MultiFactorAuthPresent")
	}
	p, err := ParseWithOptions(doc, Options{ConditionKeys: []string{"aws:MultiFactorAuthPresent"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string][]string{"aws:MultiFactorAuthPresent": {"false"}}
	if got := p.Evaluate(Request{Action: "ecs:RunTask", Resource: "*", Context: ctx}); got != ExplicitDeny {
		t.Errorf("canonical key lookup: got %v, want ExplicitDeny", got)
	}
}

// FuzzParse: Parse never panics, and a document it refuses yields no
// policy, so nothing can be granted by it; one it accepts evaluates
// without panicking.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","NotAction":["ecs:Describe*","ecs:List*"],"NotResource":"arn:aws:ecs:*:1:cluster/a*b","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["a*"]},"NumericLessThanIfExists":{"aws:EpochTime":5},"IpAddress":{"aws:SourceIp":["10.0.0.0/8"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"},"Null":{"ecs:cluster":"false"}}}]}`,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`,
		`{"Statement":[`,
		`[]`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "ecs:RunTask", "arn:aws:ecs:us-east-1:1:cluster/ab")
	}
	f.Fuzz(func(t *testing.T, doc []byte, action, resource string) {
		p, err := Parse(doc)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy and %v", err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			if d := p.Evaluate(Request{Action: action, Resource: resource}); d != ImplicitDeny {
				t.Fatalf("refused document decided %v", d)
			}
			if d := Evaluate([]*Policy{p}, Request{Action: action, Resource: resource}); d != ImplicitDeny {
				t.Fatalf("refused document decided %v", d)
			}
			return
		}
		ctx := map[string][]string{"aws:SourceIp": {resource}, "aws:TagKeys": {action, resource}, "ecs:cluster": {resource}}
		p.Evaluate(Request{Action: action, Resource: resource, Context: ctx})
	})
}
