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
// The package imports nothing of Gantry's.
package filterpattern
