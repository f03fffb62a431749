package filterpattern

import (
	"strings"
	"testing"
)

// The examples and their documented results from the CloudWatch Logs user
// guide, "Filter pattern syntax for metric filters, subscription filters,
// filter log events, and Live Tail" (FilterAndPatternSyntax.html, current
// edition, and where noted the older "Filter and Pattern Syntax" edition).

type docCase struct {
	pattern string
	match   []string
	noMatch []string
}

func runDocCases(t *testing.T, cases []docCase) {
	t.Helper()
	for _, tc := range cases {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.pattern, err)
			continue
		}
		for _, m := range tc.match {
			if !p.Match(m) {
				t.Errorf("%q should match %q", tc.pattern, m)
			}
			if !p.NewMatcher().Match(m) {
				t.Errorf("%q (Matcher) should match %q", tc.pattern, m)
			}
		}
		for _, m := range tc.noMatch {
			if p.Match(m) {
				t.Errorf("%q should not match %q", tc.pattern, m)
			}
		}
	}
}

// Section "Using filter patterns to match terms in unstructured log events".
var unstructuredEvents = []string{
	"[ERROR 400] BAD REQUEST",
	"[ERROR 401] UNAUTHORIZED REQUEST",
	"[ERROR 419] MISSING ARGUMENTS",
	"[ERROR 420] INVALID ARGUMENTS",
}

func TestDocUnstructured(t *testing.T) {
	ev := unstructuredEvents
	runDocCases(t, []docCase{
		// Example: Match a single term.
		{pattern: "ERROR", match: ev},
		// Example: Match multiple terms.
		{pattern: "ERROR ARGUMENTS", match: ev[2:], noMatch: ev[:2]},
		// Example: Match optional terms.
		{pattern: "?ERROR ?ARGUMENTS", match: ev},
		// Note under optional terms: ? terms are ignored when combined.
		{pattern: "?ERROR ?ARGUMENTS REQUEST",
			match:   []string{"[INFO] REQUEST FAILED", "[WARN] UNAUTHORIZED REQUEST", "[ERROR] 400 BAD REQUEST"},
			noMatch: []string{"[ERROR 420] INVALID ARGUMENTS"}},
		// Example: Match exact phrases.
		{pattern: `"INTERNAL SERVER ERROR"`,
			match:   []string{"[ERROR 500] INTERNAL SERVER ERROR"},
			noMatch: []string{"INTERNAL ERROR SERVER", "internal server error"}},
		// Example: Include and exclude terms.
		{pattern: "ERROR -ARGUMENTS", match: ev[:2], noMatch: ev[2:]},
		// Example: Match everything.
		{pattern: `" "`, match: append([]string{"", "x"}, ev...)},
		{pattern: "", match: append([]string{""}, ev...)},
		// Section "Using filter patterns to match terms with a regular expression".
		{pattern: "%AUTHORIZED%",
			match:   []string{"[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST"},
			noMatch: []string{"[ERROR 400] BAD REQUEST"}},
	})
}

// The older edition's "Matching Terms in Log Events" and "OR Pattern
// Matching" examples.
func TestDocOlderEditionTerms(t *testing.T) {
	runDocCases(t, []docCase{
		// Example 1: substring match, case-sensitive.
		{pattern: `"ERROR"`, match: []string{"[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"}, noMatch: []string{"error"}},
		// Example 2: "ERROR" - "Exiting".
		{pattern: `"ERROR" - "Exiting"`, match: []string{"[ERROR] A fatal exception has occurred"}, noMatch: []string{"Exiting with ERRORCODE: -1"}},
		// Example 3: multiple terms.
		{pattern: `"ERROR" "Exception"`, match: []string{"[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception"}},
		// OR pattern matching: events 1. "ERROR WARN message", 2. "ERROR message", 3. "WARN message".
		{pattern: "ERROR", match: []string{"ERROR WARN message", "ERROR message"}, noMatch: []string{"WARN message"}},
		{pattern: "?ERROR ?WARN", match: []string{"ERROR WARN message", "ERROR message", "WARN message"}},
		{pattern: "ERROR WARN", match: []string{"ERROR WARN message"}, noMatch: []string{"ERROR message", "WARN message"}},
		{pattern: "ERROR -WARN", match: []string{"ERROR message"}, noMatch: []string{"ERROR WARN message", "WARN message"}},
		// Space-delimited OR examples of the same section.
		{pattern: "[w1=ERROR, w2]", match: []string{"ERROR message"}, noMatch: []string{"ERROR WARN message", "WARN message"}},
		{pattern: "[w1=ERROR || w1=WARN, w2]", match: []string{"ERROR message", "WARN message"}, noMatch: []string{"ERROR WARN message"}},
		// JSON OR examples of the same section.
		{pattern: "{$.foo = bar}", match: []string{`{"foo": "bar"}`}, noMatch: []string{`{"foo": "baz"}`}},
		{pattern: "{$.foo = baz }", match: []string{`{"foo": "baz"}`}, noMatch: []string{`{"foo": "bar"}`}},
		{pattern: "{$.foo = bar || $.foo = baz }", match: []string{`{"foo": "bar"}`, `{"foo": "baz"}`}},
	})
}

// Section "Supported regular expressions (regex) syntax": each operator's
// example.
func TestDocRegexOperators(t *testing.T) {
	runDocCases(t, []docCase{
		{pattern: "%^[hc]at%", match: []string{"hat", "cat", "cat is here"}, noMatch: []string{"a hat", "bat"}},
		{pattern: "%[hc]at$%", match: []string{"hat", "a cat"}, noMatch: []string{"cats", "bat"}},
		{pattern: "%colou?r%", match: []string{"color", "colour"}, noMatch: []string{"colr"}},
		{pattern: "%[abc]%", match: []string{"a", "b", "c"}, noMatch: []string{"d"}},
		{pattern: "%[a-z]%", match: []string{"q"}, noMatch: []string{"Q1"}},
		{pattern: "%[abcx-z]%", match: []string{"a", "b", "c", "x", "y", "z"}, noMatch: []string{"d", "w"}},
		{pattern: "%^a{3,5}$%", match: []string{"aaa", "aaaa", "aaaaa"}, noMatch: []string{"aa", "aaaaaa"}},
		{pattern: "%a{3,5}% ", match: []string{"aaa", "aaaaaa"}, noMatch: []string{"aa"}},
		// "Either m or n can be omitted".
		{pattern: "%^a{,2}$%", match: []string{"", "a", "aa"}, noMatch: []string{"aaa"}},
		{pattern: "%^a{2,}$%", match: []string{"aa", "aaaa"}, noMatch: []string{"a"}},
		{pattern: "%gra|ey%", match: []string{"gray", "grey"}, noMatch: []string{"gry"}},
		{pattern: "%^starting|^initializing|^shutting down%",
			match:   []string{"starting ...", "initializing ...", "shutting down"},
			noMatch: []string{"skipping initializing ..."}},
		// The guide prints "%abcc|ab[^c]$" without the closing %.
		{pattern: "%abcc|ab[^c]$%", match: []string{"abcc ...", "xaba"}, noMatch: []string{"aac ..."}},
		{pattern: `%\[.\]%`, match: []string{"[a]", "[b]", "[7]", "[@]", "[]]", "[ ]"}, noMatch: []string{"[ab]", "a"}},
		{pattern: `%10\.10\.0\.1%`, match: []string{"10.10.0.1"}, noMatch: []string{"10010,051"}},
		{pattern: `%10.10.0.1%`, match: []string{"10.10.0.1", "10010,051"}},
		{pattern: "%ab*c%", match: []string{"ac", "abc", "abbbc"}, noMatch: []string{"adc"}},
		{pattern: "%ab[0-9]*%", match: []string{"ab", "ab0", "ab129"}},
		{pattern: "%ab+c%", match: []string{"abc", "abbc", "abbbc"}, noMatch: []string{"ac"}},
		{pattern: "%.at%", match: []string{"hat", "cat", "bat", "4at", "#at", " at"}, noMatch: []string{"at"}},
		{pattern: `%\d%`, match: []string{"a1"}, noMatch: []string{"abc"}},
		{pattern: `%^\D+$%`, match: []string{"abc"}, noMatch: []string{"a1"}},
		{pattern: `%\s%`, match: []string{"a b", "a\tb", "a\nb"}, noMatch: []string{"ab"}},
		{pattern: `%^\S+$%`, match: []string{"ab"}, noMatch: []string{"a b"}},
		{pattern: `%^\w+$%`, match: []string{"a_Z9"}, noMatch: []string{"a-b"}},
		{pattern: `%\W%`, match: []string{"a-b"}, noMatch: []string{"a_Z9"}},
		{pattern: `%\x3A%`, match: []string{"a:b"}, noMatch: []string{"ab"}},
		{pattern: `%\x28%`, match: []string{"f(x)"}, noMatch: []string{"fx"}},
		// The introduction's examples.
		{pattern: `%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%`, match: []string{"from 192.168.0.1:80"}, noMatch: []string{"from 192.168.0"}},
		{pattern: "%[Ee]rror|[Ff]ail%", match: []string{"Error", "error", "Fail", "fail"}, noMatch: []string{"ERROR"}},
	})
}

// Section "Using filter patterns to match terms in JSON log events", with
// its example event (on one line, as the guide says to test it).
const docJSONEvent = `{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], ` +
	`"objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "cluster.name": "c"}`

// The compound-expression example object.
const docJSONCompound = `{"user": {"id": 1, "email": "John.Stiles@example.com"}, ` +
	`"users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}], ` +
	`"actions": ["GET", "PUT", "DELETE"], "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]}`

// The older edition's example event, with ThisFlag.
const docJSONOlder = `{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], ` +
	`"objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "ThisFlag": true}`

func TestDocJSON(t *testing.T) {
	ev := []string{docJSONEvent}
	pretty := strings.ReplaceAll(docJSONEvent, ", ", ",\n    ") // multi-line events are JSON too
	runDocCases(t, []docCase{
		{pattern: `{ $.eventType = "UpdateTrail" }`, match: []string{docJSONEvent, pretty}},
		{pattern: `{ $.sourceIPAddress != 123.123.* }`, match: ev},
		{pattern: `{ $.sourceIPAddress != 111.111.* }`, noMatch: ev},
		{pattern: `{ $.arrayKey[0] = "value" }`, match: ev},
		{pattern: `{ $.arrayKey[1] = "value" }`, noMatch: ev},
		{pattern: `{ $.eventType = %Trail% }`, match: ev},
		{pattern: `{ $.arrayKey[*] = %val.{2}% }`, match: ev},
		{pattern: `{ $.* = %111\.111\.111\.1[0-9]{1,2}% }`, match: ev},
		{pattern: `{ $.['cluster.name'] = "c" }`, match: ev},
		{pattern: `{ $.SomeObject IS NULL }`, match: ev},
		{pattern: `{ $.eventType IS NULL }`, noMatch: ev},
		{pattern: `{ $.SomeOtherObject NOT EXISTS }`, match: ev},
		{pattern: `{ $.SomeObject NOT EXISTS }`, noMatch: ev},
		// Compound expressions: the guide's two matching and two
		// non-matching examples.
		{pattern: `{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }`, match: []string{docJSONCompound}},
		{pattern: `{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }`, match: []string{docJSONCompound}},
		{pattern: `{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }`, noMatch: []string{docJSONCompound}},
		{pattern: `{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }`, noMatch: []string{docJSONCompound}},
		// Older edition: the same with bare values and nested arrays.
		{pattern: `{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }`, match: []string{docJSONCompound}},
		{pattern: `{ $.coordinates[1][2] = 6 }`, match: []string{docJSONCompound}},
		// Older edition examples on its event.
		{pattern: `{ $.objectList[1].id = 2 }`, match: []string{docJSONOlder}},
		{pattern: `{ $.objectList[0].id = 2 }`, noMatch: []string{docJSONOlder}},
		{pattern: `{ $.ThisFlag IS TRUE }`, match: []string{docJSONOlder}},
		{pattern: `{ $.ThisFlag IS FALSE }`, noMatch: []string{docJSONOlder}},
		// "If arrayKey is not an array this will be false."
		{pattern: `{ $.eventType[0] = "value" }`, noMatch: []string{docJSONOlder}},
		// JSON Special Considerations: a selector on an array fails = and !=.
		{pattern: `{ $.users = 1 }`, noMatch: []string{`{"users": [1, 2, 3]}`}},
		{pattern: `{ $.users != 1 }`, noMatch: []string{`{"users": [1, 2, 3]}`}},
		// Wildcards in strings: *Event, Event*, and a literal inner *.
		{pattern: `{ $.e = *Event }`, match: []string{`{"e":"PutEvent"}`, `{"e":"GetEvent"}`}, noMatch: []string{`{"e":"EventId"}`}},
		{pattern: `{ $.e = Event* }`, match: []string{`{"e":"EventId"}`, `{"e":"EventName"}`}, noMatch: []string{`{"e":"PutEvent"}`}},
		{pattern: `{ $.e = Ev*ent }`, match: []string{`{"e":"Ev*ent"}`}, noMatch: []string{`{"e":"Event"}`, `{"e":"Evxent"}`}},
		// Publishing numerical values: { $.latency = * }.
		{pattern: `{ $.latency = * }`, match: []string{`{"latency": 12}`, `{"latency": "slow"}`}, noMatch: []string{`{"other": 1}`}},
	})
}

// "Writing filter patterns that match numeric values" (and the older
// edition's numeric examples).
func TestDocJSONNumeric(t *testing.T) {
	runDocCases(t, []docCase{
		{pattern: `{ $.bandwidth > 75 }`, match: []string{`{"bandwidth": 76}`, `{"bandwidth": 75.5}`}, noMatch: []string{`{"bandwidth": 75}`, `{"bandwidth": "x"}`}},
		{pattern: `{ $.latency < 50 }`, match: []string{`{"latency": 49}`, `{"latency": -1e3}`}, noMatch: []string{`{"latency": 50}`}},
		{pattern: `{ $.refreshRate >= 60 }`, match: []string{`{"refreshRate": 60}`}, noMatch: []string{`{"refreshRate": 59.99}`}},
		{pattern: `{ $.responseTime <= 5 }`, match: []string{`{"responseTime": 5}`}, noMatch: []string{`{"responseTime": 5.01}`}},
		{pattern: `{ $.errorCode = 400}`, match: []string{`{"errorCode": 400}`, `{"errorCode": 400.0}`, `{"errorCode": 4e2}`}, noMatch: []string{`{"errorCode": 401}`}},
		{pattern: `{ $.errorCode != 500 }`, match: []string{`{"errorCode": 400}`}, noMatch: []string{`{"errorCode": 500}`, `{}`}},
		{pattern: `{ $.number[0] = 1e+3 }`, match: []string{`{"number": [1000]}`}},
		{pattern: `{ $.number[0] != 1e-3 }`, match: []string{`{"number": [1]}`}, noMatch: []string{`{"number": [0.001]}`}},
		{pattern: `{ $.latency >= 500 }`, match: []string{`{"latency": 500}`}},
		{pattern: `{ $.numbers[0] < 10e3 }`, match: []string{`{"numbers": [9999]}`}},
		{pattern: `{ $.numbers[0] < 10e-3 }`, match: []string{`{"numbers": [0.001]}`}, noMatch: []string{`{"numbers": [0.01]}`}},
		{pattern: `{ $.processes[4].averageRuntime <= 55.5 }`, match: []string{`{"processes": [0,1,2,3,{"averageRuntime": 55.5}]}`}},
		{pattern: `{ $.latency > +1000 }`, match: []string{`{"latency": 1001}`}, noMatch: []string{`{"latency": 1000}`}},
	})
}

// Section "Using filter patterns to match terms in space-delimited log
// events".
func TestDocDelimited(t *testing.T) {
	apache := `127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`
	ev := []string{
		"INFO 09/25/2014 12:00:00 GET /service/resource/67 1200",
		"INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310",
		"WARNING 09/25/2014 12:00:02 Invalid user request",
		"ERROR 09/25/2014 12:00:02 Failed to process request",
	}
	runDocCases(t, []docCase{
		{pattern: `[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]`, match: []string{apache},
			noMatch: []string{strings.Replace(apache, "127.0.0.1", "127.0.0.0", 1), strings.Replace(apache, " 404 ", " 200 ", 1)}},
		{pattern: `[..., request =*.html*, status_code = 4*, bytes]`, match: []string{apache}},
		{pattern: `[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]`, match: []string{apache, strings.Replace(apache, " 404 ", " 410 ", 1)},
			noMatch: []string{strings.Replace(apache, " 404 ", " 400 ", 1)}},
		{pattern: `[ip, user, username, timestamp, request, status_code, bytes > 1000]`, match: []string{apache}, noMatch: []string{strings.Replace(apache, "1534", "999", 1)}},
		// Too few pattern fields, no ellipsis: no match.
		{pattern: `[ip, user, username, timestamp, request, status_code]`, noMatch: []string{apache}},
		{pattern: `[ip, user, ...]`, match: []string{apache}},
		{pattern: `[..., status_code, bytes]`, match: []string{apache}},
		// Match terms in order, with && and ||, and exclusion. (The guide's
		// log lines have more than two fields; with exactly [w1, w2] only
		// two-field events match, so these use an ellipsis.)
		{pattern: `[w1=ERROR, ...]`, match: ev[3:], noMatch: ev[:3]},
		{pattern: `[w1=ERROR || w1=WARNING, ...]`, match: ev[2:], noMatch: ev[:2]},
		{pattern: `[w1!=ERROR && w1!=WARNING, ...]`, match: ev[:2], noMatch: ev[2:]},
		{pattern: `[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]`, match: ev[:1], noMatch: ev[1:]},
		{pattern: `[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]`, match: ev[1:2], noMatch: []string{ev[0], ev[2], ev[3]}},
		// Older edition: the Apache examples.
		{pattern: `[ip, user, username, timestamp, request, status_code = 200, bytes]`, match: []string{strings.Replace(apache, " 404 ", " 200 ", 1)}, noMatch: []string{apache}},
		{pattern: `[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]`, match: []string{apache}},
		{pattern: `[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]`, match: []string{apache}, noMatch: []string{strings.Replace(apache, " 404 ", " 403 ", 1)}},
		{pattern: `[..., request=*.html*, status_code=4*,]`, match: []string{apache}},
	})
}
