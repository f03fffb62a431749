package iampolicy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestActionPatterns(t *testing.T) {
	cases := []struct {
		pat, text string
		want      bool
	}{
		{"*", "ecs:RunTask", true},
		{"*", "", true},
		{"ecs:*", "ecs:RunTask", true},
		{"ecs:*", "ECS:RUNTASK", true},
		{"ecs:*", "ecr:GetAuthorizationToken", false},
		{"ecs:*", "ecs:", true},
		{"ecs:RunTask", "ecs:runtask", true},
		{"ecs:RunTask", "ecs:RunTasks", false},
		{"ecs:RunTask", "ecs:RunTas", false},
		{"ecs:Describe*", "ecs:DescribeServices", true},
		{"ecs:Describe*", "ecs:ListServices", false},
		{"ecs:*Task", "ecs:RunTask", true},
		{"ecs:*Task", "ecs:RunTasks", false},
		{"ecs:*Task*", "ecs:StopTasks", true},
		{"ecs:?unTask", "ecs:RunTask", true},
		{"ecs:?unTask", "ecs:unTask", false},
		{"ecs:R?n*", "ecs:RunTask", true},
		{"ecs:**Task", "ecs:RunTask", true},
		{"ecs:*a*a*a*b", "ecs:" + strings.Repeat("a", 200), false},
		{"logs:Put*Events", "logs:PutLogEvents", true},
	}
	for _, tc := range cases {
		p := compileAction(tc.pat)
		if got := p.match(tc.text); got != tc.want {
			t.Errorf("action %q match %q = %v, want %v", tc.pat, tc.text, got, tc.want)
		}
	}
}

func TestResourcePatterns(t *testing.T) {
	cases := []struct {
		pat, text string
		want      bool
	}{
		{"*", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:us-east-1:1:cluster/a", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:us-east-1:1:cluster/a", "arn:aws:ecs:us-east-1:1:cluster/A", false}, // case-sensitive
		{"arn:aws:ecs:us-east-1:1:cluster/*", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:us-east-1:1:cluster/*", "arn:aws:ecs:us-east-1:1:service/a", false},
		// A "*" ending a segment may run past colons.
		{"arn:aws:ecs:*", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:*:1:cluster/a", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:*:1:cluster/a", "arn:aws:ecs:a:b:1:cluster/a", true},
		{"arn:aws:ecs:us-east-1:1:task-definition/web:*", "arn:aws:ecs:us-east-1:1:task-definition/web:12", true},
		{"arn:aws:ecs:us-east-1:1:task-definition/web*", "arn:aws:ecs:us-east-1:1:task-definition/web:12", true},
		// A "*" inside a segment stays inside it.
		{"arn:aws:ecs:us-*-1:1:cluster/a", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:us-*-1:1:cluster/a", "arn:aws:ecs:us-x:y-1:1:cluster/a", false},
		{"arn:aws:ecs:*-1:1:cluster/a", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:us-east-1:1:task-definition/w*b:1", "arn:aws:ecs:us-east-1:1:task-definition/web:1", true},
		{"arn:aws:ecs:us-east-1:1:task-definition/w*b:1", "arn:aws:ecs:us-east-1:1:task-definition/wx:b:1", false},
		// An unrestricted star before a restricted one must be able to grow.
		{"arn:aws:ecs:*:1:cluster/a*b", "arn:aws:ecs:r:1:x:1:cluster/aXb", true},
		{"arn:aws:ecs:*:1:cluster/a*b", "arn:aws:ecs:r:1:cluster/a:b", false},
		// "?" is one character inside a segment.
		{"arn:aws:ecs:us-east-?:1:cluster/a", "arn:aws:ecs:us-east-2:1:cluster/a", true},
		{"arn:aws:ecs:us-east-?:1:cluster/a", "arn:aws:ecs:us-east-:1:cluster/a", false},
		{"arn:aws:ecs:us-east-1:1:cluster/?", "arn:aws:ecs:us-east-1:1:cluster/:", false},
		{"arn:aws:ecs:us-east-1:1:cluster/??", "arn:aws:ecs:us-east-1:1:cluster/ab", true},
		{"arn:aws:ecs:*:*:cluster/*", "arn:aws:ecs:us-east-1:1:cluster/a", true},
		{"arn:aws:ecs:*:*:cluster/*", "arn:aws:ecs:us-east-1:1:service/a", false},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", true},
		{"arn:aws:s3:::bucket/?", "arn:aws:s3:::bucket/é", true}, // one character, two bytes
		{"arn:aws:s3:::bucket/?*x?", "arn:aws:s3:::bucket/éax€", true},
		{"arn:aws:s3:::bucket/*x", "arn:aws:s3:::bucket/a/b:cx", false},
		{"arn:aws:s3:::bucket/*x", "arn:aws:s3:::bucket/a/bcx", true},
	}
	for _, tc := range cases {
		p := compileResource(tc.pat)
		if got := p.match(tc.text); got != tc.want {
			t.Errorf("resource %q (kind %d) match %q = %v, want %v", tc.pat, p.kind, tc.text, got, tc.want)
		}
	}
}

// resourceRegexp is the reference meaning of a resource pattern, as a
// regular expression.
func resourceRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, t := range tokenizeARN(pat) {
		switch t.kind {
		case tokLit:
			b.WriteString(regexp.QuoteMeta(t.lit))
		case tokOne:
			b.WriteString("[^:]")
		case tokStarR:
			b.WriteString("[^:]*")
		case tokStarU:
			b.WriteString("(?s:.*)")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// The compiled matchers agree with the regular-expression meaning on every
// pattern and text over a small alphabet.
func TestResourcePatternsAgreeWithRegexp(t *testing.T) {
	alpha := []byte("ab:*?")
	var words []string
	var gen func(prefix []byte, n int)
	gen = func(prefix []byte, n int) {
		words = append(words, string(prefix))
		if n == 0 {
			return
		}
		for _, c := range alpha {
			gen(append(prefix, c), n-1)
		}
	}
	gen(nil, 5)
	var texts []string
	for _, w := range words {
		if !strings.ContainsAny(w, "*?") {
			texts = append(texts, w)
		}
	}
	for _, pat := range words {
		p := compileResource(pat)
		re := resourceRegexp(pat)
		for _, text := range texts {
			if got, want := p.match(text), re.MatchString(text); got != want {
				t.Fatalf("resource %q (kind %d) match %q = %v, regexp says %v", pat, p.kind, text, got, want)
			}
		}
	}
}

func TestSegmentMatchLongText(t *testing.T) {
	p := compileResource("arn:aws:s3:::b/a*b*c")
	text := "arn:aws:s3:::b/a" + strings.Repeat("x", 5000) + "b" + strings.Repeat("y", 100) + "c"
	if p.kind != matchSegment || !p.match(text) {
		t.Fatalf("kind %d, match = false on a long text", p.kind)
	}
	if p.match(text + ":") {
		t.Fatal("matched across a colon")
	}
}

// FuzzResourcePattern: the compiled matcher agrees with the regular
// expression meaning of the pattern.
func FuzzResourcePattern(f *testing.F) {
	f.Add("arn:aws:ecs:*:1:cluster/a*b", "arn:aws:ecs:r:1:x:1:cluster/aXb")
	f.Add("arn:aws:ecs:us-?-1:*:task/*", "arn:aws:ecs:us-e-1:1:task/x:y")
	f.Fuzz(func(t *testing.T, pat, text string) {
		if len(pat) > 200 || len(text) > 300 || !utf8.ValidString(pat) || !utf8.ValidString(text) {
			return
		}
		p := compileResource(pat)
		if got, want := p.match(text), resourceRegexp(pat).MatchString(text); got != want {
			t.Fatalf("resource %q (kind %d) match %q = %v, regexp says %v", pat, p.kind, text, got, want)
		}
	})
}
