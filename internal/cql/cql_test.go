package cql

import (
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeTarget is a container instance for tests.
type fakeTarget struct {
	attrs     map[string]string
	ec2ID     string
	connected bool
	version   string
	at        time.Time
	running   int
	groups    []string
}

func (f *fakeTarget) Attribute(n string) (string, bool) { v, ok := f.attrs[n]; return v, ok }
func (f *fakeTarget) EC2InstanceID() string             { return f.ec2ID }
func (f *fakeTarget) AgentConnected() bool              { return f.connected }
func (f *fakeTarget) AgentVersion() string              { return f.version }
func (f *fakeTarget) RegisteredAt() time.Time           { return f.at }
func (f *fakeTarget) RunningTasksCount() int            { return f.running }
func (f *fakeTarget) TaskGroups() iter.Seq[string]      { return slices.Values(f.groups) }

func instance() *fakeTarget {
	return &fakeTarget{
		attrs: map[string]string{
			"ecs.instance-type":     "t2.small",
			"ecs.availability-zone": "us-east-1a",
			"ecs.os-type":           "linux",
			"ecs.cpu-architecture":  "x86_64",
			"ecs.ami-id":            "ami-1234",
			"stack":                 "prod",
			"cores":                 "8",
			"kernel":                "5.10.2",
			"flag":                  "",
			"name with space":       "x",
		},
		ec2ID:     "i-abcd1234",
		connected: true,
		version:   "1.14.5",
		at:        time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC),
		running:   3,
		groups:    []string{"service:production", "family:web"},
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want bool
	}{
		// ==, equals
		{"eq attribute", "attribute:ecs.instance-type == t2.small", true},
		{"eq attribute no spaces", "attribute:ecs.instance-type==t2.small", true},
		{"eq attribute mismatch", "attribute:ecs.instance-type == t2.micro", false},
		{"eq word", "attribute:stack equals prod", true},
		{"eq bare ecs attribute", "ecs.instance-type == t2.small", true},
		{"eq bare ecs os-type", "ecs.os-type == linux", true},
		{"eq cpu-architecture", "attribute:ecs.cpu-architecture == x86_64", true},
		{"eq ami-id", "attribute:ecs.ami-id == ami-1234", true},
		{"eq missing attribute", "attribute:nope == x", false},
		{"eq is string equality", "attribute:cores == 8.0", false},
		{"eq empty quoted", `attribute:flag == ""`, true},
		{"eq quoted single", "ec2InstanceId == 'i-abcd1234'", true},
		{"eq ec2InstanceId", "ec2InstanceId == i-abcd1234", true},
		{"eq agentConnected", "agentConnected == true", true},
		{"eq agentConnected case", "agentConnected == TRUE", true},
		{"eq agentConnected false", "agentConnected == false", false},
		{"eq agentVersion", "agentVersion == 1.14.5", true},
		{"eq agentVersion padded", "agentVersion == 1.14.5.0", true},
		{"eq runningTasksCount", "runningTasksCount == 3", true},
		{"eq runningTasksCount leading zero", "runningTasksCount == 03", true},
		{"eq registeredAt day", "registeredAt == 2018-06-18", true},
		{"eq registeredAt instant", "registeredAt == 2018-06-18T22:28:28Z", true},
		{"eq registeredAt offset", "registeredAt == 2018-06-19T00:28:28+02:00", true},
		{"eq registeredAt no zone", "registeredAt == 2018-06-18T22:28:28", true},
		{"eq task group", "task:group == service:production", true},
		{"eq task group other", "task:group == family:web", true},
		{"eq task group absent", "task:group == database", false},
		{"eq keyword-looking value", "attribute:stack == and", false},
		{"eq case-insensitive subject", "EC2INSTANCEID == i-abcd1234", true},
		{"eq attribute prefix case", "Attribute:stack == prod", true},

		// !=, not_equals
		{"ne", "attribute:ecs.availability-zone != us-east-1d", true},
		{"ne equal", "attribute:ecs.availability-zone != us-east-1a", false},
		{"ne word", "attribute:stack not_equals dev", true},
		{"ne missing attribute", "attribute:nope != x", true},
		{"ne agentConnected", "agentConnected != false", true},
		{"ne task group absent", "task:group != database", true},
		{"ne task group present", "task:group != service:production", false},
		{"ne runningTasksCount", "runningTasksCount != 3", false},
		{"ne registeredAt", "registeredAt != 2018-06-17", true},

		// >, >=, <, <=
		{"gt numeric", "attribute:cores > 10", false},
		{"gt numeric true", "attribute:cores > 7.5", true},
		{"gt word", "attribute:cores greater_than 2", true},
		{"ge equal", "attribute:cores >= 8", true},
		{"ge word", "attribute:cores greater_than_equal 9", false},
		{"lt numeric not lexical", "attribute:cores < 10", true},
		{"le word", "attribute:cores less_than_equal 8", true},
		{"lt word", "attribute:cores less_than 8", false},
		{"lt version attribute", "attribute:kernel < 5.10.10", true},
		{"lt string", "attribute:stack < qa", true},
		{"lt missing", "attribute:nope < 5", false},
		{"agentVersion lt", "agentVersion < 1.15.0", true},
		{"agentVersion lt numeric parts", "agentVersion < 1.9.0", false},
		{"agentVersion ge", "agentVersion >= 1.14.5", true},
		{"runningTasksCount lt", "runningTasksCount < 4", true},
		{"runningTasksCount gt", "runningTasksCount > 3", false},
		{"runningTasksCount le", "runningTasksCount <= 3", true},
		{"registeredAt lt day", "registeredAt < 2018-06-19", true},
		{"registeredAt lt same day", "registeredAt < 2018-06-18", false},
		{"registeredAt le same day", "registeredAt <= 2018-06-18", true},
		{"registeredAt gt instant", "registeredAt > 2018-06-18T22:00:00Z", true},
		{"registeredAt ge instant", "registeredAt >= 2018-06-18T22:28:29Z", false},

		// exists
		{"exists", "attribute:stack exists", true},
		{"exists empty value", "attribute:flag exists", true},
		{"exists missing", "attribute:nope exists", false},
		{"not exists symbol", "attribute:nope !exists", true},
		{"not exists word", "attribute:stack not_exists", false},
		{"task group exists", "task:group exists", true},

		// in, not_in
		{"in brackets", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true},
		{"in parens", "attribute:ecs.availability-zone in (us-east-1c, us-east-1b)", false},
		{"in quoted", "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true},
		{"in no spaces", "ec2InstanceId in[i-x,i-abcd1234]", true},
		{"in single", "attribute:stack in [prod]", true},
		{"in missing attribute", "attribute:nope in [a]", false},
		{"not_in", "attribute:stack not_in [dev, qa]", true},
		{"!in", "attribute:stack !in [prod]", false},
		{"not_in missing attribute", "attribute:nope not_in [a]", true},
		{"in agentConnected", "agentConnected in [false, true]", true},
		{"in task group", "task:group in [database, family:web]", true},
		{"not_in task group", "task:group not_in [database, cache]", true},

		// =~, !~
		{"matches", "attribute:ecs.instance-type =~ t2.*", true},
		{"matches whole value", "attribute:ecs.instance-type =~ t2", false},
		{"matches word", "attribute:ecs.instance-type matches g2.*", false},
		{"matches alternation bare", "attribute:ecs.instance-type =~ (m5|t2).small", true},
		{"matches class bare", "attribute:ecs.availability-zone =~ us-east-1[ab]", true},
		{"matches quoted", `attribute:ecs.instance-type =~ "^t2\.small$"`, true},
		{"matches case-insensitive flag", "attribute:stack =~ (?i)PROD", true},
		{"matches missing", "attribute:nope =~ .*", false},
		{"not matches", "attribute:ecs.instance-type !~ g2.*", true},
		{"not_matches word", "attribute:ecs.instance-type not_matches t2.*", false},
		{"not matches missing", "attribute:nope !~ x", true},
		{"matches ec2InstanceId", "ec2InstanceId =~ i-abcd.*", true},
		{"matches agentConnected", "agentConnected =~ t.*", true},
		{"matches task group", "task:group =~ service:.*", true},
		{"not matches task group", "task:group !~ service:.*", false},

		// Boolean operators and precedence.
		{"and", "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d", true},
		{"and symbol", "attribute:stack == prod && attribute:cores == 8", true},
		{"and false", "attribute:stack == prod AND attribute:cores == 9", false},
		{"or", "attribute:stack == dev or attribute:cores == 8", true},
		{"or symbol", "attribute:stack == dev || attribute:cores == 9", false},
		{"not", "not attribute:stack == dev", true},
		{"not call style", "not(task:group == database)", true},
		{"not call style present", "not(task:group == family:web)", false},
		{"bang", "!attribute:stack == prod", false},
		{"bang parens", "!(attribute:stack == prod)", false},
		{"double not", "not not attribute:stack == prod", true},
		{"and binds tighter than or", "attribute:stack == prod or attribute:stack == dev and attribute:cores == 9", true},
		{"and binds tighter than or 2", "attribute:stack == dev and attribute:cores == 9 or attribute:stack == prod", true},
		{"parens override", "(attribute:stack == prod or attribute:stack == dev) and attribute:cores == 9", false},
		{"not binds tighter than and", "not attribute:stack == dev and attribute:cores == 9", false},
		{"not binds tighter than or", "not attribute:stack == prod or attribute:cores == 8", true},
		{"nested parens", "((attribute:stack == prod))", true},
		{"mixed", "(attribute:ecs.availability-zone in [us-east-1a] || agentConnected == false) && !(runningTasksCount > 5)", true},
		{"value ends at paren", "not(attribute:stack == prod)", false},
		{"value ends at and", "attribute:stack == prod&&attribute:cores == 8", true},
		{"keyword prefix is a name", "attribute:stack == prod and ecs.os-type == linux", true},
	}
	target := instance()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := e.Eval(target); got != tt.want {
				t.Errorf("Eval(%q) = %v, want %v (canonical %q)", tt.expr, got, tt.want, e.String())
			}
			again, err := Parse(e.String())
			if err != nil {
				t.Fatalf("Parse(String()) of %q = %q: %v", tt.expr, e.String(), err)
			}
			if got := again.Eval(target); got != tt.want {
				t.Errorf("Eval(Parse(%q)) = %v, want %v", e.String(), got, tt.want)
			}
		})
	}
}

func TestEvalUnknownValues(t *testing.T) {
	empty := &fakeTarget{}
	for _, expr := range []string{
		"registeredAt < 2100-01-01",
		"registeredAt > 1900-01-01",
		"agentVersion < 99",
		"agentVersion >= 0",
		"task:group exists",
		"task:group == x",
		"attribute:a exists",
	} {
		if e := mustParse(t, expr); e.Eval(empty) {
			t.Errorf("Eval(%q) on an instance without values = true, want false", expr)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ecs.instance-type equals t2.small", "attribute:ecs.instance-type == t2.small"},
		{"attribute:a not_in (x,y)", "attribute:a not_in [x, y]"},
		{"attribute:a == 'with space'", `attribute:a == "with space"`},
		{`attribute:a == 'say "hi"'`, `attribute:a == "say \"hi\""`},
		{"a.b", ""},
		{"attribute:a == x or attribute:b == y and attribute:c == z", "attribute:a == x or attribute:b == y and attribute:c == z"},
		{"(attribute:a == x or attribute:b == y) and attribute:c == z", "(attribute:a == x or attribute:b == y) and attribute:c == z"},
		{"!(attribute:a == x && attribute:b == y)", "not (attribute:a == x and attribute:b == y)"},
		{"not(task:group == database)", "not task:group == database"},
		{"attribute:a !exists", "attribute:a !exists"},
		{"attribute:a =~ (x|y).*", `attribute:a =~ "(x|y).*"`},
		{"REGISTEREDAT > 2018-01-01", "registeredAt > 2018-01-01"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) succeeded, want an error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUsesTasks(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{"attribute:a == b", false},
		{"agentConnected == true and registeredAt < 2020-01-01", false},
		{"attribute:a == b or task:group == x", true},
		{"not runningTasksCount > 2", true},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.expr).UsesTasks(); got != tt.want {
			t.Errorf("UsesTasks(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		offset int
		msg    string // a substring of the message
	}{
		{"empty", "", 0, "empty expression"},
		{"blank", "   ", 3, "empty expression"},
		{"unknown subject", "instanceType == t2", 0, `unknown subject "instanceType"`},
		{"missing subject", "== x", 0, "expected a condition"},
		{"attribute without name", "attribute: == x", 10, "attribute name"},
		{"missing operator", "attribute:a", 11, "expected an operator"},
		{"bad operator", "attribute:a = b", 12, "expected an operator"},
		{"operator not valid for subject", "ec2InstanceId > i-1", 14, "operator > is not valid for ec2InstanceId"},
		{"exists not valid for runningTasksCount", "runningTasksCount exists", 18, "not valid for runningTasksCount"},
		{"in not valid for registeredAt", "registeredAt in [2018-01-01]", 13, "not valid for registeredAt"},
		{"missing value", "attribute:a ==", 14, "expected a value, found the end"},
		{"missing value before and", "attribute:a == && attribute:b == c", 15, "expected a value"},
		{"in without list", "attribute:a in x", 15, "expected a list"},
		{"empty list", "attribute:a in []", 16, "at least one"},
		{"trailing comma", "attribute:a in [x,]", 18, "expected a value"},
		{"unclosed list", "attribute:a in [x, y", 20, "expected , or ]"},
		{"unclosed paren", "(attribute:a == x", 17, "close the ( at character 1"},
		{"extra close paren", "attribute:a == x)", 16, "expected and, or"},
		{"dangling and", "attribute:a == x and", 20, "expected a condition"},
		{"dangling not", "not", 3, "expected a condition"},
		{"two conditions", "attribute:a == x attribute:b == y", 17, "expected and, or"},
		{"unterminated quote", `attribute:a == "abc`, 15, "unterminated"},
		{"bad regexp", "attribute:a =~ (x", 15, "invalid regular expression"},
		{"glob star", "attribute:a =~ *.large", 15, "write .*"},
		{"runningTasksCount not a number", "runningTasksCount > many", 20, "non-negative integer"},
		{"runningTasksCount negative", "runningTasksCount > -1", 20, "non-negative integer"},
		{"registeredAt bad date", "registeredAt < yesterday", 15, "registeredAt compares with a date"},
		{"agentConnected not boolean", "agentConnected == yes", 18, "true or false"},
		{"agentConnected list not boolean", "agentConnected in [true, maybe]", 25, "true or false"},
		{"bang operator in subject position", "!= x", 1, "expected a condition"},
		{"too long", "attribute:a == " + strings.Repeat("x", MaxLength), MaxLength, "at most 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.expr)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tt.expr, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = offset %d %q, want offset %d containing %q", tt.expr, se.Offset, se.Msg, tt.offset, tt.msg)
			}
			if !strings.Contains(err.Error(), "at character") {
				t.Errorf("Error() = %q, want the position", err.Error())
			}
		})
	}
}

func TestMaxLengthAccepted(t *testing.T) {
	prefix := "attribute:a == "
	expr := prefix + strings.Repeat("x", MaxLength-len(prefix))
	if _, err := Parse(expr); err != nil {
		t.Fatalf("Parse of a %d-character expression: %v", len(expr), err)
	}
}

func TestInstanceTarget(t *testing.T) {
	ci := &ecsapi.ContainerInstance{
		AgentConnected:    true,
		Attributes:        []ecsapi.Attribute{{Name: "ecs.instance-type", Value: "m5.large"}, {Name: "gpu"}},
		Ec2InstanceId:     "i-0123",
		RegisteredAt:      ecsapi.NewTimestamp(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		RunningTasksCount: 2,
		VersionInfo:       &ecsapi.VersionInfo{AgentVersion: "1.80.0"},
	}
	target := InstanceTarget{Instance: ci, Groups: []string{"service:api"}}
	for expr, want := range map[string]bool{
		"ecs.instance-type == m5.large":                     true,
		"attribute:gpu exists":                              true,
		"attribute:gpu == ''":                               true,
		"ec2InstanceId in [i-0123]":                         true,
		"agentConnected == true":                            true,
		"agentVersion >= 1.79":                              true,
		"registeredAt == 2024-01-02":                        true,
		"runningTasksCount == 2":                            true,
		"task:group == service:api and not task:group == x": true,
	} {
		if got := mustParse(t, expr).Eval(target); got != want {
			t.Errorf("Eval(%q) = %v, want %v", expr, got, want)
		}
	}
	bare := InstanceTarget{Instance: &ecsapi.ContainerInstance{}}
	if mustParse(t, "agentVersion > 0 or registeredAt > 2000-01-01").Eval(bare) {
		t.Error("an instance without version or registration time matched")
	}
}

func TestCompareValues(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"10", "9", 1},
		{"-1.5", "1", -1},
		{"1e3", "999", 1},
		{"1.10.0", "1.9.9", 1},
		{"1.2", "1.2.0", 0},
		{"b", "a", 1},
		{"10a", "9a", -1},
		{"NaN", "1", 1},
		{"0x10", "9", -1},
	}
	for _, tt := range tests {
		if got := compareValues(tt.a, tt.b); got != tt.want {
			t.Errorf("compareValues(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func mustParse(t testing.TB, expr string) *Expr {
	t.Helper()
	e, err := Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return e
}
