package cql

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every error is a
// *SyntaxError inside the expression, and that an accepted expression's
// canonical form parses back to the same canonical form and evaluates the
// same. The seeds run on every go test.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"attribute:ecs.instance-type == t2.small",
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
		"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
		"task:group == service:production",
		"not(task:group == database)",
		"runningTasksCount == 1",
		"agentVersion < 1.14.5",
		"registeredAt < 2018-02-13",
		"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
		"agentConnected != true || !(attribute:a exists)",
		`attribute:x =~ "^a\\.b\"c$" && attribute:y !~ (p|q)[0-9]+`,
		"((attribute:a == b)) or not not attribute:c not_in (d,e)",
		"registeredAt >= 2018-06-18T22:28:28+00:00",
		"ecs.os-type == linux and ecs.cpu-architecture == arm64",
		"attribute:a == ",
		"(((",
		"attribute:a in [",
		`attribute:a == "unterminated`,
		"!",
		"attribute:a =~ *",
		"\x00\xff",
	} {
		f.Add(seed)
	}
	target := &fakeTarget{
		attrs:     map[string]string{"a": "b", "ecs.instance-type": "t2.small", "x": "a.b\"c", "c": "d"},
		ec2ID:     "i-abcd1234",
		connected: true,
		version:   "1.20.0",
		at:        time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC),
		running:   1,
		groups:    []string{"service:production"},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := Parse(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %v is not a *SyntaxError", expr, err)
			}
			if se.Offset < 0 || se.Offset > len(expr) {
				t.Fatalf("Parse(%q) error offset %d outside the expression", expr, se.Offset)
			}
			return
		}
		got := e.Eval(target)
		canonical := e.String()
		again, err := Parse(canonical)
		if err != nil {
			if len(canonical) > MaxLength {
				return // quoting can lengthen an expression past the limit
			}
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", expr, canonical, err)
		}
		if again.String() != canonical {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", expr, canonical, again.String())
		}
		if again.Eval(target) != got {
			t.Fatalf("Eval differs between %q and its canonical form %q", expr, canonical)
		}
		if again.UsesTasks() != e.UsesTasks() {
			t.Fatalf("UsesTasks differs between %q and %q", expr, canonical)
		}
	})
}
