// Package iampolicy parses and evaluates IAM identity-based policy
// documents, the way IAM reads and applies them, for the keys of
// --credentials-file.
//
// Parse accepts what IAM accepts in an identity-based policy and refuses
// everything else with a *MalformedError that names the line, column and
// statement and reads like IAM's MalformedPolicyDocument messages:
//
//   - Version "2012-10-17" or "2008-10-17" (or none); Id; Statement as one
//     object or a list.
//   - Per statement: Sid (alphanumeric, unique), Effect Allow or Deny,
//     exactly one of Action/NotAction and one of Resource/NotResource (a
//     string or a list), and an optional Condition. Principal and
//     NotPrincipal are refused, as IAM refuses them in identity policies.
//   - Actions are "*" or "service:Operation" with "*" and "?" wildcards,
//     matched case-insensitively. Resources are "*" or ARNs with wildcards,
//     matched case-sensitively; a wildcard stays inside its colon-separated
//     segment unless it is a "*" that ends the segment.
//   - Condition operators: String(Not)Equals(IgnoreCase), String(Not)Like,
//     Numeric(Not)Equals, NumericLessThan(Equals), NumericGreaterThan(Equals),
//     Date* likewise, Bool, (Not)IpAddress, Arn(Not)Equals, Arn(Not)Like
//     and Null, with the IfExists suffix and the ForAnyValue:/ForAllValues:
//     prefixes. Condition keys must be ones the caller supplies
//     (Options.ConditionKeys). Policy variables ("${aws:username}") are
//     refused in 2012-10-17 documents rather than left unexpanded.
//
// Evaluate applies IAM's evaluation logic for identity-based policies: an
// explicit Deny wins over any Allow, an Allow grants, and anything else is
// an implicit deny (Explain also names the deciding statement, for logs).
// Patterns are compiled at parse time, so evaluation does not allocate.
// DeniedMessage builds the AccessDenied message AWS returns for either kind
// of denial.
package iampolicy
