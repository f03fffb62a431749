// Package filterpattern owns the CloudWatch Logs filter pattern language:
// the syntax FilterLogEvents, StartLiveTail, metric filters and subscription
// filters accept in filterPattern / logEventFilterPattern. It parses a
// pattern once (Parse) and matches event messages against it (Match) without
// allocating per message.
//
// The language is the one AWS documents in the CloudWatch Logs user guide,
// "Filter pattern syntax for metric filters, subscription filters, filter log
// events, and Live Tail" (FilterAndPatternSyntax.html). A pattern is one of
// four kinds, chosen by its first non-blank character:
//
//	""  or blank          matches every event
//	%regex%               a regular expression in AWS's restricted subset
//	{ json expression }   conditions on properties of a JSON event
//	[ field, field, ... ] conditions on the fields of a space-delimited event
//	anything else         terms: words, "quoted phrases", ?optional, -excluded
//
// Malformed patterns give a *SyntaxError whose Message is written the way
// CloudWatch Logs words its InvalidParameterException for a bad pattern
// ("Invalid filter pattern: ..."); it wraps ErrInvalidPattern.
//
// Where the guide is silent or contradicts itself, the choices are:
//   - unquoted terms may hold only letters, digits and _ (the guide: other
//     characters must be quoted); CloudWatch's "Invalid character(s) in
//     term 'x'" is returned otherwise;
//   - a space-delimited pattern without ... needs exactly as many event
//     fields as pattern fields (the older guide's [w1=ERROR, w2] matches
//     "ERROR message" but not "ERROR WARN message");
//   - IS, NULL, TRUE, FALSE, NOT and EXISTS are accepted in any case.
//
// Not supported, and rejected with an error: IS NOT and EXISTS (the guide
// says so), parentheses and escapes other than \d \D \s \S \w \W \xhh
// or a backslashed symbol in regular expressions, conditions on another
// field inside a space-delimited field, and regexes anywhere in an
// unstructured pattern except as the whole pattern. The quotas are
// enforced: two regular expressions per JSON or space-delimited pattern,
// one wildcard per selector and three per pattern. Metric-filter
// extraction (metric values, dimensions, $1-style extracted fields) is not
// part of this package.
//
// The package imports nothing of Gantry's.
package filterpattern
