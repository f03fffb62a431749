// Package cql parses and evaluates the Amazon ECS cluster query language: the
// expressions of memberOf placement constraints and of the filter of
// ListContainerInstances.
//
// An expression is one or more conditions joined by Boolean operators:
//
//	condition  := subject operator [argument]
//	expression := condition
//	            | ("not" | "!") expression
//	            | expression ("and" | "&&") expression
//	            | expression ("or" | "||") expression
//	            | "(" expression ")"
//
// "not" binds tighter than "and", which binds tighter than "or"; both binary
// operators are left-associative. Keywords and word operators are matched
// without regard to case.
//
// Subjects:
//
//	attribute:NAME      a container instance attribute; ecs.* attributes may
//	                    also be written without the prefix (ecs.instance-type)
//	ec2InstanceId       ==, !=, in, not_in, =~, !~
//	agentConnected      ==, !=, in, not_in, =~, !~ (true or false)
//	agentVersion        ==, !=, >, >=, <, <= (compared as dotted versions)
//	registeredAt        ==, !=, >, >=, <, <= (2018-06-18T22:28:28+00:00,
//	                    2018-06-18T22:28:28Z, 2018-06-18T22:28:28 in UTC, or
//	                    2018-06-18, which compares whole UTC days)
//	runningTasksCount   ==, !=, >, >=, <, <= (an integer)
//	task:group          ==, !=, in, not_in, =~, !~, exists, !exists
//
// Attributes accept every operator. Operators, each with its ECS word form:
// == equals, != not_equals, > greater_than, >= greater_than_equal,
// < less_than, <= less_than_equal, exists, !exists not_exists, in,
// !in not_in, =~ matches, !~ not_matches.
//
// Semantics, where ECS documents none:
//
//   - == and in compare strings exactly. >, >=, <, <= on an attribute compare
//     numerically when both sides are decimal numbers, as dotted versions when
//     both are (1.9 < 1.10), and byte-wise otherwise.
//   - A condition on an attribute the instance does not have is false; its
//     negated forms (!=, not_in, !~, !exists) are true. Every negated operator
//     is exactly "not" of its positive form.
//   - task:group is the set of groups of the tasks on the instance:
//     task:group == g is true when at least one task on the instance is in
//     group g, so task:group != g selects instances with no task in g.
//   - =~ takes a regular expression (ECS documents Java's java.util.regex;
//     Gantry uses Go's RE2 syntax, which agrees on everything but lookaround
//     and back-references) that must match the whole value, as Java's
//     Matcher.matches does: g2.* matches g2.2xlarge. A glob-style leading *
//     is an error that suggests .* instead.
//
// Arguments are bare words or quoted strings. A bare word ends at white
// space, at a , or a closing ] or ) it did not open itself, and at && or ||;
// so regular expressions such as (t2|m5).* or [a-c].large need no quotes.
// Quoted strings use ' or " and may contain anything; within them \" (or \')
// and \\ are the only escapes, every other backslash is kept as written, so
// "^t2\.micro$" is the regular expression it looks like. in and not_in take
// a list, [a, b] or (a, b).
//
// An expression is at most 2,000 characters, as ECS allows. Parse reports the
// first problem as a *SyntaxError with its offset and what was expected
// there. A parsed *Expr is immutable and safe for concurrent use; Eval reads
// the instance through the Target interface, so callers can evaluate against
// whatever representation of a container instance they hold.
package cql
