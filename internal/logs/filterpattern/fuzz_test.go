package filterpattern

import (
	"errors"
	"testing"
)

// FuzzParseMatch checks that no pattern makes Parse or Match panic, that
// every error is a *SyntaxError, and that Pattern.Match and Matcher.Match
// agree.
func FuzzParseMatch(f *testing.F) {
	seeds := [][2]string{
		{"ERROR -WARN ?x", "ERROR x"},
		{`"a phrase" - "b"`, "a phrase"},
		{`%^[hc]at{1,2}|\d\x3A%`, "cat"},
		{`{ $.a[*].b = "x*" && ($.c > 1e3 || $.d IS NULL) }`, `{"a":[{"b":"xy"}],"c":2000}`},
		{`{ $.['k.v'] != %v.{2}% || $.x NOT EXISTS }`, `{"k.v":"val"}`},
		{`[ip, ..., status = 4* || status = 5*, bytes > 100, ]`, `1.2.3.4 - [t z] "GET /" 404 200`},
		{`[a = %\d{1,3}%, b != "x y"]`, `12 "x y"`},
		{`{"\u00e9": [1, {"a": null}]}`, `{"\u00e9": [1, {"a": null}]}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, msg string) {
		p, err := Parse(pattern)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("Parse(%q): error %T %v", pattern, err, err)
			}
			return
		}
		a := p.Match(msg)
		b := p.NewMatcher().Match(msg)
		if a != b {
			t.Fatalf("Parse(%q): Match=%v Matcher.Match=%v on %q", pattern, a, b, msg)
		}
		// JSON patterns also run on the pattern text itself (often JSON-ish).
		p.Match(pattern)
	})
}
