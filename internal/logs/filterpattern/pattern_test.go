package filterpattern

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	cases := []struct {
		pattern string
		want    string // substring of the message
	}{
		// Wording CloudWatch is seen to use.
		{`{ $.a = 1`, "If a filter pattern starts with '{' it must end with '}'"},
		{`email@domain.com`, `Invalid character(s) in term 'email@domain.com'`},
		{`""`, `Invalid character(s) in term '""'`},
		{`GET /health`, `Invalid character(s) in term '/health'`},
		// Brackets and regexes must close.
		{`[a, b`, "If a filter pattern starts with '[' it must end with ']'"},
		{`%abc`, "must end with '%'"},
		// Terms.
		{`"abc`, "Unterminated"},
		{`-`, "Invalid character(s) in term '-'"},
		{`?`, "Invalid character(s) in term '?'"},
		{`ERROR ?`, "Invalid character(s) in term '?'"},
		{`"a""b"`, "Invalid character(s)"},
		{`ERROR*`, "Invalid character(s) in term 'ERROR*'"},
		{`naïve`, "Invalid character(s)"},
		// Regex subset.
		{`%something!%`, "Invalid character(s)"},
		{`%(a)%`, "Invalid character(s)"},
		{`%a%b%`, "Invalid character(s)"},
		{`%é%`, "Invalid character(s)"},
		{`%\b%`, "unsupported escape"},
		{`%\n%`, "unsupported escape"},
		{`%\x4%`, "two hexadecimal digits"},
		{`%\xC3%`, "not ASCII"},
		{`%*a%`, "missing argument"},
		{`%a|+%`, "missing argument"},
		{`%a{%`, "missing closing }"},
		{`%a{x}%`, "bad repetition"},
		{`%a{}%`, "bad repetition"},
		{`%{2}%`, "missing argument"},
		{`%[abc%`, "missing closing ]"},
		{`%[z-a]%`, "Invalid regular expression"},
		{`%a{2000}%`, "Invalid regular expression"},
		{`%a**%`, "Invalid regular expression"},
		{`%%`, "Empty regular expression"},
		{`%a]%`, "unexpected ']'"},
		// JSON.
		{`{ }`, "Empty JSON"},
		{`{ $.a }`, "Expected an operator"},
		{`{ a = 1 }`, "selector"},
		{`{ $ = 1 }`, "selector"},
		{`{ $. = 1 }`, "selector"},
		{`{ $.a[x] = 1 }`, "array index"},
		{`{ $.a['b = 1 }`, "Unterminated property name"},
		{`{ $.a IS NOT NULL }`, "IS NOT is not supported"},
		{`{ $.a EXISTS }`, "EXISTS is not supported"},
		{`{ $.a IS MAYBE }`, "Expected NULL"},
		{`{ $.a NOT THERE }`, "Expected EXISTS"},
		{`{ $.a > abc }`, "needs a number"},
		{`{ $.a < %x% }`, "needs a number"},
		{`{ $.a = }`, "Missing value"},
		{`{ $.*.b[*] = 1 }`, "at most 1 wildcard"},
		{`{ $.a[*] = 1 || $.b[*] = 1 || $.c[*] = 1 || $.d[*] = 1 }`, "at most 3 wildcard"},
		{`{ $.a = %x% || $.b = %y% || $.c = %z% }`, "at most 2 regular expressions"},
		{`{ ($.a = 1 }`, "Missing closing parenthesis"},
		{`{ $.a = 1 && }`, "Missing condition"},
		{`{ $.a = "x" $.b = 1 }`, "Unexpected"},
		{`{ $.a = x@y }`, "Invalid character(s) in term 'x@y'"},
		{`{ $.a = "x }`, "Unterminated"},
		{`{ $.a = %x }`, "Unterminated regular expression"},
		{`{ $.a = %(x)% }`, "Invalid character(s)"},
		{`{` + strings.Repeat("(", 200) + `$.a = 1` + strings.Repeat(")", 200) + `}`, "nested parentheses"},
		// Space-delimited.
		{`[]`, "Empty"},
		{`[a b]`, "Invalid character(s) in term 'a b'"},
		{`[a = 1 b]`, "Expected ','"},
		{`[a =]`, "Missing value"},
		{`[a = 4* && b > 1000]`, "Condition on b inside the field a"},
		{`[a && a = 1]`, "Expected an operator"},
		{`[a = 1 && a]`, "Expected an operator"},
		{`[a > x]`, "needs a number"},
		{`[a = x@y]`, "Invalid character(s) in term 'x@y'"},
		{`[@a]`, "Invalid character(s)"},
		{`[a = %x%, b = %y%, c = %z%]`, "at most 2 regular expressions"},
		{`[a = %x]`, "Unterminated regular expression"},
	}
	for _, tc := range cases {
		p, err := Parse(tc.pattern)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.pattern, p.Kind(), tc.want)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("Parse(%q): error %T is not a *SyntaxError wrapping ErrInvalidPattern", tc.pattern, err)
			continue
		}
		if !strings.HasPrefix(se.Message, "Invalid filter pattern: ") {
			t.Errorf("Parse(%q): message %q lacks the AWS prefix", tc.pattern, se.Message)
		}
		if !strings.Contains(se.Message, tc.want) {
			t.Errorf("Parse(%q): message %q, want it to contain %q", tc.pattern, se.Message, tc.want)
		}
		if se.Offset < 0 || se.Offset > len(tc.pattern) || se.Pattern != tc.pattern {
			t.Errorf("Parse(%q): offset %d / pattern %q out of range", tc.pattern, se.Offset, se.Pattern)
		}
	}
}

func TestKinds(t *testing.T) {
	for pattern, want := range map[string]Kind{
		"":            KindAll,
		"   ":         KindAll,
		`" "`:         KindAll,
		"ERROR":       KindTerms,
		"-ERROR":      KindTerms,
		"%ERR%":       KindRegex,
		"{ $.a = 1 }": KindJSON,
		"[a, b]":      KindDelimited,
	} {
		p, err := Parse(pattern)
		if err != nil {
			t.Fatalf("Parse(%q): %v", pattern, err)
		}
		if p.Kind() != want || p.String() != pattern {
			t.Errorf("Parse(%q): kind %v, string %q; want %v", pattern, p.Kind(), p.String(), want)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	runDocCases(t, []docCase{
		// Terms.
		{pattern: "-ERROR", match: []string{"all good", ""}, noMatch: []string{"an ERROR"}},
		{pattern: "?a -b", match: []string{"xyz"}, noMatch: []string{"ab"}}, // ? ignored next to -b
		{pattern: `?"two words" ?three`, match: []string{"x two words", "three"}, noMatch: []string{"two", "words two"}},
		{pattern: `"say \"hi\""`, match: []string{`they say "hi"`}, noMatch: []string{"say hi"}},
		{pattern: `"C:\path"`, match: []string{`at C:\path now`}},
		{pattern: `"[ERROR]" 500`, match: []string{"[ERROR] 500 x"}, noMatch: []string{"ERROR 500"}},
		{pattern: "  ERROR\t\tWARN  ", match: []string{"WARN ERROR"}, noMatch: []string{"WARN"}},
		{pattern: `" " ERROR`, match: []string{"ERROR"}, noMatch: []string{"x"}},
		// Standalone regex: . spans newlines, no anchoring unless asked.
		{pattern: "%a.b%", match: []string{"a\nb"}},
		{pattern: "%^a{2}$%", match: []string{"aa"}, noMatch: []string{"aaa"}},
		{pattern: "%a{2, 3}%", match: []string{"aa"}, noMatch: []string{"a"}},
		{pattern: `%[\]x]%`, match: []string{"]", "x"}, noMatch: []string{"y"}},
		{pattern: `%[a\-z]%`, match: []string{"-"}, noMatch: []string{"b"}},
		{pattern: `%[-a]%`, match: []string{"-"}, noMatch: []string{"b"}},
		{pattern: `%[\d_]%`, match: []string{"5", "_"}, noMatch: []string{"x"}},
		{pattern: `%[\x41-\x43]%`, match: []string{"B"}, noMatch: []string{"D"}},
		{pattern: `%\.\*\+\?\$\^\|\{\}\\%`, match: []string{`.*+?$^|{}\`}},
		{pattern: `%\-\/\:%`, match: []string{`-/:`}},
		// JSON: escapes in keys and values, non-JSON events, types.
		{pattern: `{ $.aA = "x\"y" }`, match: []string{`{"a\u0041": "x\"y"}`}},
		{pattern: `{ $.k = "é😀" }`, match: []string{`{"k": "\u00e9\ud83d\ude00"}`, `{"k": "é😀"}`}},
		{pattern: `{ $.msg = "a/b" }`, match: []string{`{"msg": "a\/b"}`}},
		{pattern: `{ $.x NOT EXISTS }`, match: []string{`{}`, `[1]`, `{"y": {"x": 1}}`}, noMatch: []string{"hello", "", "42", `"s"`, `{"x": null}`, `{"x":`}},
		{pattern: `{ $.a.b NOT EXISTS }`, match: []string{`{"a": 1}`, `{"a": [1]}`}, noMatch: []string{`{"a": {"b": 0}}`}},
		{pattern: `{ $.level = "error" }`, noMatch: []string{`{"level": "error"`, `{"level": "error"} trailing`, `{"level": "error",}`, `{'level': 'error'}`, `{"level": "err\or"}`}},
		{pattern: `{ $.a = 1 }`, match: []string{`{"a": 1, "a": 2}`}, noMatch: []string{`{"a": 2, "a": 1}`}}, // first member wins
		{pattern: `{ $.code = 200 }`, match: []string{`{"code": 200}`, `{"code": "200"}`, `{"code": 2e2}`}, noMatch: []string{`{"code": "OK"}`}},
		{pattern: `{ $.code > 100 }`, match: []string{`{"code": "200"}`}, noMatch: []string{`{"code": "abc"}`, `{"code": true}`, `{"code": null}`, `{"code": {}}`}},
		{pattern: `{ $.code != 200 }`, match: []string{`{"code": "OK"}`, `{"code": 201}`}, noMatch: []string{`{"code": 200}`, `{}`, `{"code": true}`}},
		{pattern: `{ $.flag = true }`, noMatch: []string{`{"flag": true}`}}, // booleans are not value nodes; use IS TRUE
		{pattern: `{ $.flag IS FALSE }`, match: []string{`{"flag": false}`}, noMatch: []string{`{"flag": "false"}`, `{"flag": 0}`}},
		{pattern: `{ $.a IS null }`, match: []string{`{"a": null}`}},
		{pattern: `{ $.tags[*] = prod }`, match: []string{`{"tags": ["dev", "prod"]}`}, noMatch: []string{`{"tags": ["dev"]}`, `{"tags": []}`, `{"tags": "prod"}`}},
		{pattern: `{ $.tags[*] != prod }`, match: []string{`{"tags": ["prod", "dev"]}`}, noMatch: []string{`{"tags": ["prod"]}`}},
		{pattern: `{ $.* = 5 }`, match: []string{`{"a": 1, "b": 5}`}, noMatch: []string{`{"a": {"b": 5}}`}},
		{pattern: `{ $.a.* = 5 }`, match: []string{`{"a": {"x": 5}}`, `{"a": [5]}`}},
		{pattern: `{ $.a[1].b = x }`, match: []string{`{"a": [{}, {"b": "x"}]}`}, noMatch: []string{`{"a": [{"b": "x"}]}`, `{"a": {"1": {"b": "x"}}}`}},
		{pattern: `{ $.a[0][0] = 1 }`, match: []string{`{"a": [[1]]}`}, noMatch: []string{`{"a": [1]}`}},
		{pattern: `{ $.["@timestamp"] = "t" }`, match: []string{`{"@timestamp": "t"}`}},
		{pattern: `{ $.a.['b.c'] = 1 }`, match: []string{`{"a": {"b.c": 1}}`}},
		{pattern: `{ $.my-key_1 = v }`, match: []string{`{"my-key_1": "v"}`}},
		{pattern: `{$.a="x"&&$.b=1||$.c=2}`, match: []string{`{"a":"x","b":1}`, `{"c":2}`}, noMatch: []string{`{"a":"x","b":2}`}},
		{pattern: `{ $.a = 1 || $.b = 1 && $.c = 1 }`, match: []string{`{"a":1}`, `{"b":1,"c":1}`}, noMatch: []string{`{"b":1}`}}, // && binds tighter
		{pattern: `{ ($.a = 1 || $.b = 1) && $.c = 1 }`, match: []string{`{"b":1,"c":1}`}, noMatch: []string{`{"a":1}`}},
		{pattern: `{ $.ip = 10.0.* }`, match: []string{`{"ip": "10.0.3.4"}`}, noMatch: []string{`{"ip": "10.1.0.0"}`}},
		{pattern: `{ $.n = 4* }`, match: []string{`{"n": 404}`}, noMatch: []string{`{"n": 504}`}},
		{pattern: `{ $.v = -1.5 }`, match: []string{`{"v": -1.50}`}},
		{pattern: `{ $.s = "" }`, match: []string{`{"s": ""}`}, noMatch: []string{`{"s": "x"}`}},
		// Space-delimited: field splitting.
		{pattern: `[a, b, c]`, match: []string{"x  y\tz", "  x y z  ", `x "y y" [z z]`}, noMatch: []string{"x y", "w x y z", ""}},
		{pattern: `[a, b = *hi*, c]`, match: []string{`x "say \"hi\"" z`}}, // \" does not end a quoted field
		{pattern: `[a, b = "two words"]`, match: []string{`x "two words"`, `x [two words]`}},
		{pattern: `[a, b]`, match: []string{`x "unclosed quote`, `x [unclosed`}},
		{pattern: `[a, b, c]`, match: []string{`x "q"r`}}, // a group ends at its closing delimiter
		{pattern: `[..., x = 1, ...]`, match: []string{"1", "a 1", "1 b", "a b 1 c d"}, noMatch: []string{"a b c"}},
		{pattern: `[a, ..., b = end]`, match: []string{"x end", "x y z end"}, noMatch: []string{"end", "x end y"}},
		{pattern: `[...]`, match: []string{"", "a b c"}},
		{pattern: `[a, , c]`, match: []string{"x y z"}},
		{pattern: `[code >= 400 && code < 500, ...]`, match: []string{"404 x", "400"}, noMatch: []string{"500 x", "- x", "abc"}},
		{pattern: `[code = 200]`, match: []string{"200", "200.0"}, noMatch: []string{"201"}},
		{pattern: `[code != 200]`, match: []string{"-", "404"}, noMatch: []string{"200"}},
		{pattern: `[a = %^x+$%]`, match: []string{"xxx"}, noMatch: []string{"xxy"}},
		{pattern: `[a != %x%]`, match: []string{"y"}, noMatch: []string{"axb"}},
		{pattern: `[a = %\d{1,3}%, b]`, match: []string{"12 x"}}, // a comma inside a regex is not a field separator
		{pattern: `[ip = "127.0.0.1", ...]`, match: []string{"127.0.0.1 -"}},
		{pattern: `[w1 = ERROR||w1 = WARN&&w1 = WARN, ...]`, match: []string{"ERROR x", "WARN x"}, noMatch: []string{"INFO x"}},
	})
}

func TestMatchDoesNotAllocate(t *testing.T) {
	cases := map[string]string{
		`ERROR -DEBUG`: "[ERROR] request failed",
		`%ERR[A-Z]+%`:  "[ERROR] request failed",
		`{ $.level = "error" && $.latency > 100 }`:   `{"level":"error","latency":250,"msg":"a \"quoted\" \u00e9"}`,
		`{ $.tags[*] = prod }`:                       `{"tags":["dev","prod"]}`,
		`[ip, user, ..., status = 4*, bytes > 1000]`: `10.0.0.1 - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 404 2048`,
	}
	for pattern, msg := range cases {
		p := MustParse(pattern)
		if !p.Match(msg) {
			t.Fatalf("%q should match %q", pattern, msg)
		}
		m := p.NewMatcher()
		if n := testing.AllocsPerRun(200, func() { m.Match(msg) }); n > 0 {
			t.Errorf("%q: %.1f allocations per Matcher.Match, want 0", pattern, n)
		}
		if raceEnabled {
			continue // the pool drops items on purpose under -race
		}
		if n := testing.AllocsPerRun(200, func() { p.Match(msg) }); n > 0 {
			t.Errorf("%q: %.1f allocations per Match, want 0", pattern, n)
		}
	}
}

// TestLargeEvents runs patterns over events near CloudWatch's 256 KB limit
// built to be awkward: deep nesting, many fields, long runs without a match.
func TestLargeEvents(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 400) + `1` + strings.Repeat(`}`, 400)
	tooDeep := strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600)
	wide := "{" + strings.Repeat(`"k":"v",`, 30000) + `"x":[` + strings.Repeat(`0,`, 1000) + `5]}`
	fields := strings.Repeat("a ", 100000) + "b"
	cases := []struct {
		pattern, msg string
		want         bool
	}{
		{`{ $.a.a.a = * }`, deep, false}, // $.a.a.a is an object
		{`{ $.x NOT EXISTS }`, deep, true},
		{`{ $.x NOT EXISTS }`, tooDeep, false}, // deeper than the parser goes: not JSON
		{`{ $.x[*] = 5 }`, wide, true},
		{`{ $.k = "v" && $.x[1000] = 5 }`, wide, true},
		{`[..., x = b, ...]`, fields, true},
		{`[..., x = c, ..., y = d, ...]`, fields, false},
		{`[..., x = %^b$%]`, fields, true},
		{`%a b$%`, fields, true},
		{`ERROR`, fields, false},
	}
	for _, tc := range cases {
		if got := MustParse(tc.pattern).Match(tc.msg); got != tc.want {
			t.Errorf("%q on a %d-byte event: %v, want %v", tc.pattern, len(tc.msg), got, tc.want)
		}
	}
}
