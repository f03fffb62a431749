// Package archtest holds no code, only the test of Gantry's import rules
// (docs/architecture.md, "Rules on imports"): the table in rules_test.go
// says which packages may not link which, each with its reason, and
// TestImportRules checks it against `go list -deps` of the module. It runs
// under -short.
//
// To change a rule, edit the table. Patterns are import paths; "x/..."
// matches x and every package below it; path.Match wildcards (*) match
// within one path element; "std" in an allow-list is the standard library.
// A rule whose From matches no package of the module is skipped (it names
// packages that do not exist yet), so the table may name the layout the
// code is moving to. A rule with pending set is logged, not failed, until
// what it waits for lands: then delete pending.
package archtest
